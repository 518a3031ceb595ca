"""Orders across nodes in-process (real databases, envelopes and inbox; no NATS): the whole
life of an order, illegal transitions, the subtree rule, forged envelopes, overdue at both ends,
and case-secret attachments granted for the order's life."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import NodeUnderTest
from tests.helpers import call, error, ok, order_body, target
from tests.inprocess import MiniFederation

MakeFederation = Callable[..., MiniFederation]


def issue(fed: MiniFederation, issuer: str, *addressees: str, **extra: Any) -> dict[str, Any]:
    return ok(
        call(fed[issuer], "POST", "/api/v1/orders", json=order_body(*addressees, **extra)), 201
    )


def test_order_travels_down_two_levels_and_back(mini_federation: MakeFederation) -> None:
    fed = mini_federation("central", "shaanxi", "yanan", "huanglong")
    order = issue(fed, "shaanxi", "huanglong")
    order_id = order["id"]
    assert target(order, "huanglong")["state"] == "issued"
    assert target(order, "huanglong")["state_label"] == "已下发"

    fed.pump()
    at_county = ok(call(fed["huanglong"], "GET", f"/api/v1/orders/{order_id}"))
    assert at_county["held_as"] == "addressee"
    assert at_county["title"] == order["title"]
    assert target(at_county, "huanglong")["state"] == "received"
    assert target(at_county, "huanglong")["state_label"] == "已接收"
    at_province = ok(call(fed["shaanxi"], "GET", f"/api/v1/orders/{order_id}"))
    assert target(at_province, "huanglong")["state"] == "received"
    # The city and the centre hold a summary: state and times, never the order's content.
    for node in ("yanan", "central"):
        assert fed.rows(node, "SELECT count(*) FROM orders") == [(0,)]
        assert fed.rows(node, "SELECT held_as, state FROM order_targets") == [
            ("summary", "received")
        ]
        assert call(fed[node], "GET", f"/api/v1/orders/{order_id}").status_code == 404

    ok(
        call(
            fed["huanglong"],
            "POST",
            f"/api/v1/orders/{order_id}/acknowledge",
            json={"note": "已收到，立即部署"},
        )
    )
    ok(
        call(
            fed["huanglong"],
            "POST",
            f"/api/v1/orders/{order_id}/progress",
            json={"note": "已进驻县水利局"},
        )
    )
    reported = ok(
        call(
            fed["huanglong"],
            "POST",
            f"/api/v1/orders/{order_id}/report",
            json={"title": "县水利局专项巡察情况报告", "body": "发现问题三个"},
        )
    )
    report_id = target(reported, "huanglong")["report_record_id"]
    assert target(reported, "huanglong")["state_label"] == "已报告"
    fed.pump()

    at_province = ok(call(fed["shaanxi"], "GET", f"/api/v1/orders/{order_id}"))
    assert target(at_province, "huanglong")["state"] == "reported"
    assert target(at_province, "huanglong")["report_record_id"] == report_id
    # The findings report is an ordinary restricted record naming the issuer.
    report = ok(call(fed["shaanxi"], "GET", f"/api/v1/records/{report_id}"))
    assert (report["classification"], report["origin"], report["parties"]) == (
        "restricted",
        "huanglong",
        ["shaanxi"],
    )
    assert report["title"] == "县水利局专项巡察情况报告"
    for node in ("yanan", "central"):
        assert fed.rows(node, "SELECT count(*) FROM records WHERE id = :id", id=report_id) == [(0,)]

    ok(
        call(
            fed["shaanxi"],
            "POST",
            f"/api/v1/orders/{order_id}/accept",
            role="approver",
            json={"note": "报告质量较好"},
        )
    )
    closed = ok(call(fed["shaanxi"], "POST", f"/api/v1/orders/{order_id}/close", json={}))
    assert target(closed, "huanglong")["state_label"] == "已办结"
    fed.pump()

    at_county = ok(call(fed["huanglong"], "GET", f"/api/v1/orders/{order_id}"))
    history = target(at_county, "huanglong")["events"]
    assert [(e["seq"], e["action"], e["state"]) for e in history] == [
        (1, "issue", "issued"),
        (2, "receive", "received"),
        (3, "acknowledge", "acknowledged"),
        (4, "progress", "in_progress"),
        (5, "report", "reported"),
        (6, "accept", "accepted"),
        (7, "close", "closed"),
    ]
    assert [e["state_label"] for e in history][-1] == "已办结"
    at_province = ok(call(fed["shaanxi"], "GET", f"/api/v1/orders/{order_id}"))
    assert target(at_province, "huanglong")["events"] == history
    # The centre counts it: one target, closed, acknowledged once.
    stats = ok(call(fed["central"], "GET", "/api/v1/stats"))["orders"]
    assert stats["total"] == 1
    assert [(s["state"], s["count"]) for s in stats["by_state"]] == [("closed", 1)]
    assert stats["acknowledged"] == 1
    assert stats["median_ack_seconds"] is not None
    subtree = ok(call(fed["central"], "GET", "/api/v1/orders/targets"))["items"]
    assert [(t["order_id"], t["held_as"], t["state"]) for t in subtree] == [
        (order_id, "summary", "closed")
    ]
    assert subtree[0]["report_record_id"] is None
    assert subtree[0]["events"] is None


def test_illegal_transitions_and_the_wrong_end_are_refused(
    mini_federation: MakeFederation,
) -> None:
    fed = mini_federation("shaanxi", "huanglong")
    order_id = issue(fed, "shaanxi", "huanglong")["id"]
    province, county = fed["shaanxi"], fed["huanglong"]
    error(
        call(province, "POST", f"/api/v1/orders/{order_id}/accept", json={}),
        409,
        "illegal_transition",
    )
    fed.pump()
    path = f"/api/v1/orders/{order_id}"
    report = {"title": "报告", "body": ""}
    error(call(county, "POST", f"{path}/report", json=report), 409, "illegal_transition")
    error(call(county, "POST", f"{path}/progress", json={"note": "x"}), 409, "illegal_transition")
    ok(call(county, "POST", f"{path}/acknowledge", json={}))
    error(call(county, "POST", f"{path}/acknowledge", json={}), 409, "illegal_transition")
    error(call(county, "POST", f"{path}/report", json=report), 409, "illegal_transition")
    error(call(county, "POST", f"{path}/progress", json={"note": " "}), 422, "note_required")
    # Each end acts only on its own side; the refusal is audited.
    error(call(county, "POST", f"{path}/accept", json={}), 403, "not_issuer")
    error(call(province, "POST", f"{path}/acknowledge", json={}), 403, "not_addressee")
    assert fed.rows(
        "huanglong", "SELECT action, reason FROM audit_log WHERE decision = 'deny'"
    ) == [("accept", "not_issuer")]
    # Roles: an admin neither handles nor reads orders.
    error(
        call(county, "POST", f"{path}/progress", role="admin", json={"note": "x"}), 403, "forbidden"
    )
    error(call(county, "GET", path, role="admin"), 403, "forbidden")
    ok(call(county, "POST", f"{path}/progress", json={"note": "正在核查"}))
    ok(call(county, "POST", f"{path}/report", json=report))
    fed.pump()
    error(call(province, "POST", f"{path}/close", json={}), 409, "illegal_transition")
    error(call(province, "POST", f"{path}/return", json={"note": ""}), 422, "note_required")
    returned = ok(call(province, "POST", f"{path}/return", json={"note": "问题查得不深"}))
    assert target(returned, "huanglong")["state_label"] == "退回重办"
    fed.pump()
    assert target(ok(call(county, "GET", path)), "huanglong")["state"] == "returned"
    # Returned: back to work, then report again; the issuer accepts the second report.
    error(call(county, "POST", f"{path}/acknowledge", json={}), 409, "illegal_transition")
    ok(call(county, "POST", f"{path}/progress", json={"note": "补充核查"}))
    ok(call(county, "POST", f"{path}/report", json={"title": "补充报告"}))
    fed.pump()
    accepted = ok(call(province, "POST", f"{path}/accept", json={"addressee": "huanglong"}))
    assert target(accepted, "huanglong")["returns"] == 1
    assert target(accepted, "huanglong")["state"] == "accepted"


@pytest.mark.parametrize(
    ("issuer", "addressee", "role", "status", "code"),
    [
        ("shaanxi", "huanglong", "inspector", 201, None),  # two levels down
        ("central", "yichuan", "inspector", 201, None),
        ("shaanxi", "shaanxi", "inspector", 403, "addressee_not_in_subtree"),  # itself
        ("yichuan", "huanglong", "inspector", 403, "addressee_not_in_subtree"),  # a peer
        ("yanan", "shaanxi", "inspector", 403, "addressee_not_in_subtree"),  # above
        ("huanglong", "central", "inspector", 403, "addressee_not_in_subtree"),
        ("shaanxi", "huanglong", "approver", 403, "forbidden"),  # role
        ("shaanxi", "nowhere", "inspector", 422, "unknown_addressee"),
    ],
)
def test_only_a_superior_addresses_nodes_of_its_subtree(
    make_node: Callable[[str], NodeUnderTest],
    issuer: str,
    addressee: str,
    role: str,
    status: int,
    code: str | None,
) -> None:
    node = make_node(issuer)
    response = call(node, "POST", "/api/v1/orders", role=role, json=order_body(addressee))
    assert response.status_code == status, response.text
    with node.ctx.engine.connect() as conn:
        outbox = conn.exec_driver_sql("SELECT count(*) FROM outbox").scalar()
        denials = conn.exec_driver_sql(
            "SELECT action, reason FROM audit_log WHERE decision = 'deny'"
        ).all()
    if code is None:
        assert outbox
        assert outbox > 0
        return
    assert response.json()["error"] == code
    assert outbox == 0
    assert not node.client.get("/api/v1/orders", headers=node.auth("inspector")).json()["items"]
    if status == 403:
        assert [tuple(d) for d in denials] == [("issue-order", code)]


def test_deadline_must_lie_ahead(make_node: Callable[[str], NodeUnderTest]) -> None:
    node = make_node("shaanxi")
    error(
        call(node, "POST", "/api/v1/orders", json=order_body("yanan", deadline_s=-60)),
        422,
        "deadline_past",
    )
    error(call(node, "POST", "/api/v1/orders", json=order_body()), 422, "invalid_input")


def test_forged_order_envelopes_are_dead_lettered(mini_federation: MakeFederation) -> None:
    fed = mini_federation("shaanxi", "huanglong")
    order = issue(fed, "shaanxi", "huanglong")
    fed.pump()
    at_province = fed.outbox("huanglong", kind="order-update", pending_only=False)[0]
    genuine = fed.opened(at_province, "shaanxi")
    # A peer county claims the addressee acknowledged; the addressee claims the issuer's accept.
    forged_ack = dict(
        genuine,
        event=dict(genuine["event"], action="acknowledge", state="acknowledged", seq=3),
        target=dict(genuine["target"], state="acknowledged", version=3),
    )
    ref = {"order": order["id"], "addressee": "huanglong", "version": 3}
    assert (
        fed.send_as(
            "yichuan", "shaanxi", kind="order-update", dest=["shaanxi"], ref=ref, payload=forged_ack
        )
        == "rejected:not_permitted"
    )
    forged_accept = dict(
        genuine,
        event=dict(genuine["event"], action="accept", state="accepted", seq=3),
        target=dict(genuine["target"], state="accepted", version=3),
    )
    assert (
        fed.send_as(
            "huanglong",
            "shaanxi",
            kind="order-update",
            dest=["shaanxi"],
            ref=ref,
            payload=forged_accept,
        )
        == "rejected:not_permitted"
    )
    # A peer issuing to huanglong, or a summary sent to a node outside the addressee's line.
    sent = fed.outbox("shaanxi", kind="order", pending_only=False)[0]
    order_payload = dict(
        fed.opened(sent, "huanglong"), id="0190aaaa-0000-7000-8000-000000000001", issuer="yichuan"
    )
    assert (
        fed.send_as(
            "yichuan",
            "huanglong",
            kind="order",
            dest=["huanglong"],
            ref={"order": order_payload["id"]},
            payload=order_payload,
        )
        == "rejected:not_in_subtree"
    )
    summary = fed.opened(
        fed.outbox("huanglong", kind="order-summary", pending_only=False)[0], "yanan"
    )
    assert (
        fed.send_as(
            "huanglong",
            "shaanxi",
            kind="order-summary",
            dest=["shaanxi"],
            ref={"order": order["id"]},
            payload=summary,
        )
        == "rejected:not_in_subtree"
    )
    state = fed.rows("shaanxi", "SELECT state, version FROM order_targets")
    assert state == [("received", 2)]
    assert sorted(fed.rows("shaanxi", "SELECT reason FROM dead_letters")) == [
        ("not_in_subtree",),
        ("not_permitted",),
        ("not_permitted",),
    ]
    assert fed.rows("huanglong", "SELECT reason FROM dead_letters") == [("not_in_subtree",)]


def test_redelivery_changes_nothing(mini_federation: MakeFederation) -> None:
    fed = mini_federation("shaanxi", "huanglong")
    order_id = issue(fed, "shaanxi", "huanglong")["id"]
    fed.pump()
    ok(call(fed["huanglong"], "POST", f"/api/v1/orders/{order_id}/acknowledge", json={}))
    fed.pump()
    # The same acknowledgement again under a new message id: no new event, no version change.
    update = fed.outbox("huanglong", kind="order-update", pending_only=False)[-1]
    payload = fed.opened(update, "shaanxi")
    assert (
        fed.send_as(
            "huanglong",
            "shaanxi",
            kind="order-update",
            dest=["shaanxi"],
            ref=update.ref,
            payload=payload,
        )
        == "applied"
    )
    assert fed.rows("shaanxi", "SELECT count(*) FROM order_events") == [(3,)]
    assert fed.rows("shaanxi", "SELECT state, version FROM order_targets") == [("acknowledged", 3)]
    # An older snapshot arriving late never moves the state back.
    first = fed.opened(
        fed.outbox("huanglong", kind="order-update", pending_only=False)[0], "shaanxi"
    )
    assert (
        fed.send_as(
            "huanglong",
            "shaanxi",
            kind="order-update",
            dest=["shaanxi"],
            ref={"order": order_id},
            payload=first,
        )
        == "applied"
    )
    assert fed.rows("shaanxi", "SELECT state, version FROM order_targets") == [("acknowledged", 3)]


def test_overdue_is_flagged_at_both_ends(mini_federation: MakeFederation) -> None:
    fed = mini_federation("central", "shaanxi", "yanan", "huanglong")
    late = issue(fed, "shaanxi", "huanglong", deadline_s=600, now=fed.clock.now())["id"]
    on_time = issue(fed, "shaanxi", "huanglong")["id"]
    fed.pump()
    ok(call(fed["huanglong"], "POST", f"/api/v1/orders/{late}/acknowledge", json={}))
    fed.pump()
    fed.clock.advance(601)  # past the late order's deadline, well before the other's
    for node in ("shaanxi", "huanglong"):
        shown = ok(call(fed[node], "GET", f"/api/v1/orders/{late}"))
        assert shown["overdue"]
        assert target(shown, "huanglong")["overdue"]
        assert not ok(call(fed[node], "GET", f"/api/v1/orders/{on_time}"))["overdue"]
        listed = ok(call(fed[node], "GET", "/api/v1/orders", params={"overdue": "true"}))
        assert [o["id"] for o in listed["items"]] == [late]
    for node in ("yanan", "central"):
        listed = ok(call(fed[node], "GET", "/api/v1/orders/targets", params={"overdue": "true"}))
        assert [t["order_id"] for t in listed["items"]] == [late]
        stats = ok(call(fed[node], "GET", "/api/v1/stats"))["orders"]
        assert (stats["total"], stats["overdue"]) == (2, 1)
    # Reporting settles what the addressee owed: no longer overdue.
    county = fed["huanglong"]
    ok(call(county, "POST", f"/api/v1/orders/{late}/progress", json={"note": "正在办理"}))
    ok(call(county, "POST", f"/api/v1/orders/{late}/report", json={"title": "迟到的报告"}))
    fed.pump()
    assert not ok(call(fed["shaanxi"], "GET", f"/api/v1/orders/{late}"))["overdue"]
    assert ok(call(fed["central"], "GET", "/api/v1/stats"))["orders"]["overdue"] == 0


def test_one_order_to_several_nodes_tracks_each(mini_federation: MakeFederation) -> None:
    fed = mini_federation("shaanxi", "yanan", "huanglong")
    order = issue(fed, "shaanxi", "yanan", "huanglong")
    fed.pump()
    ok(call(fed["huanglong"], "POST", f"/api/v1/orders/{order['id']}/acknowledge", json={}))
    fed.pump()
    at_province = ok(call(fed["shaanxi"], "GET", f"/api/v1/orders/{order['id']}"))
    assert {t["addressee"]: t["state"] for t in at_province["targets"]} == {
        "huanglong": "acknowledged",
        "yanan": "received",
    }
    error(
        call(fed["shaanxi"], "POST", f"/api/v1/orders/{order['id']}/accept", json={}),
        422,
        "addressee_required",
    )
    # Yanan holds its own target in full and huanglong's as a summary.
    assert sorted(fed.rows("yanan", "SELECT addressee, held_as, state FROM order_targets")) == [
        ("huanglong", "summary", "acknowledged"),
        ("yanan", "addressee", "received"),
    ]
    assert [
        t["addressee"]
        for t in ok(call(fed["yanan"], "GET", f"/api/v1/orders/{order['id']}"))["targets"]
    ] == ["yanan"]
