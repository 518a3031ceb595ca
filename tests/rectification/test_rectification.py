"""Rectification to closure (整改) in-process, on each backend: a finding becomes demands to an
inspected unit; the unit reports; the county evaluates, returns, accepts and closes one off with
evidence, lets another go overdue (the clock moves), and the tiers above see it as metadata;
回头看 reopens the unit's closed demands. Roles, bad input and forged summaries are refused."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from io import BytesIO
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import MetaData, Table, inspect, select

from node.crypto import canonical_json
from node.rectification.models import Rectification
from node.rectification.wire import RectificationSummaryWire, summary_wire
from tests.helpers import call, error, later, ok
from tests.inprocess import MiniFederation

MakeFederation = Callable[..., MiniFederation]
RECTIFICATIONS = "/api/v1/rectifications"
UNIT = "县水利局"
FINDING_TITLE = "县水利局党组落实全面从严治党主体责任不到位"
DEMAND_LONG = "针对工程项目招投标管理不规范问题，全面排查2023年以来项目，建立台账逐项整改"
DEMAND_SHORT = "针对专项资金拨付滞后问题，30日内完成资金清理并报送整改情况"
REPORT_TITLE = "县水利局关于巡察反馈问题整改情况的报告"
REPORT_BODY = "已完成全部37个工程项目排查，追回违规资金126万元，修订制度5项"


def finding(fed: MiniFederation, node: str = "huanglong", **extra: Any) -> dict[str, Any]:
    parent = fed[node].ctx.topology.parent(node)
    body = {
        "category": "inspection_finding",
        "title": FINDING_TITLE,
        "body": "巡察发现：工程招投标、专项资金管理等方面存在问题",
        "parties": [parent],
        **extra,
    }
    return ok(call(fed[node], "POST", "/api/v1/records", json=body), 201)


def demands_body(
    finding_id: str, *, now: datetime, long_s: float = 30 * 86400, short_s: float = 600
) -> dict[str, Any]:
    return {
        "finding_record_id": finding_id,
        "unit_name": UNIT,
        "demands": [
            {"content": DEMAND_LONG, "deadline": later(long_s, now=now), "responsible": "李某"},
            {"content": DEMAND_SHORT, "deadline": later(short_s, now=now), "responsible": "王某"},
        ],
    }


def make_demands(fed: MiniFederation, node: str = "huanglong") -> list[dict[str, Any]]:
    record = finding(fed, node)
    made = ok(
        call(
            fed[node], "POST", RECTIFICATIONS, json=demands_body(record["id"], now=fed.clock.now())
        ),
        201,
    )
    items: list[dict[str, Any]] = made["items"]
    return items


def act(
    fed: MiniFederation,
    item_id: str,
    action: str,
    body: dict[str, Any] | None = None,
    *,
    node: str = "huanglong",
    role: str = "inspector",
) -> Any:
    return call(fed[node], "POST", f"{RECTIFICATIONS}/{item_id}/{action}", role, json=body or {})


def report_body() -> dict[str, Any]:
    return {"title": REPORT_TITLE, "body": REPORT_BODY}


def add_unit(fed: MiniFederation, name: str = UNIT, node: str = "huanglong") -> str:
    body = {"name": name, "kind": "institution", "sector": "水利"}
    unit: dict[str, Any] = ok(call(fed[node], "POST", "/api/v1/inspected-units", json=body), 201)
    return str(unit["id"])


def test_finding_to_closure_and_overdue_seen_above(mini_federation: MakeFederation) -> None:
    fed = mini_federation("shaanxi", "yanan", "huanglong")
    unit_id = add_unit(fed)
    long, short = make_demands(fed)
    # Named as on the node's list of inspected units: linked to it.
    assert (long["unit_id"], short["unit_id"]) == (unit_id, unit_id)
    of_unit = ok(call(fed["huanglong"], "GET", RECTIFICATIONS, params={"unit_id": unit_id}))
    assert {i["id"] for i in of_unit["items"]} == {long["id"], short["id"]}
    assert [(d["state"], d["state_label"], d["summary"]) for d in (long, short)] == [
        ("issued", "待整改", False),
        ("issued", "待整改", False),
    ]
    assert (long["content"], long["responsible"], long["unit_name"]) == (DEMAND_LONG, "李某", UNIT)
    path = f"{RECTIFICATIONS}/{long['id']}"

    # The unit reports; the county returns it for more work, the unit reports again, accepted.
    reported = ok(act(fed, long["id"], "report", report_body()))
    assert (reported["state"], reported["state_label"]) == ("reported", "已报送整改情况")
    first_report = reported["report_record_id"]
    error(act(fed, long["id"], "return", {"note": " "}), 422, "note_required")
    returned = ok(
        act(
            fed,
            long["id"],
            "return",
            {"note": "整改措施不具体，请补充", "deadline": later(40 * 86400, now=fed.clock.now())},
        )
    )
    assert (returned["state"], returned["returns"]) == ("returned", 1)
    again = ok(act(fed, long["id"], "report", dict(report_body(), title=REPORT_TITLE + "（补充）")))
    assert again["report_record_id"] != first_report
    error(
        act(fed, long["id"], "close", {"evidence": [{"record_id": first_report}]}),
        409,
        "illegal_transition",
    )
    accepted = ok(act(fed, long["id"], "accept", {"note": "整改到位"}, role="approver"))
    assert (accepted["state"], accepted["state_label"]) == ("accepted", "评估通过")

    # 销号 only with evidence; a refused close changes nothing.
    error(act(fed, long["id"], "close", {}), 422, "evidence_required")
    missing = {"record_id": "0190aaaa-0000-7000-8000-000000000001"}
    error(act(fed, long["id"], "close", {"evidence": [missing]}), 422, "evidence_not_found")
    bad_attachment = {"record_id": first_report, "attachment_id": missing["record_id"]}
    error(act(fed, long["id"], "close", {"evidence": [bad_attachment]}), 422, "evidence_not_found")
    assert ok(call(fed["huanglong"], "GET", path))["state"] == "accepted"
    assert fed.rows("huanglong", "SELECT count(*) FROM rectification_evidence") == [(0,)]
    closed = ok(
        act(
            fed,
            long["id"],
            "close",
            {"evidence": [{"record_id": again["report_record_id"]}], "note": "同意销号"},
        )
    )
    assert (closed["state"], closed["state_label"]) == ("closed", "已销号")
    error(act(fed, long["id"], "report", report_body()), 409, "illegal_transition")
    history = ok(call(fed["huanglong"], "GET", path))["events"]
    assert [(e["action"], e["state"]) for e in history] == [
        ("issue", "issued"),
        ("report", "reported"),
        ("return", "returned"),
        ("report", "reported"),
        ("accept", "accepted"),
        ("close", "closed"),
    ]
    assert [e["action_label"] for e in history][-1] == "销号"
    assert history[-1]["evidence"] == [
        {
            "record_id": again["report_record_id"],
            "record_origin": "huanglong",
            "attachment_id": None,
        }
    ]

    # The other demand gets no report: past its deadline it is overdue, here and above.
    fed.pump()
    fed.clock.advance(601)
    assert ok(call(fed["huanglong"], "GET", f"{RECTIFICATIONS}/{short['id']}"))["overdue"]
    for node in ("yanan", "shaanxi"):
        overdue = ok(call(fed[node], "GET", RECTIFICATIONS, params={"overdue": "true"}))["items"]
        assert [(i["id"], i["node"], i["summary"], i["unit_name"]) for i in overdue] == [
            (short["id"], "huanglong", True, UNIT)
        ]
        assert (overdue[0]["content"], overdue[0]["responsible"], overdue[0]["events"]) == (
            None,
            None,
            None,
        )
        above = ok(call(fed[node], "GET", path))
        assert (above["state"], above["summary"], above["report_record_id"]) == (
            "closed",
            True,
            None,
        )
        stats = ok(call(fed[node], "GET", "/api/v1/stats"))["rectification"]
        assert (stats["total"], stats["open"], stats["overdue"], stats["closed"]) == (2, 1, 1, 1)
        assert {
            s["state"]: (s["state_label"], s["count"], s["overdue"]) for s in stats["by_state"]
        } == {
            "issued": ("待整改", 1, 1),
            "closed": ("已销号", 1, 0),
        }
        assert [(n["node"], n["overdue"]) for n in stats["by_node"]] == [("huanglong", 1)]
        # Acting belongs to the inspecting node.
        error(act(fed, short["id"], "report", report_body(), node=node), 409, "not_inspecting_node")
    export = call(fed["shaanxi"], "GET", "/api/v1/stats/export.xlsx")
    book = load_workbook(BytesIO(export.content))
    assert list(book["整改-状态"].iter_rows(values_only=True)) == [
        ("状态", "整改意见数", "其中逾期"),
        ("待整改", 1, 1),
        ("已销号", 1, 0),
    ]
    assert fed.rows(
        "shaanxi", "SELECT content, responsible, finding_record_id FROM rectifications"
    ) == [
        (None, None, None),
        (None, None, None),
    ]

    # 回头看: the unit's closed demands reopen with a new deadline; the tiers above follow.
    error(
        call(
            fed["huanglong"],
            "POST",
            f"{RECTIFICATIONS}/lookback",
            json={"unit_name": "县卫健委", "deadline": later(86400, now=fed.clock.now())},
        ),
        409,
        "nothing_to_reopen",
    )
    reopened = ok(
        call(
            fed["huanglong"],
            "POST",
            f"{RECTIFICATIONS}/lookback",
            json={
                "unit_name": UNIT,
                "deadline": later(86400, now=fed.clock.now()),
                "note": "回头看",
            },
        )
    )["items"]
    assert [(i["id"], i["state"], i["state_label"], i["lookbacks"]) for i in reopened] == [
        (long["id"], "reopened", "回头看复查", 1)
    ]
    fed.pump()
    assert ok(call(fed["shaanxi"], "GET", path))["state"] == "reopened"
    assert ok(act(fed, long["id"], "report", report_body()))["state"] == "reported"
    fed.pump()
    stats = ok(call(fed["shaanxi"], "GET", "/api/v1/stats"))["rectification"]
    assert (stats["total"], stats["open"], stats["overdue"], stats["closed"]) == (2, 1, 1, 0)


def test_evidence_may_be_an_attachment(mini_federation: MakeFederation) -> None:
    fed = mini_federation("yanan", "huanglong")
    [item, _] = make_demands(fed)
    report = ok(act(fed, item["id"], "report", report_body()))["report_record_id"]
    ok(act(fed, item["id"], "accept"))
    uploaded = fed["huanglong"].client.post(
        f"/api/v1/records/{report}/attachments",
        params={"filename": "整改佐证.txt"},
        content="整改佐证材料：制度文件5份".encode(),
        headers={**fed["huanglong"].auth("inspector"), "Content-Type": "text/plain"},
    )
    assert uploaded.status_code == 201, uploaded.text
    attachment = uploaded.json()["id"]
    evidence = {"record_id": report, "attachment_id": attachment}
    closed = ok(act(fed, item["id"], "close", {"evidence": [evidence, evidence]}))
    assert closed["state"] == "closed"
    assert fed.rows("huanglong", "SELECT record_id, attachment_id FROM rectification_evidence") == [
        (report, attachment)
    ]


def _every_text(fed: MiniFederation, node: str) -> str:
    """Every value of every table of ``node``'s database, as one string."""
    engine = fed[node].ctx.engine
    found: list[str] = []
    with engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            meta = Table(table, MetaData(), autoload_with=conn)
            for row in conn.execute(select(meta)):
                found.extend(
                    v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in row
                )
    return "\n".join(found)


