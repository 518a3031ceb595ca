"""``fedshare bench search``: searches over a large node against an unfiltered page, in one run.

1. Seed: N records at the city node ``yanan`` (the mix of ``fedshare bench list``: general records
   of every origin, restricted records of its own and naming it, secret records of its own, secret
   stubs of its counties, tombstones, grants), each with its own Chinese title and body drawn from
   a vocabulary with a few very frequent words and a long tail of rare ones. Bulk-loaded
   (SQLite: ``executemany`` in large transactions, the FTS5 index kept by the migration's triggers;
   PostgreSQL: ``COPY``, the trigram index dropped during the load and built after it, exactly as
   migration 0019 defines it), on a schema made by the real Alembic migrations.
2. Baseline: ``SELECT * FROM records ORDER BY id DESC LIMIT 50`` (no policy, no ``LIKE``), the
   first page and pages further on by cursor, on the same table.
3. Searches: ``node.records.service.list_records`` with ``text=q`` (the code behind
   ``GET /api/v1/records?q=``: query parsing, the policy-derived SQL, the index, the response
   objects and the audit entry) plus the commit, for an inspector (reads the most) and a security
   officer (reads general records only: restricted and secret matches are hidden from them), over
   queries of every kind: frequent words, rare words, words found nowhere, two words, a class
   filter, the second page, and two-character words (matched by ``LIKE``; reported apart).

Prints a table, then one JSON line with every figure (baseline included).
"""

from __future__ import annotations

import importlib.util
import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, insert

from bench.common import (
    TABLES,
    Seeded,
    bulk_seed,
    print_json,
    print_table,
    run_on_empty_node,
    summary_ms,
    timed_seed,
)
from bench.list_bench import NODE, PAGE, SEED, _baseline, _context, _rows, _users
from node.context import NodeContext
from node.db import MIGRATIONS_DIR
from node.policy import Actor
from node.records.service import RecordFilters, list_records

GOAL_P95_MS = 50.0
COLUMNS = [
    "id",
    "origin",
    "author",
    "category",
    "classification",
    "title",
    "body",
    "version",
    "created_at",
    "updated_at",
    "deleted",
    "is_stub",
]
# Words of the trade, from frequent to rare (Zipf weights by rank).
COMMON = [
    "巡察工作",
    "整改落实",
    "问题线索",
    "扶贫资金",
    "干部作风",
    "专项检查",
    "党风廉政",
    "主体责任",
    "形式主义",
    "官僚主义",
    "基层党组织",
    "违规发放",
    "津贴补贴",
    "公务接待",
    "工程项目",
    "招标投标",
    "惠民资金",
    "集体资产",
    "选人用人",
    "意识形态",
    "生态环境",
    "债务风险",
    "医疗保障",
    "教育收费",
    "征地拆迁",
    "低保评定",
    "村级财务",
    "公车私用",
    "收受礼金",
    "违规经商",
]
# A long tail of rare words: place-like names made of two syllables and a suffix.
SYLLABLES = "黄龙宜川洛富甘泉延长安塞志丹吴起子长清涧绥德米脂佳县横山靖边定边府谷神木榆阳"
SUFFIXES = ["镇", "村", "乡", "街道", "社区", "公司", "中心", "学校"]
FILLER = "，经查，该单位在落实相关要求方面存在不足，现将有关情况报告如下。"


def _vocabulary(rng: random.Random) -> tuple[list[str], list[float], list[str]]:
    rare = sorted(
        {
            rng.choice(SYLLABLES) + rng.choice(SYLLABLES) + rng.choice(SUFFIXES)
            for _ in range(20_000)
        }
    )
    weights = [1.0 / (rank + 1) for rank in range(len(COMMON))]
    return COMMON, weights, rare


def _text(rng: random.Random, words: int, vocab: tuple[list[str], list[float], list[str]]) -> str:
    common, weights, rare = vocab
    parts = []
    for _ in range(words):
        if rng.random() < 0.5:
            parts.append(rng.choices(common, weights)[0])
        else:
            parts.append(rng.choice(rare))
    return "、".join(parts)


