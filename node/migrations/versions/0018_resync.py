"""Resync (issue 12 item 4): what a parent keeps to resync a child, and a requester's progress.

``resync_envelopes`` holds the signed envelopes a node sent or relayed down towards its children
(a record's latest version, each envelope of the other kinds kept), one row per destination below
it (``*`` for a broadcast); ``resync_sessions`` the resyncs a node asked its parent for.

Revision ID: 0018_resync
Revises: 0017_rectifications
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_resync"
down_revision = "0017_rectifications"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "resync_envelopes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("dest", sa.String(64), nullable=False),
        sa.Column("origin", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("object_key", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=True),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("msg_id", sa.String(36), nullable=False),
        sa.Column("envelope", sa.LargeBinary, nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("dest", "origin", "kind", "object_key", name="uq_resync_envelopes_key"),
    )
    op.create_index("ix_resync_envelopes_page", "resync_envelopes", ["dest", "rank", "id"])
    op.create_index("ix_resync_envelopes_object", "resync_envelopes", ["kind", "object_key"])
    op.create_index("ix_resync_envelopes_stored", "resync_envelopes", ["kind", "stored_at"])
    op.create_table(
        "resync_sessions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("parent", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(100), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cursor", sa.String(40), nullable=True),
        sa.Column("total", sa.Integer, nullable=True),
        sa.Column("pages", sa.Integer, nullable=False),
        sa.Column("received", sa.Integer, nullable=False),
        sa.Column("applied", sa.Integer, nullable=False),
        sa.Column("held", sa.Integer, nullable=False),
        sa.Column("refused", sa.Integer, nullable=False),
        sa.Column("voided", sa.Integer, nullable=False),
        sa.Column("requests", sa.Integer, nullable=False),
        sa.Column("channels", sa.Text, nullable=False),
    )
    op.create_index("ix_resync_sessions_state", "resync_sessions", ["state", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_resync_sessions_state", table_name="resync_sessions")
    op.drop_table("resync_sessions")
    op.drop_index("ix_resync_envelopes_stored", table_name="resync_envelopes")
    op.drop_index("ix_resync_envelopes_object", table_name="resync_envelopes")
    op.drop_index("ix_resync_envelopes_page", table_name="resync_envelopes")
    op.drop_table("resync_envelopes")
