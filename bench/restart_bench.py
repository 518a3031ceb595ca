"""``fedshare bench restart``: how soon replication resumes after a restart, in one run.

A three-node chain (central > shaanxi > huanglong) of real nats-servers and node APIs. For each
kind of restart, repeated ``restarts`` times:

- ``fresh``: a new federation starts for the first time (no streams exist yet; every node
  creates its own as it comes up); "up" is when every API answers ``/healthz``.
- ``cold``: the whole federation stops and starts again (every nats-server, then every API);
  "up" is when every API answers ``/healthz``.
- ``nats``: the middle node's nats-server is killed (-9) and started again; "up" is when its
  client port accepts connections.
- ``api``: the middle node's API is killed (-9) and started again; "up" is when it answers
  ``/healthz``.

Right after "up", a general record is created at the county and one at the province; the figure
for one restart is the time from "up" to the arrival of those records one hop away (county ->
province, province -> central, province -> county; read from the destination's database every
10 ms). Baseline: the same three one-hop arrivals with no restart, in the same run.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, create_engine, text

from bench.common import percentile, print_json, print_table
from node.federation import Federation

CHAIN = [
    ("central", "中央", None),
    ("shaanxi", "陕西省", "central"),
    ("huanglong", "黄龙县", "shaanxi"),
]
MIDDLE = "shaanxi"
# (origin, destination): every link of the middle node, both directions.
PATHS = [("huanglong", "shaanxi"), ("shaanxi", "central"), ("shaanxi", "huanglong")]
ARRIVAL_TIMEOUT_S = 120.0
KINDS = ("fresh", "cold", "nats", "api")


class Probe:
    def __init__(self, federation: Federation) -> None:
        self.federation = federation
        self.http = httpx.Client(timeout=30)
        self.engines: dict[str, Engine] = {
            node_id: create_engine(handle.database_url)
            for node_id, handle in federation.nodes.items()
        }
        self.counter = 0

    def close(self) -> None:
        self.http.close()
        for engine in self.engines.values():
            engine.dispose()

    def create(self, node_id: str) -> str:
        handle = self.federation.nodes[node_id]
        self.counter += 1
        response = self.http.post(
            f"{handle.api_url}/api/v1/records",
            headers={"Authorization": f"Bearer {handle.tokens['inspector']}"},
            json={"category": "practice", "title": f"restart probe {self.counter}", "body": "探测"},
        )
        response.raise_for_status()
        record_id: str = response.json()["id"]
        return record_id

    def present(self, node_id: str, record_id: str) -> bool:
        with self.engines[node_id].connect() as conn:
            row = conn.execute(text("SELECT 1 FROM records WHERE id = :id"), {"id": record_id})
            return row.first() is not None

    def one_hop_arrivals(self, up_at: float) -> dict[str, float]:
        """Create the probe records now; seconds from ``up_at`` to each arrival one hop away."""
        created = {origin: self.create(origin) for origin in {o for o, _ in PATHS}}
        waiting = {f"{o}->{d}": (d, created[o]) for o, d in PATHS}
        arrived: dict[str, float] = {}
        deadline = time.monotonic() + ARRIVAL_TIMEOUT_S
        while waiting and time.monotonic() < deadline:
            for path, (dest, record_id) in list(waiting.items()):
                if self.present(dest, record_id):
                    arrived[path] = time.monotonic() - up_at
                    del waiting[path]
            if waiting:
                time.sleep(0.01)
        for path in waiting:
            arrived[path] = float("inf")
        return arrived


def _restart(federation: Federation, kind: str) -> float:
    """Restart what ``kind`` names; return the monotonic time at which it was up again."""
    if kind == "cold":
        federation.stop()
        federation.start()
    elif kind == "nats":
        federation.stop_nats(MIDDLE, kill=True)
        federation.start_nats(MIDDLE)  # returns once the client port accepts connections
    elif kind == "api":
        federation.stop_api(MIDDLE, kill=True)
        federation.start_api(MIDDLE)  # returns once /healthz answers
    else:
        raise ValueError(kind)
    return time.monotonic()


def _fresh_start(base: Path, index: int) -> dict[str, float]:
    federation = Federation(base / f"fresh-{index}", CHAIN)
    federation.prepare()
    try:
        federation.start()
        probe = Probe(federation)
        try:
            return probe.one_hop_arrivals(time.monotonic())
        finally:
            probe.close()
    finally:
        federation.stop()


def _settle(probe: Probe) -> None:
    """Before the next restart, wait until every path works again (a failed restart must not be
    measured as the next one's)."""
    probe.one_hop_arrivals(time.monotonic())


def _row(name: str, values: list[float], baseline_p50: float) -> list[Any]:
    finite = [v for v in values if v != float("inf")]
    return [
        name,
        len(values),
        f"{percentile(values, 50):.3f}",
        f"{percentile(values, 99):.3f}",
        f"{max(values):.3f}",
        len(values) - len(finite),
        f"{percentile(values, 99) / baseline_p50:.1f}" if baseline_p50 > 0 else "-",
    ]


def run(*, restarts: int = 20, kinds: list[str] | None = None, baseline: int = 20) -> int:
    kinds = kinds or list(KINDS)
    for kind in kinds:
        if kind not in KINDS:
            print(f"unknown restart kind {kind!r}; choose from {', '.join(KINDS)}")
            return 2
    figures: dict[str, Any] = {"restarts": restarts}
    with tempfile.TemporaryDirectory(prefix="fedshare-bench-restart-") as tmp:
        federation = Federation(Path(tmp) / "fed", CHAIN)
        federation.prepare()
        federation.start()
        probe = Probe(federation)
        try:
            _settle(probe)
            steady = [
                max(probe.one_hop_arrivals(time.monotonic()).values()) for _ in range(baseline)
            ]
            base_p50 = percentile(steady, 50)
            figures["baseline_no_restart_s"] = {
                "p50": round(base_p50, 4),
                "p99": round(percentile(steady, 99), 4),
                "max": round(max(steady), 4),
            }
            rows = [_row("no restart (baseline)", steady, base_p50)]
            for kind in kinds:
                worst: list[float] = []
                per_path: dict[str, list[float]] = {f"{o}->{d}": [] for o, d in PATHS}
                for index in range(restarts):
                    if kind == "fresh":
                        arrivals = _fresh_start(Path(tmp), index)
                    else:
                        arrivals = probe.one_hop_arrivals(_restart(federation, kind))
                    for path, seconds in arrivals.items():
                        per_path[path].append(seconds)
                    worst.append(max(arrivals.values()))
                    print(
                        f"  {kind} #{index + 1}: "
                        + ", ".join(f"{p} {s:.2f}s" for p, s in sorted(arrivals.items())),
                        flush=True,
                    )
                    if kind != "fresh":
                        _settle(probe)
                rows.append(_row(f"{kind}: all three paths", worst, base_p50))
                for path, values in per_path.items():
                    rows.append(_row(f"{kind}: {path}", values, base_p50))
                figures[kind] = {
                    "p50_s": round(percentile(worst, 50), 3),
                    "p99_s": round(percentile(worst, 99), 3),
                    "max_s": round(max(worst), 3),
                    "timeouts": sum(1 for v in worst if v == float("inf")),
                    "p99_ratio_to_baseline_p50": round(percentile(worst, 99) / base_p50, 1),
                    "all_s": [round(v, 3) for v in worst],
                }
        finally:
            probe.close()
            federation.stop()
    print_table(
        "Time from the restarted process being up to the first new record one hop away (s)",
        ["restart", "n", "p50", "p99", "max", "timeouts", "p99/baseline p50"],
        rows,
    )
    print_json(figures)
    goal: Callable[[dict[str, Any]], bool] = lambda f: f["p99_s"] < 5 and f["max_s"] < 10  # noqa: E731
    return 0 if all(goal(figures[kind]) for kind in kinds) else 1
