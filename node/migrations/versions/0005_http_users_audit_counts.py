"""Token expiry for users, and a count on audit entries that stand for repeated denials.

``users.token_expires_at`` (null: never) is checked on every request. ``audit_log.occurrences``
is 1 for every entry written so far; an entry for repeated identical denials carries their count
(covered by the entry hash whenever it is not 1, so existing chains keep verifying).

Revision ID: 0005_http
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_http"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN on both backends: no copy of the (large) audit table.
    op.add_column("users", sa.Column("token_expires_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "audit_log",
        sa.Column("occurrences", sa.Integer, nullable=False, server_default=sa.text("1")),
    )


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("occurrences")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("token_expires_at")
