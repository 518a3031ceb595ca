"""Resync over real nats-servers (issue 12 item 4): a county stays offline (its API and its
nats-server stopped) longer than its parent's streams keep messages (retention shortened on the
parent, ``FEDSHARE_STREAM_RETENTION_S``, so JetStream really expires them), while records of
every class, an update, a tombstone, an order and a grant for it are made. Back online it has
none of them; ``fedshare node resync`` brings exactly what it is entitled to, compared with its
sibling that stayed online and with the origins: nothing lost, nothing duplicated or refused, no
sequence gap left, no plaintext it may not read anywhere in its files; then records stream on."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
import pytest

from tests.support import (
    FederationClient,
    content_markers,
    fedshare,
    files_containing,
    prepared_federation,
    wait_for,
)

pytestmark = pytest.mark.federation

TREE = [
    ("shaanxi", "陕西省", None),
    ("yanan", "延安市", "shaanxi"),
    ("huanglong", "黄龙县", "yanan"),
    ("yichuan", "宜川县", "yanan"),
]
RETENTION_S = 20


@pytest.fixture
def fed(tmp_path: Path) -> Iterator[FederationClient]:
    """The tree, prepared (each test starts it), the parent's streams keeping messages for
    ``RETENTION_S`` only."""
    with prepared_federation(tmp_path / "fed", TREE) as client:
        client.federation.env_overrides["yanan"] = {"FEDSHARE_STREAM_RETENTION_S": str(RETENTION_S)}
        yield client


def out_stream_state(client: FederationClient, node: str) -> tuple[int, int]:
    """(first, last) sequence of ``node``'s outbound stream, read with its own credentials."""

    async def go() -> tuple[int, int]:
        nc = await nats.connect(**client.federation.nats_options(node))
        try:
            info = await nc.jetstream(timeout=5).stream_info(f"OUT_{node}")
            return int(info.state.first_seq), int(info.state.last_seq)
        finally:
            await nc.close()

    return asyncio.run(go())


def make(client: FederationClient, node: str, **body: Any) -> str:
    return str(client.create_record(node, body)["id"])


def general_rows(client: FederationClient, node: str) -> set[tuple[Any, ...]]:
    rows = client.db_rows(
        node,
        "SELECT origin, id, version, deleted, title, body FROM records "
        "WHERE classification = 'general'",
    )
    return {tuple(r) for r in rows}


def held_by(client: FederationClient, node: str, record_id: str) -> tuple[Any, ...] | None:
    rows = client.db_rows(
        node,
        "SELECT version, is_stub, deleted, title, body FROM records WHERE id = :i",
        i=record_id,
    )
    return tuple(rows[0]) if rows else None


@dataclass
class Outage:
    """What was made around the county's outage."""

    doomed: str
    evidence: str
    order_id: str
    made: dict[str, str]
    needles: list[bytes]


