"""The clue transfer ledger (移交台账) in-process: from transfer to closing off, overdue items seen
by the tiers above (as metadata only), forged summaries refused, roles."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from tests.helpers import call, error, later, ok
from tests.inprocess import MiniFederation

MakeFederation = Callable[..., MiniFederation]
TITLE = "县水利局负责人违规插手工程项目问题线索"


def transfer(
    deadline_s: float = 30 * 86400, *, now: datetime | None = None, **extra: Any
) -> dict[str, Any]:
    body = {
        "title": TITLE,
        "department": "纪委监委第三监督检查室",
        "responsible": "张明",
        "feedback_deadline": later(deadline_s, now=now),
    }
    body.update(extra)
    return body


def test_item_from_transfer_to_closing_off(mini_federation: MakeFederation) -> None:
    fed = mini_federation("shaanxi", "yanan", "huanglong")
    county = fed["huanglong"]
    item = ok(call(county, "POST", "/api/v1/ledger", json=transfer()), 201)
    assert (item["status"], item["status_label"], item["summary"]) == (
        "transferred",
        "已移交",
        False,
    )
    assert item["title"] == TITLE
    assert item["responsible"] == "张明"
    fed.pump()
    for node in ("yanan", "shaanxi"):
        shown = ok(call(fed[node], "GET", f"/api/v1/ledger/{item['id']}"))
        assert shown["summary"]
        assert shown["department"] == "纪委监委第三监督检查室"
        assert shown["title"] is None
        assert shown["responsible"] is None
        assert fed.rows(node, "SELECT title, responsible, clue_record_id FROM ledger_items") == [
            (None, None, None)
        ]
        # Only the node that transferred the clue keeps its ledger.
        error(
            call(fed[node], "POST", f"/api/v1/ledger/{item['id']}/feedback", json={"note": "x"}),
            409,
            "not_owner",
        )

    path = f"/api/v1/ledger/{item['id']}"
    error(call(county, "POST", f"{path}/close", json={}), 409, "feedback_required")
    answered = ok(
        call(county, "POST", f"{path}/feedback", json={"note": "已立案审查，给予党内严重警告处分"})
    )
    assert (answered["status"], answered["status_label"], answered["feedback_count"]) == (
        "responded",
        "已反馈",
        1,
    )
    closed = ok(call(county, "POST", f"{path}/close", json={"note": "处理到位，予以销号"}))
    assert (closed["status"], closed["status_label"], closed["closed_by"]) == (
        "closed",
        "已销号",
        "huanglong-inspector",
    )
    error(call(county, "POST", f"{path}/close", json={}), 409, "ledger_closed")
    error(call(county, "POST", f"{path}/feedback", json={"note": "补充"}), 409, "ledger_closed")
    history = ok(call(county, "GET", path))["feedback"]
    assert [(f["seq"], f["author"]) for f in history] == [
        (1, "huanglong-inspector"),
        (2, "huanglong-inspector"),
    ]
    fed.pump()
    above = ok(call(fed["shaanxi"], "GET", path))
    assert (above["status"], above["feedback_count"], above["feedback"]) == ("closed", 2, None)
    ledger = ok(call(fed["shaanxi"], "GET", "/api/v1/stats"))["ledger"]
    assert (ledger["total"], ledger["open"], ledger["closed"]) == (1, 0, 1)
    assert fed.rows("shaanxi", "SELECT count(*) FROM ledger_feedback") == [(0,)]


def test_overdue_items_are_visible_to_the_tier_above(mini_federation: MakeFederation) -> None:
    fed = mini_federation("yanan", "huanglong", "yichuan")
    now = fed.clock.now()
    late = ok(call(fed["huanglong"], "POST", "/api/v1/ledger", json=transfer(600, now=now)), 201)
    answered = ok(
        call(
            fed["huanglong"],
            "POST",
            "/api/v1/ledger",
            json=transfer(600, now=now, department="组织部"),
        ),
        201,
    )
    ok(
        call(
            fed["huanglong"],
            "POST",
            f"/api/v1/ledger/{answered['id']}/feedback",
            json={"note": "已调整"},
        )
    )
    ok(call(fed["yichuan"], "POST", "/api/v1/ledger", json=transfer()), 201)
    fed.pump()
    fed.clock.advance(601)  # past both deadlines; only the unanswered item is overdue
    overdue = ok(call(fed["yanan"], "GET", "/api/v1/ledger", params={"overdue": "true"}))["items"]
    assert [(i["id"], i["node"], i["summary"], i["overdue"]) for i in overdue] == [
        (late["id"], "huanglong", True, True)
    ]
    stats = ok(call(fed["yanan"], "GET", "/api/v1/stats"))["ledger"]
    assert (stats["total"], stats["open"], stats["overdue"]) == (3, 3, 1)
    assert {n["node"]: (n["open"], n["overdue"]) for n in stats["by_node"]} == {
        "huanglong": (2, 1),
        "yichuan": (1, 0),
    }
    assert ok(call(fed["huanglong"], "GET", f"/api/v1/ledger/{late['id']}"))["overdue"]
    # A peer county sees none of it.
    assert (
        ok(call(fed["yichuan"], "GET", "/api/v1/ledger", params={"scope": "subtree"}))["items"]
        == []
    )


def test_forged_summaries_are_refused(mini_federation: MakeFederation) -> None:
    fed = mini_federation("yanan", "huanglong")
    item = ok(call(fed["huanglong"], "POST", "/api/v1/ledger", json=transfer()), 201)
    envelope = fed.outbox("huanglong", kind="ledger-summary")[0]
    summary = fed.opened(envelope, "yanan")
    assert (
        fed.send_as(
            "yichuan",
            "yanan",
            kind="ledger-summary",
            dest=["yanan"],
            ref=envelope.ref,
            payload=summary,
        )
        == "rejected:origin_mismatch"
    )
    assert (
        fed.send_as(
            "yanan",
            "huanglong",
            kind="ledger-summary",
            dest=["huanglong"],
            ref=envelope.ref,
            payload=dict(summary, node="yanan"),
        )
        == "rejected:not_in_subtree"
    )
    fed.pump()
    assert fed.rows("yanan", "SELECT id, held_as FROM ledger_items") == [(item["id"], "summary")]


def test_roles_and_input(mini_federation: MakeFederation) -> None:
    fed = mini_federation("huanglong")
    county = fed["huanglong"]
    error(
        call(county, "POST", "/api/v1/ledger", role="approver", json=transfer()), 403, "forbidden"
    )
    error(call(county, "GET", "/api/v1/ledger", role="admin"), 403, "forbidden")
    error(call(county, "POST", "/api/v1/ledger", json=transfer(-5)), 422, "deadline_past")
    error(
        call(
            county,
            "POST",
            "/api/v1/ledger",
            json=transfer(clue_record_id="0190aaaa-0000-7000-8000-000000000001"),
        ),
        422,
        "clue_not_found",
    )
    ok(call(county, "GET", "/api/v1/ledger", role="security_officer"))
    assert fed.rows("huanglong", "SELECT action FROM audit_log WHERE decision = 'deny'") == [
        ("manage-ledger",),
        ("read-ledger",),
    ]
