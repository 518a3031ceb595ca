"""Revocations: an ancestor's signed revocation of a node's certificates (issue 12 item 3).

``member_revocations`` holds every revocation a node learned (its canonical JSON exactly as
signed, the node, the highest serial it revokes, issuer, time, reason), when and from whom; a
restarting node learns them again so that it keeps refusing the revoked node and its subtree.

Revision ID: 0016_revocations
Revises: 0015_members
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_revocations"
down_revision = "0015_members"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "member_revocations",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("node_id", sa.String(64), nullable=False),
        sa.Column("up_to_serial", sa.BigInteger, nullable=False),
        sa.Column("issuer", sa.String(64), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("learned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("learned_from", sa.String(64), nullable=False),
    )
    op.create_index("ix_member_revocations_node_id", "member_revocations", ["node_id"])


def downgrade() -> None:
    op.drop_index("ix_member_revocations_node_id", table_name="member_revocations")
    op.drop_table("member_revocations")
