"""``fedshare bench stats``: statistics over a large subtree, against a plain count, in one run.

1. Seed a province node's database (schema by the real Alembic migrations, bulk inserts through
   SQLAlchemy core): ``records`` records whose origins lie in its subtree (the province, 10 cities,
   100 counties: its own records of every class, general and restricted records from below, and
   case-secret stubs from below; 2% tombstones; created over three years), plus 5% records from
   outside the subtree that the statistics must leave out; ``orders`` order targets (issued here,
   or summaries of orders its cities issued) in every state, with deadlines, some overdue; and as
   many ledger items (own and summaries from below). The ``record_stats`` rollup is filled by the
   migration's triggers as the rows go in, as it would be in service. On PostgreSQL the rollup is
   then compacted once (``VACUUM FULL``): the bulk load leaves dead row versions behind that
   autovacuum would clear in service.
2. Time each statistics query exactly as ``GET /api/v1/stats`` runs it (``node.stats.service``),
   ``REPEAT`` times after a warm-up: records by origin x class x category x status x month (from
   the rollup) for the last 12 months (the endpoint's default) and over all months, two coarser
   slices (``group_by``), orders by state with overdue, median time to acknowledge, ledger
   open/overdue per node, and the endpoint's default set together. Goal: p95 <= 200 ms each.
3. Baseline in the same run: ``SELECT count(*) FROM records``. For reference, the records query
   straight from ``records`` (a full GROUP BY scan; what the rollup saves) is timed too, and its
   result is checked equal to the rollup's.

Prints a table, then one JSON line with every figure (baseline included). Exit status 0 when every
statistics query meets the goal, 1 when one does not, 2 when ``database_url`` is not empty.
"""

from __future__ import annotations

import gc
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, insert, select, text
from sqlalchemy.orm import Session

from bench.common import print_json, print_table, summary_ms
from node.db import make_engine, upgrade_database
from node.ids import uuid7
from node.ledger.models import LedgerItem
from node.ledger.queries import ledger_counts
from node.models import Record
from node.orders.models import Order, OrderTarget
from node.orders.queries import median_ack_seconds, order_states
from node.stats.queries import RecordQuery, record_counts, record_counts_from_records

GOAL_MS = 200.0
REPEAT = 30
REFERENCE_REPEAT = 5
BATCH = 10_000
SEED = 20240501
PROVINCE = "p"
CITIES = [f"p-c{c}" for c in range(10)]
COUNTIES = [f"p-c{c}-k{k}" for c in range(10) for k in range(10)]
SUBTREE = sorted([PROVINCE, *CITIES, *COUNTIES])
OUTSIDE = ["central", "q", *[f"q-c{c}" for c in range(5)]]
CATEGORIES = {
    "general": ["policy", "practice", "work_requirement"],
    "restricted": [
        "supervision_check",
        "inspection_finding",
        "political_ecology",
        "accountability",
    ],
    "secret": [
        "problem_clue",
        "petition",
        "evidence",
        "case_analysis",
        "integrity_consultation",
        "integrity_file",
        "personal_matter_report",
    ],
}
ORDER_STATES = [
    "issued",
    "received",
    "acknowledged",
    "in_progress",
    "reported",
    "accepted",
    "returned",
    "closed",
]
LEDGER_STATUSES = ["transferred", "responded", "closed"]


