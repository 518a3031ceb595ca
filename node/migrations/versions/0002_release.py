"""Case-secret release: access requests, decisions, released content, grant reads.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "access_requests",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("record_id", sa.String(36), nullable=False),
        sa.Column("record_origin", sa.String(64), nullable=False),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("requester_id", sa.String(36), nullable=False),
        sa.Column("requester_name", sa.String(100), nullable=False),
        sa.Column("requester_role", sa.String(32), nullable=False),
        sa.Column("requester_node", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("wanted_s", sa.Integer, nullable=False),
        sa.Column("approvals_needed", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("decided_at", TS, nullable=True),
        sa.Column("grant_id", sa.String(36), nullable=True),
        sa.Column("revision", sa.Integer, nullable=False),
    )
    op.create_index(
        "ix_access_requests_origin_status", "access_requests", ["record_origin", "status"]
    )
    op.create_index("ix_access_requests_requester", "access_requests", ["requester_id"])
    op.create_index("ix_access_requests_record", "access_requests", ["record_id"])
    op.create_index("ix_access_requests_created", "access_requests", ["created_at"])
    op.create_table(
        "access_decisions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "request_id",
            sa.String(36),
            sa.ForeignKey("access_requests.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("approver_id", sa.String(36), nullable=False),
        sa.Column("approver_name", sa.String(100), nullable=False),
        sa.Column("approver_node", sa.String(64), nullable=False),
        sa.Column("decision", sa.String(8), nullable=False),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("duration_s", sa.Integer, nullable=True),
        sa.Column("at", TS, nullable=False),
        sa.UniqueConstraint("request_id", "approver_id", name="ux_access_decisions_approver"),
    )
    op.create_table(
        "released_content",
        sa.Column(
            "grant_id",
            sa.String(36),
            sa.ForeignKey("grants.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("record_id", sa.String(36), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("received_at", TS, nullable=False),
    )
    op.create_index("ix_released_content_record", "released_content", ["record_id"])
    op.create_table(
        "grant_reads",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("grant_id", sa.String(36), nullable=False),
        sa.Column("record_id", sa.String(36), nullable=False),
        sa.Column("reader_name", sa.String(100), nullable=False),
        sa.Column("reader_node", sa.String(64), nullable=False),
        sa.Column("at", TS, nullable=False),
    )
    op.create_index("ix_grant_reads_grant", "grant_reads", ["grant_id", "at"])
    # When this node finished with a grant's end (expiry audited, released content deleted).
    op.add_column("grants", sa.Column("ended_at", TS, nullable=True))
    op.create_index("ix_grants_open", "grants", ["ended_at", "expires_at"])
    op.create_index("ix_grants_request", "grants", ["request_id"])


def downgrade() -> None:
    op.drop_index("ix_grants_request", table_name="grants")
    op.drop_index("ix_grants_open", table_name="grants")
    with op.batch_alter_table("grants") as batch:
        batch.drop_column("ended_at")
    for table in ("grant_reads", "released_content", "access_decisions", "access_requests"):
        op.drop_table(table)
