"""``GET /api/v1/federation/members``: the certified members of the caller's subtree, their key ids,
validity and status at the node's clock; for admins and security officers only, audited."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import text

from node.certificates import NodeCertificate
from node.clock import SystemClock
from node.crypto import NodeKeys, b64d
from node.topology import NodeInfo, Topology
from tests.conftest import NodeUnderTest
from tests.factories import audit_entries, reissue, sign_as
from tests.helpers import error, ok

MEMBERS = "/api/v1/federation/members"
DAY = 86400


def certificate_of(topology: Topology, node_id: str) -> NodeCertificate:
    certificate = topology.get(node_id).certificate
    assert certificate is not None
    return certificate


def members(node: NodeUnderTest, role: str = "admin", **params: Any) -> dict[str, Any]:
    page: dict[str, Any] = ok(node.client.get(MEMBERS, params=params, headers=node.auth(role)))
    return page


def test_members_of_the_subtree_with_key_ids_and_validity(
    make_node: Callable[..., NodeUnderTest],
    demo_topology: Topology,
    demo_keys: dict[str, NodeKeys],
) -> None:
    node = make_node("yanan")
    page = members(node)
    assert [m["id"] for m in page["items"]] == ["yanan", "huanglong", "yichuan"]
    assert page["next_cursor"] is None
    yanan = page["items"][0]
    certificate = certificate_of(demo_topology, "yanan")
    signing = hashlib.sha256(b64d(demo_keys["yanan"].signing_public_b64)).hexdigest()[:16]
    assert yanan == {
        "id": "yanan",
        "name": "延安市",
        "parent": "shaanxi",
        "issuer": "shaanxi",
        "signing_key_id": signing,
        "encryption_key_id": yanan["encryption_key_id"],
        "serial": 1,
        "not_before": certificate.not_before.isoformat().replace("+00:00", "Z"),
        "not_after": certificate.not_after.isoformat().replace("+00:00", "Z"),
        "status": "valid",
    }
    assert len(yanan["encryption_key_id"]) == 16
    assert yanan["encryption_key_id"] != yanan["signing_key_id"]
    # Nothing secret, not even a whole public key, is in the listing.
    assert demo_keys["yanan"].signing_public_b64 not in str(page)

    first = members(node, limit=2)
    assert [m["id"] for m in first["items"]] == ["yanan", "huanglong"]
    rest = members(node, limit=2, cursor=first["next_cursor"])
    assert [m["id"] for m in rest["items"]] == ["yichuan"]
    assert rest["next_cursor"] is None
    error(node.client.get(MEMBERS, params={"cursor": "central"}, headers=node.auth("admin")),
          422, "invalid_cursor")  # fmt: skip
    assert len(audit_entries(node.ctx.sessions, action="federation-members")) == 3


def test_only_admins_and_security_officers_list_members(
    make_node: Callable[..., NodeUnderTest],
) -> None:
    node = make_node("shaanxi")
    assert [m["id"] for m in members(node, "security_officer")["items"]][:2] == [
        "shaanxi",
        "yanan",
    ]
    for role in ("inspector", "approver"):
        error(node.client.get(MEMBERS, headers=node.auth(role)), 403, "forbidden")
    assert node.client.get(MEMBERS).status_code == 401
    denied = audit_entries(node.ctx.sessions, action="federation-members", decision="deny")
    assert len(denied) == 2


def test_statuses_follow_the_node_clock_and_the_whole_chain(
    make_node: Callable[..., NodeUnderTest],
    demo_topology: Topology,
    demo_keys: dict[str, NodeKeys],
) -> None:
    # huanglong's certificate starts tomorrow; yichuan's runs out in ten days.
    today = SystemClock().now()
    later = reissue(
        demo_keys["yanan"],
        certificate_of(demo_topology, "huanglong"),
        serial=2,
        not_before=today + timedelta(days=1),
        not_after=today + timedelta(days=400),
    )
    short = reissue(
        demo_keys["yanan"],
        certificate_of(demo_topology, "yichuan"),
        serial=2,
        not_before=today - timedelta(days=1),
        not_after=today + timedelta(days=10),
    )
    topology = demo_topology.with_node(NodeInfo.certified(later)).with_node(
        NodeInfo.certified(short)
    )
    node = make_node("yanan", topology=topology)

    def statuses(**params: Any) -> dict[str, str]:
        return {m["id"]: m["status"] for m in members(node, **params)["items"]}

    assert statuses() == {"yanan": "valid", "huanglong": "not_yet_valid", "yichuan": "valid"}
    node.clock.advance(2 * DAY)
    assert statuses() == {"yanan": "valid", "huanglong": "valid", "yichuan": "valid"}
    node.clock.advance(10 * DAY)
    assert statuses() == {"yanan": "valid", "huanglong": "valid", "yichuan": "expired"}
    assert statuses(status="expired") == {"yichuan": "expired"}
    # Past the demo certificates' validity every chain has run out, from the top.
    node.clock.advance(25 * 365 * DAY)
    assert set(statuses().values()) == {"expired"}
    gone = node.client.get(MEMBERS, params={"status": "gone"}, headers=node.auth("admin"))
    assert gone.status_code == 422


def test_an_admin_announces_a_certificate_that_chains_and_nothing_else(
    make_node: Callable[..., NodeUnderTest],
    demo_topology: Topology,
    demo_keys: dict[str, NodeKeys],
) -> None:
    node = make_node("shaanxi")
    current = certificate_of(demo_topology, "yanan")
    later = reissue(demo_keys["shaanxi"], current, serial=2, name="延安市（新）")

    def announce(certificate: dict[str, Any], role: str = "admin") -> Any:
        return node.client.post(MEMBERS, json={"certificate": certificate}, headers=node.auth(role))

    assert ok(announce(later.document())) == {"node": "yanan", "serial": 2, "outcome": "replaced"}
    assert node.ctx.topology.get("yanan").name == "延安市（新）"
    with node.ctx.engine.connect() as conn:
        queued = conn.execute(
            text("SELECT DISTINCT msg_id FROM outbox WHERE kind = 'member-certificate'")
        ).all()
    assert len(queued) == 1  # broadcast once, up and down
    assert ok(announce(later.document()))["outcome"] == "unchanged"
    assert ok(announce(current.document()))["outcome"] == "stale"
    forged = sign_as(later, demo_keys["yanan"].signing, serial=3)
    error(announce(forged.document()), 422, "certificate_forged")
    error(announce({"node": "yanan"}), 422, "certificate_malformed")
    for role in ("security_officer", "inspector"):
        error(announce(later.document(), role), 403, "forbidden")
    assert members(node)["items"][1]["serial"] == 2
    assert (
        len(audit_entries(node.ctx.sessions, action="announce-certificate", decision="allow")) == 3
    )
