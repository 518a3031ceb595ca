"""No approval side door (DESIGN §6): access requests filed for an order's addressee, and the end
of the grants an order made without any approval.

``access_requests.order_id`` / ``for_node`` name the order and the addressee node a request was
filed for by the order's issuer. Grants made by the withdrawn ``order-grant`` shortcut that have
not ended are marked ``order-legacy``: a migration cannot sign the audit chain, so the node's
first sweep ends each one as the system, audited and announced, and the grantee's node deletes the
content it holds for them (``node.release.service.sweep``).

Revision ID: 0010_no_side_door
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_no_side_door"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("access_requests", sa.Column("order_id", sa.String(36), nullable=True))
    op.add_column("access_requests", sa.Column("for_node", sa.String(64), nullable=True))
    op.create_index("ix_access_requests_order", "access_requests", ["order_id", "for_node"])
    op.execute(
        "UPDATE grants SET source = 'order-legacy' "
        "WHERE source = 'order' AND request_id IS NULL AND ended_at IS NULL"
    )


def downgrade() -> None:
    op.execute("UPDATE grants SET source = 'order' WHERE source = 'order-legacy'")
    op.drop_index("ix_access_requests_order", table_name="access_requests")
    with op.batch_alter_table("access_requests") as batch:
        batch.drop_column("for_node")
        batch.drop_column("order_id")
