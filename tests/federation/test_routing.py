"""A record reaches exactly the nodes entitled to it, through every tier."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support import FederationClient, barrier, wait_for

pytestmark = pytest.mark.federation
ALL = ["central", "shaanxi", "yanan", "huanglong", "yichuan"]


def test_general_record_reaches_every_node(demo_federation: FederationClient) -> None:
    record = demo_federation.create_record(
        "huanglong", {"category": "policy", "title": "黄龙县巡察工作规则", "body": "第一条"}
    )
    for node in ALL:
        wait_for(
            lambda node=node: demo_federation.record_version(node, record["id"]) == 1,
            message=f"general record at {node}",
        )
        shown = demo_federation.get(node, "inspector", f"/api/v1/records/{record['id']}")
        assert shown.status_code == 200
        assert shown.json()["title"] == "黄龙县巡察工作规则"


def test_restricted_record_reaches_only_its_party(demo_federation: FederationClient) -> None:
    secret_words = "县水利局招投标问题核查情况"
    record = demo_federation.create_record(
        "huanglong",
        {
            "category": "inspection_finding",
            "title": secret_words,
            "body": secret_words + "正文",
            "parties": ["shaanxi"],
        },
    )
    wait_for(
        lambda: demo_federation.record_version("shaanxi", record["id"]) == 1,
        message="restricted record at the named party",
    )
    shown = demo_federation.get("shaanxi", "inspector", f"/api/v1/records/{record['id']}")
    assert shown.json()["title"] == secret_words
    # A general record written afterwards has passed every node: the restricted one would have too.
    barrier(demo_federation, "huanglong", *ALL)
    for node in ("central", "yanan", "yichuan"):
        assert demo_federation.record_version(node, record["id"]) is None
        rows = demo_federation.db_rows(
            node, "SELECT count(*) FROM records WHERE title = :t", t=secret_words
        )
        assert rows[0][0] == 0
    # No NATS store directory of any node holds the plaintext (it travels sealed).
    for node in ALL:
        store = Path(demo_federation.federation.nodes[node].data_dir) / "jetstream"
        found = subprocess.run(
            ["grep", "-rl", secret_words, str(store)], capture_output=True, text=True
        )
        assert found.stdout == "", f"plaintext found in {node}'s NATS store"


def test_secret_record_sends_stubs_to_ancestors_only(demo_federation: FederationClient) -> None:
    title = "关于某局负责人违规收受礼金的问题线索"
    record = demo_federation.create_record(
        "huanglong", {"category": "problem_clue", "title": title, "body": "举报人:王某"}
    )
    for node in ("yanan", "shaanxi", "central"):
        wait_for(
            lambda node=node: demo_federation.record_version(node, record["id"]) == 1,
            message=f"stub at {node}",
        )
        rows = demo_federation.db_rows(
            node, "SELECT is_stub, title, body FROM records WHERE id = :id", id=record["id"]
        )
        assert rows == [(True, None, None)] or rows == [(1, None, None)]
        shown = demo_federation.get(node, "inspector", f"/api/v1/records/{record['id']}").json()
        assert shown["stub"] is True
        assert "title" not in shown
        assert "body" not in shown
    barrier(demo_federation, "huanglong", "yichuan")
    assert demo_federation.record_version("yichuan", record["id"]) is None


def test_federation_status_reports_links_backlog_and_positions(
    demo_federation: FederationClient,
) -> None:
    record = demo_federation.create_record("yichuan", {"category": "policy", "title": "状态"})
    wait_for(
        lambda: demo_federation.record_version("yanan", record["id"]) == 1,
        message="record at yanan",
    )

    def linked() -> dict[str, object] | None:
        status = demo_federation.get("yanan", "admin", "/api/v1/federation/status").json()
        peers = {p["node"]: p for p in status["transport"]["peers"]}
        links_up = all(p["link"] == "up" for p in peers.values())
        # The backlog drains to nothing (the node's own periodic sends may be in flight).
        drained = status["outbox_backlog"] == 0
        linked_all = set(peers) == {"shaanxi", "huanglong", "yichuan"}
        return status if links_up and linked_all and drained else None

    status = wait_for(linked, message="three linked peers at yanan, backlog drained")
    peers = {p["node"]: p for p in status["transport"]["peers"]}  # type: ignore[index]
    assert peers["shaanxi"]["relation"] == "parent"
    assert peers["huanglong"]["relation"] == "child"
    assert status["parent"] == "shaanxi"
    assert status["outbox_backlog"] == 0
    applied = status["applied_by_origin"]["yichuan"]  # type: ignore[index]
    assert applied["count"] >= 1
    assert applied["last_stream_seq"] >= 1
    unauthenticated = demo_federation.http.get(
        demo_federation.url("yanan", "/api/v1/federation/status")
    )
    assert unauthenticated.status_code == 401


def test_federation_status_is_for_admins_and_security_officers(
    demo_federation: FederationClient,
) -> None:
    refused = demo_federation.get("yanan", "inspector", "/api/v1/federation/status")
    assert refused.status_code == 403
    allowed = demo_federation.get("yanan", "security_officer", "/api/v1/federation/status")
    assert allowed.status_code == 200
    rows = demo_federation.db_rows(
        "yanan",
        "SELECT decision, count(*) FROM audit_log WHERE action = 'federation-status' "
        "GROUP BY decision ORDER BY decision",
    )
    decisions = dict(rows)
    assert decisions["allow"] >= 1
    assert decisions["deny"] >= 1


def test_no_false_sequence_gaps_when_records_go_to_some_nodes_only(
    demo_federation: FederationClient,
) -> None:
    """Numbers are per channel (origin → destination, or broadcast): restricted records for one
    party and case-secret stubs for the ancestors leave no hole in any other node's numbers."""
    client = demo_federation
    client.create_record(
        "huanglong",
        {"category": "inspection_finding", "title": "限定", "body": "", "parties": ["shaanxi"]},
    )
    client.create_record(
        "yichuan",
        {"category": "inspection_finding", "title": "限定", "body": "", "parties": ["central"]},
    )
    client.create_record("huanglong", {"category": "problem_clue", "title": "线索", "body": ""})
    client.create_record("yanan", {"category": "policy", "title": "一般", "body": ""})
    for origin in ("huanglong", "yichuan", "yanan"):
        barrier(client, origin, *ALL)
    client.federation.advance_clock(31)
    for node in ALL:
        status = client.get(node, "admin", "/api/v1/federation/status").json()
        assert status["sequence_gaps"] == 0, (node, status["sequences"])
        for origin, channels in status["sequences"].items():
            for channel in channels:
                assert (channel["gaps"], channel["pending"]) == ([], 0), (node, origin, channel)
        metrics = client.get(node, "admin", "/metrics").text
        gauges = [
            line
            for line in metrics.splitlines()
            if line.startswith("fedshare_inbound_sequence_gaps{")
        ]
        assert gauges, node
        assert all(line.endswith(" 0.0") for line in gauges), (node, gauges)
    # Each party follows its own channel from the origin besides the broadcast one.
    shaanxi = client.get("shaanxi", "admin", "/api/v1/federation/status").json()
    followed = {c["channel"]: c for c in shaanxi["sequences"]["huanglong"]}
    assert set(followed) == {"*", "shaanxi"}
    assert followed["shaanxi"]["received_through"] >= 2  # the restricted record and the stub