def test_the_report_reaches_only_the_named_superior(mini_federation: MakeFederation) -> None:
    fed = mini_federation("shaanxi", "yanan", "huanglong", "yichuan")
    long, short = make_demands(fed)
    report = ok(act(fed, long["id"], "report", report_body()))["report_record_id"]
    ok(act(fed, long["id"], "accept"))
    ok(act(fed, long["id"], "close", {"evidence": [{"record_id": report}]}))
    fed.pump()
    # The superior named reads the report as any restricted record naming it.
    shown = ok(call(fed["yanan"], "GET", f"/api/v1/records/{report}"))
    assert (shown["title"], shown["classification"], shown["parties"]) == (
        REPORT_TITLE,
        "restricted",
        ["yanan"],
    )
    error(call(fed["shaanxi"], "GET", f"/api/v1/records/{report}"), 404, "record_not_found")
    secrets = (REPORT_TITLE, REPORT_BODY, DEMAND_LONG, DEMAND_SHORT, "李某", "王某")
    held = {node: _every_text(fed, node) for node in fed.nodes}
    assert REPORT_TITLE in held["huanglong"]
    assert DEMAND_LONG in held["huanglong"]
    assert REPORT_BODY in held["yanan"]
    # The demands' text and persons never leave the county; the report reaches its party only.
    for node in ("yanan", "shaanxi", "yichuan"):
        for secret in secrets[2:]:
            assert secret not in held[node], (node, secret)
    for node in ("shaanxi", "yichuan"):
        for secret in secrets:
            assert secret not in held[node], (node, secret)
    # Nothing that crossed carried any of it in clear.
    for node in fed.nodes:
        for envelope in fed.outbox(node, pending_only=False):
            for secret in secrets:
                assert secret.encode() not in envelope.raw, (node, envelope.kind)
    assert {e.kind for e in fed.outbox("huanglong", pending_only=False)} >= {
        "record",
        "rectification-summary",
    }


