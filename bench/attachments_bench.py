"""``fedshare bench attachments``: a file from county to central against raw JetStream, in one run.

1. Baseline: one nats-server with JetStream; the same file put into an object store and read
   back (nats-py's ``put`` + ``get``, 128 KiB chunks): MiB/s of put+get.
2. fedshare: a four-tier chain (central > shaanxi > yanan > huanglong). A restricted record at the
   county names central as its party; the file is uploaded through the county's API and travels
   in sealed chunk envelopes (the city and the province relay ciphertext they cannot open) until
   central holds every chunk, has checked the whole file's SHA-256 against the signed manifest and
   marked it complete. MiB/s = size / (complete at central - start of the upload): the upload
   itself (sealing at rest, committing the chunks and their envelopes at the county) is inside
   the time. The file is downloaded at central afterwards and compared byte for byte.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import nats
from sqlalchemy import create_engine, text

from bench.common import print_json, print_table
from node.federation import Federation, free_port
from node.replication.natsconf import NatsServerProcess

CHAIN = [
    ("central", "中央", None),
    ("shaanxi", "陕西省", "central"),
    ("yanan", "延安市", "shaanxi"),
    ("huanglong", "黄龙县", "yanan"),
]
MIB = 1024 * 1024
PDF_HEADER = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"


def make_file(size_mib: int) -> bytes:
    """A PDF-typed file of ``size_mib`` MiB of random bytes (incompressible, like a scan)."""
    return (PDF_HEADER + os.urandom(size_mib * MIB))[: size_mib * MIB]


async def _raw_object_store(workdir: Path, data: bytes, runs: int) -> float:
    port = free_port()
    conf = workdir / "baseline.conf"
    conf.write_text(
        f'port: {port}\nhost: "127.0.0.1"\nmax_payload: 8MB\n'
        f'jetstream {{ store_dir: "{workdir}/js" }}\n'
    )
    server = NatsServerProcess(conf, f"nats://127.0.0.1:{port}", workdir / "baseline.log")
    server.start()
    try:
        nc = await nats.connect(f"nats://127.0.0.1:{port}")
        js = nc.jetstream(timeout=60)
        store = await js.create_object_store("BENCH")
        best = float("inf")
        for run in range(runs):
            started = time.perf_counter()
            await store.put(f"file-{run}", data)
            got = await store.get(f"file-{run}")
            elapsed = time.perf_counter() - started
            assert got.data == data, "object store returned other bytes"
            best = min(best, elapsed)
        await nc.close()
        return len(data) / MIB / best
    finally:
        server.stop()


def _complete_at(engine: Any, attachment_id: str) -> bool:
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT complete FROM attachments WHERE attachment_id = :a"), {"a": attachment_id}
        ).first()
    return bool(row and row[0])


def _transfer(federation: Federation, data: bytes, run: int) -> dict[str, float]:
    county = federation.nodes["huanglong"]
    central = federation.nodes["central"]
    engine = create_engine(central.database_url)
    headers = {"Authorization": f"Bearer {county.tokens['inspector']}"}
    try:
        with httpx.Client(timeout=300) as http:
            created = http.post(
                f"{county.api_url}/api/v1/records",
                headers=headers,
                json={
                    "category": "supervision_check",
                    "title": f"附件基准 {run}",
                    "body": "巡察发现问题扫描件",
                    "parties": ["central"],
                },
            )
            created.raise_for_status()
            record_id = created.json()["id"]
            # The record itself first: the timing is the file's alone.
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with engine.connect() as conn:
                    if conn.execute(
                        text("SELECT 1 FROM records WHERE id = :r"), {"r": record_id}
                    ).first():
                        break
                time.sleep(0.02)
            started = time.perf_counter()
            uploaded = http.post(
                f"{county.api_url}/api/v1/records/{record_id}/attachments",
                headers={**headers, "Content-Type": "application/pdf"},
                params={"filename": f"巡察扫描件-{run}.pdf"},
                content=data,
            )
            uploaded.raise_for_status()
            upload_s = time.perf_counter() - started
            attachment_id = uploaded.json()["id"]
            deadline = time.monotonic() + 600
            while not _complete_at(engine, attachment_id):
                if time.monotonic() > deadline:
                    raise TimeoutError("the attachment never completed at central")
                time.sleep(0.01)
            total_s = time.perf_counter() - started
            got = http.get(
                f"{central.api_url}/api/v1/records/{record_id}/attachments/{attachment_id}",
                headers={"Authorization": f"Bearer {central.tokens['inspector']}"},
            )
            got.raise_for_status()
            assert hashlib.sha256(got.content).digest() == hashlib.sha256(data).digest()
    finally:
        engine.dispose()
    return {"upload_s": upload_s, "total_s": total_s}


def run(*, size_mib: int, runs: int) -> int:
    data = make_file(size_mib)
    with tempfile.TemporaryDirectory(prefix="fedshare-bench-") as tmp:
        workdir = Path(tmp)
        print(f"baseline: raw JetStream object store put+get of {size_mib} MiB ...", flush=True)
        baseline = asyncio.run(_raw_object_store(workdir, data, runs))
        federation = Federation(workdir / "fed", CHAIN)
        federation.prepare()
        federation.start()
        try:
            print(f"fedshare: {size_mib} MiB huanglong -> central, {runs} runs ...", flush=True)
            results = [_transfer(federation, data, run) for run in range(runs)]
        finally:
            federation.stop()
    best = min(results, key=lambda r: r["total_s"])
    throughput = size_mib / best["total_s"]
    rows = [
        [
            f"run {i + 1}",
            f"{r['upload_s']:.2f}",
            f"{r['total_s']:.2f}",
            f"{size_mib / r['total_s']:.1f}",
        ]
        for i, r in enumerate(results)
    ]
    print()
    print_table(
        f"attachments: {size_mib} MiB huanglong -> central, 3 hops "
        f"(baseline raw object store put+get: {baseline:.1f} MiB/s)",
        ["run", "upload s", "complete at central s", "MiB/s"],
        rows,
    )
    print(f"best: {throughput:.1f} MiB/s = {throughput / baseline:.2f} x baseline (goal >= 0.3)")
    print()
    print_json(
        {
            "bench": "attachments",
            "size_mib": size_mib,
            "hops": 3,
            "runs": runs,
            "baseline_raw_object_store_put_get_mib_per_s": round(baseline, 2),
            "mib_per_s": round(throughput, 2),
            "ratio_to_baseline": round(throughput / baseline, 3),
            "upload_s": round(best["upload_s"], 3),
            "complete_at_central_s": round(best["total_s"], 3),
            "all_runs_mib_per_s": [round(size_mib / r["total_s"], 2) for r in results],
        }
    )
    return 0
