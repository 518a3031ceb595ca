"""Issue 13 across the running demo (``fedshare demo --detach --seed-size small``: five nodes, a
nats-server each, real replication, the seeded history), through the HTTP API as the demo's
users, the demo started once for the module:

1. The province (陕西省) launches a synchronised special round (同步展开) for its whole subtree;
   two counties (黄龙县, 宜川县) link rounds of their own to it, start them and report findings
   (inspection-finding records and progress with problems found); the province sees both
   started with their problems, and the city (延安市), which never started, late once the start
   date has passed. At 黄龙县 one finding becomes three rectification demands to an inspected
   unit; the unit's report is filed, the county accepts it and closes the demand off (销号) with
   the report as evidence; one demand is let go past its deadline (the nodes' clock is moved:
   the demo runs on a test clock file). The province's statistics (``/api/v1/stats``) and
   bulletin (检查通报, DOCX parsed with python-docx) show the round, the coverage, the closed and
   the overdue demand, as exact differences from what they showed before.
2. Security: at the counties, a restricted finding not naming the province, a case-secret
   finding, a problem clue with its reporter, a demand's text and person responsible and the
   unit's report carry unique markers; the province's bulletin (inspector and approver) and its
   statistics workbook, unzipped, hold none of them (a restricted finding the province is named
   in does appear: the scan can see), and a search at the province for each finds nothing.

Replication is waited for on conditions (the receiving node's API polled), never slept on; a
negative check is made only after a later envelope from the same origin has arrived."""

from __future__ import annotations

import html
import uuid
import zipfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from io import BytesIO
from typing import Any

import pytest
from docx import Document

from tests.demo import Demo, DemoNode, running_demo
from tests.helpers import docx_tables
from tests.support import wait_for

# The first test also waits for the demo to come up (minutes on a loaded machine).
pytestmark = [pytest.mark.federation, pytest.mark.timeout(1200)]

REPLICATION_S = 180
UNITS = "/api/v1/inspected-units"
ROUNDS = "/api/v1/inspection-rounds"
LAUNCHES = f"{ROUNDS}/launches"
RECTIFICATIONS = "/api/v1/rectifications"
RECORDS = "/api/v1/records"
BULLETIN = "/api/v1/bulletins/rectification.docx"
EXPORT = "/api/v1/stats/export.xlsx"
PROVINCE, CITY, COUNTIES = "shaanxi", "yanan", ("huanglong", "yichuan")
PROBLEMS = {"huanglong": 5, "yichuan": 3}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    with running_demo(tmp_path_factory.mktemp("inspection-demo") / "demo") as running:
        yield running


# -- helpers ------------------------------------------------------------------------------------


def tag() -> str:
    return uuid.uuid4().hex[:12].upper()


def record(node: DemoNode, **body: Any) -> dict[str, Any]:
    return node.post("inspector", RECORDS, body, status=201)


def held_at(node: DemoNode, made: dict[str, Any]) -> dict[str, Any] | None:
    """The record ``made`` as ``node``'s inspector reads it (a stub for a case-secret one), or
    None while it is not there."""
    response = node.get("inspector", f"{RECORDS}/{made['id']}", origin=made["origin"])
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found if found["version"] >= made["version"] else None


def settle(demo: Demo, origins: tuple[str, ...], at: str) -> None:
    """Everything ``origins`` committed so far has reached ``at`` (or never will): a general
    record made at each now reaches ``at`` along the same tree edges, behind all of it."""
    for origin in origins:
        marker = record(demo[origin], category="practice", title=f"同步标记{tag()}", body="")
        wait_for(
            lambda marker=marker: held_at(demo[at], marker),
            timeout=REPLICATION_S,
            interval=0.5,
            message=f"a marker from {origin} at {at}",
        )


def month(moment: datetime) -> str:
    return f"{moment.year:04d}-{moment.month:02d}"


def unzipped_text(content: bytes) -> str:
    """Every part of an OOXML package (DOCX, XLSX) as text: where a leak would sit. Character
    references are resolved (openpyxl writes every non-ASCII character as ``&#NNNNN;``)."""
    with zipfile.ZipFile(BytesIO(content)) as package:
        return "\n".join(
            html.unescape(package.read(name).decode("utf-8", errors="replace"))
            for name in package.namelist()
        )


