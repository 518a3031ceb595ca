"""Certified membership: certificates a node learned from the federation while running.

``member_certificates`` holds, per member node, the newest certificate learned (its canonical
JSON exactly as signed, serial, digest), when and from whom; a restarting node learns them again
over the topology file's older ones (DESIGN §11).

Revision ID: 0015_members
Revises: 0013_sessions
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_members"
down_revision = "0014_attachments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "member_certificates",
        sa.Column("node_id", sa.String(64), primary_key=True),
        sa.Column("parent", sa.String(64), nullable=True),
        sa.Column("serial", sa.BigInteger, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("learned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("learned_from", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("member_certificates")
