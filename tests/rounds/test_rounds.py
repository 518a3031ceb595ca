"""Inspected units, rounds and coverage through the API of real nodes (each backend): planning,
starting, reporting problems and completing rounds, coverage of the term per node and over the
subtree from the summaries each node sends upward, roles, bad input and audit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from tests.conftest import NodeUnderTest
from tests.helpers import call, error, ok
from tests.inprocess import MiniFederation

MakeFederation = Callable[..., MiniFederation]
UNITS = "/api/v1/inspected-units"
ROUNDS = "/api/v1/inspection-rounds"


def add_unit(node: NodeUnderTest, name: str, kind: str = "party_organ", **extra: Any) -> str:
    body = {"name": name, "kind": kind, "sector": "水利", **extra}
    unit: dict[str, Any] = ok(call(node, "POST", UNITS, json=body), 201)
    return str(unit["id"])


def round_body(node: NodeUnderTest, unit_ids: list[str], **extra: Any) -> dict[str, Any]:
    today = node.ctx.clock.now().date()
    body: dict[str, Any] = {
        "kind": "regular",
        "title": "十四届县委第一轮巡察",
        "theme": "落实全面从严治党主体责任",
        "inspection_group": "县委第一巡察组",
        "period_start": today.isoformat(),
        "period_end": (today + timedelta(days=45)).isoformat(),
        "unit_ids": unit_ids,
    }
    body.update(extra)
    return body


def plan(node: NodeUnderTest, unit_ids: list[str], **extra: Any) -> dict[str, Any]:
    return ok(call(node, "POST", ROUNDS, json=round_body(node, unit_ids, **extra)), 201)


def coverage(node: NodeUnderTest, **params: str) -> dict[str, Any]:
    return ok(call(node, "GET", f"{ROUNDS}/coverage", params=params))


def by_node(report: dict[str, Any], node: str) -> dict[str, Any]:
    found: dict[str, Any] = next(n for n in report["by_node"] if n["node"] == node)
    return found


def test_a_round_from_plan_to_completion_and_its_coverage(
    mini_federation: MakeFederation,
) -> None:
    fed = mini_federation("huanglong")
    county = fed["huanglong"]
    water = add_unit(county, "县水利局")
    edu = add_unit(county, "县教育局", sector="教育")
    town = add_unit(county, "白马滩镇党委", kind="township", sector="乡镇")
    unit = ok(call(county, "GET", f"{UNITS}/{town}"))
    assert (unit["kind_label"], unit["summary"], unit["inspected_in_term"]) == (
        "乡镇（街道）",
        False,
        False,
    )

    planned = plan(county, [water, edu])
    assert (planned["state"], planned["state_label"], planned["kind_label"]) == (
        "planned",
        "已计划",
        "常规巡察",
    )
    assert sorted(u["name"] for u in planned["units"]) == ["县教育局", "县水利局"]
    report = coverage(county)
    assert report["total"]["units_total"] == 3
    assert report["total"]["units_inspected"] == 0
    assert report["total"]["units_planned"] == 2
    assert report["total"]["coverage"] == 0.0

    path = f"{ROUNDS}/{planned['id']}"
    started = ok(call(county, "POST", f"{path}/start"))
    assert (started["state"], started["state_label"]) == ("in_progress", "巡察中")
    assert started["started_at"] is not None
    ok(call(county, "POST", f"{path}/progress", json={"problems_found": 7}))
    done = ok(call(county, "POST", f"{path}/complete", json={"problems_found": 12}))
    assert (done["state"], done["problems_found"], done["version"]) == ("completed", 12, 4)

    report = coverage(county)
    assert report["total"] == {
        "units_total": 3,
        "units_inspected": 2,
        "units_planned": 0,
        "coverage": round(2 / 3, 4),
        "rounds": 1,
        "rounds_in_progress": 0,
        "rounds_completed": 1,
        "problems_found": 12,
    }
    assert by_node(report, "huanglong")["node_name"] == "黄龙县"
    # The default term is the five-year term containing today.
    today = county.ctx.clock.now().date()
    start = date.fromisoformat(report["term_start"])
    end = date.fromisoformat(report["term_end"])
    assert start <= today <= end
    assert (start.month, start.day, end.month, end.day, end.year - start.year) == (1, 1, 12, 31, 4)
    # Another term: the round began outside it, nothing is covered there.
    earlier = coverage(county, term_start="2000-01-01", term_end="2004-12-31")
    assert earlier["total"]["units_inspected"] == 0
    assert earlier["total"]["rounds"] == 0

    # A look-back re-checks a unit: it adds no coverage. A unit taken off the list: not counted.
    lookback = plan(county, [town], kind="lookback")
    ok(call(county, "POST", f"{ROUNDS}/{lookback['id']}/start"))
    ok(call(county, "PATCH", f"{UNITS}/{edu}", json={"active": False}))
    report = coverage(county)
    assert (report["total"]["units_total"], report["total"]["units_inspected"]) == (2, 1)
    units = ok(call(county, "GET", UNITS, params={"active": "true"}))["items"]
    assert {u["name"]: u["inspected_in_term"] for u in units} == {
        "县水利局": True,
        "白马滩镇党委": False,
    }
    actions = [r[0] for r in fed.rows("huanglong", "SELECT action FROM audit_log ORDER BY seq")]
    for action in ("unit-create", "round-plan", "round-start", "round-progress", "round-complete"):
        assert action in actions
    assert "unit-update" in actions


def test_units_and_rounds_are_summarised_upward_and_coverage_aggregated(
    mini_federation: MakeFederation,
) -> None:
    fed = mini_federation("shaanxi", "yanan", "huanglong", "yichuan")
    county, other = fed["huanglong"], fed["yichuan"]
    units = [add_unit(county, name) for name in ("县水利局", "县财政局", "县卫健局", "县民政局")]
    ok(call(county, "POST", f"{ROUNDS}/{plan(county, units[:3])['id']}/start"))
    add_unit(other, "县水利局")  # same name at another node: its own unit
    add_unit(other, "县交通局")
    plan(other, [ok(call(other, "GET", UNITS))["items"][0]["id"]])
    fed.pump()

    report = coverage(fed["shaanxi"])
    assert by_node(report, "huanglong")["units_total"] == 4
    assert by_node(report, "huanglong")["units_inspected"] == 3
    assert by_node(report, "huanglong")["coverage"] == 0.75
    assert by_node(report, "yichuan")["units_inspected"] == 0
    assert by_node(report, "yichuan")["units_planned"] == 1
    assert by_node(report, "yanan")["units_total"] == 0
    assert report["total"]["units_total"] == 6
    assert report["total"]["units_inspected"] == 3
    assert report["total"]["rounds"] == 2
    # Summaries: general-class metadata, held as such, readable, not changeable here.
    subtree = ok(call(fed["shaanxi"], "GET", ROUNDS, params={"scope": "subtree"}))["items"]
    assert {(r["node"], r["summary"], r["planned_by"]) for r in subtree} == {
        ("huanglong", True, None),
        ("yichuan", True, None),
    }
    held = subtree[0]
    error(call(fed["shaanxi"], "POST", f"{ROUNDS}/{held['id']}/start"), 403, "not_origin")
    unit = ok(call(fed["shaanxi"], "GET", UNITS, params={"node": "huanglong"}))["items"][0]
    error(
        call(fed["shaanxi"], "PATCH", f"{UNITS}/{unit['id']}", json={"active": False}),
        403,
        "not_origin",
    )
    # Statistics carry the rounds and the coverage over the subtree.
    stats = ok(call(fed["shaanxi"], "GET", "/api/v1/stats"))["rounds"]
    assert (stats["total"], stats["in_progress"], stats["planned"]) == (2, 1, 1)
    assert stats["coverage"]["units_inspected"] == 3
    assert {(r["kind_label"], r["state_label"], r["count"]) for r in stats["by_kind"]} == {
        ("常规巡察", "巡察中", 1),
        ("常规巡察", "已计划", 1),
    }
    city = ok(call(fed["yanan"], "GET", "/api/v1/stats"))["rounds"]
    assert city["coverage"]["units_total"] == 6
    # A county sees its own subtree only.
    assert coverage(other)["total"]["units_total"] == 2
    assert [n["node"] for n in coverage(other)["by_node"]] == ["yichuan"]


def test_forged_and_misdirected_summaries_are_refused(mini_federation: MakeFederation) -> None:
    fed = mini_federation("yanan", "huanglong")
    county = fed["huanglong"]
    unit = add_unit(county, "县水利局")
    planned = plan(county, [unit])
    [unit_env] = fed.outbox("huanglong", kind="inspected-unit-summary")
    [round_env] = fed.outbox("huanglong", kind="round-summary")
    unit_payload = fed.opened(unit_env, "yanan")
    round_payload = fed.opened(round_env, "yanan")

    def forged(
        origin: str, to: str, kind: str, ref: dict[str, Any], payload: dict[str, Any]
    ) -> str:
        return fed.send_as(origin, to, kind=kind, dest=[to], ref=ref, payload=payload)

    # Another node speaking for huanglong's unit and round.
    assert (
        forged("yichuan", "yanan", "inspected-unit-summary", unit_env.ref, unit_payload)
        == "rejected:origin_mismatch"
    )
    assert (
        forged("yichuan", "yanan", "round-summary", round_env.ref, round_payload)
        == "rejected:origin_mismatch"
    )
    # A superior sending its "summary" down.
    assert (
        forged(
            "yanan", "huanglong", "round-summary", round_env.ref, dict(round_payload, node="yanan")
        )
        == "rejected:not_in_subtree"
    )
    # A summary filed under another object's reference.
    other_ref = dict(round_env.ref, round="0190aaaa-0000-7000-8000-000000000001")
    assert (
        forged("huanglong", "yanan", "round-summary", other_ref, round_payload)
        == "rejected:origin_mismatch"
    )
    # Nonsense: a negative problem count, a period that ends before it starts.
    assert (
        forged(
            "huanglong",
            "yanan",
            "round-summary",
            round_env.ref,
            dict(round_payload, problems_found=-1),
        )
        == "rejected:malformed"
    )
    backwards = dict(round_payload, period_start="2026-05-01", period_end="2026-04-01")
    assert (
        forged("huanglong", "yanan", "round-summary", round_env.ref, backwards)
        == "rejected:malformed"
    )
    fed.pump()
    assert fed.rows("yanan", "SELECT id, node, held_as FROM inspection_rounds") == [
        (planned["id"], "huanglong", "summary")
    ]
    assert fed.rows("yanan", "SELECT id, node, held_as FROM inspected_units") == [
        (unit, "huanglong", "summary")
    ]
    # Delivered again: nothing changes.
    assert fed.deliver("yanan", round_env) in ("applied", "duplicate", "rejected:replay")
    assert fed.rows("yanan", "SELECT count(*) FROM inspection_rounds") == [(1,)]


def test_roles_bad_input_and_audited_refusals(mini_federation: MakeFederation) -> None:
    fed = mini_federation("huanglong")
    county = fed["huanglong"]
    body = {"name": "县水利局", "kind": "party_organ", "sector": "水利"}
    error(call(county, "POST", UNITS, role="approver", json=body), 403, "forbidden")
    error(call(county, "POST", UNITS, role="security_officer", json=body), 403, "forbidden")
    unit = ok(call(county, "POST", UNITS, role="admin", json=body), 201)["id"]
    error(call(county, "POST", UNITS, json=body), 409, "unit_name_taken")
    error(call(county, "POST", UNITS, json=dict(body, kind="ministry")), 422, "invalid_input")
    error(call(county, "POST", UNITS, json=dict(body, name="  ")), 422, "invalid_input")
    error(call(county, "POST", UNITS, json=dict(body, name="a\x00b")), 422, "invalid_text")
    error(call(county, "PATCH", f"{UNITS}/{unit}", json={}), 422, "nothing_to_change")
    error(call(county, "GET", f"{UNITS}/not-a-uuid"), 422, "invalid_id")
    error(
        call(county, "GET", f"{UNITS}/0190aaaa-0000-7000-8000-000000000001"), 404, "unit_not_found"
    )
    for role in ("inspector", "approver", "security_officer", "admin"):
        ok(call(county, "GET", UNITS, role=role))
        ok(call(county, "GET", f"{ROUNDS}/coverage", role=role))

    missing = "0190aaaa-0000-7000-8000-000000000001"
    error(call(county, "POST", ROUNDS, json=round_body(county, [missing])), 422, "unit_not_found")
    error(call(county, "POST", ROUNDS, json=round_body(county, [])), 422, "invalid_input")
    today = county.ctx.clock.now().date()
    backwards = round_body(county, [unit], period_end=(today - timedelta(days=1)).isoformat())
    error(call(county, "POST", ROUNDS, json=backwards), 422, "invalid_period")
    too_long = round_body(county, [unit], period_end=(today + timedelta(days=4 * 366)).isoformat())
    error(call(county, "POST", ROUNDS, json=too_long), 422, "period_too_long")
    error(
        call(county, "POST", ROUNDS, json=round_body(county, [unit], kind="x")),
        422,
        "invalid_input",
    )
    error(
        call(county, "POST", ROUNDS, json=round_body(county, [unit], launch_id=missing)),
        422,
        "launch_not_found",
    )
    error(
        call(county, "POST", ROUNDS, role="approver", json=round_body(county, [unit])),
        403,
        "forbidden",
    )
    planned = plan(county, [unit])
    path = f"{ROUNDS}/{planned['id']}"
    error(call(county, "POST", f"{path}/complete", json={}), 409, "illegal_transition")
    error(
        call(county, "POST", f"{path}/progress", json={"problems_found": 1}),
        409,
        "illegal_transition",
    )
    ok(call(county, "POST", f"{path}/start"))
    error(call(county, "POST", f"{path}/start"), 409, "illegal_transition")
    error(
        call(county, "POST", f"{path}/progress", json={"problems_found": -1}), 422, "invalid_input"
    )
    error(call(county, "POST", f"{path}/progress", json={}), 422, "missing_field")
    error(
        call(county, "GET", f"{ROUNDS}/coverage", params={"term_start": "2026-01-01"}),
        422,
        "invalid_term",
    )
    error(
        call(
            county,
            "GET",
            f"{ROUNDS}/coverage",
            params={"term_start": "2026-01-01", "term_end": "2025-01-01"},
        ),
        422,
        "invalid_term",
    )
    # Bad input stored nothing.
    assert fed.rows("huanglong", "SELECT count(*) FROM inspected_units") == [(1,)]
    assert fed.rows("huanglong", "SELECT count(*), max(version) FROM inspection_rounds") == [(1, 2)]
    denied = [
        r[0] for r in fed.rows("huanglong", "SELECT action FROM audit_log WHERE decision = 'deny'")
    ]
    assert denied == ["manage-units", "manage-units", "plan-round"]


def test_listings_page_newest_first_with_filters(mini_federation: MakeFederation) -> None:
    fed = mini_federation("huanglong")
    county = fed["huanglong"]
    units = [add_unit(county, name) for name in ("县水利局", "县教育局", "县财政局")]
    add_unit(county, "城关镇", kind="township")
    first = ok(call(county, "GET", UNITS, params={"kind": "party_organ", "limit": 2}))
    assert [u["id"] for u in first["items"]] == units[:0:-1]
    assert first["next_cursor"] == units[1]
    rest = ok(
        call(
            county,
            "GET",
            UNITS,
            params={"kind": "party_organ", "limit": 2, "cursor": first["next_cursor"].upper()},
        )
    )
    assert [u["id"] for u in rest["items"]] == [units[0]]
    assert rest["next_cursor"] is None
    error(call(county, "GET", UNITS, params={"cursor": "zzz"}), 422, "invalid_cursor")

    rounds = [plan(county, [unit])["id"] for unit in units]
    ok(call(county, "POST", f"{ROUNDS}/{rounds[1]}/start"))
    started = ok(call(county, "GET", ROUNDS, params={"state": "in_progress", "scope": "own"}))
    assert [r["id"] for r in started["items"]] == [rounds[1]]
    assert started["next_cursor"] is None
    assert ok(call(county, "GET", ROUNDS, params={"scope": "subtree"}))["items"] == []
    page = ok(call(county, "GET", ROUNDS, params={"limit": 3}))
    assert [r["id"] for r in page["items"]] == rounds[::-1]
    assert page["next_cursor"] is None
