"""Records are keyed by (origin, id): no node can squat another origin's record id (DESIGN §2, §10).

``records`` gets the primary key (origin, id) (the old (origin, id) index becomes the key; an index
on id alone serves the API's id-only lookups), ``record_parties`` is keyed by (record_origin,
record_id, node_id) with a composite foreign key, and ``order_attachments`` by (order_id,
record_origin, record_id). References that named a record by id alone get its origin, filled from
what the database holds: ``released_content`` and ``grant_reads`` from their grant,
``ledger_items.clue_record_origin`` from ``records`` (ids were unique until now, so the join is
exact).

SQLite: ``record_parties`` is copied aside and rebuilt rather than altered, because dropping its
parent in the batch rebuild of ``records`` would cascade-delete every party row (foreign keys are
on in the migration's connection); the rebuild also drops the triggers on ``records`` (the
statistics rollup of 0003 and any later ones), so they are read first and created again.

Revision ID: 0007_origin_keys
Revises: 0004
"""

import warnings

import sqlalchemy as sa
from alembic import op

revision = "0007_origin_keys"
down_revision = "0004"
branch_labels = None
# Alters tables made on the other branches off 0001.
depends_on = ("0002", "0003")

PARTIES_ASIDE = "record_parties_0007"


def _records_triggers() -> list[str]:
    rows = op.get_bind().execute(
        sa.text(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'records' "
            "ORDER BY name"
        )
    )
    return [str(row[0]) for row in rows]


def _parties_aside() -> None:
    op.create_table(
        PARTIES_ASIDE,
        sa.Column("record_id", sa.String(36), nullable=False),
        sa.Column("node_id", sa.String(64), nullable=False),
    )
    op.execute(
        f"INSERT INTO {PARTIES_ASIDE} (record_id, node_id) "
        "SELECT record_id, node_id FROM record_parties"
    )
    op.drop_table("record_parties")


def _parties_back() -> None:
    op.create_table(
        "record_parties",
        sa.Column("record_origin", sa.String(64), nullable=False),
        sa.Column("record_id", sa.String(36), nullable=False),
        sa.Column("node_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("record_origin", "record_id", "node_id", name="pk_record_parties"),
        sa.ForeignKeyConstraint(
            ["record_origin", "record_id"],
            ["records.origin", "records.id"],
            name="fk_record_parties_record",
            ondelete="CASCADE",
        ),
    )
    op.execute(
        "INSERT INTO record_parties (record_origin, record_id, node_id) "
        f"SELECT r.origin, p.record_id, p.node_id FROM {PARTIES_ASIDE} p "
        "JOIN records r ON r.id = p.record_id"
    )
    op.drop_table(PARTIES_ASIDE)
    op.create_index(
        "ix_record_parties_node", "record_parties", ["node_id", "record_origin", "record_id"]
    )


def _new_primary_key(table: str, name: str, columns: list[str]) -> None:
    """Replace ``table``'s primary key: a batch rebuild on SQLite, ALTER on PostgreSQL."""
    if op.get_bind().dialect.name == "sqlite":
        # The rebuilt table is reflected with the old key's columns flagged as primary: expected
        # here, since the new key replaces them.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*specifies columns .* as primary_key=True")
            with op.batch_alter_table(table, recreate="always") as batch:
                batch.create_primary_key(name, columns)
    else:
        op.drop_constraint(f"{table}_pkey", table, type_="primary")
        op.create_primary_key(name, table, columns)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    _parties_aside()
    op.drop_index("ix_records_origin_id", table_name="records")
    triggers = _records_triggers() if dialect == "sqlite" else []
    _new_primary_key("records", "pk_records", ["origin", "id"])
    for trigger in triggers:
        op.execute(trigger)
    op.create_index("ix_records_id", "records", ["id"])
    _parties_back()

    _new_primary_key(
        "order_attachments", "pk_order_attachments", ["order_id", "record_origin", "record_id"]
    )

    # Plain ADD COLUMN (no copy of the tables), filled from what names the record exactly.
    for table in ("released_content", "grant_reads"):
        op.add_column(
            table,
            sa.Column("record_origin", sa.String(64), nullable=False, server_default=""),
        )
        op.execute(
            f"UPDATE {table} SET record_origin = (SELECT g.record_origin FROM grants g "
            f"WHERE g.id = {table}.grant_id) "
            f"WHERE EXISTS (SELECT 1 FROM grants g WHERE g.id = {table}.grant_id)"
        )
    op.add_column("ledger_items", sa.Column("clue_record_origin", sa.String(64), nullable=True))
    op.execute(
        "UPDATE ledger_items SET clue_record_origin = (SELECT r.origin FROM records r "
        "WHERE r.id = ledger_items.clue_record_id) WHERE clue_record_id IS NOT NULL"
    )
    op.drop_index("ix_grants_record_grantee", table_name="grants")
    op.create_index(
        "ix_grants_record_grantee", "grants", ["record_id", "record_origin", "grantee_id"]
    )


def downgrade() -> None:
    raise NotImplementedError(
        "records keyed by (origin, id) may hold one id under several origins: no way back"
    )
