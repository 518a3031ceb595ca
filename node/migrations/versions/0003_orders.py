"""Orders, the clue transfer ledger, and the record rollup behind statistics.

``record_stats`` holds, per (origin, class, category, deleted, month), the count of records and of
stubs: it is kept equal to that ``GROUP BY`` over ``records`` by triggers, whoever writes
(services, the inbox, bulk loads), in the writer's transaction. SQLite: row triggers. PostgreSQL:
statement triggers over transition tables, so a bulk insert costs one aggregated upsert per
statement, and an update that changes no grouping column touches no rollup row (no lock taken on
a counter).

Revision ID: 0003
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
KEY = "origin, classification, category, deleted, month"

SQLITE_MONTH = "substr({row}.created_at, 1, 7)"
SQLITE_KEY_MATCH = (
    "origin = OLD.origin AND classification = OLD.classification AND category = OLD.category"
    " AND deleted = OLD.deleted AND month = substr(OLD.created_at, 1, 7)"
)


def _sqlite_add(row: str) -> str:
    return (
        f"INSERT INTO record_stats ({KEY}, n, stubs) VALUES ({row}.origin, "
        f"{row}.classification, {row}.category, {row}.deleted, {SQLITE_MONTH.format(row=row)}, "
        f"1, {row}.is_stub) "
        f"ON CONFLICT ({KEY}) DO UPDATE SET n = n + 1, stubs = stubs + excluded.stubs;"
    )


SQLITE_REMOVE_OLD = (
    f"UPDATE record_stats SET n = n - 1, stubs = stubs - OLD.is_stub WHERE {SQLITE_KEY_MATCH};"
)
SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER tr_records_stats_insert AFTER INSERT ON records BEGIN
        {_sqlite_add("NEW")}
    END""",
    f"""CREATE TRIGGER tr_records_stats_update
        AFTER UPDATE OF origin, classification, category, deleted, is_stub, created_at ON records
        WHEN OLD.origin IS NOT NEW.origin OR OLD.classification IS NOT NEW.classification
          OR OLD.category IS NOT NEW.category OR OLD.deleted IS NOT NEW.deleted
          OR OLD.is_stub IS NOT NEW.is_stub
          OR substr(OLD.created_at, 1, 7) IS NOT substr(NEW.created_at, 1, 7)
    BEGIN
        {SQLITE_REMOVE_OLD}
        {_sqlite_add("NEW")}
    END""",
    f"""CREATE TRIGGER tr_records_stats_delete AFTER DELETE ON records BEGIN
        {SQLITE_REMOVE_OLD}
    END""",
]

PG_MONTH = "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM')"
PG_KEY_COLUMNS = f"origin, classification, category, deleted, {PG_MONTH} AS month"
PG_UPSERT = (
    f"ON CONFLICT ({KEY}) DO UPDATE SET n = s.n + EXCLUDED.n, stubs = s.stubs + EXCLUDED.stubs"
)


def _pg_apply(changes: str) -> str:
    """Fold signed row changes (key, d = +1/-1, stub = 0/1) into the rollup, one upsert."""
    return f"""
        INSERT INTO record_stats AS s ({KEY}, n, stubs)
        SELECT {KEY}, sum(d), sum(d * stub) FROM ({changes}) AS changes
        GROUP BY 1, 2, 3, 4, 5 HAVING sum(d) <> 0 OR sum(d * stub) <> 0 ORDER BY 1, 2, 3, 4, 5
        {PG_UPSERT};"""


PG_ADDED = f"SELECT {PG_KEY_COLUMNS}, 1 AS d, is_stub::int AS stub FROM new_rows"
PG_REMOVED = f"SELECT {PG_KEY_COLUMNS}, -1 AS d, is_stub::int AS stub FROM old_rows"
PG_FUNCTION = f"""
CREATE FUNCTION record_stats_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_pg_apply(PG_ADDED)}
    ELSIF TG_OP = 'DELETE' THEN
        {_pg_apply(PG_REMOVED)}
    ELSE
        {_pg_apply(f"{PG_REMOVED} UNION ALL {PG_ADDED}")}
    END IF;
    RETURN NULL;
END
$$
"""
PG_TRIGGERS = [
    "CREATE TRIGGER tr_records_stats_insert AFTER INSERT ON records "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION record_stats_apply()",
    "CREATE TRIGGER tr_records_stats_update AFTER UPDATE ON records "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION record_stats_apply()",
    "CREATE TRIGGER tr_records_stats_delete AFTER DELETE ON records "
    "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION record_stats_apply()",
]


