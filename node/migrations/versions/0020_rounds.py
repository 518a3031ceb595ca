"""Inspected units, inspection rounds and synchronised launches (issue 13 items 1 and 2).

``inspected_units`` (a node's own units to cover, and summaries of those of nodes below),
``inspection_rounds`` with ``inspection_round_units`` (the units each round covers),
``round_launches`` and ``round_launch_targets`` (a superior's synchronised round and each
addressee's part in it).

Revision ID: 0020_rounds
Revises: 0019_search
"""

import sqlalchemy as sa
from alembic import op

revision = "0020_rounds"
down_revision = "0019_search"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "inspected_units",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("node", sa.String(64), nullable=False),
        sa.Column("held_as", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("sector", sa.String(100), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.UniqueConstraint("node", "name", name="uq_inspected_units_node_name"),
    )
    op.create_index("ix_inspected_units_node_active", "inspected_units", ["node", "active"])
    op.create_table(
        "inspection_rounds",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("node", sa.String(64), nullable=False),
        sa.Column("held_as", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("theme", sa.String(500), nullable=False),
        sa.Column("inspection_group", sa.String(200), nullable=False),
        sa.Column("period_start", sa.Date, nullable=False),
        sa.Column("period_end", sa.Date, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("problems_found", sa.Integer, nullable=False),
        sa.Column("launch_id", sa.String(36), nullable=True),
        sa.Column("launch_origin", sa.String(64), nullable=True),
        sa.Column("planned_by", sa.String(100), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("started_at", TIME, nullable=True),
        sa.Column("completed_at", TIME, nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index(
        "ix_inspection_rounds_node_state", "inspection_rounds", ["node", "state", "period_start"]
    )
    op.create_index("ix_inspection_rounds_launch", "inspection_rounds", ["launch_id"])
    op.create_table(
        "inspection_round_units",
        sa.Column(
            "round_id",
            sa.String(36),
            sa.ForeignKey("inspection_rounds.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("unit_id", sa.String(36), primary_key=True),
    )
    op.create_index("ix_inspection_round_units_unit", "inspection_round_units", ["unit_id"])
    op.create_table(
        "round_launches",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("launcher", sa.String(64), nullable=False),
        sa.Column("held_as", sa.String(16), nullable=False),
        sa.Column("launched_by", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("theme", sa.String(500), nullable=False),
        sa.Column("requirements", sa.Text, nullable=False),
        sa.Column("addressees", sa.JSON, nullable=False),
        sa.Column("start_by", TIME, nullable=False),
        sa.Column("deadline", TIME, nullable=False),
        sa.Column("launched_at", TIME, nullable=False),
    )
    op.create_index("ix_round_launches_launcher_id", "round_launches", ["launcher", "id"])
    op.create_table(
        "round_launch_targets",
        sa.Column("launch_id", sa.String(36), primary_key=True),
        sa.Column("addressee", sa.String(64), primary_key=True),
        sa.Column("launcher", sa.String(64), nullable=False),
        sa.Column("held_as", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("start_by", TIME, nullable=False),
        sa.Column("deadline", TIME, nullable=False),
        sa.Column("round_id", sa.String(36), nullable=True),
        sa.Column("round_title", sa.String(500), nullable=True),
        sa.Column("problems_found", sa.Integer, nullable=False),
        sa.Column("received_at", TIME, nullable=True),
        sa.Column("linked_at", TIME, nullable=True),
        sa.Column("started_at", TIME, nullable=True),
        sa.Column("completed_at", TIME, nullable=True),
        sa.Column("updated_at", TIME, nullable=False),
    )
    op.create_index(
        "ix_round_launch_targets_addressee_state",
        "round_launch_targets",
        ["addressee", "state", "start_by"],
    )


def downgrade() -> None:
    op.drop_index("ix_round_launch_targets_addressee_state", table_name="round_launch_targets")
    op.drop_table("round_launch_targets")
    op.drop_index("ix_round_launches_launcher_id", table_name="round_launches")
    op.drop_table("round_launches")
    op.drop_index("ix_inspection_round_units_unit", table_name="inspection_round_units")
    op.drop_table("inspection_round_units")
    op.drop_index("ix_inspection_rounds_launch", table_name="inspection_rounds")
    op.drop_index("ix_inspection_rounds_node_state", table_name="inspection_rounds")
    op.drop_table("inspection_rounds")
    op.drop_index("ix_inspected_units_node_active", table_name="inspected_units")
    op.drop_table("inspected_units")
