"""An order summary moves a holder's copy only as its sender may move it (DESIGN §6, §10): each
step between the state held and the state claimed must be the sender's own (the addressee
receives, acknowledges, progresses, reports; the issuer accepts, returns, closes), versions only
grow, and the sender's summary never sets the other end's times or the issuer's deadline. The
addressee below signs with its real key; the inbox and handlers are the production ones."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.helpers import call, ok, order_body
from tests.inprocess import MiniFederation

MakeFederation = Callable[..., MiniFederation]
FAR = "2099-01-01T00:00:00.000000Z"


def issued(fed: MiniFederation) -> str:
    """shaanxi orders huanglong; yanan and central hold summaries; huanglong has received it."""
    order = ok(call(fed["shaanxi"], "POST", "/api/v1/orders", json=order_body("huanglong")), 201)
    fed.pump()
    return str(order["id"])


def held(fed: MiniFederation, node_id: str, order_id: str) -> tuple[Any, ...]:
    [row] = fed.rows(
        node_id,
        "SELECT state, version, deadline, accepted_at, closed_at, received_at"
        " FROM order_targets WHERE order_id = :o",
        o=order_id,
    )
    return row


def last_summary(fed: MiniFederation, sender: str, recipient: str) -> dict[str, Any]:
    summary = fed.outbox(sender, kind="order-summary", pending_only=False)[-1]
    return fed.opened(summary, recipient)


def send_summary(fed: MiniFederation, sender: str, to: str, body: dict[str, Any]) -> str:
    return fed.send_as(
        sender,
        to,
        kind="order-summary",
        dest=[to],
        ref={"order": body["order_id"], "addressee": body["addressee"]},
        payload=body,
    )


def claiming(body: dict[str, Any], **target: Any) -> dict[str, Any]:
    return {**body, "target": {**body["target"], **target}}


def test_an_addressee_cannot_close_its_order_at_its_ancestors(
    mini_federation: MakeFederation,
) -> None:
    fed = mini_federation("central", "shaanxi", "yanan", "huanglong")
    order_id = issued(fed)
    before = {node: held(fed, node, order_id) for node in ("central", "yanan")}
    assert before["central"][0] == "received"
    summary = last_summary(fed, "huanglong", "central")
    version = summary["target"]["version"]
    # Acknowledged, worked on, reported, accepted and closed, well before the deadline: the last
    # two are the issuer's steps.
    closed = claiming(
        summary,
        state="closed",
        version=version + 5,
        accepted_at=summary["target"]["received_at"],
        closed_at=summary["target"]["received_at"],
        deadline=FAR,
    )
    for node in ("central", "yanan"):
        assert send_summary(fed, "huanglong", node, closed) == "rejected:not_permitted"
        assert held(fed, node, order_id) == before[node]
    # Nor to "accepted", four steps on, the last of them the issuer's.
    accepted = claiming(summary, state="accepted", version=version + 4)
    assert send_summary(fed, "huanglong", "central", accepted) == "rejected:not_permitted"
    assert held(fed, "central", order_id) == before["central"]


def test_an_issuer_cannot_take_the_addressees_steps(mini_federation: MakeFederation) -> None:
    fed = mini_federation("central", "shaanxi", "yanan", "huanglong")
    order_id = issued(fed)
    before = held(fed, "yanan", order_id)
    summary = last_summary(fed, "huanglong", "yanan")
    version = summary["target"]["version"]
    for state, steps in (("acknowledged", 1), ("reported", 3), ("accepted", 4)):
        forged = claiming(summary, state=state, version=version + steps)
        assert send_summary(fed, "shaanxi", "yanan", forged) == "rejected:not_permitted"
    assert held(fed, "yanan", order_id) == before


def test_a_summary_cannot_jump_out_of_the_state_machine(mini_federation: MakeFederation) -> None:
    fed = mini_federation("central", "shaanxi", "yanan", "huanglong")
    order_id = issued(fed)
    before = held(fed, "central", order_id)
    summary = last_summary(fed, "huanglong", "central")
    version = summary["target"]["version"]
    # From "received", "reported" is three of the addressee's steps, not one.
    jump = claiming(summary, state="reported", version=version + 1)
    assert send_summary(fed, "huanglong", "central", jump) == "rejected:illegal_transition"
    # Back to "issued", in a newer version: no step leads back there.
    back = claiming(summary, state="issued", version=version + 1)
    assert send_summary(fed, "huanglong", "central", back) == "rejected:illegal_transition"
    # An older version is not applied, whatever it says.
    old = claiming(summary, state="reported", version=version - 1)
    send_summary(fed, "huanglong", "central", old)
    assert held(fed, "central", order_id) == before


def test_an_addressees_summary_keeps_the_issuers_times(mini_federation: MakeFederation) -> None:
    fed = mini_federation("central", "shaanxi", "yanan", "huanglong")
    order_id = issued(fed)
    state, version, deadline, *_ = held(fed, "central", order_id)
    summary = last_summary(fed, "huanglong", "central")
    # A legal step of its own, carrying a later deadline and the issuer's acceptance time.
    step = claiming(
        summary,
        state="acknowledged",
        version=version + 1,
        acknowledged_at=summary["target"]["received_at"],
        deadline=FAR,
        accepted_at=summary["target"]["received_at"],
        closed_at=summary["target"]["received_at"],
    )
    assert send_summary(fed, "huanglong", "central", step) == "applied"
    now = held(fed, "central", order_id)
    assert now[:5] == ("acknowledged", version + 1, deadline, None, None)


def test_a_holder_that_missed_steps_takes_the_senders_own_run_of_them(
    mini_federation: MakeFederation,
) -> None:
    fed = mini_federation("central", "shaanxi", "yanan", "huanglong")
    order_id = issued(fed)
    path = f"/api/v1/orders/{order_id}"
    county, province = fed["huanglong"], fed["shaanxi"]
    ok(call(county, "POST", f"{path}/acknowledge", json={}))
    ok(call(county, "POST", f"{path}/progress", json={"note": "核查中"}))
    ok(call(county, "POST", f"{path}/progress", json={"note": "继续核查"}))
    ok(call(county, "POST", f"{path}/report", json={"title": "核查报告"}))
    # central misses all but the last of these: four of the addressee's steps at once.
    reported = last_summary(fed, "huanglong", "central")
    assert reported["target"]["state"] == "reported"
    assert send_summary(fed, "huanglong", "central", reported) == "applied"
    assert held(fed, "central", order_id)[:2] == ("reported", reported["target"]["version"])
    fed.pump()
    ok(call(province, "POST", f"{path}/accept", json={}))
    ok(call(province, "POST", f"{path}/close", json={}))
    fed.pump()
    for node in ("central", "yanan"):
        state, version, _deadline, accepted_at, closed_at, _received = held(fed, node, order_id)
        assert (state, version) == ("closed", 8)
        assert accepted_at is not None
        assert closed_at is not None
        # (The in-process pump hands a relayed envelope over twice: those are refused as replays.)
        assert fed.rows(node, "SELECT reason FROM dead_letters WHERE reason != 'replay'") == []
