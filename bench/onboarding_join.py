"""``fedshare bench onboarding``, join half: how soon a county that joins a running federation is
part of it (``join_half``, called by ``bench.onboarding``).

**Join latency** (issue 12 item 2, goal < 10 s): a chain central > shaanxi > yanan of real
nats-servers and node APIs runs; a new county below yanan runs ``fedshare join`` (keys, signed
request with a one-time code, polling every 0.2 s); yanan's admin approves through the API. The
figure is the time from the approval's answer to the first record created at the new county being
visible in the root's database (read every 10 ms). It includes everything an operator's start
includes: the county's command noticing the approval, verifying and installing the answer
(database migrated, TLS files, nats-server config), starting its nats-server and its API, the
record crossing three hops (county > yanan > shaanxi > central; yanan admits the leaf link and
sources the county's stream without a restart). Parts are reported too.

Baseline, same run: the time for a record created at yanan (already a member) to reach central
(two hops), the best replication can do on this machine now; the ratio is join latency / that.
Reference, same run: how long restarting a member's API takes (the county's start is the same
process start, which dominates on a loaded machine).

The resync half (issue 12 item 4) is in ``bench.onboarding``, which calls ``join_half`` first.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, create_engine, text

from bench.common import percentile, print_table
from node.federation import Federation

CHAIN: list[tuple[str, str, str | None]] = [
    ("central", "中央", None),
    ("shaanxi", "陕西省", "central"),
    ("yanan", "延安市", "shaanxi"),
]
PARENT = "yanan"
ROOT = "central"
TIMEOUT_S = 180.0
GOAL_S = 10.0


class Chain:
    """A running federation with HTTP and database access to each node."""

    def __init__(self, federation: Federation) -> None:
        self.federation = federation
        self.http = httpx.Client(timeout=30)
        self.engines: dict[str, Engine] = {}

    def engine(self, node_id: str) -> Engine:
        if node_id not in self.engines:
            self.engines[node_id] = create_engine(self.federation.nodes[node_id].database_url)
        return self.engines[node_id]

    def close(self) -> None:
        self.http.close()
        for engine in self.engines.values():
            engine.dispose()

    def call(self, method: str, node_id: str, role: str, path: str, **kwargs: Any) -> Any:
        handle = self.federation.nodes[node_id]
        response = self.http.request(
            method,
            f"{handle.api_url}{path}",
            headers={"Authorization": f"Bearer {handle.tokens[role]}"},
            **kwargs,
        )
        response.raise_for_status()
        return response.json()

    def create(self, node_id: str, title: str) -> str:
        body = {"category": "practice", "title": title, "body": "探测"}
        record_id: str = self.call("POST", node_id, "inspector", "/api/v1/records", json=body)["id"]
        return record_id

    def present(self, node_id: str, record_id: str) -> bool:
        with self.engine(node_id).connect() as conn:
            row = conn.execute(text("SELECT 1 FROM records WHERE id = :id"), {"id": record_id})
            return row.first() is not None

    def wait_present(self, node_id: str, record_id: str) -> float:
        """Monotonic time at which ``record_id`` was seen at ``node_id`` (inf on timeout)."""
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            if self.present(node_id, record_id):
                return time.monotonic()
            time.sleep(0.01)
        return float("inf")


def start_chain(base: Path) -> Chain:
    federation = Federation(base, CHAIN)
    federation.prepare()
    federation.start()
    return Chain(federation)


def steady_latency(chain: Chain, samples: int = 5) -> list[float]:
    """Seconds for a record created at the parent (a member) to reach the root."""
    values = []
    for index in range(samples):
        started = time.monotonic()
        record_id = chain.create(PARENT, f"baseline {index}")
        values.append(chain.wait_present(ROOT, record_id) - started)
    return values


@dataclass
class JoinFigures:
    node: str
    approved_to_joined_s: float
    """The county's ``fedshare join`` noticing the approval, verifying and installing."""
    joined_to_started_s: float
    """Its nats-server and API up."""
    started_to_root_s: float
    """The first record created there, until visible at the root (three hops)."""

    @property
    def total_s(self) -> float:
        return self.approved_to_joined_s + self.joined_to_started_s + self.started_to_root_s


