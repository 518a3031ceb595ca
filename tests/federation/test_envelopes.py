"""Forged, tampered, replayed, stale and unknown-origin envelopes published straight onto NATS
(with the relaying node's own credentials: a node that may publish there, but lies) are
rejected, dead-lettered, counted and audited, and change nothing else. Updates and tombstones
replicate; an older version never overwrites a newer one."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import nats
import pytest

from node.crypto import canonical_json, generate_keys, load_keys
from node.ids import uuid7
from node.replication.envelope import seal_envelope
from tests.factories import reissue
from tests.support import FederationClient, wait_for

pytestmark = pytest.mark.federation
SUBJECT = "fs.yanan.down.huanglong"  # what yanan sends down to huanglong


def publish(options: dict[str, Any], subject: str, data: bytes) -> None:
    async def go() -> None:
        nc = await nats.connect(**options)
        try:
            await nc.jetstream().publish(subject, data, headers={"Nats-Msg-Id": uuid7()})
        finally:
            await nc.close()

    asyncio.run(go())


def last_envelope(options: dict[str, Any], stream: str, subject: str) -> bytes:
    async def go() -> bytes:
        nc = await nats.connect(**options)
        try:
            msg = await nc.jetstream().get_last_msg(stream, subject)
            data: bytes = msg.data
            return data
        finally:
            await nc.close()

    return asyncio.run(go())


def dead_letters(client: FederationClient, node: str) -> dict[str, int]:
    rows = client.db_rows(node, "SELECT reason, count(*) FROM dead_letters GROUP BY reason")
    return {str(r[0]): int(r[1]) for r in rows}


def test_forged_tampered_replayed_unknown_are_rejected(demo_federation: FederationClient) -> None:
    fed = demo_federation.federation
    yanan_nats = fed.nats_options("yanan")
    title = "真实标题"
    record = demo_federation.create_record("shaanxi", {"category": "policy", "title": title})
    wait_for(
        lambda: demo_federation.record_version("huanglong", record["id"]) == 1,
        message="record at huanglong",
    )
    before = dead_letters(demo_federation, "huanglong")
    genuine = last_envelope(yanan_nats, "OUT_yanan", SUBJECT)
    document: dict[str, Any] = json.loads(genuine)
    assert document["ref"]["record"] == record["id"]

    tampered = dict(document, payload=dict(document["payload"], title="篡改后的标题"))
    publish(yanan_nats, SUBJECT, canonical_json(tampered))

    forged_doc = {k: v for k, v in document.items() if k != "sig"}
    forged_doc["id"] = uuid7()
    forged_doc["payload"] = dict(document["payload"], title="伪造", version=9)
    forged_doc["ref"] = {"record": record["id"], "version": 9}
    forged_doc["sig"] = generate_keys().sign(canonical_json(forged_doc))
    publish(yanan_nats, SUBJECT, canonical_json(forged_doc))

    unknown = dict(forged_doc, origin="beijing")
    publish(yanan_nats, SUBJECT, canonical_json(unknown))

    publish(yanan_nats, SUBJECT, genuine)  # a replay of bytes already applied

    expected = {"bad_signature": 2, "unknown_origin": 1, "replay": 1}

    def arrived() -> bool:
        now = dead_letters(demo_federation, "huanglong")
        return all(now.get(k, 0) - before.get(k, 0) >= n for k, n in expected.items())

    wait_for(arrived, message="four dead letters at huanglong")
    rows = demo_federation.db_rows(
        "huanglong", "SELECT title, version FROM records WHERE id = :id", id=record["id"]
    )
    assert rows == [(title, 1)]
    audited = demo_federation.db_rows(
        "huanglong",
        "SELECT count(*) FROM audit_log WHERE action = 'reject-envelope' AND decision = 'deny'",
    )
    assert audited[0][0] >= 4
    stored = demo_federation.db_rows(
        "huanglong", "SELECT count(*) FROM dead_letters WHERE reason = 'bad_signature' AND size > 0"
    )
    assert stored[0][0] >= 2
    status = demo_federation.get("huanglong", "admin", "/api/v1/federation/status").json()
    assert status["dead_letters"]["bad_signature"] >= 2
    metrics = demo_federation.get("huanglong", "admin", "/metrics").text
    assert 'fedshare_dead_letters_total{reason="bad_signature"}' in metrics


def test_updates_and_tombstones_replicate_and_stale_never_overwrites(
    demo_federation: FederationClient,
) -> None:
    fed = demo_federation.federation
    record = demo_federation.create_record("huanglong", {"category": "practice", "title": "v1"})
    patched = demo_federation.request(
        "PATCH", "huanglong", "inspector", f"/api/v1/records/{record['id']}", json={"title": "v2"}
    )
    assert patched.status_code == 200
    assert patched.json()["version"] == 2
    for node in ("central", "yichuan"):
        wait_for(
            lambda node=node: demo_federation.record_version(node, record["id"]) == 2,
            message=f"v2 at {node}",
        )
    # The origin itself re-sends version 1 under a new message id: a stale version is refused.
    data_dir = Path(fed.nodes["huanglong"].data_dir)
    topology = fed.topology
    assert topology is not None
    _msg_id, stale = seal_envelope(
        keys=load_keys(data_dir / "keys"),
        topology=topology,
        origin="huanglong",
        kind="record",
        dest=["*"],
        ref={"record": record["id"], "version": 1},
        payload={
            **{
                k: record[k]
                for k in (
                    "id",
                    "origin",
                    "category",
                    "classification",
                    "created_at",
                    "updated_at",
                    "deleted",
                )
            },
            "version": 1,
            "stub": False,
            "author": "x",
            "title": "v1",
            "body": "",
            "parties": [],
        },
        encrypt=False,
        now=fed.now(),
    )
    publish(demo_federation.federation.nats_options("shaanxi"), "fs.shaanxi.down.yanan", stale)
    wait_for(
        lambda: dead_letters(demo_federation, "yanan").get("stale_version", 0) >= 1,
        message="stale version dead-lettered at yanan",
    )
    rows = demo_federation.db_rows(
        "yanan", "SELECT title, version FROM records WHERE id = :id", id=record["id"]
    )
    assert rows == [("v2", 2)]
    deleted = demo_federation.request(
        "DELETE", "huanglong", "inspector", f"/api/v1/records/{record['id']}"
    )
    assert deleted.status_code == 200
    assert deleted.json()["deleted"] is True
    for node in ("central", "yanan"):
        wait_for(
            lambda node=node: demo_federation.record_version(node, record["id"]) == 3,
            message=f"tombstone at {node}",
        )
        rows = demo_federation.db_rows(
            node, "SELECT deleted, title FROM records WHERE id = :id", id=record["id"]
        )
        assert bool(rows[0][0]) is True
        assert rows[0][1] is None  # a tombstone keeps no content, not even blanked


def test_a_reissued_certificate_reaches_running_nodes_over_nats(
    demo_federation: FederationClient,
) -> None:
    """shaanxi re-certifies yanan (serial 2, a new name) and sends the certificate down: yanan
    learns it without a restart and relays it to its children, who verify it to the root too."""
    fed = demo_federation.federation
    assert fed.topology is not None
    current = fed.topology.get("yanan").certificate
    assert current is not None
    shaanxi_keys = load_keys(Path(fed.nodes["shaanxi"].data_dir) / "keys")
    later = reissue(shaanxi_keys, current, serial=2, name="延安市（换证）")
    _msg_id, raw = seal_envelope(
        keys=shaanxi_keys,
        topology=fed.topology,
        origin="shaanxi",
        kind="member-certificate",
        dest=["*"],
        ref={"node": "yanan"},
        payload={"certificate": later.document()},
        encrypt=False,
        now=fed.now(),
    )
    publish(fed.nats_options("shaanxi"), "fs.shaanxi.down.yanan", raw)

    def serial_at_yanan() -> int:
        page = demo_federation.get("yanan", "admin", "/api/v1/federation/members").json()
        return int(page["items"][0]["serial"])

    wait_for(lambda: serial_at_yanan() == 2, message="yanan learns its re-issued certificate")
    tree = demo_federation.get("yanan", "admin", "/api/v1/federation/tree").json()
    assert {n["id"]: n["name"] for n in tree}["yanan"] == "延安市（换证）"
    wait_for(
        lambda: (
            demo_federation.db_rows(
                "huanglong", "SELECT serial FROM member_certificates WHERE node_id = 'yanan'"
            )
            == [(2,)]
        ),
        message="huanglong learns it from yanan's relay",
    )
