"""What is deleted is gone: outbox rows name the object they carry, and delivered rows are counted
instead of kept.

``outbox.kind`` and ``outbox.object_id`` (the envelope's reference; null for kinds without one and
for rows written before this revision) let a purge delete the rows that still carry the purged
object. Delivered rows are deleted on PubAck; ``outbox_stats`` keeps their count and times. Rows
already marked sent hold envelopes nobody needs any more: they are deleted here.

Revision ID: 0006_purge
Revises: 0005_http
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_purge"
down_revision = "0005_http"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("kind", sa.String(40), nullable=True))
    op.add_column("outbox", sa.Column("object_id", sa.String(64), nullable=True))
    op.create_index("ix_outbox_object", "outbox", ["kind", "object_id"])
    stats = op.create_table(
        "outbox_stats",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("delivered", sa.BigInteger, nullable=False),
        sa.Column("first_delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_delivered_at", sa.DateTime(timezone=True), nullable=True),
    )
    outbox = sa.table(
        "outbox", sa.column("sent_at", sa.DateTime(timezone=True)), sa.column("id", sa.BigInteger)
    )
    bind = op.get_bind()
    delivered, first, last = bind.execute(
        sa.select(sa.func.count(), sa.func.min(outbox.c.sent_at), sa.func.max(outbox.c.sent_at))
        .select_from(outbox)
        .where(outbox.c.sent_at.is_not(None))
    ).one()
    op.bulk_insert(
        stats,
        [
            {
                "id": 1,
                "delivered": int(delivered or 0),
                "first_delivered_at": first,
                "last_delivered_at": last,
            }
        ],
    )
    op.execute(outbox.delete().where(outbox.c.sent_at.is_not(None)))


def downgrade() -> None:
    op.drop_table("outbox_stats")
    op.drop_index("ix_outbox_object", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("object_id")
        batch.drop_column("kind")
