"""The truncating WAL checkpoint after a purge (SQLite, ``node.db.truncate_wal``).

It holds the write lock while it waits for readers, so it waits only ``CHECKPOINT_BUSY_MS``: a
reader on an older snapshot makes it give up (the purge still commits) and leaves it owed, and the
periodic sweep (``retry_owed_checkpoint``) completes it once the reader is gone. Meanwhile other
writers are not kept waiting behind it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import text

from node.db import make_engine, make_sessionmaker, mark_purged, retry_owed_checkpoint


def test_a_reader_defers_the_checkpoint_and_the_sweep_completes_it(tmp_path: Path) -> None:
    database = tmp_path / "node.db"
    engine = make_engine(f"sqlite:///{database}")
    sessions = make_sessionmaker(engine)
    wal = database.with_name("node.db-wal")
    try:
        with sessions() as session, session.begin():
            session.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
            for i in range(50):
                session.execute(text("INSERT INTO notes (body) VALUES (:b)"), {"b": f"秘密{i}"})

        reader = sqlite3.connect(database, isolation_level=None)
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM notes").fetchone() == (50,)
        try:
            with sessions() as session, session.begin():
                session.execute(text("DELETE FROM notes WHERE id <= 10"))
                mark_purged(session)
            # The purge committed; the checkpoint could not truncate the log past the reader.
            assert wal.stat().st_size > 0
            assert retry_owed_checkpoint(engine) is False
            # Another writer is not held up by the owed checkpoint.
            with sessions() as session, session.begin():
                session.execute(text("INSERT INTO notes (body) VALUES ('后来的')"))
        finally:
            reader.execute("COMMIT")
            reader.close()

        assert retry_owed_checkpoint(engine) is True
        assert wal.stat().st_size == 0
        assert retry_owed_checkpoint(engine) is True  # nothing owed any more
        with sessions() as session:
            assert session.execute(text("SELECT count(*) FROM notes")).scalar_one() == 41
    finally:
        engine.dispose()