def _record_rollup() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "record_stats",
        sa.Column("origin", sa.String(64), nullable=False),
        sa.Column("classification", sa.String(16), nullable=False),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.Column("stubs", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("origin", "classification", "category", "deleted", "month"),
        # Clustered by the key in SQLite: a scan in key order reads the counts with the key.
        sqlite_with_rowid=False,
    )
    if dialect == "sqlite":
        month = SQLITE_MONTH.format(row="records")
        stub = "is_stub"
        statements = SQLITE_TRIGGERS
    elif dialect == "postgresql":
        month = PG_MONTH
        stub = "is_stub::int"
        # Counters are updated in place: room in each page lets those be HOT updates, pruned
        # without index churn, so the table stays compact between autovacuum runs.
        statements = ["ALTER TABLE record_stats SET (fillfactor = 70)", PG_FUNCTION, *PG_TRIGGERS]
    else:
        raise RuntimeError(f"unsupported database {dialect!r}")
    op.execute(
        f"INSERT INTO record_stats ({KEY}, n, stubs) SELECT origin, classification, category, "
        f"deleted, {month}, count(*), sum({stub}) FROM records "
        f"GROUP BY origin, classification, category, deleted, {month}"
    )
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("issuer", sa.String(64), nullable=False),
        sa.Column("issued_by", sa.String(100), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("inspected_units", sa.JSON, nullable=False),
        sa.Column("focus_issues", sa.JSON, nullable=False),
        sa.Column("addressees", sa.JSON, nullable=False),
        sa.Column("deadline", TS, nullable=False),
        sa.Column("issued_at", TS, nullable=False),
        sa.Column("held_as", sa.String(16), nullable=False),
    )
    op.create_index("ix_orders_issuer_id", "orders", ["issuer", "id"])
    op.create_table(
        "order_attachments",
        sa.Column(
            "order_id",
            sa.String(36),
            sa.ForeignKey("orders.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("record_id", sa.String(36), primary_key=True),
        sa.Column("record_origin", sa.String(64), nullable=False),
        sa.Column("classification", sa.String(16), nullable=False),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("granted", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "order_targets",
        sa.Column("order_id", sa.String(36), primary_key=True),
        sa.Column("addressee", sa.String(64), primary_key=True),
        sa.Column("issuer", sa.String(64), nullable=False),
        sa.Column("held_as", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("deadline", TS, nullable=False),
        sa.Column("issued_at", TS, nullable=False),
        sa.Column("received_at", TS, nullable=True),
        sa.Column("acknowledged_at", TS, nullable=True),
        sa.Column("reported_at", TS, nullable=True),
        sa.Column("accepted_at", TS, nullable=True),
        sa.Column("closed_at", TS, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("returns", sa.Integer, nullable=False, server_default="0"),
        sa.Column("ack_seconds", sa.Integer, nullable=True),
        sa.Column("report_record_id", sa.String(36), nullable=True),
        sa.Column("handler_id", sa.String(36), nullable=True),
        sa.Column("handler_name", sa.String(100), nullable=True),
    )
    op.create_index(
        "ix_order_targets_addressee_state", "order_targets", ["addressee", "state", "deadline"]
    )
    op.create_index("ix_order_targets_ack", "order_targets", ["ack_seconds"])
    op.create_table(
        "order_events",
        sa.Column("order_id", sa.String(36), primary_key=True),
        sa.Column("addressee", sa.String(64), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("node", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("actor_id", sa.String(36), nullable=True),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("at", TS, nullable=False),
    )
    op.create_table(
        "ledger_items",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("node", sa.String(64), nullable=False),
        sa.Column("held_as", sa.String(16), nullable=False),
        sa.Column("title", sa.Text, nullable=True),
        sa.Column("clue_record_id", sa.String(36), nullable=True),
        sa.Column("order_id", sa.String(36), nullable=True),
        sa.Column("department", sa.String(200), nullable=False),
        sa.Column("responsible", sa.String(100), nullable=True),
        sa.Column("transferred_by", sa.String(100), nullable=True),
        sa.Column("feedback_deadline", TS, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("feedback_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_feedback_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("closed_at", TS, nullable=True),
        sa.Column("closed_by", sa.String(100), nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index(
        "ix_ledger_items_node_status", "ledger_items", ["node", "status", "feedback_deadline"]
    )
    op.create_table(
        "ledger_feedback",
        sa.Column(
            "item_id",
            sa.String(36),
            sa.ForeignKey("ledger_items.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("author", sa.String(100), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
    )
    _record_rollup()


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for trigger in (
        "tr_records_stats_insert",
        "tr_records_stats_update",
        "tr_records_stats_delete",
    ):
        if dialect == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON records")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS record_stats_apply()")
    for table in (
        "record_stats",
        "ledger_feedback",
        "ledger_items",
        "order_events",
        "order_targets",
        "order_attachments",
        "orders",
    ):
        op.drop_table(table)