def _records(
    count: int, inspector_id: str
) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any] | None]]:
    """``fedshare bench list``'s records, each with its own title and body."""
    rng = random.Random(SEED + 1)
    vocab = _vocabulary(rng)
    for index, (record, parties, grant) in enumerate(
        _rows(count, random.Random(SEED), inspector_id)
    ):
        if record["title"] is not None:
            record["title"] = f"关于{_text(rng, 2, vocab)}的报告（第{index}号）"
            record["body"] = _text(rng, rng.randint(6, 16), vocab) + FILLER
        yield record, parties, grant


def _migration() -> Any:
    """The search migration's module (its statements are reused around the bulk load)."""
    path = next((MIGRATIONS_DIR / "versions").glob("*_search.py"))
    spec = importlib.util.spec_from_file_location("search_migration", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _index_off(engine: Engine) -> list[str]:
    """Take the search index off before a bulk load; returns the statements that put it back
    (the migration's own: PostgreSQL builds the GIN index once, SQLite indexes every row in one
    statement and recreates the triggers, instead of a trigger firing per row)."""
    migration = _migration()
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql(migration.POSTGRESQL_DOWNGRADE[0])
            return ["SET maintenance_work_mem = '256MB'", migration.POSTGRESQL_UPGRADE[1]]
        triggers = [s for s in migration.SQLITE_UPGRADE if "CREATE TRIGGER" in s]
        backfill = [
            s for s in migration.SQLITE_UPGRADE if s.lstrip().startswith("INSERT INTO record")
        ]
        for name in ("records_search_insert", "records_search_update", "records_search_delete"):
            conn.exec_driver_sql(f"DROP TRIGGER {name}")
    return [*backfill, *triggers]


def seed(engine: Engine, count: int, inspector_id: str) -> Seeded:
    postgres = engine.dialect.name == "postgresql"
    index_on = _index_off(engine)

    def insert_records(conn: Connection, batch: list[dict[str, Any]]) -> None:
        if postgres:
            raw = conn.connection.driver_connection
            with raw.cursor() as cursor:  # type: ignore[union-attr]
                with cursor.copy(f"COPY records ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                    for row in batch:
                        copy.write_row([row[c] for c in COLUMNS])
        else:
            conn.execute(insert(TABLES["records"]), batch)

    rows = _records(count, inspector_id)
    seeded = bulk_seed(engine, rows, batch_size=50_000, insert_records=insert_records)
    with engine.begin() as conn:
        for statement in index_on:
            conn.exec_driver_sql(statement)
        conn.exec_driver_sql("ANALYZE")
    if engine.dialect.name == "postgresql":
        # A node in service has its rows' visibility settled by autovacuum; right after COPY
        # every first read sets hint bits and autovacuum competes with the measurements
        # (PostgreSQL searches measured 100x slower than the same queries run afterwards).
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE)")
    return seeded


@dataclass(frozen=True)
class Case:
    name: str
    q: str
    filters: RecordFilters = RecordFilters()
    pages: int = 1
    short: bool = False


def _cases(rng: random.Random) -> list[Case]:
    _common, _weights, rare = _vocabulary(random.Random(SEED + 1))
    picks = rng.sample(rare, 6)
    return [
        Case("listing, no search (reference)", ""),
        Case("frequent word", "巡察工作"),
        Case("frequent word (rank 10)", "基层党组织"),
        Case("mid word (rank 30)", "违规经商"),
        Case("rare word", picks[0]),
        Case("rare word", picks[1]),
        Case("rare name part", picks[2][:3]),
        Case("found nowhere", "不存在的词语"),
        Case("two words", f"扶贫资金 {picks[3]}"),
        Case("two frequent words", "巡察工作 整改落实"),
        Case("frequent, class=restricted", "整改落实", RecordFilters(classification="restricted")),
        Case("rare, class=secret", picks[4], RecordFilters(classification="secret")),
        Case("frequent, 3rd page", "问题线索", pages=3),
        Case("two characters, frequent", "巡察", short=True),
        Case("two characters, rare", picks[5][:2], short=True),
    ]


def _search(ctx: NodeContext, actor: Actor, case: Case) -> tuple[float, int]:
    """Time to the ``case.pages``-th page (earlier pages untimed); rows on it."""
    cursor: str | None = None
    for _ in range(case.pages - 1):
        with ctx.sessions() as session:
            page = list_records(session, ctx, actor, _with_text(case), cursor=cursor, limit=PAGE)
            session.commit()
        cursor = page.next_cursor
    started = time.perf_counter()
    with ctx.sessions() as session:
        page = list_records(session, ctx, actor, _with_text(case), cursor=cursor, limit=PAGE)
        session.commit()
    return time.perf_counter() - started, len(page.items)


def _with_text(case: Case) -> RecordFilters:
    f = case.filters
    return RecordFilters(classification=f.classification, category=f.category, text=case.q or None)


def run(records: int = 1_000_000, repeats: int = 20, database_url: str | None = None) -> int:
    def bench(ctx: NodeContext) -> int:
        actors = _users(ctx)
        seeded, seed_s = timed_seed(lambda: seed(ctx.engine, records, actors["inspector"].user_id))
        return _measure(ctx, actors, seeded, seed_s, repeats)

    return run_on_empty_node("fedshare-bench-search-", database_url, _context, bench)


def _measure(
    ctx: NodeContext, actors: dict[str, Actor], seeded: Seeded, seed_s: float, repeats: int
) -> int:
    backend = ctx.engine.dialect.name
    print(
        f"bench search: {seeded.records:,} records at node {NODE} ({backend}), "
        f"{seeded.stubs:,} stubs, {seeded.deleted:,} tombstones, {seeded.grants:,} grants; "
        f"seeded in {seed_s:.1f} s"
    )
    _baseline(ctx, 20)
    baseline = summary_ms(_baseline(ctx, max(200, repeats * 10)))
    rng = random.Random(SEED + 2)
    cases = _cases(rng)
    results: dict[str, dict[str, Any]] = {}
    trigram: list[float] = []
    short: list[float] = []
    rows: list[list[Any]] = [
        ["baseline", "SELECT … ORDER BY id DESC LIMIT 50", "", *baseline.values(), "1.0", PAGE]
    ]
    for role in ("inspector", "security_officer"):
        actor = actors[role]
        for case in cases:
            _search(ctx, actor, case)  # warm
        timings: dict[int, list[float]] = {i: [] for i in range(len(cases))}
        sizes: dict[int, int] = {}
        order = [i for i in range(len(cases)) for _ in range(repeats)]
        rng.shuffle(order)
        for i in order:
            elapsed, size = _search(ctx, actor, cases[i])
            timings[i].append(elapsed)
            sizes[i] = size
            if cases[i].q:
                (short if cases[i].short else trigram).append(elapsed)
        for i, case in enumerate(cases):
            figures = summary_ms(timings[i])
            ratio = figures["p95_ms"] / baseline["p95_ms"] if baseline["p95_ms"] else float("nan")
            key = f"{role} {case.name} {case.q}"
            results[key] = {**figures, "rows": sizes[i], "ratio_p95_to_baseline": round(ratio, 1)}
            rows.append([role, case.name, case.q, *figures.values(), f"{ratio:.1f}", sizes[i]])
    print_table(
        f"search: first page of {PAGE} unless noted, {repeats} runs per line, ms",
        ["role", "query", "q", "p50", "p95", "p99", "mean", "p95 / baseline", "rows"],
        rows,
    )
    overall = summary_ms(trigram)
    short_overall = summary_ms(short)
    ratio = overall["p95_ms"] / baseline["p95_ms"] if baseline["p95_ms"] else float("nan")
    meets = overall["p95_ms"] <= GOAL_P95_MS
    print(
        f"all searches of words of 3+ characters: p95 {overall['p95_ms']:.2f} ms "
        f"(= {ratio:.1f} x the baseline p95 {baseline['p95_ms']:.2f} ms): "
        f"goal p95 <= {GOAL_P95_MS:.0f} ms {'met' if meets else 'MISSED'}; "
        f"two-character words (LIKE): p95 {short_overall['p95_ms']:.2f} ms"
    )
    print_json(
        {
            "bench": "search",
            "backend": backend,
            "records": seeded.records,
            "seed_s": round(seed_s, 1),
            "page_size": PAGE,
            "repeats": repeats,
            "baseline": baseline,
            "trigram_words": overall,
            "ratio_p95_to_baseline": round(ratio, 2),
            "two_character_words": short_overall,
            "cases": results,
            "goal_p95_ms": GOAL_P95_MS,
            "goal_met": meets,
            "cpus": os.cpu_count(),
        }
    )
    return 0