def outage(fed: FederationClient) -> Outage:
    """The county goes offline past its parent's retention while every kind of change is made,
    then comes back (its nats-server and API started again)."""
    federation = fed.federation
    # Before the outage: a record it will see deleted, and a request for a case-secret record of
    # its sibling that names it (it holds the stub), decided only while it is away.
    doomed = make(fed, "yichuan", category="practice", title="将被删除", body="删除前的正文")
    evidence = make(
        fed,
        "yichuan",
        category="evidence",
        title="证据材料",
        body="证据正文:只给获批的黄龙县调阅人",
        parties=["huanglong"],
    )
    wait_for(lambda: held_by(fed, "huanglong", doomed) is not None, message="before the outage")
    wait_for(lambda: held_by(fed, "huanglong", evidence) is not None, message="the stub")
    asked = fed.post(
        "huanglong",
        "inspector",
        "/api/v1/access-requests",
        json={"record_id": evidence, "reason": "核查该证据材料所涉问题", "duration_s": 3600},
    )
    assert asked.status_code == 201, asked.text
    request_id = asked.json()["id"]
    wait_for(
        lambda: (
            fed.get("yichuan", "approver", f"/api/v1/access-requests/{request_id}").status_code
            == 200
        ),
        message="the request at the origin",
    )

    federation.stop_api("huanglong")
    federation.stop_nats("huanglong")
    hidden_text, hidden_needles = content_markers("只给延安的受限")
    secret_text, secret_needles = content_markers("只有存根的绝密")
    made: dict[str, str] = {}
    for node in ("shaanxi", "yanan", "yichuan"):
        made[f"general-{node}"] = make(
            fed, node, category="practice", title=f"{node}离线期间", body="通用正文"
        )
    made["updated"] = make(fed, "shaanxi", category="policy", title="将被更新", body="第一版")
    patched = fed.request(
        "PATCH",
        "shaanxi",
        "inspector",
        f"/api/v1/records/{made['updated']}",
        json={"body": "第二版"},
    )
    assert patched.status_code == 200, patched.text
    made["named"] = make(
        fed,
        "shaanxi",
        category="supervision_check",
        title="点名黄龙",
        body="给黄龙县的受限正文",
        parties=["huanglong"],
    )
    made["hidden"] = make(
        fed,
        "yichuan",
        category="supervision_check",
        title="受限",
        body=hidden_text,
        parties=["yanan"],
    )
    made["stub"] = make(
        fed,
        "yichuan",
        category="case_analysis",
        title="案情",
        body=secret_text,
        parties=["huanglong"],
    )
    deleted = fed.request("DELETE", "yichuan", "inspector", f"/api/v1/records/{doomed}")
    assert deleted.status_code in (200, 204), deleted.text
    approved = fed.post(
        "yichuan",
        "approver",
        f"/api/v1/access-requests/{request_id}/approve",
        json={"comment": "同意"},
    )
    assert approved.status_code == 200, approved.text
    deadline = (datetime.now(UTC) + timedelta(days=10)).isoformat()
    order = fed.post(
        "yanan",
        "inspector",
        "/api/v1/orders",
        json={"title": "交办核查", "addressees": ["huanglong", "yichuan"], "deadline": deadline},
    )
    assert order.status_code == 201, order.text
    order_id = order.json()["id"]
    # Everything has left the parent (its sibling has it all), then the parent's stream lets
    # it all expire.
    wait_for(lambda: held_by(fed, "yichuan", made["general-shaanxi"]) is not None, timeout=120)
    wait_for(
        lambda: (held_by(fed, "yichuan", made["updated"]) or (0,))[0] == 2,
        timeout=120,
        message="the update at the sibling",
    )
    wait_for(
        lambda: (
            fed.db_rows(
                "yichuan", "SELECT state FROM order_targets WHERE order_id = :o", o=order_id
            )
            == [("received",)]
        ),
        timeout=120,
        message="the order at the sibling",
    )
    _, last = out_stream_state(fed, "yanan")
    wait_for(
        lambda: out_stream_state(fed, "yanan")[0] > last,
        timeout=RETENTION_S + 120,
        message="the parent's stream to expire what the county missed",
    )

    federation.start_nats("huanglong")
    federation.start_api("huanglong")
    return Outage(doomed, evidence, order_id, made, hidden_needles + secret_needles)


