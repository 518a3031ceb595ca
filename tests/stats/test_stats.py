"""Statistics over a subtree: the record rollup always equals GROUP BY over the records (through
the API, the inbox, updates and tombstones, on every backend), the subtree bounds every figure,
stubs count, the median time to acknowledge, and who may read statistics."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from node.clock import iso
from node.ids import uuid7
from node.stats.queries import RecordQuery, record_counts, record_counts_from_records
from tests.helpers import call, error, ok
from tests.inprocess import MiniFederation

MakeFederation = Callable[..., MiniFederation]


def record(
    origin: str,
    category: str,
    classification: str,
    created: datetime,
    *,
    version: int = 1,
    deleted: bool = False,
    record_id: str | None = None,
    parties: list[str] | None = None,
) -> dict[str, Any]:
    stub = classification == "secret"
    payload: dict[str, Any] = {
        "id": record_id or uuid7(),
        "origin": origin,
        "category": category,
        "classification": classification,
        "version": version,
        "created_at": iso(created),
        "updated_at": iso(max(created, datetime.now(UTC))),
        "deleted": deleted,
        "stub": stub,
    }
    if not stub:
        payload.update(author="x", title="" if deleted else "标题", body="", parties=parties or [])
    return payload


def deliver_record(fed: MiniFederation, to: str, payload: dict[str, Any]) -> None:
    dest = ["*"] if payload["classification"] == "general" else [to]
    outcome = fed.send_as(
        payload["origin"],
        to,
        kind="record",
        dest=dest,
        ref={"record": payload["id"], "version": payload["version"]},
        payload=payload,
        encrypt=dest != ["*"],
    )
    assert outcome == "applied", outcome


def months_ago(n: int) -> datetime:
    return datetime(2021, 12, 15, 12, tzinfo=UTC) - timedelta(days=31 * n)


def test_rollup_equals_group_by_over_records(mini_federation: MakeFederation) -> None:
    fed = mini_federation("yanan")
    city = fed["yanan"]
    made = [
        ok(call(city, "POST", "/api/v1/records", json=body), 201)
        for body in (
            {"category": "policy", "title": "制度"},
            {"category": "inspection_finding", "title": "发现", "parties": ["shaanxi"]},
            {"category": "problem_clue", "title": "线索"},
            {"category": "petition", "title": "信访件"},
        )
    ]
    ok(call(city, "PATCH", f"/api/v1/records/{made[0]['id']}", json={"title": "修订"}))
    ok(call(city, "DELETE", f"/api/v1/records/{made[3]['id']}"))
    tombstoned = record("huanglong", "practice", "general", months_ago(3))
    incoming = [
        record("huanglong", "policy", "general", months_ago(1)),
        tombstoned,
        record("huanglong", "evidence", "secret", months_ago(1)),
        record("huanglong", "evidence", "secret", months_ago(13)),
        record("yichuan", "problem_clue", "secret", months_ago(2)),
        record("yichuan", "supervision_check", "restricted", months_ago(2), parties=["yanan"]),
        record("central", "policy", "general", months_ago(5)),  # outside the subtree
        record("shaanxi", "inspection_finding", "restricted", months_ago(0), parties=["yanan"]),
    ]
    for payload in incoming:
        deliver_record(fed, "yanan", payload)
    deliver_record(fed, "yanan", dict(tombstoned, version=2, deleted=True, title=""))

    subtree = sorted(fed.topology.subtree("yanan"))
    with city.ctx.sessions() as session:
        for nodes in (subtree, None):
            assert record_counts(session, nodes) == record_counts_from_records(session, nodes)
        rows = record_counts(session, subtree)
    assert sum(r[-2] for r in rows) == 10  # 4 own + 6 from below; shaanxi, central excluded
    assert sum(r[-1] for r in rows) == 3
    assert {r[:5] for r in rows if r[0] != "yanan"} == {
        ("huanglong", "general", "policy", "active", "2021-11"),
        ("huanglong", "general", "practice", "deleted", "2021-09"),
        ("huanglong", "secret", "evidence", "active", "2021-11"),
        ("huanglong", "secret", "evidence", "active", "2020-11"),
        ("yichuan", "secret", "problem_clue", "active", "2021-10"),
        ("yichuan", "restricted", "supervision_check", "active", "2021-10"),
    }
    shown = ok(call(city, "GET", "/api/v1/stats", params={"months": 0}))
    records = shown["records"]
    assert shown["subtree"] == ["huanglong", "yanan", "yichuan"]
    assert (records["total"], records["stubs"]) == (10, 3)
    assert records["columns"] == [
        "origin",
        "classification",
        "category",
        "status",
        "month",
        "count",
        "stubs",
    ]
    assert [list(r) for r in rows] == records["rows"]
    labels = records["labels"]
    assert (
        labels["origin"]["yanan"],
        labels["classification"]["secret"],
        labels["category"]["petition"],
        labels["status"]["deleted"],
    ) == ("延安市", "涉案类保密信息", "信访件", "已删除")
    # Any subset of the dimensions, within a range of months.
    by_origin = ok(
        call(
            city,
            "GET",
            "/api/v1/stats",
            params={"group_by": "origin,status", "since": "2021-10", "until": "2021-11"},
        )
    )["records"]
    assert by_origin["columns"] == ["origin", "status", "count", "stubs"]
    assert by_origin["rows"] == [["huanglong", "active", 2, 1], ["yichuan", "active", 2, 1]]
    with city.ctx.sessions() as session:
        totals = record_counts(session, subtree, RecordQuery(dimensions=()))
    assert totals == [(10, 3)]
    # By default, the last 12 months: the records made today, none of the older ones.
    recent = ok(call(city, "GET", "/api/v1/stats"))["records"]
    assert {row[0] for row in recent["rows"]} == {"yanan"}
    assert recent["total"] == 4
    assert recent["until"] is None
    assert recent["since"] is not None
    error(
        call(city, "GET", "/api/v1/stats", params={"group_by": "title"}), 422, "unknown_dimension"
    )
    error(call(city, "GET", "/api/v1/stats", params={"since": "2024-13"}), 422, "invalid_input")


ADDRESSEE_RUN = ["issued", "received", "acknowledged", "in_progress", "reported"]
ISSUER_RUN = ["accepted", "closed"]


def summary(
    issuer: str,
    addressee: str,
    state: str,
    *,
    ack_seconds: int | None,
    deadline: datetime,
    order_id: str | None = None,
) -> dict[str, Any]:
    """The summary of an order's target in ``state``: its version counts the steps from issued."""
    now = iso(datetime.now(UTC))
    version = (ADDRESSEE_RUN + ISSUER_RUN).index(state) + 1
    acknowledged = version >= 3
    return {
        "order_id": order_id or uuid7(),
        "issuer": issuer,
        "addressee": addressee,
        "target": {
            "state": state,
            "version": version,
            "deadline": iso(deadline),
            "issued_at": now,
            "updated_at": now,
            "returns": 0,
            "ack_seconds": ack_seconds if acknowledged else None,
            "received_at": now if version >= 2 else None,
            "acknowledged_at": now if acknowledged else None,
            "reported_at": now if version >= 5 else None,
            "accepted_at": now if version >= 6 else None,
            "closed_at": now if version >= 7 else None,
        },
    }


