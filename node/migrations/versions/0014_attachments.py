"""Attachments: files on records, sealed at rest.

- ``attachments``: one row per copy of an attachment held here, keyed locally (``key``) and
  unique by (record origin, record id, attachment id, grant id; ``""`` for the record's own copy):
  name, content type, size, SHA-256, the record version it came with, chunking, whether every
  chunk has arrived, and its data key sealed for this node's own key.
- ``attachment_chunks``: the bytes, chunk by chunk, each sealed under the data key; deleted with
  their attachment (cascade, and explicitly by the purges).

Revision ID: 0014_attachments
Revises: 0013_sessions
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_attachments"
down_revision = "0013_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attachments",
        sa.Column("key", sa.String(36), primary_key=True),
        sa.Column("record_origin", sa.String(64), nullable=False),
        sa.Column("record_id", sa.String(36), nullable=False),
        sa.Column("attachment_id", sa.String(36), nullable=False),
        sa.Column("grant_id", sa.String(36), nullable=False, server_default=""),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(120), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("record_version", sa.Integer, nullable=False),
        sa.Column("chunk_size", sa.Integer, nullable=False),
        sa.Column("chunk_count", sa.Integer, nullable=False),
        sa.Column("complete", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("sealed_key", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint(
            "record_origin", "record_id", "attachment_id", "grant_id", name="ux_attachments_copy"
        ),
    )
    op.create_index("ix_attachments_grant", "attachments", ["grant_id"])
    op.create_table(
        "attachment_chunks",
        sa.Column(
            "attachment_key",
            sa.String(36),
            sa.ForeignKey("attachments.key", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("idx", sa.Integer, primary_key=True),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("attachment_chunks")
    op.drop_index("ix_attachments_grant", table_name="attachments")
    op.drop_table("attachments")