def bulletin_of(node: DemoNode, role: str, since: str, until: str) -> bytes:
    response = node.get(role, BULLETIN, **{"from": since, "to": until})
    assert response.status_code == 200, response.text
    assert "wordprocessingml" in response.headers["content-type"]
    return response.content


def table(content: bytes, prefix: str) -> list[list[str]]:
    (rows,) = [
        rows
        for caption, rows in docx_tables(Document(BytesIO(content))).items()
        if caption.startswith(prefix)
    ]
    return rows


def row_of(rows: list[list[str]], *first: str) -> list[str] | None:
    found = [row for row in rows if row[: len(first)] == list(first)]
    assert len(found) <= 1, found
    return found[0] if found else None


def number(rows: list[list[str]], key: tuple[str, ...], column: int) -> int:
    row = row_of(rows, *key)
    return 0 if row is None else int(row[column])


def by(items: list[dict[str, Any]], key: str, value: Any) -> dict[str, Any]:
    (found,) = [i for i in items if i[key] == value]
    return found


def by_node(items: list[dict[str, Any]], node: str) -> dict[str, Any]:
    found = [i for i in items if i["node"] == node]
    return found[0] if found else {}


# -- 1. a synchronised round to rectification closure, seen by the province --------------------


def launch_part(node: DemoNode, launch_id: str) -> dict[str, Any] | None:
    response = node.get("inspector", f"{LAUNCHES}/{launch_id}")
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def county_round(
    demo: Demo, county: str, launch: dict[str, Any], mark: str
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """At ``county``: two inspected units, a round linked to ``launch`` covering them, started,
    a finding (restricted, naming the province) and the problems found reported. The units and
    the finding."""
    node = demo[county]
    wait_for(
        lambda: any(
            i["id"] == launch["id"] for i in node.items("inspector", LAUNCHES, box="received")
        ),
        timeout=REPLICATION_S,
        interval=0.5,
        message=f"the launch received at {county}",
    )
    units = [
        node.post(
            "inspector",
            UNITS,
            {"name": f"{node.name}{name}{mark}", "kind": kind, "sector": sector},
            status=201,
        )
        for name, kind, sector in (
            ("农业农村局", "party_organ", "农业农村"),
            ("某镇党委", "township", "乡镇"),
        )
    ]
    today = demo.now().date()
    planned = node.post(
        "inspector",
        ROUNDS,
        {
            "kind": "special",
            "title": f"{node.name}乡村振兴领域专项巡察{mark}",
            "theme": launch["theme"],
            "inspection_group": f"{node.name}第一巡察组",
            "period_start": today.isoformat(),
            "period_end": (today + timedelta(days=40)).isoformat(),
            "unit_ids": [u["id"] for u in units],
            "launch_id": launch["id"],
        },
        status=201,
    )
    assert (planned["launch_id"], planned["launch_origin"]) == (launch["id"], PROVINCE)
    started = node.post("inspector", f"{ROUNDS}/{planned['id']}/start")
    assert started["state"] == "in_progress"
    finding = record(
        node,
        category="inspection_finding",
        classification="restricted",
        parties=[PROVINCE],
        title=f"{units[0]['name']}巡察发现问题汇总{mark}",
        body=f"发现问题{PROBLEMS[county]}个，涉及惠农补贴发放不规范。",
    )
    progressed = node.post(
        "inspector",
        f"{ROUNDS}/{planned['id']}/progress",
        {"problems_found": PROBLEMS[county]},
    )
    assert progressed["problems_found"] == PROBLEMS[county]
    return units, finding


def test_synchronised_round_to_rectification_closure_seen_by_the_province(demo: Demo) -> None:
    province, city, huanglong = demo[PROVINCE], demo[CITY], demo["huanglong"]
    mark = tag()
    # The seeded history (and any earlier test) has settled at the province: the figures below
    # are compared with what it shows now.
    settle(demo, (CITY, *COUNTIES), PROVINCE)
    start = demo.now()
    since, until = month(start - timedelta(days=1)), month(start + timedelta(days=2))
    before_stats = province.json("inspector", "/api/v1/stats")
    before_bulletin = bulletin_of(province, "inspector", since, until)

    # The province launches a synchronised round for its whole subtree.
    launch = province.post(
        "inspector",
        LAUNCHES,
        {
            "kind": "special",
            "title": f"全省乡村振兴领域专项巡察同步展开{mark}",
            "theme": "乡村振兴领域资金使用和干部作风问题",
            "requirements": "各市县同步开展专项巡察，按期报送发现问题情况。",
            "whole_subtree": True,
            "start_by": (start + timedelta(minutes=10)).isoformat(),
            "deadline": (start + timedelta(days=30)).isoformat(),
        },
        status=201,
    )
    assert launch["addressees"] == sorted([CITY, *COUNTIES])
    assert (launch["held_as"], launch["started"], launch["late"]) == ("launcher", 0, 0)

    # Both counties link rounds to it, start them and report findings.
    counties = {county: county_round(demo, county, launch, mark) for county in COUNTIES}

    # The province sees both started with their problems; the city has received it only.
    def both_started() -> dict[str, Any] | None:
        seen = launch_part(province, launch["id"])
        if seen is None:
            return None
        parts = {t["addressee"]: t for t in seen["targets"]}
        done = all(
            parts[c]["state"] == "started" and parts[c]["problems_found"] == PROBLEMS[c]
            for c in COUNTIES
        )
        return seen if done and parts[CITY]["state"] == "received" else None

    seen = wait_for(
        both_started, timeout=REPLICATION_S, interval=0.5, message="both counties started"
    )
    assert (seen["started"], seen["late"], seen["problems_found"]) == (2, 0, 8)
    for county in COUNTIES:
        part = by(seen["targets"], "addressee", county)
        assert part["state_label"] == "已启动"
        assert part["round_title"] == f"{demo[county].name}乡村振兴领域专项巡察{mark}"
        assert part["started_at"] is not None
        assert part["late"] is False

    # At 黄龙县 the finding becomes three demands to its first unit.
    units, finding = counties["huanglong"]
    unit = units[0]
    now = demo.now()
    deadlines = {
        "closed": now + timedelta(days=20),
        "overdue": now + timedelta(minutes=10),
        "open": now + timedelta(days=25),
    }
    made = huanglong.post(
        "inspector",
        RECTIFICATIONS,
        {
            "finding_record_id": finding["id"],
            "unit_name": unit["name"],
            "unit_id": unit["id"],
            "demands": [
                {
                    "content": f"整改要求{which}：规范惠农补贴发放程序。",
                    "deadline": deadline.isoformat(),
                    "responsible": "县农业农村局局长",
                }
                for which, deadline in deadlines.items()
            ],
        },
        status=201,
    )["items"]
    demand = {
        which: next(i for i in made if i["content"].startswith(f"整改要求{which}"))
        for which in deadlines
    }
    assert {i["state"] for i in made} == {"issued"}

    # The unit's report is filed; the county accepts it and closes the demand off with it.
    closing = demand["closed"]["id"]
    reported = huanglong.post(
        "inspector",
        f"{RECTIFICATIONS}/{closing}/report",
        {"title": f"{unit['name']}整改情况报告", "body": "已建立补贴发放公示和复核制度。"},
    )
    assert (reported["state"], reported["state_label"]) == ("reported", "已报送整改情况")
    report_id = reported["report_record_id"]
    accepted = huanglong.post(
        "approver", f"{RECTIFICATIONS}/{closing}/accept", {"note": "整改到位"}
    )
    assert accepted["state"] == "accepted"
    closed = huanglong.post(
        "inspector",
        f"{RECTIFICATIONS}/{closing}/close",
        {"evidence": [{"record_id": report_id}], "note": "予以销号"},
    )
    assert (closed["state"], closed["state_label"]) == ("closed", "已销号")
    history = huanglong.json("inspector", f"{RECTIFICATIONS}/{closing}")["events"]
    assert [e["action"] for e in history] == ["issue", "report", "accept", "close"]
    assert [e["record_id"] for e in history[-1]["evidence"]] == [report_id]
    # The report is a restricted record naming the county's superior: the city reads it.
    wait_for(
        lambda: held_at(city, {"id": report_id, "origin": "huanglong", "version": 1}),
        timeout=REPLICATION_S,
        interval=0.5,
        message="the unit's report at the city",
    )

    # Time passes (every node's clock is moved) beyond the launch's start date and the overdue
    # demand's deadline; nothing seeded has a deadline in this stretch (they are days apart).
    latest = max(deadlines["overdue"], start + timedelta(minutes=10))
    demo.advance_clock((latest - demo.now()).total_seconds() + 120)

    # The province holds a summary of each demand: the closed one, the overdue one, the open one.
    def summaries() -> dict[str, dict[str, Any]] | None:
        items = province.items(
            "inspector", RECTIFICATIONS, scope="subtree", unit_name=unit["name"], limit=200
        )
        held = {i["id"]: i for i in items}
        wanted = {
            demand["closed"]["id"]: ("closed", False),
            demand["overdue"]["id"]: ("issued", True),
            demand["open"]["id"]: ("issued", False),
        }
        if {k: (held[k]["state"], held[k]["overdue"]) for k in held} != wanted:
            return None
        return held

    held = wait_for(
        summaries, timeout=REPLICATION_S, interval=0.5, message="the demands at the province"
    )
    for item in held.values():
        assert (item["summary"], item["node"]) == (True, "huanglong")
        for private in ("content", "responsible", "report_record_id", "events"):
            assert item[private] is None, private
    overdue_at_province = province.items(
        "inspector", RECTIFICATIONS, scope="subtree", overdue="true", node="huanglong", limit=200
    )
    assert demand["overdue"]["id"] in {i["id"] for i in overdue_at_province}
    seen = launch_part(province, launch["id"])
    assert seen is not None
    assert (seen["started"], seen["late"], seen["problems_found"]) == (2, 1, 8)
    assert by(seen["targets"], "addressee", CITY)["late"] is True

    # The province's statistics: exactly this round, these units and these demands more.
    def stats_moved() -> dict[str, Any] | None:
        stats = province.json("inspector", "/api/v1/stats")
        mine = by_node(stats["rectification"]["by_node"], "huanglong")
        old = by_node(before_stats["rectification"]["by_node"], "huanglong")
        return stats if mine.get("total", 0) - old.get("total", 0) == 3 else None

    after_stats = wait_for(
        stats_moved, timeout=REPLICATION_S, interval=0.5, message="the demands in the statistics"
    )
    check_stats(before_stats, after_stats)

    # The province's bulletin: the demands by unit, the overdue list, the closure, the rounds and
    # the coverage, and both counties' findings.
    after_bulletin = bulletin_of(province, "inspector", since, until)
    check_bulletin(demo, before_bulletin, after_bulletin, unit["name"], mark)
    # Its synchronised round, each addressee's part: both counties started, the city late.
    parts = table(after_bulletin, "本级部署的同步巡察落实情况")
    assert {row[1]: (row[2], row[5], row[6]) for row in parts if row[0] == launch["title"]} == {
        demo["huanglong"].name: ("已启动", "否", "5"),
        demo["yichuan"].name: ("已启动", "否", "3"),
        city.name: ("已接收", "是", "0"),
    }


def delta(before: dict[str, Any], after: dict[str, Any], *keys: str) -> dict[str, int]:
    return {k: int(after.get(k, 0)) - int(before.get(k, 0)) for k in keys}


def check_stats(before: dict[str, Any], after: dict[str, Any]) -> None:
    b, a = before["rectification"], after["rectification"]
    assert delta(b, a, "total", "open", "overdue", "closed") == {
        "total": 3,
        "open": 2,
        "overdue": 1,
        "closed": 1,
    }
    assert delta(
        by_node(b["by_node"], "huanglong"),
        by_node(a["by_node"], "huanglong"),
        "total",
        "open",
        "overdue",
        "closed",
    ) == {"total": 3, "open": 2, "overdue": 1, "closed": 1}
    states = {s["state"] for s in a["by_state"]}
    changes = {
        state: delta(
            next((s for s in b["by_state"] if s["state"] == state), {}),
            by(a["by_state"], "state", state),
            "count",
            "overdue",
        )
        for state in states
    }
    assert changes["closed"] == {"count": 1, "overdue": 0}
    assert changes["issued"] == {"count": 2, "overdue": 1}
    assert all(
        v == {"count": 0, "overdue": 0} for s, v in changes.items() if s not in {"closed", "issued"}
    )
    assert by(a["by_state"], "state", "closed")["state_label"] == "已销号"

    b, a = before["rounds"], after["rounds"]
    assert delta(b, a, "total", "planned", "in_progress", "completed", "problems_found") == {
        "total": 2,
        "planned": 0,
        "in_progress": 2,
        "completed": 0,
        "problems_found": 8,
    }

    def kind_row(stats: dict[str, Any]) -> dict[str, Any]:
        rows = [
            r for r in stats["by_kind"] if (r["kind"], r["state"]) == ("special", "in_progress")
        ]
        return rows[0] if rows else {}

    assert delta(kind_row(b), kind_row(a), "count", "problems_found") == {
        "count": 2,
        "problems_found": 8,
    }
    assert kind_row(a)["kind_label"] == "专项巡察"
    assert delta(b["coverage"], a["coverage"], "units_total", "units_inspected") == {
        "units_total": 4,
        "units_inspected": 4,
    }
    for county in COUNTIES:
        assert delta(
            by_node(b["coverage_by_node"], county),
            by_node(a["coverage_by_node"], county),
            "units_total",
            "units_inspected",
            "rounds",
            "rounds_in_progress",
            "problems_found",
        ) == {
            "units_total": 2,
            "units_inspected": 2,
            "rounds": 1,
            "rounds_in_progress": 1,
            "problems_found": PROBLEMS[county],
        }
    assert delta(
        b["launches"],
        a["launches"],
        "launched",
        "targets",
        "started",
        "late",
        "overdue",
        "problems_found",
    ) == {"launched": 1, "targets": 3, "started": 2, "late": 1, "overdue": 0, "problems_found": 8}


def check_bulletin(demo: Demo, before: bytes, after: bytes, unit_name: str, mark: str) -> None:
    county = demo["huanglong"].name
    by_unit = table(after, "整改意见按被巡察单位统计")
    assert by_unit[0] == ["被巡察单位", "巡察机构", "整改意见数", "未完成", "逾期", "已销号"]
    assert row_of(by_unit, unit_name) == [unit_name, county, "3", "2", "1", "1"]
    overdue = table(after, "逾期未报送整改情况清单")
    (late,) = [row for row in overdue if row[0] == unit_name]
    assert late[1:3] == [county, "待整改"]
    closures = table(after, "本期销号的整改意见")
    assert [row[:2] for row in closures if row[0] == unit_name] == [[unit_name, county]]
    assert row_of(table(before, "整改意见按被巡察单位统计"), unit_name) is None

    key = ("专项巡察", "巡察中")
    kinds_before, kinds_after = table(before, "本期开展巡察轮次"), table(after, "本期开展巡察轮次")
    assert number(kinds_after, key, 2) - number(kinds_before, key, 2) == 2
    assert number(kinds_after, key, 3) - number(kinds_before, key, 3) == 8
    cover_before, cover_after = (
        table(before, "本届任期巡察全覆盖情况"),
        table(after, "本届任期巡察全覆盖情况"),
    )
    assert cover_after[0] == [
        "单位",
        "被巡察单位",
        "已巡察",
        "已计划未巡察",
        "覆盖率",
        "本期轮次",
        "本期发现问题",
    ]
    for node_id in COUNTIES:
        name = demo[node_id].name
        changes = [
            number(cover_after, (name,), c) - number(cover_before, (name,), c) for c in (1, 2, 5, 6)
        ]
        assert changes == [2, 2, 1, PROBLEMS[node_id]], name
    findings = table(after, "巡视巡察发现问题")
    titles = {row[3] for row in findings[1:]}
    for node_id in COUNTIES:
        wanted = f"{demo[node_id].name}农业农村局{mark}巡察发现问题汇总{mark}"
        assert wanted in titles, titles


# -- 2. the province's bulletin, workbook and search hold nothing it may not read ---------------


def test_province_bulletin_workbook_and_search_hold_nothing_it_may_not_read(demo: Demo) -> None:
    province, city = demo[PROVINCE], demo[CITY]
    huanglong, yichuan = demo["huanglong"], demo["yichuan"]
    secret = {
        name: f"{name.replace('_', '').upper()}{uuid.uuid4().hex[:16].upper()}"
        for name in (
            "restricted_title",
            "restricted_body",
            "secret_title",
            "secret_body",
            "clue_title",
            "clue_body",
            "reporter_name",
            "reporter_contact",
            "demand_text",
            "responsible",
            "report_title",
            "report_body",
        )
    }
    # At 黄龙县: a finding restricted to the city (not naming the province), a case-secret
    # finding, and demands from the first with their text, person responsible and report.
    restricted = record(
        huanglong,
        category="inspection_finding",
        classification="restricted",
        parties=[CITY],
        title=f"限定知悉范围的巡察发现{secret['restricted_title']}",
        body=f"仅报市委巡察办{secret['restricted_body']}",
    )
    case_secret = record(
        huanglong,
        category="inspection_finding",
        classification="secret",
        title=f"涉案巡察发现{secret['secret_title']}",
        body=f"涉案内容{secret['secret_body']}",
    )
    unit_name = f"黄龙县住建局{tag()}"
    (demand,) = huanglong.post(
        "inspector",
        RECTIFICATIONS,
        {
            "finding_record_id": restricted["id"],
            "unit_name": unit_name,
            "demands": [
                {
                    "content": f"整改保障房分配问题{secret['demand_text']}",
                    "deadline": (demo.now() + timedelta(days=30)).isoformat(),
                    "responsible": f"局长{secret['responsible']}",
                }
            ],
        },
        status=201,
    )["items"]
    reported = huanglong.post(
        "inspector",
        f"{RECTIFICATIONS}/{demand['id']}/report",
        {
            "title": f"整改情况报告{secret['report_title']}",
            "body": f"已整改{secret['report_body']}",
        },
    )
    huanglong.post("inspector", f"{RECTIFICATIONS}/{demand['id']}/accept", {"note": "通过"})
    huanglong.post(
        "inspector",
        f"{RECTIFICATIONS}/{demand['id']}/close",
        {"evidence": [{"record_id": reported["report_record_id"]}]},
    )
    # At 宜川县: a problem clue (case-secret) with its reporter.
    clue = record(
        yichuan,
        category="problem_clue",
        title=f"问题线索{secret['clue_title']}",
        body=f"反映问题{secret['clue_body']}",
        reporter={"name": f"张{secret['reporter_name']}", "contact": secret["reporter_contact"]},
    )
    # Made last at each county: what the province may read (a finding naming it).
    visible = {
        county: record(
            demo[county],
            category="inspection_finding",
            classification="restricted",
            parties=[PROVINCE],
            title=f"{demo[county].name}可见的巡察发现VISIBLE{tag()}",
            body="",
        )
        for county in COUNTIES
    }

    # Arrived (after everything made before them): the findings naming the province, the stubs,
    # the closed demand's summary; the restricted finding and the report at the city only.
    for made in visible.values():
        wait_for(
            lambda made=made: held_at(province, made),
            timeout=REPLICATION_S,
            interval=0.5,
            message="the visible findings at the province",
        )
    for made in (case_secret, clue):
        stub = held_at(province, made)
        assert stub is not None
        assert stub["stub"] is True
        assert "title" not in stub
    wait_for(
        lambda: held_at(city, restricted),
        timeout=REPLICATION_S,
        interval=0.5,
        message="the restricted finding at the city",
    )
    assert held_at(province, restricted) is None
    report = {"id": reported["report_record_id"], "origin": "huanglong", "version": 1}
    assert held_at(province, report) is None
    wait_for(
        lambda: (
            [
                i["state"]
                for i in province.items(
                    "inspector", RECTIFICATIONS, scope="subtree", unit_name=unit_name
                )
            ]
            == ["closed"]
        ),
        timeout=REPLICATION_S,
        interval=0.5,
        message="the closed demand's summary at the province",
    )

    now = demo.now()
    since, until = month(now - timedelta(days=1)), month(now + timedelta(days=1))
    documents = {
        f"bulletin ({role})": bulletin_of(province, role, since, until)
        for role in ("inspector", "approver")
    }
    workbook = province.get("inspector", EXPORT)
    assert workbook.status_code == 200, workbook.text
    documents["workbook"] = workbook.content
    for what, content in documents.items():
        text = unzipped_text(content)
        leaked = [name for name, marker in secret.items() if marker in text]
        assert not leaked, f"the province's {what} holds {leaked}"
        # The scan sees text: the unit's name (a summary) is in every bulletin, a county in all.
        assert demo["huanglong"].name in text
        if what.startswith("bulletin"):
            assert unit_name in text
            for made in visible.values():
                assert made["title"] in text, f"{what} misses a finding the province may read"

    # A search at the province finds none of it, for any of its users; what it may read, it finds.
    for role in ("inspector", "approver", "security_officer", "admin"):
        for name, marker in secret.items():
            found = province.items(role, RECORDS, q=marker)
            assert found == [], f"{role} found {name}: {found}"
    for made in visible.values():
        marker = made["title"].rsplit("VISIBLE", 1)[1]
        found = province.items("inspector", RECORDS, q=f"VISIBLE{marker}")
        assert [(i["id"], i["origin"]) for i in found] == [(made["id"], made["origin"])]
    # The markers are where they belong: the restricted finding found by search at the city.
    found = city.items("inspector", RECORDS, q=secret["restricted_title"])
    assert [i["id"] for i in found] == [restricted["id"]]
