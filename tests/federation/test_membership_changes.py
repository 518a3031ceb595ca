"""Over real NATS (one nats-server and one API process per node): a node restarted on the
previous envelope version (``FEDSHARE_ENVELOPE_VERSION=1``) exchanges every class of record both
ways with the rest of the tree (DESIGN §11, mixed versions); then an ancestor revokes it through
the admin API, and its parent drops its leaf user and its stream source while running, so its
records reach no node. A node
rotates its keys while records stream to and from it, and nothing is lost or dead-lettered."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from node.certificates import issue_certificate, key_id
from node.crypto import load_keys
from node.members.service import prepare_rotation
from tests.support import FederationClient, wait_for

pytestmark = pytest.mark.federation
ALL = ["central", "shaanxi", "yanan", "huanglong", "yichuan"]


def bodies(origin: str, other: str) -> list[dict[str, object]]:
    return [
        {"category": "policy", "title": f"{origin} 通报", "body": "正文"},
        {
            "category": "inspection_finding",
            "title": f"{origin} 受限",
            "body": "正文",
            "classification": "restricted",
            "parties": [other],
        },
        {
            "category": "inspection_finding",
            "title": f"{origin} 秘密",
            "body": "正文",
            "classification": "secret",
            "parties": [other],
        },
    ]


def test_previous_version_node_then_its_revocation(demo_federation: FederationClient) -> None:
    fed = demo_federation.federation
    fed.env_overrides["huanglong"] = {"FEDSHARE_ENVELOPE_VERSION": "1"}
    fed.stop_api("huanglong")
    # What it sent before, on version 2 (an audit checkpoint when the start took over its
    # interval), is not what this test is about.
    before = {
        bytes(raw)
        for (raw,) in demo_federation.db_rows("huanglong", "SELECT envelope FROM sent_sequence")
    }
    fed.start_api("huanglong")

    sent: list[tuple[str, str]] = []
    for origin, other in (("huanglong", "central"), ("central", "huanglong")):
        for body in bodies(origin, other):
            record = demo_federation.create_record(origin, body)
            sent.append((record["id"], other))
    for record_id, receiver in sent:
        wait_for(
            lambda r=record_id, n=receiver: demo_federation.record_version(n, r) is not None,
            message=f"record {record_id} at {receiver}",
        )
    versions = {
        json.loads(bytes(raw))["v"]
        for (raw,) in demo_federation.db_rows("huanglong", "SELECT envelope FROM sent_sequence")
        if bytes(raw) not in before
    }
    assert versions == {1}
    central_versions = {
        json.loads(bytes(raw))["v"]
        for (raw,) in demo_federation.db_rows("central", "SELECT envelope FROM sent_sequence")
    }
    assert central_versions == {2}
    for node in ALL:
        assert demo_federation.db_rows(node, "SELECT reason FROM dead_letters") == [], node

    # yanan (its parent) revokes it; the revocation reaches the rest of the tree.
    revoked = demo_federation.post(
        "yanan",
        "admin",
        "/api/v1/federation/members/huanglong/revocation",
        json={"reason": "密钥泄露"},
    )
    assert revoked.status_code == 200, revoked.text
    for node in ("central", "shaanxi", "yanan", "yichuan"):
        wait_for(
            lambda n=node: (
                demo_federation.db_rows(n, "SELECT node_id FROM member_revocations")
                == [("huanglong",)]
            ),
            message=f"revocation at {node}",
        )
    members = demo_federation.get("yanan", "admin", "/api/v1/federation/members").json()
    assert {m["id"]: m["status"] for m in members["items"]}["huanglong"] == "revoked"
    # yanan, its parent, stops taking its traffic while running: its config is rendered again
    # without huanglong's account and leaf user and reloaded, and its IN stream no longer
    # sources huanglong's OUT (envelopes that still arrive from elsewhere are dead-lettered as
    # revoked_origin: tests/replication/test_revocation.py).
    yanan_conf = Path(fed.nodes["yanan"].data_dir) / "nats.conf"
    wait_for(
        lambda: "LEAF_huanglong" not in yanan_conf.read_text(encoding="utf-8"),
        message="huanglong's leaf user gone from yanan's config",
    )

    def yanan_sources() -> set[str]:
        status = demo_federation.get("yanan", "admin", "/api/v1/federation/status").json()
        return {p["node"] for p in status["transport"]["peers"] if "node" in p}

    wait_for(
        lambda: yanan_sources() == {"shaanxi", "yichuan"}, message="yanan no longer sources it"
    )
    late = demo_federation.create_record("huanglong", bodies("huanglong", "central")[0])
    wait_for(
        lambda: demo_federation.db_rows("huanglong", "SELECT count(*) FROM outbox") == [(0,)],
        message="huanglong's late record published on its own server",
    )
    for node in ("central", "shaanxi", "yanan", "yichuan"):
        assert demo_federation.record_version(node, late["id"]) is None


def test_a_rotation_while_records_stream_loses_nothing(demo_federation: FederationClient) -> None:
    """yanan rotates its keys while records flow to and from it (yichuan, central): its parent
    certifies the announced keys through the admin API, the certificate travels, yanan switches
    and re-certifies its children, and nothing is lost or dead-lettered."""
    fed = demo_federation.federation
    assert fed.topology is not None
    yanan_dir = Path(fed.nodes["yanan"].data_dir)
    dead_before = {
        node: demo_federation.db_rows(node, "SELECT count(*) FROM dead_letters")[0][0]
        for node in ALL
    }
    sent: list[tuple[str, str]] = []

    def stream(label: str) -> None:
        for origin, other in (("yanan", "central"), ("central", "yanan"), ("yichuan", "yanan")):
            for body in bodies(origin, other):
                body = {**body, "title": f"{body['title']} {label}"}
                sent.append((demo_federation.create_record(origin, body)["id"], other))

    stream("轮换前")
    announcement = prepare_rotation(yanan_dir / "keys", "yanan", fed.now())
    current = fed.topology.get("yanan").certificate
    assert current is not None
    renewed = issue_certificate(
        issuer_key=load_keys(Path(fed.nodes["shaanxi"].data_dir) / "keys").signing,
        issuer="shaanxi",
        node="yanan",
        name=current.name,
        parent="shaanxi",
        signing_key=announcement.signing_key,
        encryption_key=announcement.encryption_key,
        serial=current.serial + 1,
        not_before=current.not_before,
        not_after=current.not_after,
    )
    posted = demo_federation.post(
        "shaanxi", "admin", "/api/v1/federation/members", json={"certificate": renewed.document()}
    )
    assert posted.status_code == 200, posted.text
    stream("轮换中")

    def key_at(node: str, member: str) -> str | None:
        page = demo_federation.get(node, "admin", "/api/v1/federation/members").json()
        found = {m["id"]: m["signing_key_id"] for m in page["items"]}
        return found.get(member)

    wait_for(
        lambda: key_at("yanan", "yanan") == key_id(announcement.signing_key),
        message="yanan learns its new certificate",
    )
    wait_for(
        lambda: (
            demo_federation.db_rows(
                "central", "SELECT serial FROM member_certificates WHERE node_id = 'yichuan'"
            )
            == [(2,)]
        ),
        message="yanan re-certifies yichuan with its new key",
    )
    stream("轮换后")
    for record_id, receiver in sent:
        wait_for(
            lambda r=record_id, n=receiver: demo_federation.record_version(n, r) is not None,
            message=f"record {record_id} at {receiver}",
        )
    kids = {
        json.loads(bytes(raw)).get("kid")
        for (raw,) in demo_federation.db_rows("yanan", "SELECT envelope FROM sent_sequence")
    }
    assert key_id(announcement.signing_key) in kids
    assert key_id(current.signing_key) in kids
    for node in ALL:
        after = demo_federation.db_rows(
            node, "SELECT reason, origin, kind FROM dead_letters ORDER BY id"
        )
        assert after[dead_before[node] :] == [], node
