"""Rectification to closure (issue 13 item 3): demands (整改意见) from a finding, their history
and the evidence they were closed off (销号) with.

``rectifications`` holds a node's own demands in full and its descendants' as summaries
(``held_as``); ``rectification_events`` and ``rectification_evidence`` only the inspecting node's.

Revision ID: 0017_rectifications
Revises: 0016_revocations
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_rectifications"
down_revision = "0016_revocations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rectifications",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("node", sa.String(64), nullable=False),
        sa.Column("held_as", sa.String(16), nullable=False),
        sa.Column("unit_id", sa.String(64), nullable=True),
        sa.Column("unit_name", sa.String(200), nullable=False),
        sa.Column("finding_record_id", sa.String(36), nullable=True),
        sa.Column("finding_record_origin", sa.String(64), nullable=True),
        sa.Column("content", sa.Text, nullable=True),
        sa.Column("responsible", sa.String(100), nullable=True),
        sa.Column("issued_by", sa.String(100), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reopened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("returns", sa.Integer, nullable=False),
        sa.Column("lookbacks", sa.Integer, nullable=False),
        sa.Column("report_record_id", sa.String(36), nullable=True),
    )
    op.create_index("ix_rectifications_node_state", "rectifications", ["node", "state", "deadline"])
    op.create_index("ix_rectifications_unit", "rectifications", ["node", "unit_name"])
    op.create_table(
        "rectification_events",
        sa.Column("rectification_id", sa.String(36), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("record_id", sa.String(36), nullable=True),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "rectification_evidence",
        sa.Column("rectification_id", sa.String(36), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("record_id", sa.String(36), nullable=False),
        sa.Column("record_origin", sa.String(64), nullable=False),
        sa.Column("attachment_id", sa.String(36), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("rectification_evidence")
    op.drop_table("rectification_events")
    op.drop_index("ix_rectifications_unit", table_name="rectifications")
    op.drop_index("ix_rectifications_node_state", table_name="rectifications")
    op.drop_table("rectifications")
