"""A grant or request snapshot is taken only for a case-secret record the receiver holds, from
that record's origin (DESIGN §10: no node plants grants for records the receiver does not hold);
and the origin announces them only to the nodes that hold the record. Real nodes, real
signatures, the real inbox and handlers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import node.release.handlers  # noqa: F401  (registers the release kinds in this process)
from node.clock import iso
from node.ids import uuid7
from tests.helpers import call, ok, order_body
from tests.inprocess import MiniFederation

MakeFederation = Callable[..., MiniFederation]
REASON = "省委巡视组核查该线索涉及的省管干部问题"


def grant_payload(record_id: str, origin: str, grantee_node: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "id": uuid7(),
        "record_id": record_id,
        "record_origin": origin,
        "grantee_id": "x",
        "grantee_name": "x",
        "grantee_node": grantee_node,
        "source": "approval",
        "granted_at": iso(now),
        "expires_at": iso(now + timedelta(hours=1)),
    }


def request_payload(record_id: str, origin: str, requester_node: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "id": uuid7(),
        "record_id": record_id,
        "record_origin": origin,
        "category": "problem_clue",
        "requester_id": "x",
        "requester_name": "x",
        "requester_role": "inspector",
        "requester_node": requester_node,
        "wanted_s": 3600,
        "approvals_needed": 1,
        "status": "pending",
        "created_at": iso(now),
        "expires_at": iso(now + timedelta(hours=1)),
        "revision": 1,
    }


def send_event(fed: MiniFederation, origin: str, to: str, body: dict[str, Any]) -> str:
    grant = body.get("grant")
    request = body.get("request")
    return fed.send_as(
        origin,
        to,
        kind="grant-event",
        dest=[to],
        ref={
            "request": request["id"] if request else None,
            "grant": grant["id"] if grant else None,
        },
        payload=body,
    )


def counts(fed: MiniFederation, node_id: str) -> tuple[Any, ...]:
    [row] = fed.rows(
        node_id,
        "SELECT (SELECT count(*) FROM grants), (SELECT count(*) FROM access_requests)",
    )
    return row


def test_a_grant_for_a_record_not_held_is_refused(mini_federation: MakeFederation) -> None:
    fed = mini_federation("shaanxi", "yanan")
    # yanan, signing with its real key, grants shaanxi's user its "own" record, which shaanxi
    # (its parent, the holder of every stub of yanan's) has never heard of.
    ghost = uuid7()
    planted = {"event": "approved", "grant": grant_payload(ghost, "yanan", "shaanxi")}
    assert send_event(fed, "yanan", "shaanxi", planted) == "rejected:unknown_record"
    request = {"event": "requested", "request": request_payload(ghost, "yanan", "shaanxi")}
    assert send_event(fed, "yanan", "shaanxi", request) == "rejected:unknown_record"
    assert counts(fed, "shaanxi") == (0, 0)

    # A record yanan does hold there, but a general one: nothing to grant either.
    general = ok(
        call(
            fed["yanan"],
            "POST",
            "/api/v1/records",
            json={"category": "policy", "title": "一般信息", "body": "略"},
        ),
        201,
    )
    fed.pump()
    assert fed.rows("shaanxi", "SELECT origin FROM records WHERE id = :r", r=general["id"]) == [
        ("yanan",)
    ]
    planted = {"event": "approved", "grant": grant_payload(general["id"], "yanan", "shaanxi")}
    assert send_event(fed, "yanan", "shaanxi", planted) == "rejected:unknown_record"
    assert counts(fed, "shaanxi") == (0, 0)


def test_a_request_is_announced_only_where_the_record_is_held(
    mini_federation: MakeFederation,
) -> None:
    # shaanxi attaches one of its case-secret records to an order for huanglong: it files an
    # access request for huanglong and sends huanglong the stub; yanan, between them, holds
    # nothing of the record and hears nothing of the request.
    fed = mini_federation("central", "shaanxi", "yanan", "huanglong")
    clue = ok(
        call(
            fed["shaanxi"],
            "POST",
            "/api/v1/records",
            json={"category": "problem_clue", "title": "问题线索", "body": "略"},
        ),
        201,
    )
    body = order_body("huanglong", attachments=[clue["id"]], request_secret_access=True)
    ok(call(fed["shaanxi"], "POST", "/api/v1/orders", json=body), 201)
    fed.pump()
    [event] = fed.outbox("shaanxi", kind="grant-event", pending_only=False)
    assert sorted(event.dest) == ["central", "huanglong"]
    for node_id in ("central", "huanglong"):
        assert counts(fed, node_id) == (0, 1)
        assert fed.rows(node_id, "SELECT reason FROM dead_letters WHERE reason != 'replay'") == []
    assert counts(fed, "yanan") == (0, 0)
    assert fed.rows("yanan", "SELECT count(*) FROM records WHERE id = :r", r=clue["id"]) == [(0,)]
