"""Shared helpers for the benchmarks: percentiles, the report format, and a node full of records
to measure on."""

from __future__ import annotations

import gc
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, func, insert, select

from node.context import NodeContext
from node.db import Base, upgrade_database
from node.models import Record

T = TypeVar("T")
TABLES = Base.metadata.tables


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary_ms(values_s: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values_s]
    return {
        "p50_ms": round(percentile(ms, 50), 3),
        "p95_ms": round(percentile(ms, 95), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "mean_ms": round(statistics.fmean(ms), 3) if ms else float("nan"),
    }


def print_table(title: str, header: list[str], rows: list[list[Any]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    print(title)
    print("  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=False)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=False)))
    print()


def print_json(figures: dict[str, Any]) -> None:
    print(json.dumps(figures, ensure_ascii=False, sort_keys=True))


# -- a node full of records (``bench list``, ``bench search``) ----------------------------------

SeededRow = tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any] | None]
"""A record to seed, its party rows, and its grant (if any)."""


@dataclass
class Seeded:
    records: int = 0
    parties: int = 0
    grants: int = 0
    by_class: dict[str, int] = field(default_factory=dict)
    stubs: int = 0
    deleted: int = 0


def bulk_seed(
    engine: Engine,
    rows: Iterable[SeededRow],
    *,
    batch_size: int,
    insert_records: Callable[[Connection, list[dict[str, Any]]], None],
) -> Seeded:
    """Load ``rows`` in one transaction per ``batch_size`` records (records by
    ``insert_records``, then their parties and grants by ``executemany``); what was loaded."""
    seeded = Seeded()
    batch: list[dict[str, Any]] = []
    party_batch: list[dict[str, Any]] = []
    grant_batch: list[dict[str, Any]] = []

    def flush() -> None:
        with engine.begin() as conn:
            if batch:
                insert_records(conn, batch)
            if party_batch:
                conn.execute(insert(TABLES["record_parties"]), party_batch)
            if grant_batch:
                conn.execute(insert(TABLES["grants"]), grant_batch)
        batch.clear()
        party_batch.clear()
        grant_batch.clear()

    for record, parties, grant in rows:
        batch.append(record)
        party_batch.extend(parties)
        if grant is not None:
            grant_batch.append(grant)
            seeded.grants += 1
        seeded.records += 1
        seeded.parties += len(parties)
        cls = record["classification"]
        seeded.by_class[cls] = seeded.by_class.get(cls, 0) + 1
        seeded.stubs += record["is_stub"]
        seeded.deleted += record["deleted"]
        if len(batch) >= batch_size:
            flush()
    flush()
    return seeded


def run_on_empty_node(
    prefix: str,
    database_url: str | None,
    context: Callable[[Path, str], NodeContext],
    bench: Callable[[NodeContext], int],
) -> int:
    """``bench`` on a node made in a temporary directory, its database there (or at
    ``database_url``) made by the real Alembic migrations; 2, and nothing run, if the database
    already holds records. The engine is disposed of afterwards."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        workdir = Path(tmp)
        url = database_url or f"sqlite:///{workdir / 'node.db'}"
        upgrade_database(url)
        ctx = context(workdir, url)
        try:
            with ctx.sessions() as session:
                existing = session.execute(select(func.count()).select_from(Record)).scalar_one()
            if existing:
                print(f"error: the database already holds {existing} records; give an empty one")
                return 2
            return bench(ctx)
        finally:
            ctx.engine.dispose()


def timed_seed(seed: Callable[[], T]) -> tuple[T, float]:
    """``seed()`` and the seconds it took; then, as ``fedshare node run`` does once the app is
    built, long-lived objects stay out of the cyclic GC's full passes."""
    started = time.perf_counter()
    seeded = seed()
    seed_s = time.perf_counter() - started
    gc.collect()
    gc.freeze()
    return seeded, seed_s
