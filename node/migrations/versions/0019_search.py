"""Search over titles and bodies (issue 13 item 4): a trigram index of the content held here.

What is indexed is exactly the plaintext the ``records`` table already holds at this node and
nothing more: titles and bodies of general records, of restricted records this node is the origin
or a named party of, and of case-secret records this node is the origin of. A stub has no title
or body here (NULL), so it has no index entry; content released under a grant
(``released_content``) is not indexed at all (it is searched by ``LIKE`` over the few rows of the
user's own active grants), so the index never outlives a grant. The reporter is sealed in its own
table and never indexed.

SQLite: a contentless FTS5 table ``records_fts`` (``tokenize='trigram'``: every three characters
are a term, so Chinese needs no word segmentation) keyed by ``record_search_keys.key``, a stable
integer per record (the records table's own rowid is not stable: ``VACUUM`` may renumber it).
Contentless: the index holds the terms and their positions, never a second copy of the text.
Triggers keep it in step with every write to ``records`` (API, replication, bulk loads alike); a
change or a tombstone deletes the old terms with the old values, as FTS5 requires.

PostgreSQL: ``pg_trgm`` and one GIN trigram index over ``title`` and ``body``; ``ILIKE`` on
either column uses it.

Revision ID: 0019_search
Revises: 0018_resync
"""

from alembic import op

revision = "0019_search"
down_revision = "0018_resync"
branch_labels = None
depends_on = None

# The SQLite triggers. ``has_content`` rows only: a stub (NULL title and body) is never indexed.
SQLITE_UPGRADE = [
    """
    CREATE TABLE record_search_keys (
        key INTEGER PRIMARY KEY AUTOINCREMENT,
        record_origin VARCHAR(64) NOT NULL,
        record_id VARCHAR(36) NOT NULL,
        CONSTRAINT ux_record_search_keys UNIQUE (record_origin, record_id)
    )
    """,
    """
    CREATE VIRTUAL TABLE records_fts USING fts5(
        title, body, content='', tokenize='trigram'
    )
    """,
    """
    CREATE TRIGGER records_search_insert AFTER INSERT ON records
    WHEN NEW.title IS NOT NULL OR NEW.body IS NOT NULL
    BEGIN
        INSERT OR IGNORE INTO record_search_keys (record_origin, record_id)
            VALUES (NEW.origin, NEW.id);
        INSERT INTO records_fts (rowid, title, body)
            SELECT key, coalesce(NEW.title, ''), coalesce(NEW.body, '')
            FROM record_search_keys
            WHERE record_origin = NEW.origin AND record_id = NEW.id;
    END
    """,
    """
    CREATE TRIGGER records_search_update AFTER UPDATE OF title, body ON records
    BEGIN
        INSERT INTO records_fts (records_fts, rowid, title, body)
            SELECT 'delete', key, coalesce(OLD.title, ''), coalesce(OLD.body, '')
            FROM record_search_keys
            WHERE record_origin = OLD.origin AND record_id = OLD.id
              AND (OLD.title IS NOT NULL OR OLD.body IS NOT NULL);
        INSERT OR IGNORE INTO record_search_keys (record_origin, record_id)
            SELECT NEW.origin, NEW.id WHERE NEW.title IS NOT NULL OR NEW.body IS NOT NULL;
        INSERT INTO records_fts (rowid, title, body)
            SELECT key, coalesce(NEW.title, ''), coalesce(NEW.body, '')
            FROM record_search_keys
            WHERE record_origin = NEW.origin AND record_id = NEW.id
              AND (NEW.title IS NOT NULL OR NEW.body IS NOT NULL);
    END
    """,
    """
    CREATE TRIGGER records_search_delete AFTER DELETE ON records
    BEGIN
        INSERT INTO records_fts (records_fts, rowid, title, body)
            SELECT 'delete', key, coalesce(OLD.title, ''), coalesce(OLD.body, '')
            FROM record_search_keys
            WHERE record_origin = OLD.origin AND record_id = OLD.id
              AND (OLD.title IS NOT NULL OR OLD.body IS NOT NULL);
        DELETE FROM record_search_keys
            WHERE record_origin = OLD.origin AND record_id = OLD.id;
    END
    """,
    # Records already held: index them once.
    """
    INSERT INTO record_search_keys (record_origin, record_id)
        SELECT origin, id FROM records WHERE title IS NOT NULL OR body IS NOT NULL ORDER BY id
    """,
    """
    INSERT INTO records_fts (rowid, title, body)
        SELECT k.key, coalesce(r.title, ''), coalesce(r.body, '')
        FROM record_search_keys k
        JOIN records r ON r.origin = k.record_origin AND r.id = k.record_id
    """,
]
SQLITE_DOWNGRADE = [
    "DROP TRIGGER IF EXISTS records_search_delete",
    "DROP TRIGGER IF EXISTS records_search_update",
    "DROP TRIGGER IF EXISTS records_search_insert",
    "DROP TABLE IF EXISTS records_fts",
    "DROP TABLE IF EXISTS record_search_keys",
]
POSTGRESQL_UPGRADE = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    # The operator class named in the schema the extension lives in: a database may have had
    # pg_trgm installed elsewhere (``public``, an ``extensions`` schema) than on the node's
    # search path, where ``CREATE EXTENSION IF NOT EXISTS`` leaves it.
    """
    DO $$
    DECLARE ops text;
    BEGIN
        SELECT quote_ident(n.nspname) INTO ops
            FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
            WHERE e.extname = 'pg_trgm';
        EXECUTE 'CREATE INDEX ix_records_search_trgm ON records USING gin (title '
            || ops || '.gin_trgm_ops, body ' || ops || '.gin_trgm_ops)';
    END
    $$
    """,
]
POSTGRESQL_DOWNGRADE = ["DROP INDEX IF EXISTS ix_records_search_trgm"]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in SQLITE_UPGRADE if dialect == "sqlite" else POSTGRESQL_UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in SQLITE_DOWNGRADE if dialect == "sqlite" else POSTGRESQL_DOWNGRADE:
        op.execute(statement)