def test_forged_summaries_are_refused(mini_federation: MakeFederation) -> None:
    fed = mini_federation("shaanxi", "yanan", "huanglong", "yichuan")
    [item, _] = make_demands(fed)
    envelope = next(
        e
        for e in fed.outbox("huanglong", kind="rectification-summary")
        if e.ref["rectification"] == item["id"]
    )
    summary = fed.opened(envelope, "yanan")
    assert fed.pump() > 0

    def forged(origin: str, to: str, ref: dict[str, Any] | None = None, **change: Any) -> str:
        payload = dict(summary, **change)
        return fed.send_as(
            origin,
            to,
            kind="rectification-summary",
            dest=[to],
            ref=ref or {"rectification": item["id"], "version": payload["version"]},
            payload=payload,
        )

    # Another node speaking for the county's demand, or a node outside its line.
    assert forged("yanan", "shaanxi") == "rejected:origin_mismatch"
    assert forged("yichuan", "shaanxi", node="yichuan") == "rejected:origin_mismatch"
    assert forged("huanglong", "yichuan") == "rejected:not_in_subtree"
    # The county itself cannot jump the state machine: closed is three steps from issued.
    assert forged("huanglong", "yanan", version=2, state="closed") == "rejected:illegal_transition"
    assert (
        forged("huanglong", "yanan", version=2, state="accepted") == "rejected:illegal_transition"
    )
    assert forged("huanglong", "shaanxi", version=1, state="closed") == "applied"  # stale: no-op
    # A first summary that is not an issue, for an unknown demand, is refused too.
    fresh = "0190aaaa-0000-7000-8000-0000000000aa"
    assert (
        forged(
            "huanglong", "yanan", {"rectification": fresh, "version": 1}, id=fresh, state="closed"
        )
        == "rejected:illegal_transition"
    )
    # Missed steps are taken at once when a run of legal steps leads there.
    assert forged("huanglong", "yanan", version=4, state="closed") == "applied"
    assert fed.rows(
        "yanan", "SELECT id, state, version FROM rectifications WHERE id = :i", i=item["id"]
    ) == [(item["id"], "closed", 4)]
    assert fed.rows(
        "shaanxi", "SELECT state, version FROM rectifications WHERE id = :i", i=item["id"]
    ) == [("issued", 1)]