def bring_to(
    fed: MiniFederation,
    issuer: str,
    addressee: str,
    state: str,
    *,
    ack_seconds: int | None,
    deadline: datetime,
) -> None:
    """Tell central, as each side would, that an order's target reached ``state``: the issuer's
    issue, the addressee's own run of steps, then the issuer's (DESIGN §6: each side speaks only
    for its own steps)."""
    order_id = uuid7()
    steps = [("issued", issuer)]
    if state != "issued":
        last_own = state if state in ADDRESSEE_RUN else "reported"
        steps.append((last_own, addressee))
    if state in ISSUER_RUN:
        steps += [(s, issuer) for s in ISSUER_RUN[: ISSUER_RUN.index(state) + 1]]
    for step, sender in steps:
        payload = summary(
            issuer, addressee, step, ack_seconds=ack_seconds, deadline=deadline, order_id=order_id
        )
        outcome = fed.send_as(
            sender,
            "central",
            kind="order-summary",
            dest=["central"],
            ref={"order": order_id},
            payload=payload,
        )
        assert outcome == "applied", (step, sender, outcome)


def test_orders_by_state_overdue_and_median_time_to_acknowledge(
    mini_federation: MakeFederation,
) -> None:
    fed = mini_federation("central")
    past, future = datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(days=3)
    rows = [
        ("shaanxi", "huanglong", "acknowledged", 10, past),  # overdue
        ("shaanxi", "yichuan", "in_progress", 20, future),
        ("yanan", "huanglong", "reported", 30, past),  # reported: not overdue
        ("shaanxi", "yanan", "accepted", 1000, past),
        ("yanan", "yichuan", "received", None, past),  # overdue, never acknowledged
    ]
    for issuer, addressee, state, ack, deadline in rows:
        bring_to(fed, issuer, addressee, state, ack_seconds=ack, deadline=deadline)
    orders = ok(call(fed["central"], "GET", "/api/v1/stats"))["orders"]
    assert (orders["total"], orders["open"], orders["overdue"]) == (5, 3, 2)
    assert (orders["acknowledged"], orders["median_ack_seconds"]) == (4, 25.0)
    assert {
        s["state"]: (s["state_label"], s["count"], s["overdue"]) for s in orders["by_state"]
    } == {
        "received": ("已接收", 1, 1),
        "acknowledged": ("已确认", 1, 1),
        "in_progress": ("办理中", 1, 0),
        "reported": ("已报告", 1, 0),
        "accepted": ("已验收", 1, 0),
    }
    bring_to(fed, "shaanxi", "huanglong", "closed", ack_seconds=5, deadline=future)
    assert ok(call(fed["central"], "GET", "/api/v1/stats"))["orders"]["median_ack_seconds"] == 20


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("inspector", 200),
        ("approver", 200),
        ("security_officer", 200),
        ("admin", 403),
    ],
)
def test_who_reads_statistics(mini_federation: MakeFederation, role: str, status: int) -> None:
    fed = mini_federation("shaanxi")
    response = call(fed["shaanxi"], "GET", "/api/v1/stats", role=role)
    if status == 403:
        error(response, 403, "forbidden")
        assert fed.rows(
            "shaanxi", "SELECT action, object_type FROM audit_log WHERE decision = 'deny'"
        ) == [("read-stats", "stats")]
    else:
        assert ok(response)["node_name"] == "陕西省"
        assert fed.rows("shaanxi", "SELECT action FROM audit_log WHERE object_type = 'stats'") == [
            ("read",)
        ]
