"""``fedshare bench onboarding``: a federation that changes while it runs (issue 12).

Join half (``bench.onboarding_join``): time from ``join`` approved to the first record of the new
county visible at the root (goal under 10 s), against a member's record reaching the root in the
same run.

Resync half: resync throughput as a ratio to steady-state replication measured in the same run
(goal >= 0.8), on a parent (yanan) and a county (huanglong) with real nats-servers:

1. Steady state: N general records (1 KiB bodies) are committed at the parent while its API is
   down; it starts and streams them to the county. Throughput = N / (last apply at the county -
   first PubAck at the parent), read from the nodes' own tables (one machine, one clock).
2. Resync: the county loses them (its API stopped, their records, inbox rows and sequence
   positions deleted: a restore from an empty backup), starts again and asks its parent for a
   resync. Throughput = envelopes applied / (completion - request), the county's own session
   timestamps. Every envelope is verified and applied as in streaming (origin signature, inbox,
   records, sequence numbers), so both measure the same work per record, over the same link.

Each page configuration (``--page-envelopes`` x ``--window``) is a run of step 2 with the parent
restarted on that setting; steady state is measured before and after them (the machine's load
drifts) and each ratio is to their mean; the best configuration is reported beside the rest.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, func, select, text, update

from bench.common import print_json, print_table
from bench.onboarding_join import join_half as _join_half
from node.clock import as_aware
from node.crypto import load_keys
from node.federation import Federation
from node.models import InboxMessage, OutboxStats
from node.policy import Actor
from node.records.schemas import RecordCreate
from node.records.service import create_record
from node.settings import Settings
from node.wiring import make_context

PAIR = [("yanan", "延安市", None), ("huanglong", "黄龙县", "yanan")]
BODY = ("巡察发现问题整改情况。" * 35)[:340]  # 340 CJK chars = 1,020 bytes of UTF-8
PARENT, CHILD = "yanan", "huanglong"
# The join half: a callable (workdir) -> figures (dict, with "seconds"), ``bench.onboarding_join``.
join_half: Callable[[Path], dict[str, Any]] | None = _join_half


def _engine(federation: Federation, node: str) -> Any:
    return create_engine(
        federation.nodes[node].database_url.replace("postgresql://", "postgresql+psycopg://")
    )


def _seed_parent(federation: Federation, count: int) -> None:
    handle = federation.nodes[PARENT]
    settings = Settings(
        node_id=PARENT,
        data_dir=handle.data_dir,
        database_url=handle.database_url,
        topology_file=federation.topology_path,
    )
    assert federation.topology is not None
    ctx = make_context(settings, federation.topology, load_keys(handle.data_dir / "keys"))
    actor = Actor(user_id="bench", name="bench", role="inspector", node=PARENT)
    with ctx.sessions() as session, session.begin():
        session.execute(update(OutboxStats).values(first_delivered_at=None))
        for index in range(count):
            create_record(
                session,
                ctx,
                actor,
                RecordCreate(category="practice", title=f"bench {index}", body=BODY),
            )
    ctx.engine.dispose()


def _applied(engine: Any) -> int:
    with engine.connect() as conn:
        return int(
            conn.scalar(
                select(func.count())
                .select_from(InboxMessage)
                .where(InboxMessage.origin == PARENT, InboxMessage.kind == "record")
            )
            or 0
        )


def _steady(federation: Federation, count: int) -> float:
    child = _engine(federation, CHILD)
    parent = _engine(federation, PARENT)
    before = _applied(child)
    federation.stop_api(PARENT)
    _seed_parent(federation, count)
    federation.start_api(PARENT)
    try:
        deadline = time.monotonic() + 900
        while _applied(child) < before + count:
            if time.monotonic() > deadline:
                raise TimeoutError("steady-state replication did not finish")
            time.sleep(0.05)
        with child.connect() as conn:
            last = conn.scalar(
                select(func.max(InboxMessage.applied_at)).where(InboxMessage.origin == PARENT)
            )
        with parent.connect() as conn:
            first = conn.scalar(select(OutboxStats.first_delivered_at))
        assert first is not None
        assert last is not None
        return count / (as_aware(last) - as_aware(first)).total_seconds()
    finally:
        child.dispose()
        parent.dispose()


def _forget_at_child(federation: Federation) -> None:
    """The county as restored from an empty backup: what came from its parent is gone."""
    federation.stop_api(CHILD)
    engine = _engine(federation, CHILD)
    try:
        with engine.begin() as conn:
            for statement in (
                "DELETE FROM record_parties WHERE record_origin = :p",
                "DELETE FROM records WHERE origin = :p",
                "DELETE FROM inbox WHERE origin = :p",
                "DELETE FROM inbound_sequence_received WHERE origin = :p",
                "DELETE FROM inbound_sequences WHERE origin = :p",
                "DELETE FROM resync_sessions",
            ):
                conn.execute(text(statement), {"p": PARENT})
    finally:
        engine.dispose()
    federation.start_api(CHILD)


def _resync(federation: Federation, count: int) -> dict[str, Any]:
    _forget_at_child(federation)
    child = federation.nodes[CHILD]
    headers = {"Authorization": f"Bearer {child.tokens['admin']}"}
    url = f"{child.api_url}/api/v1/federation/resync"
    with httpx.Client(timeout=30) as http:
        started = http.post(url, headers=headers)
        started.raise_for_status()
        deadline = time.monotonic() + 900
        while True:
            progress: dict[str, Any] = http.get(url, headers=headers).json()
            if progress["state"] == "complete":
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"resync did not complete: {progress}")
            time.sleep(0.05)
    seconds = (
        as_aware_iso(progress["completed_at"]) - as_aware_iso(progress["started_at"])
    ).total_seconds()
    if progress["applied"] < count or progress["refused"]:
        raise AssertionError(f"resync applied {progress['applied']} of {count}: {progress}")
    return {
        "applied": progress["applied"],
        "received": progress["received"],
        "pages": progress["pages"],
        "seconds": round(seconds, 3),
        "records_per_s": round(progress["applied"] / seconds, 1),
    }


def as_aware_iso(value: str) -> Any:
    from datetime import datetime

    return as_aware(datetime.fromisoformat(value.replace("Z", "+00:00")))


def run(*, records: int, page_envelopes: list[int], windows: list[int]) -> int:
    figures: dict[str, Any] = {"bench": "onboarding", "records": records}
    with tempfile.TemporaryDirectory(prefix="fedshare-bench-") as tmp:
        workdir = Path(tmp)
        if join_half is not None:
            print("join: from approval to the first record at the root ...", flush=True)
            figures["join"] = join_half(workdir / "join")
        else:
            figures["join"] = None
        federation = Federation(workdir / "fed", PAIR)
        federation.prepare()
        federation.start()
        try:
            print(f"steady state: {records} records {PARENT} -> {CHILD} ...", flush=True)
            steadies = [_steady(federation, records)]
            runs = []
            for window in windows:
                for size in page_envelopes:
                    federation.stop_api(PARENT)
                    federation.env_overrides[PARENT] = {
                        "FEDSHARE_RESYNC_PAGE_ENVELOPES": str(size),
                        "FEDSHARE_RESYNC_WINDOW": str(window),
                    }
                    federation.start_api(PARENT)
                    print(f"resync: pages of {size} envelopes, windows of {window} ...", flush=True)
                    # Everything the parent holds for the county: the records of every steady run.
                    result = _resync(federation, records)
                    result.update(page_envelopes=size, window=window)
                    runs.append(result)
            # Steady state again: the machine's load drifts; the ratio is to the mean of both.
            print(f"steady state again: {records} records ...", flush=True)
            steadies.append(_steady(federation, records))
        finally:
            federation.stop()
    steady = sum(steadies) / len(steadies)
    for result in runs:
        result["ratio_to_steady"] = round(result["records_per_s"] / steady, 3)
    best = max(runs, key=lambda r: r["records_per_s"])
    print()
    join = figures["join"]
    print_table(
        "onboarding",
        ["measure", "value", "goal"],
        [
            [
                "join approved -> first record at root (s)",
                "not measured here" if join is None else join.get("seconds"),
                "< 10",
            ],
            [
                "steady-state replication (records/s)",
                f"{steady:.0f} (before {steadies[0]:.0f}, after {steadies[1]:.0f})",
                "baseline",
            ],
            *(
                [
                    f"resync, pages of {r['page_envelopes']} x window {r['window']} (records/s)",
                    f"{r['records_per_s']:.0f} = {r['ratio_to_steady']:.2f} x steady",
                    ">= 0.8",
                ]
                for r in runs
            ),
        ],
    )
    figures["resync"] = {
        "steady_records_per_s": round(steady, 1),
        "steady_runs_records_per_s": [round(x, 1) for x in steadies],
        "runs": runs,
        "best_records_per_s": best["records_per_s"],
        "ratio_to_steady": best["ratio_to_steady"],
    }
    print_json(figures)
    return 0