def test_a_county_offline_past_retention_resyncs_on_request(fed: FederationClient) -> None:
    """``fedshare node resync``, the county's own detection switched off."""
    federation = fed.federation
    federation.env_overrides["huanglong"] = {"FEDSHARE_RESYNC_AUTO": "false"}
    federation.start()
    gone = outage(fed)
    probe = make(fed, "shaanxi", category="practice", title="恢复后探测", body="探测")
    wait_for(lambda: held_by(fed, "huanglong", probe) is not None, timeout=120, message="probe")
    # The stream brought what is new; what expired is not there.
    assert held_by(fed, "huanglong", gone.made["general-yichuan"]) is None
    assert held_by(fed, "huanglong", gone.made["named"]) is None
    node = federation.nodes["huanglong"]
    result = fedshare(
        "node",
        "resync",
        "--api",
        node.api_url,
        "--token",
        node.tokens["admin"],
        "--interval",
        "0.5",
        "--timeout",
        "300",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "resync complete" in result.stdout
    latest = fed.get("huanglong", "admin", "/api/v1/federation/resync").json()
    assert latest["trigger"] == "manual"
    converged(fed, gone)


def test_a_county_offline_past_retention_resyncs_by_itself(fed: FederationClient) -> None:
    """Back online, the county sees that its parent's stream no longer holds what came after
    the last envelope it received from above, and resyncs without being told."""
    fed.federation.start()
    gone = outage(fed)
    # Read from its database: a request to its API can wait for a purge's WAL checkpoint.
    wait_for(
        lambda: (
            fed.db_rows("huanglong", "SELECT trigger, state FROM resync_sessions")
            == [("auto", "complete")]
        ),
        timeout=300,
        message="a resync started by the county itself",
    )
    converged(fed, gone)


def converged(fed: FederationClient, gone: Outage) -> None:
    """The county holds exactly what it is entitled to, and streams on."""
    doomed, evidence, order_id, made = gone.doomed, gone.evidence, gone.order_id, gone.made
    node = fed.federation.nodes["huanglong"]
    status = fed.get("huanglong", "admin", "/api/v1/federation/status").json()
    progress = status["resync"]
    assert progress["state"] == "complete", progress
    assert progress["refused"] == 0
    assert progress["received"] == progress["total"]

    # Every general record, as the sibling that stayed online holds them.
    wait_for(
        lambda: general_rows(fed, "huanglong") == general_rows(fed, "yichuan"),
        timeout=60,
        message="the same general records as the sibling",
    )
    tomb = held_by(fed, "huanglong", doomed)
    assert tomb is not None
    assert tomb[2] in (True, 1)
    assert tomb[4] is None
    assert (held_by(fed, "huanglong", made["named"]) or ())[3:] == (
        "点名黄龙",
        "给黄龙县的受限正文",
    )
    assert (held_by(fed, "huanglong", made["updated"]) or ())[4] == "第二版"
    assert held_by(fed, "huanglong", made["hidden"]) is None
    stub = held_by(fed, "huanglong", made["stub"])
    assert stub is not None
    assert stub[1] in (True, 1)
    assert stub[3:] == (None, None)
    # The order reached it (and the issuer learned it was received); the grant and its content.
    assert fed.db_rows(
        "huanglong", "SELECT state FROM order_targets WHERE order_id = :o", o=order_id
    ) == [("received",)]
    wait_for(
        lambda: (
            dict(
                fed.db_rows(
                    "yanan",
                    "SELECT addressee, state FROM order_targets WHERE order_id = :o",
                    o=order_id,
                )
            )
            == {"huanglong": "received", "yichuan": "received"}
        ),
        timeout=60,
        message="the issuer to learn the order was received",
    )
    read = fed.get("huanglong", "inspector", f"/api/v1/records/{evidence}?origin=yichuan")
    assert read.status_code == 200, read.text
    assert read.json()["body"] == "证据正文:只给获批的黄龙县调阅人"
    # Nothing refused or applied twice; no sequence gap or pending number left.
    assert (
        fed.db_rows("huanglong", "SELECT reason, count(*) FROM dead_letters GROUP BY reason") == []
    )
    assert (
        fed.db_rows(
            "huanglong",
            "SELECT msg_id FROM inbox GROUP BY msg_id HAVING count(*) > 1",
        )
        == []
    )
    twice = fed.db_rows(
        "huanglong",
        "SELECT origin, object_id, version FROM inbox WHERE kind = 'record' "
        "GROUP BY origin, object_id, version HAVING count(*) > 1",
    )
    assert twice == []
    for origin, channels in status["sequences"].items():
        for channel in channels:
            assert channel["gaps"] == [], (origin, channel)
            assert channel["received_through"] == channel["highest"], (origin, channel)
    # No plaintext it may not read, in any of its files (database, WAL, JetStream store, logs).
    assert files_containing(node.data_dir, gone.needles) == []
    # Records stream on.
    after = make(fed, "yichuan", category="practice", title="恢复后", body="恢复后的通用记录")
    wait_for(lambda: held_by(fed, "huanglong", after) is not None, timeout=120, message="after")
    assert fed.db_rows("huanglong", "SELECT count(*) FROM dead_letters") == [(0,)]