def _batches(total: int, make: Callable[[int], dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for i in range(total):
        batch.append(make(i))
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _record_maker(
    rng: random.Random, now: datetime, outside: bool
) -> Callable[[int], dict[str, Any]]:
    span_s = 3 * 365 * 86400

    def make(i: int) -> dict[str, Any]:
        origin = rng.choice(OUTSIDE if outside else SUBTREE)
        if outside:
            classification = rng.choice(["general", "general", "restricted"])
        else:
            classification = rng.choices(["general", "restricted", "secret"], [5, 2, 3])[0]
        stub = classification == "secret" and origin != PROVINCE
        created = now - timedelta(seconds=rng.randrange(span_s))
        deleted = rng.random() < 0.02
        return {
            "id": uuid7(),
            "origin": origin,
            "author": "" if stub else f"{origin}-inspector",
            "category": rng.choice(CATEGORIES[classification]),
            "classification": classification,
            "title": None if stub else f"记录 {i}",
            "body": None if stub else "",
            "version": 1,
            "created_at": created,
            "updated_at": created,
            "deleted": deleted,
            "is_stub": stub,
        }

    return make


def _target_maker(
    rng: random.Random, now: datetime, headers: list[dict[str, Any]]
) -> Callable[[int], dict[str, Any]]:
    def make(i: int) -> dict[str, Any]:
        issuer = PROVINCE if rng.random() < 0.6 else rng.choice(CITIES)
        below = (
            [c for c in COUNTIES if c.startswith(issuer + "-")]
            if issuer != PROVINCE
            else CITIES + COUNTIES
        )
        addressee = rng.choice(below)
        state = rng.choice(ORDER_STATES)
        issued = now - timedelta(days=rng.uniform(1, 400))
        deadline = issued + timedelta(days=rng.uniform(5, 60))
        acknowledged = state not in ("issued", "received")
        ack_s = rng.randrange(600, 5 * 86400) if acknowledged else None
        order_id = uuid7()
        held_as = "issuer" if issuer == PROVINCE else "summary"
        if held_as == "issuer":
            headers.append(
                {
                    "id": order_id,
                    "issuer": issuer,
                    "issued_by": "p-inspector",
                    "title": f"督办指令 {i}",
                    "inspected_units": ["某单位"],
                    "focus_issues": ["重点"],
                    "addressees": [addressee],
                    "deadline": deadline,
                    "issued_at": issued,
                    "held_as": "issuer",
                }
            )
        return {
            "order_id": order_id,
            "addressee": addressee,
            "issuer": issuer,
            "held_as": held_as,
            "state": state,
            "version": 1 + ORDER_STATES.index(state),
            "deadline": deadline,
            "issued_at": issued,
            "received_at": issued if state != "issued" else None,
            "acknowledged_at": issued + timedelta(seconds=ack_s) if ack_s else None,
            "reported_at": None,
            "accepted_at": None,
            "closed_at": None,
            "updated_at": now,
            "returns": 1 if state == "returned" else 0,
            "ack_seconds": ack_s,
            "report_record_id": None,
            "handler_id": None,
            "handler_name": None,
        }

    return make


def _ledger_maker(rng: random.Random, now: datetime) -> Callable[[int], dict[str, Any]]:
    def make(i: int) -> dict[str, Any]:
        node = rng.choice(SUBTREE)
        own = node == PROVINCE
        created = now - timedelta(days=rng.uniform(1, 400))
        status = rng.choice(LEDGER_STATUSES)
        return {
            "id": uuid7(),
            "node": node,
            "held_as": "own" if own else "summary",
            "title": f"移交线索 {i}" if own else None,
            "clue_record_id": None,
            "order_id": None,
            "department": rng.choice(["纪委监委第三监督检查室", "组织部", "派驻纪检监察组"]),
            "responsible": "张明" if own else None,
            "transferred_by": None,
            "feedback_deadline": created + timedelta(days=rng.uniform(10, 90)),
            "status": status,
            "feedback_count": 0 if status == "transferred" else 1,
            "last_feedback_at": None,
            "created_at": created,
            "updated_at": created,
            "closed_at": created if status == "closed" else None,
            "closed_by": None,
            "version": 1,
        }

    return make


def seed(engine: Engine, *, records: int, orders: int) -> dict[str, Any]:
    rng = random.Random(SEED)
    now = datetime.now(UTC)
    started = time.perf_counter()
    with engine.begin() as conn:
        for batch in _batches(records, _record_maker(rng, now, outside=False)):
            conn.execute(insert(Record), batch)
        for batch in _batches(records // 20, _record_maker(rng, now, outside=True)):
            conn.execute(insert(Record), batch)
    records_s = time.perf_counter() - started
    headers: list[dict[str, Any]] = []
    with engine.begin() as conn:
        for batch in _batches(orders, _target_maker(rng, now, headers)):
            conn.execute(insert(OrderTarget), batch)
        for start in range(0, len(headers), BATCH):
            conn.execute(insert(Order), headers[start : start + BATCH])
        for batch in _batches(orders, _ledger_maker(rng, now)):
            conn.execute(insert(LedgerItem), batch)
    with engine.connect() as conn:
        rollup_rows = conn.execute(text("SELECT count(*) FROM record_stats")).scalar_one()
    if engine.dialect.name == "postgresql":
        # A bulk load rewrites each rollup row once per statement: thousands of dead versions
        # that a node's autovacuum (and HOT updates) keep away in service. Compact once.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM (FULL, ANALYZE) record_stats"))
            conn.execute(text("VACUUM (ANALYZE)"))
    return {
        "seed_s": round(time.perf_counter() - started, 1),
        "seed_records_s": round(records_s, 1),
        "rollup_rows": int(rollup_rows),
        "outside_records": records // 20,
    }


def _time(engine: Engine, query: Callable[[Session], object], repeat: int) -> dict[str, float]:
    durations: list[float] = []
    with Session(engine) as session:
        query(session)  # warm-up: plans, page cache
        session.rollback()
        for _ in range(repeat):
            gc.collect()  # each run starts from a clean heap, as a request would
            began = time.perf_counter()
            query(session)
            durations.append(time.perf_counter() - began)
            session.rollback()
    return summary_ms(durations)


def run(*, records: int, orders: int, database_url: str | None) -> int:
    tmp: tempfile.TemporaryDirectory[str] | None = None
    if database_url is None:
        tmp = tempfile.TemporaryDirectory(prefix="fedshare-bench-stats-")
        database_url = f"sqlite:///{Path(tmp.name) / 'node.db'}"
    try:
        return _run(records=records, orders=orders, database_url=database_url)
    finally:
        if tmp is not None:
            tmp.cleanup()


def _run(*, records: int, orders: int, database_url: str) -> int:
    upgrade_database(database_url)
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            if conn.execute(select(func.count()).select_from(Record)).scalar_one():
                print("error: the database already holds records; give an empty one")
                return 2
        seeded = seed(engine, records=records, orders=orders)
        now = datetime.now(UTC)
        nodes = SUBTREE
        default = RecordQuery.parse(None, since=None, until=None, months=12, now=now)
        history = RecordQuery()
        origin_class = RecordQuery(dimensions=("origin", "classification", "status"))
        class_month = RecordQuery(dimensions=("classification", "category", "month"))

        def everything(session: Session) -> object:
            return (
                record_counts(session, nodes, default),
                order_states(session, nodes, now),
                median_ack_seconds(session, nodes),
                ledger_counts(session, nodes, now),
            )

        queries: dict[str, Callable[[Session], object]] = {
            "records: origin x class x category x status x month, 12 months": lambda s: (
                record_counts(s, nodes, default)
            ),
            "records: the same over all 36 months (months=0)": lambda s: record_counts(
                s, nodes, history
            ),
            "records: origin x class x status, all months": lambda s: record_counts(
                s, nodes, origin_class
            ),
            "records: class x category x month, all months": lambda s: record_counts(
                s, nodes, class_month
            ),
            "orders by state, overdue": lambda s: order_states(s, nodes, now),
            "median time to acknowledge": lambda s: median_ack_seconds(s, nodes),
            "ledger open / overdue per node": lambda s: ledger_counts(s, nodes, now),
            "GET /api/v1/stats default (records 12 months + orders + median + ledger)": everything,
        }
        figures = {name: _time(engine, query, REPEAT) for name, query in queries.items()}
        baseline = _time(
            engine, lambda s: s.execute(text("SELECT count(*) FROM records")).all(), REPEAT
        )
        direct = _time(engine, lambda s: record_counts_from_records(s, nodes), REFERENCE_REPEAT)
        with Session(engine) as session:
            rows = record_counts(session, nodes, history)
            consistent = rows == record_counts_from_records(session, nodes)
            counted = sum(row[-2] for row in rows)
            cells = len(rows)
    finally:
        engine.dispose()

    ok = all(f["p95_ms"] <= GOAL_MS for f in figures.values())
    table = [
        [name, f["p50_ms"], f["p95_ms"], REPEAT, "yes" if f["p95_ms"] <= GOAL_MS else "NO"]
        for name, f in figures.items()
    ]
    table.append(
        [
            "baseline: SELECT count(*) FROM records",
            baseline["p50_ms"],
            baseline["p95_ms"],
            REPEAT,
            "-",
        ]
    )
    table.append(
        [
            "reference: the same counts by GROUP BY over records",
            direct["p50_ms"],
            direct["p95_ms"],
            REFERENCE_REPEAT,
            "-",
        ]
    )
    backend = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    print_table(
        f"fedshare bench stats ({backend}): subtree of {len(SUBTREE)} nodes, {records} records "
        f"(+{seeded['outside_records']} outside), {orders} orders, {orders} ledger items; "
        f"seeded in {seeded['seed_s']} s; rollup {seeded['rollup_rows']} rows, {cells} cells; "
        f"rollup == GROUP BY: {consistent}; goal p95 <= {GOAL_MS:.0f} ms",
        ["query", "p50 ms", "p95 ms", "runs", "goal met"],
        table,
    )
    print_json(
        {
            "bench": "stats",
            "backend": backend,
            "records": records,
            "records_counted": counted,
            "record_cells": cells,
            "orders": orders,
            "ledger_items": orders,
            "subtree_nodes": len(SUBTREE),
            **seeded,
            "goal_p95_ms": GOAL_MS,
            "queries": figures,
            "baseline": {"query": "SELECT count(*) FROM records", **baseline},
            "reference_direct_group_by": direct,
            "rollup_matches_group_by": consistent,
            "goal_met": ok,
        }
    )
    return 0 if ok and consistent else 1
