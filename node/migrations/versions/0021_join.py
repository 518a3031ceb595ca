"""Onboarding (issue 12 item 2): one-time join codes (stored as SHA-256 only) and join requests.

Revision ID: 0021_join
Revises: 0020_rounds
"""

import sqlalchemy as sa
from alembic import op

revision = "0021_join"
down_revision = "0020_rounds"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "join_codes",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("code_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("node_id", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("request_id", sa.String(64), nullable=True),
    )
    op.create_table(
        "join_requests",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("node_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("code_id", sa.String(32), nullable=False),
        sa.Column("client_address", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("answer", sa.Text, nullable=True),
    )
    op.create_index("ix_join_requests_node_id", "join_requests", ["node_id"])


def downgrade() -> None:
    op.drop_index("ix_join_requests_node_id", table_name="join_requests")
    op.drop_table("join_requests")
    op.drop_table("join_codes")
