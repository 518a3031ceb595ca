"""Console login: password hashes and lock-out state on users, and the login sessions table.

``users.password_hash`` is an argon2 hash (null: the user has a bearer token only and cannot log
in to the console). ``login_failures`` / ``login_failures_since`` count failed logins in the
current window; ``locked_until`` refuses logins until then. ``login_sessions`` holds the SHA-256
digest of each session id (never the id itself), its user and its idle and absolute expiry.

Revision ID: 0013_sessions
Revises: 0005_http
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_sessions"
down_revision = "0005_http"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("password_hash", sa.String(200), nullable=True))
    op.add_column(
        "users",
        sa.Column("login_failures", sa.Integer, nullable=False, server_default=sa.text("0")),
    )
    op.add_column(
        "users", sa.Column("login_failures_since", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("users", sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "login_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column(
            "user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_login_sessions_user", "login_sessions", ["user_id"])
    op.create_index("ix_login_sessions_expires", "login_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_login_sessions_expires", table_name="login_sessions")
    op.drop_index("ix_login_sessions_user", table_name="login_sessions")
    op.drop_table("login_sessions")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("locked_until")
        batch.drop_column("login_failures_since")
        batch.drop_column("login_failures")
        batch.drop_column("password_hash")