def test_roles_and_input(mini_federation: MakeFederation) -> None:
    fed = mini_federation("yanan", "huanglong")
    county = fed["huanglong"]
    record = finding(fed)
    now = fed.clock.now()
    body = demands_body(record["id"], now=now)
    error(call(county, "POST", RECTIFICATIONS, "approver", json=body), 403, "forbidden")
    error(call(county, "GET", RECTIFICATIONS, "admin"), 403, "forbidden")
    ok(call(county, "GET", RECTIFICATIONS, "security_officer"))
    error(call(county, "POST", RECTIFICATIONS, json=dict(body, demands=[])), 422, "invalid_input")
    past = demands_body(record["id"], now=now, short_s=-5)
    error(call(county, "POST", RECTIFICATIONS, json=past), 422, "deadline_past")
    unknown = dict(body, finding_record_id="0190aaaa-0000-7000-8000-000000000001")
    error(call(county, "POST", RECTIFICATIONS, json=unknown), 422, "finding_not_found")
    practice = ok(
        call(county, "POST", "/api/v1/records", json={"category": "practice", "title": "经验做法"}),
        201,
    )
    error(
        call(county, "POST", RECTIFICATIONS, json=dict(body, finding_record_id=practice["id"])),
        422,
        "not_a_finding",
    )
    # The unit: one of the node's list by id (its name agreeing), or any unit by name.
    unit_id = add_unit(fed, "县财政局")
    missing_unit = dict(body, unit_id="0190aaaa-0000-7000-8000-000000000002")
    error(call(county, "POST", RECTIFICATIONS, json=missing_unit), 422, "unit_not_found")
    mismatch = dict(body, unit_id=unit_id)
    error(call(county, "POST", RECTIFICATIONS, json=mismatch), 422, "unit_mismatch")
    nameless = {k: v for k, v in body.items() if k != "unit_name"}
    error(call(county, "POST", RECTIFICATIONS, json=nameless), 422, "unit_required")
    assert fed.rows("huanglong", "SELECT count(*) FROM rectifications") == [(0,)]
    by_id = ok(call(county, "POST", RECTIFICATIONS, json=dict(nameless, unit_id=unit_id)), 201)
    assert {(i["unit_id"], i["unit_name"]) for i in by_id["items"]} == {(unit_id, "县财政局")}
    [item, _] = ok(call(county, "POST", RECTIFICATIONS, json=body), 201)["items"]
    assert item["unit_id"] is None  # 县水利局 is not on this node's list
    error(act(fed, item["id"], "accept"), 409, "illegal_transition")
    error(act(fed, item["id"], "report", report_body(), role="approver"), 403, "forbidden")
    error(act(fed, item["id"], "report", report_body(), role="security_officer"), 403, "forbidden")
    ok(act(fed, item["id"], "report", report_body()))
    error(
        act(fed, item["id"], "accept", {"deadline": later(86400, now=now)}),
        422,
        "deadline_not_allowed",
    )
    error(call(county, "GET", f"{RECTIFICATIONS}/not-a-uuid"), 422, "invalid_id")
    error(
        call(county, "GET", f"{RECTIFICATIONS}/0190aaaa-0000-7000-8000-000000000001"),
        404,
        "rectification_not_found",
    )
    error(call(county, "POST", RECTIFICATIONS, json=dict(body, unit_name="")), 422, "invalid_input")
    assert fed.rows("huanglong", "SELECT action FROM audit_log WHERE decision = 'deny'") == [
        ("create-rectification",),
        ("read-rectification",),
        ("report-rectification",),
        ("report-rectification",),
    ]


