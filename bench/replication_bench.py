"""``fedshare bench replication``: fedshare's replication against raw JetStream, in one run.

1. Baseline: one nats-server with JetStream; publish N 1 KiB messages awaiting each PubAck (the
   relay's pattern) and consume them with a durable pull consumer, acking each: messages/s.
2. Throughput: a four-tier chain (central > shaanxi > yanan > huanglong). N records with 1 KiB
   bodies are committed at the county while its API is down; the API starts and its relay drains
   the outbox. Throughput = N / (last apply at the destination - first PubAck at the county), read
   from the nodes' own tables (one machine, one clock).
3. Latency at light load: one record at a time created through the county's API; the destination
   API is polled every millisecond; latency = visible there - response from the county (the commit
   precedes the response, so this slightly understates it).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import nats
from nats.js import api
from sqlalchemy import func, select, update

from bench.common import print_json, print_table, summary_ms
from node.clock import as_aware
from node.crypto import load_keys
from node.federation import Federation, free_port
from node.models import InboxMessage, OutboxStats
from node.policy import Actor
from node.records.schemas import RecordCreate
from node.records.service import create_record
from node.replication.natsconf import NatsServerProcess
from node.settings import Settings
from node.wiring import make_context

CHAIN = [
    ("central", "中央", None),
    ("shaanxi", "陕西省", "central"),
    ("yanan", "延安市", "shaanxi"),
    ("huanglong", "黄龙县", "yanan"),
]
BODY = ("巡察发现问题整改情况。" * 35)[:340]  # 340 CJK chars = 1,020 bytes of UTF-8


async def _raw_jetstream(workdir: Path, count: int) -> float:
    port = free_port()
    conf = workdir / "baseline.conf"
    conf.write_text(f'port: {port}\nhost: "127.0.0.1"\njetstream {{ store_dir: "{workdir}/js" }}\n')
    server = NatsServerProcess(conf, f"nats://127.0.0.1:{port}", workdir / "baseline.log")
    server.start()
    try:
        nc = await nats.connect(f"nats://127.0.0.1:{port}")
        js = nc.jetstream()
        await js.add_stream(
            api.StreamConfig(name="BENCH", subjects=["bench.>"], storage=api.StorageType.FILE)
        )
        payload = ("x" * 1024).encode()
        sub = await js.pull_subscribe("bench.>", durable="c", stream="BENCH")
        started = time.perf_counter()
        for index in range(count):
            await js.publish("bench.a", payload, headers={"Nats-Msg-Id": f"m{index}"})
        consumed = 0
        while consumed < count:
            for msg in await sub.fetch(256, timeout=5):
                await msg.ack()
                consumed += 1
        elapsed = time.perf_counter() - started
        await nc.close()
        return count / elapsed
    finally:
        server.stop()


def _seed_county(federation: Federation, count: int) -> None:
    handle = federation.nodes["huanglong"]
    settings = Settings(
        node_id="huanglong",
        data_dir=handle.data_dir,
        database_url=handle.database_url,
        topology_file=federation.topology_path,
    )
    assert federation.topology is not None
    ctx = make_context(settings, federation.topology, load_keys(handle.data_dir / "keys"))
    actor = Actor(user_id="bench", name="bench", role="inspector", node="huanglong")
    with ctx.sessions() as session, session.begin():
        # The first delivery after the seeding starts the clock (``_throughput``).
        session.execute(update(OutboxStats).values(first_delivered_at=None))
        for index in range(count):
            create_record(
                session,
                ctx,
                actor,
                RecordCreate(category="practice", title=f"bench {index}", body=BODY),
            )
    ctx.engine.dispose()


def _throughput(federation: Federation, count: int) -> dict[str, float]:
    from sqlalchemy import create_engine

    federation.stop_api("huanglong")
    _seed_county(federation, count)
    federation.start_api("huanglong")
    results: dict[str, float] = {}
    origin_engine = create_engine(federation.nodes["huanglong"].database_url)
    for node in ("yanan", "shaanxi", "central"):
        engine = create_engine(federation.nodes[node].database_url)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                done = conn.scalar(
                    select(func.count())
                    .select_from(InboxMessage)
                    .where(InboxMessage.origin == "huanglong", InboxMessage.object_id.is_not(None))
                )
            if done is not None and done >= count:
                break
            time.sleep(0.05)
        with engine.connect() as conn:
            last = conn.scalar(
                select(func.max(InboxMessage.applied_at)).where(InboxMessage.origin == "huanglong")
            )
        with origin_engine.connect() as conn:
            # Delivered rows are deleted on PubAck; the stats row keeps when the first one went.
            first = conn.scalar(select(OutboxStats.first_delivered_at))
        engine.dispose()
        assert first is not None
        assert last is not None
        seconds = (as_aware(last) - as_aware(first)).total_seconds()
        results[node] = count / seconds
    origin_engine.dispose()
    return results


def _latency(federation: Federation, samples: int) -> dict[str, list[float]]:
    county = federation.nodes["huanglong"]
    headers = {"Authorization": f"Bearer {county.tokens['inspector']}"}
    latencies: dict[str, list[float]] = {"yanan": [], "shaanxi": [], "central": []}
    with httpx.Client(timeout=10) as http:
        for index in range(samples):
            for node in latencies:
                created = http.post(
                    f"{county.api_url}/api/v1/records",
                    headers=headers,
                    json={"category": "practice", "title": f"lat {index}", "body": BODY},
                )
                committed = time.perf_counter()
                record_id = created.json()["id"]
                target = federation.nodes[node]
                read_headers = {"Authorization": f"Bearer {target.tokens['inspector']}"}
                while True:
                    seen = http.get(
                        f"{target.api_url}/api/v1/records/{record_id}", headers=read_headers
                    )
                    if seen.status_code == 200:
                        latencies[node].append(time.perf_counter() - committed)
                        break
                    if time.perf_counter() - committed > 30:
                        raise TimeoutError(f"record not visible at {node}")
                    time.sleep(0.001)
                time.sleep(0.02)
    return latencies


def run(*, records: int, samples: int) -> int:
    with tempfile.TemporaryDirectory(prefix="fedshare-bench-") as tmp:
        workdir = Path(tmp)
        print(f"baseline: raw JetStream publish+consume of {records} x 1 KiB ...", flush=True)
        baseline = asyncio.run(_raw_jetstream(workdir, records))
        federation = Federation(workdir / "fed", CHAIN)
        federation.prepare()
        federation.start()
        try:
            print(f"throughput: {records} records committed at huanglong ...", flush=True)
            throughput = _throughput(federation, records)
            print(f"latency: {samples} samples per destination at light load ...", flush=True)
            latency = _latency(federation, samples)
        finally:
            federation.stop()
    hops = {"yanan": 1, "shaanxi": 2, "central": 3}
    rows = [
        [
            f"huanglong->{node} ({hops[node]} hop{'s' if hops[node] > 1 else ''})",
            f"{throughput[node]:.0f}",
            f"{throughput[node] / baseline:.2f}",
            summary_ms(latency[node])["p50_ms"],
            summary_ms(latency[node])["p99_ms"],
        ]
        for node in ("yanan", "shaanxi", "central")
    ]
    print()
    print_table(
        f"replication (baseline raw JetStream: {baseline:.0f} msg/s)",
        ["path", "records/s", "ratio to baseline", "p50 ms", "p99 ms"],
        rows,
    )
    figures: dict[str, Any] = {
        "bench": "replication",
        "records": records,
        "samples": samples,
        "baseline_raw_jetstream_msgs_per_s": round(baseline, 1),
    }
    for node in ("yanan", "shaanxi", "central"):
        figures[f"to_{node}"] = {
            "hops": hops[node],
            "records_per_s": round(throughput[node], 1),
            "ratio_to_baseline": round(throughput[node] / baseline, 3),
            **summary_ms(latency[node]),
        }
    print_json(figures)
    return 0
