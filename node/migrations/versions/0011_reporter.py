"""The reporter (举报人) of petitions and problem clues, sealed apart from the record.

- ``record_reporters``: at the origin, one sealed reporter block per record, keyed by (record
  origin, record id) like the records themselves (0007_origin_keys, on another branch, may run
  before or after this one); no foreign key, so that 0007's rebuild of ``records`` can change its
  key under it. Deleted with the record's tombstone.
- ``released_reporters``: at a grantee's node, the block as released to it (still sealed, for
  this node's key), deleted with the grant's released content.
- ``access_requests.include_reporter``: the request asks for the reporter too;
  ``access_decisions.counts_for``: whether an approval counts toward the category's number
  (``category``, NULL on older rows) or is the security officer's extra one (``reporter``);
  ``grant_reads.what``: a read of the content (NULL on older rows) or of the reporter.

Revision ID: 0011_reporter
Revises: 0010_no_side_door
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_reporter"
down_revision = "0010_no_side_door"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "record_reporters",
        sa.Column("record_origin", sa.String(64), primary_key=True),
        sa.Column("record_id", sa.String(36), primary_key=True),
        sa.Column("sealed", sa.Text, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "released_reporters",
        sa.Column(
            "grant_id",
            sa.String(36),
            sa.ForeignKey("grants.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("record_origin", sa.String(64), nullable=False),
        sa.Column("record_id", sa.String(36), nullable=False),
        sa.Column("sealed", sa.Text, nullable=False),
        sa.Column("received_at", TS, nullable=False),
    )
    op.create_index(
        "ix_released_reporters_record", "released_reporters", ["record_origin", "record_id"]
    )
    op.add_column(
        "access_requests",
        sa.Column("include_reporter", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.add_column("access_decisions", sa.Column("counts_for", sa.String(16), nullable=True))
    op.add_column("grant_reads", sa.Column("what", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("grant_reads") as batch:
        batch.drop_column("what")
    with op.batch_alter_table("access_decisions") as batch:
        batch.drop_column("counts_for")
    with op.batch_alter_table("access_requests") as batch:
        batch.drop_column("include_reporter")
    op.drop_index("ix_released_reporters_record", table_name="released_reporters")
    op.drop_table("released_reporters")
    op.drop_table("record_reporters")
