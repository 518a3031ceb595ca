"""Database engine and sessions: one SQLAlchemy 2 code path for SQLite and PostgreSQL.

SQLite runs in WAL mode with foreign keys on, and every transaction starts with ``BEGIN IMMEDIATE``
so that the audit chain (appended by nearly every request) never meets a lock upgrade deadlock.
The schema is created only by Alembic (``fedshare db upgrade``).

What is deleted is gone (SQLite): every connection runs with ``secure_delete`` on, so deleted
rows and overwritten values are zeroed in the pages that held them, and a transaction that purged
content (``mark_purged``) is followed by a truncating WAL checkpoint, so the log keeps no older
page image either. The database file (and so its ``-wal`` and ``-shm`` files, which SQLite creates
with the database file's mode) is 0600. PostgreSQL gives no such guarantee: see deploy/README.md.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Collection
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, create_engine, event, false, tuple_
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from node.storage import FILE_MODE, private_file

log = logging.getLogger("fedshare.db")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# The database as a whole failing (down, unreachable, locked, out of connections), as opposed to
# a statement it refused: a retry may succeed, and neither the data nor the audit log is to blame.
DATABASE_UNAVAILABLE: tuple[type[SQLAlchemyError], ...] = (
    OperationalError,
    InterfaceError,
    DisconnectionError,
    PoolTimeout,
)

BUSY_TIMEOUT_MS = 30_000
"""How long a SQLite statement waits for a lock before failing."""
CHECKPOINT_BUSY_MS = 500
"""How long the truncating checkpoint after a purge waits for readers (``truncate_wal``)."""


class Base(DeclarativeBase):
    pass


def pairs_in(first: Any, second: Any, pairs: Collection[tuple[Any, Any]]) -> ColumnElement[bool]:
    """``(first, second) IN pairs`` in a form SQLite answers from an index on both columns.

    SQLite plans a row-value ``IN`` list (what ``tuple_(a, b).in_(pairs)`` emits) as a scan of
    the whole table: 650 ms for 50 keys over 1,000,000 records, where one ``IN`` list per
    column lets it search the index (under 1 ms); the row-value test then keeps the exact pairs
    among the combinations the two lists allow."""
    keys = sorted(set(pairs))
    if not keys:
        return false()
    return and_(
        first.in_(sorted({a for a, _ in keys})),
        second.in_(sorted({b for _, b in keys})),
        tuple_(first, second).in_(keys),
    )


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        database = url.split("///", 1)[-1]
        if database and database != ":memory:":
            _private_database_files(Path(database))
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            # Deleted and overwritten content is zeroed, not left in free space of the file.
            cursor.execute("PRAGMA secure_delete=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, **kwargs)

    @event.listens_for(engine, "connect")
    def _postgresql_connect(dbapi_connection: Any, _record: Any) -> None:
        # Every statement planned for its own values: psycopg prepares a statement after its
        # fifth run, and PostgreSQL then may switch to a plan made without the values, which
        # cannot use the trigram index for a search pattern (0.8-1.3 s instead of 8-13 ms at
        # 1,000,000 records). Set here, not in the URL's ``options``, which stay the operator's.
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET plan_cache_mode = force_custom_plan")
        dbapi_connection.commit()

    return engine


def _private_database_files(database: Path) -> None:
    """Create the database file 0600 before SQLite does (its -wal and -shm files take its mode)
    and tighten an existing one and its companions."""
    private_file(database)
    for suffix in ("-wal", "-shm", "-journal"):
        companion = database.with_name(database.name + suffix)
        if companion.exists():
            companion.chmod(FILE_MODE)


PURGED_FLAG = "fedshare_purged"


def mark_purged(session: Session) -> None:
    """Note that this transaction deletes content: once it commits, the WAL is checkpointed and
    truncated (``truncate_wal``), so no older copy of a page survives in the log."""
    session.info[PURGED_FLAG] = True


def truncate_wal(engine: Engine) -> bool:
    """Copy the WAL into the database file and truncate it to zero bytes (SQLite; a no-op
    elsewhere). Returns False if readers kept it from completing (the next purge retries)."""
    if engine.dialect.name != "sqlite":
        return True
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        # A truncating checkpoint holds the write lock while its busy handler waits for
        # readers: with the connections' 30 s every other request would queue behind it. It
        # waits briefly instead; if readers keep it from completing, the sweep retries it.
        cursor.execute(f"PRAGMA busy_timeout={CHECKPOINT_BUSY_MS}")
        try:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            row = cursor.fetchone()
        finally:
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cursor.close()
    finally:
        raw.close()
    busy = bool(row and row[0])
    if busy:
        _checkpoint_owed.add(engine)
        log.warning("WAL checkpoint after a purge was blocked by readers; it will be retried")
    else:
        _checkpoint_owed.discard(engine)
    return not busy


# Engines whose last checkpoint after a purge did not complete (``retry_owed_checkpoint``).
_checkpoint_owed: weakref.WeakSet[Engine] = weakref.WeakSet()


def retry_owed_checkpoint(engine: Engine) -> bool:
    """Run the truncating checkpoint a purge could not complete, if one is owed (called by the
    node's periodic sweep); True if none is owed any more."""
    if engine not in _checkpoint_owed:
        return True
    return truncate_wal(engine)


def session_engine(session: Session) -> Engine:
    """The engine ``session`` is bound to."""
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


def _after_commit(session: Session) -> None:
    if session.info.pop(PURGED_FLAG, False):
        truncate_wal(session_engine(session))


def _after_rollback(session: Session) -> None:
    # A rolled-back purge deleted nothing: no checkpoint is owed. (A savepoint rollback does
    # not end the transaction and does not reach here.)
    if not session.in_transaction():
        session.info.pop(PURGED_FLAG, None)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    sessions = sessionmaker(bind=engine, expire_on_commit=False)
    if engine.dialect.name == "sqlite":
        event.listen(sessions, "after_commit", _after_commit)
        event.listen(sessions, "after_rollback", _after_rollback)
    return sessions


def alembic_config(url: str) -> Any:
    """The Alembic configuration of the database at ``url``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_database(url: str, revision: str = "heads") -> None:
    """Run the Alembic migrations up to ``revision``: the only way the schema is created."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)
