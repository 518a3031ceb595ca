"""A node that relays or overhears a grant cannot speak for it: it cannot file its own text as the
content of another node's case-secret record, revoke or rewrite another node's grant or request,
plant copies where they do not belong, or report reads of grants that do not exist (security
review H1, H2, L4). Real nodes, real signatures, the real inbox and handlers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import node.orders.handlers  # noqa: F401  (registers the order kinds in this process)
import node.release.handlers  # noqa: F401  (registers the release kinds in this process)
from node.clock import iso
from node.ids import uuid7
from tests.helpers import approve_order_requests, call, ok, order_body
from tests.inprocess import MiniFederation

MakeFederation = Callable[..., MiniFederation]
TITLE = "关于县水利局负责人违规插手工程的问题线索"
REASON = "省委巡视组核查该线索涉及的省管干部问题"


def secret_order(fed: MiniFederation) -> tuple[dict[str, Any], dict[str, Any]]:
    """shaanxi attaches one of its case-secret records to an order for huanglong (via yanan)."""
    clue = ok(
        call(
            fed["shaanxi"],
            "POST",
            "/api/v1/records",
            json={"category": "problem_clue", "title": TITLE, "body": "举报人：李某"},
        ),
        201,
    )
    body = order_body("huanglong", attachments=[clue["id"]], request_secret_access=True)
    order = ok(call(fed["shaanxi"], "POST", "/api/v1/orders", json=body), 201)
    approve_order_requests(fed, order["id"])
    fed.pump()
    return clue, order


def test_a_relay_cannot_pass_off_its_text_as_a_released_record(
    mini_federation: MakeFederation,
) -> None:
    fed = mini_federation("shaanxi", "yanan", "huanglong")
    clue, order = secret_order(fed)
    county = fed["huanglong"]
    ok(call(county, "POST", f"/api/v1/orders/{order['id']}/acknowledge", json={}))
    # The acknowledgement reaches shaanxi and yanan; huanglong does not have the release yet.
    for envelope in fed.outbox("huanglong"):
        for to in ("shaanxi", "yanan"):
            if envelope.addressed_to(to):
                fed.deliver(to, envelope)
    (release,) = fed.outbox("shaanxi", kind="release")
    grant_event = fed.outbox("shaanxi", kind="grant-event")[0]
    # yanan relays the grant sealed (it holds nothing of the record); say it learnt the fields.
    grant = fed.opened(grant_event, "huanglong")["grant"]
    assert fed.deliver("huanglong", grant_event) == "applied"

    def forge(grant_fields: dict[str, Any], record_id: str) -> str:
        return fed.send_as(
            "yanan",
            "huanglong",
            kind="release",
            dest=["huanglong"],
            ref={"grant": grant["id"]},
            payload={
                "grant": {**grant, **grant_fields},
                "record": {"id": record_id, "version": 1, "title": "伪造", "body": "伪造正文"},
            },
        )

    # yanan's "own" record under the real grant's id: no such stub here, from yanan or anyone.
    fake = uuid7()
    assert forge({"record_id": fake, "record_origin": "yanan"}, fake) == "rejected:unknown_record"
    # The real record's id, claimed as yanan's: records are (origin, id), and (yanan, id) is none.
    assert forge({"record_origin": "yanan"}, clue["id"]) == "rejected:unknown_record"
    # The real grant as it stands, but signed by yanan.
    assert forge({}, clue["id"]) == "rejected:origin_mismatch"
    assert fed.rows("huanglong", "SELECT count(*) FROM released_content") == [(0,)]

    assert fed.deliver("huanglong", release) == "applied"
    assert ok(call(county, "GET", f"/api/v1/records/{clue['id']}"))["title"] == TITLE
    assert fed.rows("huanglong", "SELECT record_id FROM released_content") == [(clue["id"],)]


def test_a_known_grant_is_not_moved_to_another_record(mini_federation: MakeFederation) -> None:
    fed = mini_federation("shaanxi", "yanan", "huanglong")
    clue, order = secret_order(fed)
    ok(call(fed["huanglong"], "POST", f"/api/v1/orders/{order['id']}/acknowledge", json={}))
    fed.pump()
    (grant_id,) = fed.rows("huanglong", "SELECT id FROM grants")[0]
    (release,) = fed.outbox("shaanxi", kind="release", pending_only=False)
    payload = fed.opened(release, "huanglong")
    # Even the origin cannot re-point a grant held here at another of its records.
    other = ok(
        call(
            fed["shaanxi"],
            "POST",
            "/api/v1/records",
            json={"category": "problem_clue", "title": "另一条线索", "body": "略"},
        ),
        201,
    )
    fed.pump()
    moved = {**payload["grant"], "record_id": other["id"]}
    for kind, body in (
        ("release", {"grant": moved, "record": {**payload["record"], "id": other["id"]}}),
        ("grant-event", {"event": "approved", "grant": moved}),
    ):
        outcome = fed.send_as(
            "shaanxi",
            "huanglong",
            kind=kind,
            dest=["huanglong"],
            ref={"grant": grant_id},
            payload=body,
        )
        # No stub of the other record here for a release; for a snapshot, the grant held here.
        assert outcome == (
            "rejected:unknown_record" if kind == "release" else "rejected:origin_mismatch"
        )
    assert fed.rows("huanglong", "SELECT record_id FROM grants") == [(clue["id"],)]


def test_a_relay_cannot_revoke_or_rewrite_another_nodes_grant(
    mini_federation: MakeFederation,
) -> None:
    fed = mini_federation("shaanxi", "yanan", "huanglong")
    clue, order = secret_order(fed)
    county = fed["huanglong"]
    ok(call(county, "POST", f"/api/v1/orders/{order['id']}/acknowledge", json={}))
    fed.pump()
    assert ok(call(county, "GET", f"/api/v1/records/{clue['id']}"))["title"] == TITLE
    (grant_id,) = fed.rows("shaanxi", "SELECT id FROM grants")[0]
    now = iso(datetime.now(UTC))
    forged = {
        "id": grant_id,
        "record_id": uuid7(),
        "record_origin": "yanan",
        "grantee_id": "x",
        "grantee_name": "x",
        "grantee_node": "huanglong",
        "source": "order",
        "granted_at": now,
        "expires_at": now,
        "revoked_at": now,
        "revoked_by": "yanan-forger",
    }
    for to in ("shaanxi", "huanglong"):
        outcome = fed.send_as(
            "yanan",
            to,
            kind="grant-event",
            dest=["shaanxi", "huanglong"],
            ref={"request": None, "grant": grant_id},
            payload={"event": "revoked", "grant": forged},
        )
        assert outcome == "rejected:origin_mismatch"
    for node_id in ("shaanxi", "huanglong"):
        assert fed.rows(node_id, "SELECT revoked_by FROM grants") == [(None,)]
    assert fed.rows("yanan", "SELECT count(*) FROM grants") == [(0,)]  # holds no part of it
    assert ok(call(county, "GET", f"/api/v1/records/{clue['id']}"))["title"] == TITLE

    # A read reported against a grant that does not exist here is refused, not recorded.
    read = {
        "id": uuid7(),
        "grant_id": uuid7(),
        "record_id": clue["id"],
        "reader_name": "x",
        "reader_node": "huanglong",
        "at": now,
    }
    outcome = fed.send_as(
        "huanglong",
        "shaanxi",
        kind="grant-event",
        dest=["shaanxi"],
        ref={"grant": read["grant_id"], "read": read["id"]},
        payload={"event": "read", "read": read},
    )
    assert outcome == "rejected:unknown_grant"
    assert fed.rows("shaanxi", "SELECT count(*) FROM grant_reads") == [(0,)]


def test_a_relay_cannot_rewrite_a_request_or_plant_copies(
    mini_federation: MakeFederation,
) -> None:
    fed = mini_federation("huanglong", "yanan", "shaanxi", "yichuan")
    shaanxi = fed["shaanxi"]
    clue = ok(
        call(
            fed["huanglong"],
            "POST",
            "/api/v1/records",
            json={"category": "problem_clue", "title": TITLE, "body": "略"},
        ),
        201,
    )
    fed.pump()
    request = ok(
        call(
            shaanxi,
            "POST",
            "/api/v1/access-requests",
            json={"record_id": clue["id"], "reason": REASON, "duration_s": 3600},
        ),
        201,
    )
    fed.pump()
    (announced,) = fed.outbox("huanglong", kind="grant-event", pending_only=False)[:1]
    snapshot = fed.opened(announced, "shaanxi")
    wire = snapshot["request"]
    # yanan hears of the request; it claims it as its own and settles it.
    rewritten = {
        **snapshot,
        "event": "denied",
        "request": {**wire, "record_origin": "yanan", "status": "denied", "revision": 99},
    }
    for to in ("shaanxi", "huanglong"):
        outcome = fed.send_as(
            "yanan",
            to,
            kind="grant-event",
            dest=["shaanxi", "huanglong"],
            ref={"request": wire["id"], "grant": None},
            payload=rewritten,
        )
        assert outcome == "rejected:origin_mismatch"
    for node_id in ("huanglong", "shaanxi"):
        assert fed.rows(
            node_id, "SELECT record_origin, status FROM access_requests WHERE id = :r", r=wire["id"]
        ) == [("huanglong", "pending")]
    assert request["id"] == wire["id"]

    # A grant about yanan's "own" record, sent to a node outside its audience: not taken.
    now = iso(datetime.now(UTC))
    planted = {
        "id": uuid7(),
        "record_id": uuid7(),
        "record_origin": "yanan",
        "grantee_id": "x",
        "grantee_name": "x",
        "grantee_node": "shaanxi",
        "source": "approval",
        "granted_at": now,
        "expires_at": now,
    }
    outcome = fed.send_as(
        "yanan",
        "yichuan",
        kind="grant-event",
        dest=["yichuan"],
        ref={"request": None, "grant": planted["id"]},
        payload={"event": "approved", "grant": planted},
    )
    assert outcome == "rejected:not_audience"
    assert fed.rows("yichuan", "SELECT count(*) FROM grants") == [(0,)]