def join_latency(chain: Chain, node_id: str, name: str) -> JoinFigures:
    """Join ``node_id`` below the parent of the chain and time approval -> first record at root."""
    fed = chain.federation
    code = chain.call("POST", PARENT, "admin", "/api/v1/federation/join-codes", json={})["code"]
    joining = fed.joining_node(node_id, name, parent=PARENT, code=code)
    log = (joining.data_dir.parent / f"join-{node_id}.log").open("w")
    process = subprocess.Popen(joining.command(), env=joining.env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + TIMEOUT_S
        pending: list[dict[str, Any]] = []
        while not pending and time.monotonic() < deadline:
            pending = chain.call(
                "GET",
                PARENT,
                "admin",
                "/api/v1/federation/join-requests",
                params={"status": "pending"},
            )["items"]
            if not pending:
                time.sleep(0.05)
        if not pending:
            raise RuntimeError(f"no join request from {node_id}")
        chain.call(
            "POST", PARENT, "admin", f"/api/v1/federation/join-requests/{pending[0]['id']}/approval"
        )
        approved = time.monotonic()
        if process.wait(timeout=TIMEOUT_S) != 0:
            raise RuntimeError(f"fedshare join failed; see {log.name}")
        joined = time.monotonic()
    finally:
        if process.poll() is None:
            process.kill()
        log.close()
    fed.adopt_joined(node_id, name, joining.data_dir, joining.api_port)
    fed.start_nats(node_id)
    fed.start_api(node_id)
    started = time.monotonic()
    record_id = chain.create(node_id, f"first record of {node_id}")
    at_root = chain.wait_present(ROOT, record_id)
    return JoinFigures(
        node=node_id,
        approved_to_joined_s=joined - approved,
        joined_to_started_s=started - joined,
        started_to_root_s=at_root - started,
    )


def join_half(workdir: Path, *, joins: int = 3, baseline: int = 5) -> dict[str, Any]:
    """Join ``joins`` counties one after another (each timed) and the baseline; the figures
    (``seconds``: the median join latency), with a table printed."""
    chain = start_chain(workdir / "fed")
    try:
        # Warm the paths first: the first record after a start is not steady state.
        steady_latency(chain, 1)
        steady = steady_latency(chain, baseline)
        results = []
        for index in range(joins):
            result = join_latency(chain, f"county-{index + 1}", f"新县{index + 1}")
            results.append(result)
            print(
                f"  join #{index + 1}: {result.total_s:.2f}s (install "
                f"{result.approved_to_joined_s:.2f}s, start {result.joined_to_started_s:.2f}s,"
                f" first record at root {result.started_to_root_s:.2f}s)",
                flush=True,
            )
        # A second reference: how long a member's API takes to start on this machine now (the
        # new county's start is the same process start).
        restarts = []
        for _ in range(2):
            chain.federation.stop_api(PARENT)
            started = time.monotonic()
            chain.federation.start_api(PARENT)
            restarts.append(time.monotonic() - started)
    finally:
        chain.close()
        chain.federation.stop()
    base = percentile(steady, 50)
    restart = min(restarts)
    totals = [r.total_s for r in results]
    parts = {
        "approval seen, verified, installed": [r.approved_to_joined_s for r in results],
        "nats-server and API started": [r.joined_to_started_s for r in results],
        "first record to the root (3 hops)": [r.started_to_root_s for r in results],
    }
    rows = [
        ["record at the parent -> root (baseline)", f"{base:.3f}", f"{max(steady):.3f}", "1.0"],
        [
            "join approved -> first record at root",
            f"{percentile(totals, 50):.3f}",
            f"{max(totals):.3f}",
            f"{percentile(totals, 50) / base:.1f}",
        ],
        *(
            [
                f"  part: {label}",
                f"{percentile(values, 50):.3f}",
                f"{max(values):.3f}",
                f"{percentile(values, 50) / base:.1f}",
            ]
            for label, values in parts.items()
        ),
    ]
    rows.append(
        [
            "a member's API (re)start, same run (reference)",
            f"{restart:.3f}",
            f"{max(restarts):.3f}",
            "-",
        ]
    )
    print_table("Onboarding, join half (s)", ["what", "p50", "max", "p50 / baseline p50"], rows)
    return {
        "seconds": round(percentile(totals, 50), 3),
        "max_s": round(max(totals), 3),
        "all_s": [round(v, 3) for v in totals],
        "baseline_parent_to_root_s": round(base, 3),
        "ratio_p50_to_baseline": round(percentile(totals, 50) / base, 1),
        "parts_p50_s": {label: round(percentile(v, 50), 3) for label, v in parts.items()},
        "member_api_start_s": round(restart, 3),
        "goal_s": GOAL_S,
        "met": max(totals) < GOAL_S,
    }
