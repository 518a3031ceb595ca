"""An end of an order moves its target only one step at a time and only from a state that allows
the step: an addressee cannot re-open a closed order to be granted its attachments again, nor
hand the issuer a snapshot whose state differs from the step it reports (security review H3); a
restricted record is attached only for its origin and named parties (M3); a summary keeps the
order's issuer and order ids are UUIDs (L8). Real nodes, real signatures, the real inbox and
handlers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import node.release.handlers  # noqa: F401  (registers the release kinds in this process)
from node.clock import iso
from tests.conftest import NodeUnderTest
from tests.helpers import approve_order_requests, call, error, ok, order_body
from tests.inprocess import MiniFederation

MakeFederation = Callable[..., MiniFederation]


def secret_order(fed: MiniFederation) -> tuple[dict[str, Any], dict[str, Any]]:
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
    order = ok(call(fed["shaanxi"], "POST", "/api/v1/orders", json=body), 201)
    approve_order_requests(fed, order["id"])
    fed.pump()
    return clue, order


def version_at_issuer(fed: MiniFederation, order_id: str) -> int:
    return int(
        fed.rows("shaanxi", "SELECT version FROM order_targets WHERE order_id = :o", o=order_id)[0][
            0
        ]
    )


def forged_update(
    fed: MiniFederation, order_id: str, *, seq: int, action: str, event_state: str, state: str
) -> str:
    """huanglong, signing with its real key, tells shaanxi it moved its target."""
    now = iso(datetime.now(UTC))
    snapshot = {
        "state": state,
        "version": seq,
        "deadline": now,
        "issued_at": now,
        "updated_at": now,
        "returns": 0,
        "ack_seconds": 1,
        "received_at": now,
        "acknowledged_at": now,
        "reported_at": None,
        "accepted_at": None,
        "closed_at": None,
        "report_record_id": None,
        "handler_id": None,
        "handler_name": None,
    }
    event = {
        "seq": seq,
        "action": action,
        "state": event_state,
        "node": "huanglong",
        "actor": "huanglong-inspector",
        "actor_id": "x",
        "role": "inspector",
        "note": "n",
        "at": now,
    }
    return fed.send_as(
        "huanglong",
        "shaanxi",
        kind="order-update",
        dest=["shaanxi"],
        ref={"order": order_id},
        payload={
            "order_id": order_id,
            "addressee": "huanglong",
            "target": snapshot,
            "event": event,
        },
    )


def test_a_closed_order_cannot_be_acknowledged_again(mini_federation: MakeFederation) -> None:
    fed = mini_federation("shaanxi", "huanglong")
    _clue, order = secret_order(fed)
    county, province = fed["huanglong"], fed["shaanxi"]
    path = f"/api/v1/orders/{order['id']}"
    ok(call(county, "POST", f"{path}/acknowledge", json={}))
    ok(call(county, "POST", f"{path}/progress", json={"note": "核查中"}))
    ok(call(county, "POST", f"{path}/report", json={"title": "核查报告"}))
    fed.pump()
    ok(call(province, "POST", f"{path}/accept", json={}))
    ok(call(province, "POST", f"{path}/close", json={}))
    fed.pump()
    releases = len(fed.outbox("shaanxi", kind="release", pending_only=False))
    seq = version_at_issuer(fed, order["id"]) + 1
    outcome = forged_update(
        fed,
        order["id"],
        seq=seq,
        action="acknowledge",
        event_state="acknowledged",
        state="acknowledged",
    )
    assert outcome == "rejected:illegal_transition"
    assert fed.rows("shaanxi", "SELECT count(*) FROM grants WHERE revoked_at IS NULL") == [(0,)]
    assert fed.rows("shaanxi", "SELECT count(*) FROM grants") == [(1,)]
    assert len(fed.outbox("shaanxi", kind="release", pending_only=False)) == releases
    assert fed.rows(
        "shaanxi", "SELECT state FROM order_targets WHERE order_id = :o", o=order["id"]
    ) == [("closed",)]


def test_steps_are_taken_in_order_and_the_snapshot_matches_the_step(
    mini_federation: MakeFederation,
) -> None:
    fed = mini_federation("shaanxi", "huanglong")
    _clue, order = secret_order(fed)
    ok(call(fed["huanglong"], "POST", f"/api/v1/orders/{order['id']}/acknowledge", json={}))
    fed.pump()
    version = version_at_issuer(fed, order["id"])

    def state() -> list[tuple[Any, ...]]:
        return fed.rows(
            "shaanxi", "SELECT state, version FROM order_targets WHERE order_id = :o", o=order["id"]
        )

    # A progress note whose snapshot says "closed".
    outcome = forged_update(
        fed,
        order["id"],
        seq=version + 1,
        action="progress",
        event_state="in_progress",
        state="closed",
    )
    assert outcome == "rejected:malformed"
    # A step that skips versions, and one that repeats an old version under a new action.
    outcome = forged_update(
        fed,
        order["id"],
        seq=version + 5,
        action="progress",
        event_state="in_progress",
        state="in_progress",
    )
    assert outcome == "rejected:out_of_order"
    outcome = forged_update(
        fed,
        order["id"],
        seq=version - 1,
        action="progress",
        event_state="in_progress",
        state="in_progress",
    )
    assert outcome == "rejected:stale_version"
    # Acknowledging again, in the next version: the state does not allow it; nothing re-granted.
    outcome = forged_update(
        fed,
        order["id"],
        seq=version + 1,
        action="acknowledge",
        event_state="acknowledged",
        state="acknowledged",
    )
    assert outcome == "rejected:illegal_transition"
    assert state() == [("acknowledged", version)]
    assert fed.rows("shaanxi", "SELECT count(*) FROM grants") == [(1,)]
    # The next step, as the addressee may take it, is applied; the issuer's deadline stays.
    deadline = fed.rows(
        "shaanxi", "SELECT deadline FROM order_targets WHERE order_id = :o", o=order["id"]
    )
    outcome = forged_update(
        fed,
        order["id"],
        seq=version + 1,
        action="progress",
        event_state="in_progress",
        state="in_progress",
    )
    assert outcome == "applied"
    assert state() == [("in_progress", version + 1)]
    assert (
        fed.rows("shaanxi", "SELECT deadline FROM order_targets WHERE order_id = :o", o=order["id"])
        == deadline
    )


def test_a_restricted_attachment_goes_only_to_its_parties(
    make_node: Callable[[str], NodeUnderTest],
) -> None:
    province = make_node("shaanxi")

    def restricted(parties: list[str]) -> str:
        record = ok(
            call(
                province,
                "POST",
                "/api/v1/records",
                json={"category": "accountability", "title": "追责", "parties": parties},
            ),
            201,
        )
        return str(record["id"])

    for_yanan = restricted(["yanan"])
    # huanglong is not a named party: it would learn the record's metadata from the order.
    error(
        call(
            province,
            "POST",
            "/api/v1/orders",
            json=order_body("yanan", "huanglong", attachments=[for_yanan]),
        ),
        422,
        "attachment_not_shareable",
    )
    order = ok(
        call(province, "POST", "/api/v1/orders", json=order_body("yanan", attachments=[for_yanan])),
        201,
    )
    assert [a["classification"] for a in order["attachments"]] == ["restricted"]


def test_an_addressee_cannot_name_another_issuer_in_its_summary(
    mini_federation: MakeFederation,
) -> None:
    fed = mini_federation("central", "shaanxi", "yanan", "huanglong")
    order = ok(call(fed["shaanxi"], "POST", "/api/v1/orders", json=order_body("huanglong")), 201)
    fed.pump()
    ok(call(fed["huanglong"], "POST", f"/api/v1/orders/{order['id']}/acknowledge", json={}))
    fed.pump()
    summary = fed.outbox("huanglong", kind="order-summary", pending_only=False)[-1]
    payload = fed.opened(summary, "central")
    assert payload["issuer"] == "shaanxi"

    def send(body: dict[str, Any]) -> str:
        return fed.send_as(
            "huanglong",
            "central",
            kind="order-summary",
            dest=["central"],
            ref={"order": body["order_id"]},
            payload=body,
        )

    newer = {**payload["target"], "version": payload["target"]["version"] + 1}
    assert send({**payload, "issuer": "yanan", "target": newer}) == "rejected:origin_mismatch"
    assert fed.rows("central", "SELECT issuer FROM order_targets") == [("shaanxi",)]
    for bad_id in ("not-an-order", order["id"].upper()):
        assert send({**payload, "order_id": bad_id}) == "rejected:malformed"
