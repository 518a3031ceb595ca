"""Indexes for policy-filtered listings: class first, then the filter column, then id.

``list_records`` runs one branch per class the actor may see (``classification = c AND <scopes>
AND filters ORDER BY id DESC LIMIT n``). With ``(classification, category, id)`` and
``(classification, origin, id)`` every branch with a category or origin filter is an index range
read newest first, so a class the actor cannot see, or a category whose rows the actor cannot see,
costs nothing. Without them a category filter walked ``(category, id)`` and tested the class of
every row: 71 ms p95 per page at 1,000,000 records for an admin listing a restricted-only category
(``fedshare bench list``); ``(classification, id)`` already serves the unfiltered and class-only
branches.

Revision ID: 0004
Revises: 0001
"""

from alembic import op

revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_records_class_category_id", "records", ["classification", "category", "id"])
    op.create_index("ix_records_class_origin_id", "records", ["classification", "origin", "id"])


def downgrade() -> None:
    op.drop_index("ix_records_class_origin_id", table_name="records")
    op.drop_index("ix_records_class_category_id", table_name="records")
