"""Onboarding at the parent (issue 12 item 2), in-process: one-time codes (shown once, stored
hashed, single use, expiring, audited), the unauthenticated join request and its answer, approval
and rejection by an admin, and every refusal with nothing stored changed."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from node.certificates import public_key_b64
from node.crypto import NodeKeys, generate_keys
from node.federation import tree_topology
from node.members.joining import JoinError, JoinRequest, make_request, verify_answer
from node.topology import Topology
from tests.conftest import NodeUnderTest
from tests.factories import audit_entries
from tests.helpers import error, ok

CODES = "/api/v1/federation/join-codes"
REQUESTS = "/api/v1/federation/join-requests"
ADDRESSES = {
    "api": "http://127.0.0.1:18000",
    "nats": "nats://127.0.0.1:14222",
    "leaf": "nats-leaf://127.0.0.1:17422",
}


@pytest.fixture
def addressed_topology(demo_keys: dict[str, NodeKeys], demo_root: Ed25519PrivateKey) -> Topology:
    """The demo tree with addresses (a join answer carries them)."""
    return tree_topology(
        demo_keys,
        root=demo_root,
        api="http://127.0.0.1:1",
        nats="nats://127.0.0.1:2",
        leaf="nats-leaf://127.0.0.1:3",
    )


@pytest.fixture
def yanan(make_node: Callable[..., NodeUnderTest], addressed_topology: Topology) -> NodeUnderTest:
    return make_node("yanan", topology=addressed_topology, join_rate_limit="1000/minute")


def issue(at: NodeUnderTest, **body: Any) -> dict[str, Any]:
    issued: dict[str, Any] = ok(at.client.post(CODES, json=body, headers=at.auth("admin")), 201)
    return issued


def request_for(
    node: NodeUnderTest,
    node_id: str = "luochuan",
    *,
    parent: str = "yanan",
    keys: NodeKeys | None = None,
    seconds: float = 0,
) -> tuple[JoinRequest, NodeKeys]:
    keys = keys or generate_keys()
    request = make_request(
        signing=keys.signing,
        node=node_id,
        name="洛川县",
        parent=parent,
        signing_key=keys.signing_public_b64,
        encryption_key=keys.encryption_public_b64,
        time=node.clock.now() + timedelta(seconds=seconds),
        **ADDRESSES,
    )
    return request, keys


def submit(node: NodeUnderTest, code: str, document: dict[str, Any]) -> Any:
    return node.client.post(REQUESTS, json={"code": code, "request": document})


def stored(node: NodeUnderTest) -> tuple[Any, ...]:
    """Every row onboarding writes, to show a refusal changed nothing."""
    with node.ctx.engine.connect() as conn:
        codes = conn.execute(
            text("SELECT id, used_at, request_id FROM join_codes ORDER BY id")
        ).all()
        requests = conn.execute(
            text("SELECT id, status, decided_at FROM join_requests ORDER BY id")
        ).all()
        members = conn.execute(text("SELECT node_id FROM member_certificates")).all()
    return (codes, requests, members, sorted(node.ctx.topology.nodes))


def test_a_code_is_shown_once_stored_hashed_and_audited(yanan: NodeUnderTest) -> None:
    issued = issue(yanan, expires_in="2h", node="luochuan")
    assert issued["status"] == "unused"
    assert issued["node"] == "luochuan"
    assert len(issued["code"]) >= 20
    listed = ok(yanan.client.get(CODES, headers=yanan.auth("admin")))["items"]
    assert [c["id"] for c in listed] == [issued["id"]]
    assert "code" not in listed[0]
    with yanan.ctx.engine.connect() as conn:
        (digest,) = conn.execute(text("SELECT code_hash FROM join_codes")).one()
    assert digest == hashlib.sha256(issued["code"].encode()).hexdigest()
    entries = audit_entries(yanan.ctx.sessions, action="issue-join-code")
    assert [e.object_id for e in entries] == [issued["id"]]
    assert issued["code"] not in json.dumps([e.reason for e in entries])
    # Only admins; a code must expire within 30 days.
    error(yanan.client.post(CODES, json={}, headers=yanan.auth("inspector")), 403, "forbidden")
    error(
        yanan.client.post(CODES, json={"expires_in": "31d"}, headers=yanan.auth("admin")),
        422,
        "invalid_lifetime",
    )
    error(
        yanan.client.post(CODES, json={"expires_in": "never"}, headers=yanan.auth("admin")),
        422,
        "invalid_lifetime",
    )


def test_request_approve_answer(yanan: NodeUnderTest, demo_root: Ed25519PrivateKey) -> None:
    code = issue(yanan)["code"]
    request, keys = request_for(yanan)
    submitted = ok(submit(yanan, code, request.document), 202)
    assert submitted["status"] == "pending"
    assert submitted["node"] == "luochuan"
    request_id = submitted["id"]
    polled = ok(yanan.client.get(f"{REQUESTS}/{request_id}"))
    assert polled["status"] == "pending"
    assert polled["answer"] is None
    pending = ok(yanan.client.get(REQUESTS, headers=yanan.auth("admin")))["items"]
    assert [(p["node"], p["status"], p["leaf"]) for p in pending] == [
        ("luochuan", "pending", ADDRESSES["leaf"])
    ]
    error(yanan.client.get(REQUESTS, headers=yanan.auth("inspector")), 403, "forbidden")
    error(
        yanan.client.post(f"{REQUESTS}/{request_id}/approval", headers=yanan.auth("approver")),
        403,
        "forbidden",
    )
    assert "luochuan" not in yanan.ctx.topology

    approved = ok(
        yanan.client.post(f"{REQUESTS}/{request_id}/approval", headers=yanan.auth("admin"))
    )
    assert approved["status"] == "approved"
    assert approved["decided_by"].startswith("yanan-admin")
    # The membership names the child at once; its certificate is stored and broadcast.
    assert yanan.ctx.topology.parent("luochuan") == "yanan"
    assert "luochuan" in yanan.ctx.topology.children("yanan")
    with yanan.ctx.engine.connect() as conn:
        assert conn.execute(
            text("SELECT serial FROM member_certificates WHERE node_id = 'luochuan'")
        ).all() == [(1,)]
        kinds = conn.execute(text("SELECT kind FROM outbox")).scalars().all()
    assert "member-certificate" in kinds
    members = ok(yanan.client.get("/api/v1/federation/members", headers=yanan.auth("admin")))
    assert {m["id"]: m["status"] for m in members["items"]}["luochuan"] == "valid"

    answer = ok(yanan.client.get(f"{REQUESTS}/{request_id}"))
    assert answer["status"] == "approved"
    verified = verify_answer(
        answer["answer"], request, root_key=public_key_b64(demo_root), now=yanan.clock.now()
    )
    assert verified.certificate.signing_key == keys.signing_public_b64
    assert verified.topology.parent("luochuan") == "yanan"
    assert set(verified.topology.nodes) == {
        "central",
        "shaanxi",
        "yanan",
        "huanglong",
        "yichuan",
        "luochuan",
    }
    assert b"BEGIN CERTIFICATE" in verified.client_cert_pem
    assert b"BEGIN CERTIFICATE" in verified.ca_pem

    # Another root, a tampered answer, another request: refused by the new node.
    with pytest.raises(JoinError) as other_root:
        verify_answer(
            answer["answer"],
            request,
            root_key=public_key_b64(Ed25519PrivateKey.generate()),
            now=yanan.clock.now(),
        )
    assert other_root.value.reason == "unchained"
    tampered = {**answer["answer"], "ca": answer["answer"]["client_cert"]}
    with pytest.raises(JoinError) as forged:
        verify_answer(tampered, request, root_key=public_key_b64(demo_root), now=yanan.clock.now())
    assert forged.value.reason == "forged"
    other, _ = request_for(yanan, keys=keys)
    with pytest.raises(JoinError) as not_ours:
        verify_answer(
            answer["answer"], other, root_key=public_key_b64(demo_root), now=yanan.clock.now()
        )
    assert not_ours.value.reason == "not_ours"

    actions = [e.action for e in audit_entries(yanan.ctx.sessions, object_id="luochuan")]
    assert "join-request" in actions
    assert "approve-join" in actions
    # Decided once.
    error(
        yanan.client.post(f"{REQUESTS}/{request_id}/approval", headers=yanan.auth("admin")),
        409,
        "join_request_decided",
    )
    error(
        yanan.client.post(f"{REQUESTS}/nope/approval", headers=yanan.auth("admin")),
        404,
        "join_request_not_found",
    )
    error(yanan.client.get(f"{REQUESTS}/nope"), 404, "join_request_not_found")
    # The code is used; the id is taken.
    again, _ = request_for(yanan)
    before = stored(yanan)
    error(submit(yanan, code, again.document), 403, "join_code_used")
    error(submit(yanan, issue(yanan)["code"], again.document), 409, "join_node_taken")
    after = stored(yanan)
    assert after[1:] == before[1:]


def test_rejection(yanan: NodeUnderTest) -> None:
    request, _ = request_for(yanan)
    request_id = ok(submit(yanan, issue(yanan)["code"], request.document), 202)["id"]
    rejected = ok(
        yanan.client.post(
            f"{REQUESTS}/{request_id}/rejection",
            json={"reason": "地址不对"},
            headers=yanan.auth("admin"),
        )
    )
    assert rejected["status"] == "rejected"
    polled = ok(yanan.client.get(f"{REQUESTS}/{request_id}"))
    assert (polled["status"], polled["reason"], polled["answer"]) == ("rejected", "地址不对", None)
    assert "luochuan" not in yanan.ctx.topology
    # A rejected id may ask again, with a new code.
    second, _ = request_for(yanan)
    ok(submit(yanan, issue(yanan)["code"], second.document), 202)


def test_refusals_store_nothing(yanan: NodeUnderTest) -> None:
    code = issue(yanan)["code"]
    bound = issue(yanan, node="other-county")["code"]
    short = issue(yanan, expires_in="1h")["code"]
    request, _ = request_for(yanan)
    before = stored(yanan)

    def refused(response: Any, status: int, reason: str) -> None:
        error(response, status, reason)
        assert code not in response.text
        assert "洛川县" not in response.text
        assert stored(yanan) == before

    refused(submit(yanan, "wrong-code", request.document), 403, "join_code_invalid")
    refused(submit(yanan, bound, request.document), 403, "join_code_invalid")
    forged = {**request.document, "name": "假县"}
    refused(submit(yanan, code, forged), 422, "join_request_forged")
    refused(submit(yanan, code, {"node": "x"}), 422, "join_request_malformed")
    refused(
        submit(yanan, code, {**request.document, "api": 'http://x"y:1'}),
        422,
        "join_request_malformed",
    )
    stale, _ = request_for(yanan, seconds=-3600)
    refused(submit(yanan, code, stale.document), 422, "join_request_stale")
    not_child, _ = request_for(yanan, parent="shaanxi")
    refused(submit(yanan, code, not_child.document), 422, "join_not_child")
    taken, _ = request_for(yanan, "huanglong")
    refused(submit(yanan, code, taken.document), 409, "join_node_taken")
    yanan.clock.advance(2 * 3600)
    late, _ = request_for(yanan)
    refused(submit(yanan, short, late.document), 403, "join_code_expired")

    # Accepted once; the same signed request again is a replay, a second request for the same
    # id while the first is pending is a taken id.
    ok(submit(yanan, code, late.document), 202)
    now_stored = stored(yanan)
    error(submit(yanan, issue(yanan)["code"], late.document), 409, "join_request_replayed")
    rival, _ = request_for(yanan)
    error(submit(yanan, issue(yanan)["code"], rival.document), 409, "join_node_taken")
    assert stored(yanan)[1:] == now_stored[1:]
    # The audit chain never holds a code.
    reasons = json.dumps([e.reason for e in audit_entries(yanan.ctx.sessions)], ensure_ascii=False)
    assert code not in reasons
    assert short not in reasons


def test_the_unauthenticated_endpoints_are_rate_limited(
    make_node: Callable[..., NodeUnderTest], addressed_topology: Topology
) -> None:
    node = make_node("yanan", topology=addressed_topology, join_rate_limit="3/minute")
    request, _ = request_for(node)
    for _ in range(3):
        error(submit(node, "wrong", request.document), 403, "join_code_invalid")
    error(submit(node, "wrong", request.document), 429, "rate_limited")
    error(node.client.get(f"{REQUESTS}/whatever"), 429, "rate_limited")
    node.clock.advance(61)
    error(node.client.get(f"{REQUESTS}/whatever"), 404, "join_request_not_found")
