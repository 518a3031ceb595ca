"""Migrated databases for the tests, made fast: Alembic migrates one template per backend per test
run, and each node under test gets a copy of it (SQLite: the template file copied; PostgreSQL:
``CREATE DATABASE … TEMPLATE``, a copy made by the server). The schema is still made only by
Alembic; a copy is byte for byte what the migrations left. Migrating every node's database anew
cost the suite about a second per node.

Where the PostgreSQL role may not create databases, ``migrated`` falls back to migrating the
fresh schema it is given, as before."""

from __future__ import annotations

import os
import queue
import shutil
import sqlite3
import tempfile
import threading
import uuid
from pathlib import Path

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from node.db import upgrade_database
from node.storage import FILE_MODE

POSTGRES_URL = os.environ.get("FEDSHARE_TEST_POSTGRES_URL", "")
PREFIX = "fedshare_t_"


def pg_driver_url(url: str) -> str:
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


class _Templates:
    """The run's templates, made on first use and removed by ``drop_all``."""

    def __init__(self) -> None:
        self.sqlite: Path | None = None
        # Where the SQLite template lives: the run's temporary directory (set by conftest).
        self.scratch: Path | None = None
        self.postgres: str | None = None
        self.postgres_refused = False
        self.created: list[str] = []
        self._admin: Engine | None = None
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._dropper: threading.Thread | None = None

    @property
    def admin(self) -> Engine:
        if self._admin is None:
            self._admin = create_engine(pg_driver_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
        return self._admin

    def sqlite_template(self) -> Path:
        if self.sqlite is None or not self.sqlite.exists():
            if self.scratch is None:
                self.scratch = Path(tempfile.mkdtemp(prefix="fedshare-template-"))
            path = self.scratch / f"template-{uuid.uuid4().hex[:8]}.db"
            upgrade_database(f"sqlite:///{path}")
            # One self-contained file: the log folded into it and switched off for the copy
            # (each node's engine turns WAL on again when it connects).
            with sqlite3.connect(path) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.execute("PRAGMA journal_mode=DELETE")
            conn.close()
            self.sqlite = path
        return self.sqlite

    def postgres_url(self, database: str) -> str:
        return make_url(POSTGRES_URL).set(database=database).render_as_string(hide_password=False)

    def postgres_template(self) -> str | None:
        if self.postgres is None and not self.postgres_refused:
            name = f"{PREFIX}tmpl_{uuid.uuid4().hex[:12]}"
            try:
                with self.admin.connect() as conn:
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
            except DBAPIError:
                self.postgres_refused = True
                return None
            upgrade_database(self.postgres_url(name))
            self.postgres = name
        return self.postgres

    def drop(self, name: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if name in self.created:
            self.created.remove(name)

    def drop_later(self, name: str) -> None:
        """Drop ``name`` in the background: a drop waits for a checkpoint of the server, which
        the next test need not wait for."""
        if self._dropper is None:
            self._dropper = threading.Thread(target=self._drop_queued, daemon=True)
            self._dropper.start()
        self._queue.put(name)

    def _drop_queued(self) -> None:
        while (name := self._queue.get()) is not None:
            try:
                self.drop(name)
            except DBAPIError:
                pass  # left to ``drop_all`` at the end of the run
            finally:
                self._queue.task_done()
        self._queue.task_done()

    def drop_all(self) -> None:
        if self._admin is None:
            return
        if self._dropper is not None:
            self._queue.put(None)
            self._dropper.join()
            self._dropper = None
        for name in list(self.created):
            self.drop(name)
        if self.postgres is not None:
            self.drop(self.postgres)
            self.postgres = None
        self._admin.dispose()
        self._admin = None


TEMPLATES = _Templates()


def migrated(url: str) -> str:
    """A migrated database for ``url``, an empty database made by a fixture: for SQLite the
    template copied to its (new) file, the same url; for PostgreSQL a new database copied from
    the template, its url (``release`` removes it)."""
    if url.startswith("sqlite"):
        path = Path(url.split("///", 1)[-1])
        if path.exists():
            upgrade_database(url)
            return url
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(TEMPLATES.sqlite_template(), path)
        path.chmod(FILE_MODE)
        return url
    template = TEMPLATES.postgres_template()
    if template is None:
        upgrade_database(url)
        return url
    name = f"{PREFIX}{uuid.uuid4().hex[:12]}"
    with TEMPLATES.admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    TEMPLATES.created.append(name)
    return TEMPLATES.postgres_url(name)


def release(url: str) -> None:
    """Remove a PostgreSQL database that ``migrated`` made (nothing to do for SQLite: the file
    goes with the test's directory)."""
    if url.startswith("sqlite"):
        return
    name = make_url(url).database
    if name is not None and name in TEMPLATES.created:
        TEMPLATES.drop_later(name)
