"""Migration 0019 on a PostgreSQL database that already has ``pg_trgm`` in another schema than
the node's (``public`` or an ``extensions`` schema, as many installations do): ``CREATE EXTENSION
IF NOT EXISTS`` leaves it there, and the trigram index names the operator class where it is."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, make_url, text

from node.db import make_engine, upgrade_database


def test_the_trigram_index_finds_pg_trgm_in_another_schema(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's extension")
    admin_url = make_url(database_url).set(drivername="postgresql+psycopg", query={})
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    schema = f"ext_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            installed = conn.execute(
                text("SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'")
            ).scalar_one()
            if installed:
                pytest.skip("pg_trgm is already installed in this database")
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            conn.execute(text(f'CREATE EXTENSION pg_trgm SCHEMA "{schema}"'))
        upgrade_database(database_url)
        engine = make_engine(database_url)
        try:
            with engine.connect() as conn:
                index = conn.execute(
                    text(
                        "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_records_search_trgm'"
                    )
                ).scalar_one()
                found = conn.execute(
                    text("SELECT count(*) FROM records WHERE title ILIKE '%巡察工作%'")
                ).scalar_one()
        finally:
            engine.dispose()
        assert f"{schema}.gin_trgm_ops" in index
        assert found == 0
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