def test_the_summary_carries_metadata_only() -> None:
    """Pinned bytes: what the tiers above receive of a demand (no finding, text, person, report)."""
    at = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    item = Rectification(
        id="01a23000-0000-7000-8000-000000000009",
        node="huanglong",
        held_as="own",
        unit_id="u-shuili",
        unit_name=UNIT,
        finding_record_id="01a23000-0000-7000-8000-000000000001",
        finding_record_origin="huanglong",
        content=DEMAND_LONG,
        responsible="李某",
        issued_by="某人",
        state="returned",
        version=3,
        deadline=datetime(2026, 4, 1, 0, 0),
        issued_at=at,
        updated_at=at,
        reported_at=at,
        returns=1,
        lookbacks=0,
        report_record_id="01a23000-0000-7000-8000-000000000002",
    )
    wire = summary_wire(item)
    assert canonical_json(wire.payload()).decode() == (
        '{"accepted_at":null,"closed_at":null,"deadline":"2026-04-01T00:00:00.000000Z",'
        '"id":"01a23000-0000-7000-8000-000000000009","issued_at":"2026-03-01T08:00:00.000000Z",'
        '"lookbacks":0,"node":"huanglong","reopened_at":null,'
        '"reported_at":"2026-03-01T08:00:00.000000Z","returns":1,"state":"returned",'
        '"unit_id":"u-shuili","unit_name":"县水利局","updated_at":"2026-03-01T08:00:00.000000Z",'
        '"version":3}'
    )
    assert wire.envelope_ref() == {"rectification": item.id, "version": 3}
    assert RectificationSummaryWire.model_validate(wire.payload()) == wire
