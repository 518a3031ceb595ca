"""``fedshare bench http``: does a flood of bad-token requests slow everyone else down?

One node (SQLite, as a county runs it) served by uvicorn in its own process, with 100 general
records. A user lists records (``GET /api/v1/records?limit=20``), one request after another:

- baseline: nobody else talks to the node;
- flood: meanwhile ``flood`` requests with a bad token arrive from ``workers`` concurrent
  client processes at another address, at ``rate`` per second in all; the user's requests are
  timed while the flood lasts.

The flood runs twice: with the default failure budget (``20/minute``: after 20 answers of 401 the
flooding address gets 429 from the middleware, before any database work) and with the budget
lifted (every bad token reaches authentication and its denial is counted into the audit chain).
The figures are the user's p50 and p95 under flood as ratios of the baseline, and the audit
entries the flood left (read after the node has stopped and flushed its counted denials).

Both addresses are given in X-Forwarded-For, the node trusting the bench's own address as a proxy.
``--source DIR`` runs the node from another checkout (e.g. one without these changes) on the same
database, for a before/after comparison in one command.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from bench.common import print_json, print_table, summary_ms
from node.audit.chain import SYSTEM_ACTOR, AuditLog
from node.clock import SystemClock
from node.crypto import generate_keys, write_keys
from node.db import make_engine, make_sessionmaker, upgrade_database
from node.federation import free_port
from node.users.service import add_user

USER_ADDRESS = "198.51.100.1"
FLOOD_ADDRESS = "203.0.113.66"
NODE = "huanglong"
LIFTED = "1000000/minute"


class Node:
    def __init__(self, workdir: Path, limit: str, source: Path | None) -> None:
        self.workdir = workdir
        self.url_db = f"sqlite:///{workdir / 'node.db'}"
        self.port = free_port()
        env = dict(os.environ)
        env.update(
            FEDSHARE_NODE_ID=NODE,
            FEDSHARE_DATA_DIR=str(workdir),
            FEDSHARE_DATABASE_URL=self.url_db,
            FEDSHARE_FORWARDED_ALLOW_IPS="127.0.0.1",
            FEDSHARE_AUTH_FAILURE_LIMIT=limit,
            FORWARDED_ALLOW_IPS="127.0.0.1",
        )
        if source is not None:
            env["PYTHONPATH"] = str(source)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "node.cli", "node", "run", "--port", str(self.port)],
            env=env,
            cwd=str(source) if source is not None else None,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("the node did not start")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)


def _prepare(workdir: Path) -> str:
    keys = generate_keys()
    write_keys(keys, workdir / "keys", force=True)
    url = f"sqlite:///{workdir / 'node.db'}"
    upgrade_database(url)
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session, session.begin():
            _user, token = add_user(
                session,
                audit=AuditLog(NODE, keys, SystemClock()),
                by=SYSTEM_ACTOR,
                name=f"{NODE}-inspector",
                role="inspector",
                node=NODE,
                now=SystemClock().now(),
            )
    finally:
        engine.dispose()
    return token


def _user_requests(
    client: httpx.Client, url: str, token: str, until: threading.Event, minimum: int
) -> list[float]:
    headers = {"Authorization": f"Bearer {token}", "X-Forwarded-For": USER_ADDRESS}
    times: list[float] = []
    while len(times) < minimum or not until.is_set():
        started = time.perf_counter()
        response = client.get(f"{url}/api/v1/records?limit=20", headers=headers)
        times.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"the user was refused: {response.status_code} {response.text}")
    return times


def _flood_worker(url: str, count: int, interval_s: float, answers: Any) -> None:
    """``count`` requests, the n-th sent at ``n * interval_s`` (at once if the node is behind)."""
    headers = {"Authorization": "Bearer fs_not-a-token", "X-Forwarded-For": FLOOD_ADDRESS}
    with httpx.Client(timeout=30) as client:
        started = time.perf_counter()
        for n in range(count):
            wait = started + n * interval_s - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            answers.put(client.get(f"{url}/api/v1/records", headers=headers).status_code)


def _flood(url: str, total: int, workers: int, rate: float) -> tuple[Counter[int], float]:
    """``total`` bad-token requests at ``rate`` per second from ``workers`` processes (not
    threads: the user's timing thread must not wait for the flood's clients to release the GIL).
    A fixed rate, not as fast as the node answers: a node that refuses faster would otherwise
    draw a heavier flood, and the runs would not compare."""
    spawn = multiprocessing.get_context("spawn")
    answers = spawn.Queue()
    shares = [total // workers + (1 if i < total % workers else 0) for i in range(workers)]
    started = time.perf_counter()
    interval_s = workers / rate
    processes = [
        spawn.Process(target=_flood_worker, args=(url, n, interval_s, answers)) for n in shares
    ]
    for process in processes:
        process.start()
    counted: Counter[int] = Counter(answers.get() for _ in range(total))
    for process in processes:
        process.join()
    return counted, time.perf_counter() - started


def _run_phase(
    workdir: Path,
    token: str,
    *,
    limit: str,
    flood: int,
    workers: int,
    rate: float,
    samples: int,
    source: Path | None,
) -> dict[str, Any]:
    engine = create_engine(f"sqlite:///{workdir / 'node.db'}")
    with engine.connect() as conn:
        seq_before = conn.execute(text("SELECT coalesce(max(seq), 0) FROM audit_log")).scalar_one()
    node = Node(workdir, limit, source)
    try:
        with httpx.Client(timeout=30) as client:
            done = threading.Event()
            done.set()
            _user_requests(client, node.url, token, done, 50)  # warm-up
            baseline = _user_requests(client, node.url, token, done, samples)
            flooding = threading.Event()
            result: dict[str, Any] = {}

            def flood_now() -> None:
                result["answers"], result["seconds"] = _flood(node.url, flood, workers, rate)
                flooding.set()

            flooder = threading.Thread(target=flood_now)
            flooder.start()
            under_flood = _user_requests(client, node.url, token, flooding, 20)
            flooder.join()
    finally:
        node.stop()
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT count(*), coalesce(sum(occurrences), 0) FROM audit_log "
                "WHERE seq > :seq AND decision = 'deny'"
            ),
            {"seq": seq_before},
        ).one()
    engine.dispose()
    return {
        "baseline": summary_ms(baseline),
        "flood": summary_ms(under_flood),
        "answers": dict(result["answers"]),
        "flood_s": round(result["seconds"], 2),
        "denial_entries": rows[0],
        "denials_counted": rows[1],
    }


def run(
    *,
    flood: int = 2000,
    workers: int = 4,
    rate: float = 100.0,
    samples: int = 300,
    source: Path | None = None,
) -> int:
    figures: dict[str, Any] = {
        "flood": flood,
        "workers": workers,
        "rate": rate,
        "source": str(source or ""),
    }
    table: list[list[Any]] = []
    with tempfile.TemporaryDirectory(prefix="fedshare-bench-http-") as tmp:
        workdir = Path(tmp)
        token = _prepare(workdir)
        with httpx.Client(timeout=30) as client:
            node = Node(workdir, LIFTED, source)
            try:
                for index in range(100):
                    client.post(
                        f"{node.url}/api/v1/records",
                        json={"category": "policy", "title": f"政策 {index}", "body": "正文"},
                        headers={
                            "Authorization": f"Bearer {token}",
                            "X-Forwarded-For": USER_ADDRESS,
                        },
                    ).raise_for_status()
            finally:
                node.stop()
        for name, limit in (("default budget", "20/minute"), ("budget lifted", LIFTED)):
            phase = _run_phase(
                workdir,
                token,
                limit=limit,
                flood=flood,
                workers=workers,
                rate=rate,
                samples=samples,
                source=source,
            )
            p50 = phase["flood"]["p50_ms"] / phase["baseline"]["p50_ms"]
            p95 = phase["flood"]["p95_ms"] / phase["baseline"]["p95_ms"]
            phase["p50_ratio"], phase["p95_ratio"] = round(p50, 2), round(p95, 2)
            figures[name.replace(" ", "_")] = phase
            table.append(
                [
                    name,
                    phase["baseline"]["p50_ms"],
                    phase["flood"]["p50_ms"],
                    phase["p50_ratio"],
                    phase["baseline"]["p95_ms"],
                    phase["flood"]["p95_ms"],
                    phase["p95_ratio"],
                    " ".join(f"{k}:{v}" for k, v in sorted(phase["answers"].items())),
                    phase["flood_s"],
                    f"{phase['denial_entries']} ({phase['denials_counted']})",
                ]
            )
    print_table(
        f"A user's record listing during {flood} bad-token requests at {rate:g}/s "
        f"({workers} clients){' from ' + str(source) if source else ''}",
        [
            "failure budget",
            "p50 quiet ms",
            "p50 flood ms",
            "x",
            "p95 quiet ms",
            "p95 flood ms",
            "x",
            "flood answers",
            "flood s",
            "audit entries (denials)",
        ],
        table,
    )
    print_json(figures)
    return 0
