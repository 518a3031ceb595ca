"""The rectification status bulletin (检查通报, ``/api/v1/bulletins/rectification.docx``): a Word
document whose figures and tables are those of ``/api/v1/stats`` for the same subtree and months,
naming only what the requester may read; bad parameters and roles refused with stable codes;
every bulletin audited. And the statistics workbook: one sheet per table of ``/api/v1/stats``."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from io import BytesIO
from typing import Any

import pytest
from docx import Document
from docx.document import Document as DocumentType
from docx.oxml.ns import qn
from openpyxl import load_workbook

from node.stats.bulletin import tree_order
from node.stats.export import TABLE_SHEETS
from tests.helpers import call, docx_tables, error, later, ok, order_body
from tests.inprocess import MiniFederation

MakeFederation = Callable[..., MiniFederation]
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
BULLETIN = "/api/v1/bulletins/rectification.docx"
# Mid-month, so that the clock moves of a test stay in one month; after the demo certificates'
# not_before.
START = datetime(2027, 3, 10, 9, 0, tzinfo=UTC)
MONTH = "2027-03"


def docx_of(response: Any) -> DocumentType:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == DOCX
    assert "attachment" in response.headers["content-disposition"]
    document: DocumentType = Document(BytesIO(response.content))
    return document


def text_of(document: DocumentType) -> str:
    return "\n".join(p.text for p in document.paragraphs)


def xml_parts(content: bytes) -> Iterator[str]:
    """Every part of an OOXML package (DOCX, XLSX) as text: where a leak would sit."""
    with zipfile.ZipFile(BytesIO(content)) as package:
        for name in package.namelist():
            yield package.read(name).decode("utf-8", errors="replace")


def record(node: Any, role: str = "inspector", **body: Any) -> dict[str, Any]:
    return ok(call(node, "POST", "/api/v1/records", role=role, json=body), 201)


def transfer(node: Any, deadline_s: float) -> dict[str, Any]:
    body = {
        "title": "县水利局负责人违规插手工程项目问题线索",
        "department": "纪委监委第三监督检查室",
        "responsible": "张明",
        "feedback_deadline": later(deadline_s, now=node.clock.now()),
    }
    return ok(call(node, "POST", "/api/v1/ledger", json=body), 201)


@pytest.fixture
def fed(mini_federation: MakeFederation) -> MiniFederation:
    federation = mini_federation("shaanxi", "yanan", "huanglong")
    federation.clock.set(START)
    return federation


RECTIFICATIONS = "/api/v1/rectifications"
UNITS = "/api/v1/inspected-units"
ROUNDS = "/api/v1/inspection-rounds"


def unit(node: Any, name: str) -> str:
    body = {"name": name, "kind": "party_organ", "sector": "水利"}
    return str(ok(call(node, "POST", UNITS, json=body), 201)["id"])


def started_round(node: Any, unit_ids: list[str], problems: int) -> None:
    today = node.clock.now().date()
    body = {
        "kind": "regular",
        "title": "十四届县委第一轮巡察",
        "theme": "落实全面从严治党主体责任",
        "inspection_group": "县委第一巡察组",
        "period_start": today.isoformat(),
        "period_end": (today + timedelta(days=45)).isoformat(),
        "unit_ids": unit_ids,
    }
    planned = ok(call(node, "POST", ROUNDS, json=body), 201)
    ok(call(node, "POST", f"{ROUNDS}/{planned['id']}/start"))
    ok(call(node, "POST", f"{ROUNDS}/{planned['id']}/progress", json={"problems_found": problems}))


def demands(
    node: Any,
    finding_id: str,
    unit: str,
    *deadlines_s: float,
    content: str = "针对工程项目招投标管理不规范问题建立台账逐项整改",
    responsible: str = "李某",
) -> list[dict[str, Any]]:
    body = {
        "finding_record_id": finding_id,
        "unit_name": unit,
        "demands": [
            {
                "content": content,
                "deadline": later(deadline_s, now=node.clock.now()),
                "responsible": responsible,
            }
            for deadline_s in deadlines_s
        ],
    }
    items: list[dict[str, Any]] = ok(call(node, "POST", RECTIFICATIONS, json=body), 201)["items"]
    return items


def close_off(node: Any, demand_id: str, report_body: str = "已完成排查，修订制度5项") -> None:
    path = f"{RECTIFICATIONS}/{demand_id}"
    report = {"title": "关于巡察反馈问题整改情况的报告", "body": report_body}
    reported = ok(call(node, "POST", f"{path}/report", json=report))
    ok(call(node, "POST", f"{path}/accept", role="approver", json={"note": "整改到位"}))
    evidence = {"evidence": [{"record_id": reported["report_record_id"]}], "note": "同意销号"}
    ok(call(node, "POST", f"{path}/close", json=evidence))


def seed_work(fed: MiniFederation) -> None:
    """Orders to the city and the county (one of them overdue later), clues transferred by the
    county (one overdue later), findings and a case-secret clue at the county, and the county's
    rectification demands to two units (one closed off, one overdue later)."""
    province, county = fed["shaanxi"], fed["huanglong"]
    now = province.clock.now()
    ok(
        call(province, "POST", "/api/v1/orders", json=order_body("yanan", "huanglong", now=now)),
        201,
    )
    ok(
        call(
            province,
            "POST",
            "/api/v1/orders",
            json=order_body("huanglong", deadline_s=86400, now=now),
        ),
        201,
    )
    transfer(county, 3600)
    transfer(county, 30 * 86400)
    finding = record(
        county, category="inspection_finding", title="县水利局项目管理问题", parties=["shaanxi"]
    )
    closed, _late = demands(county, finding["id"], "县水利局", 30 * 86400, 3600)
    demands(county, finding["id"], "县教育局", 30 * 86400)
    close_off(county, closed["id"])
    water, edu = unit(county, "县水利局"), unit(county, "县教育局")
    unit(county, "白马滩镇党委")
    started_round(county, [water, edu], problems=5)
    unit(fed["yanan"], "市财政局")
    record(county, category="problem_clue", title="线索")
    record(province, category="policy", title="关于加强巡察整改的通知")
    fed.pump()
    fed.clock.advance(2 * 86400)


def test_the_bulletin_holds_the_statistics(fed: MiniFederation) -> None:
    seed_work(fed)
    province = fed["shaanxi"]
    stats = ok(call(province, "GET", f"/api/v1/stats?since={MONTH}&until={MONTH}"))
    document = docx_of(call(province, "GET", f"{BULLETIN}?from={MONTH}&to={MONTH}"))
    text = text_of(document)
    assert "陕西省巡视巡察整改落实情况通报" in text
    assert "发布单位：陕西省" in text
    assert "2027年3月" in text
    assert "陕西省及所辖" in text
    records, orders, ledger = stats["records"], stats["orders"], stats["ledger"]
    assert records["total"] == 3  # the rectification report names the city only
    assert f"共登记信息记录{records['total']}条" in text
    assert records["stubs"] == 1
    assert f"其中以摘要掌握的涉案类保密信息{records['stubs']}条" in text
    assert (orders["total"], orders["overdue"]) == (3, 1)
    assert f"交办事项共{orders['total']}件次" in text
    assert f"逾期未办结{orders['overdue']}件次" in text
    assert (ledger["total"], ledger["overdue"]) == (2, 1)
    assert f"问题线索共{ledger['total']}件" in text
    assert f"逾期未反馈{ledger['overdue']}件" in text

    found = docx_tables(document)
    assert found["交办事项按状态统计"][0] == ["状态", "件数", "其中逾期"]
    assert found["交办事项按状态统计"][1:] == [
        [s["state_label"], str(s["count"]), str(s["overdue"])] for s in orders["by_state"]
    ]
    assert found["移交线索按单位统计"][1:] == [
        [n["node_name"], str(n["total"]), str(n["open"]), str(n["overdue"]), str(n["closed"])]
        for n in ledger["by_node"]
    ]
    [late_order] = found["逾期交办事项清单"][1:]
    assert late_order[:3] == ["黄龙县", "陕西省", "已接收"]
    assert late_order[4] == "2027-03-11"
    assert late_order[5] == "1"
    [late_clue] = found["逾期移交线索清单"][1:]
    assert late_clue[:3] == ["黄龙县", "纪委监委第三监督检查室", "已移交"]
    assert late_clue[4] == "2027-03-10"
    rectification = stats["rectification"]
    assert (rectification["total"], rectification["overdue"], rectification["closed"]) == (3, 1, 1)
    assert f"提出整改意见{rectification['total']}条，涉及被巡察单位2个" in text
    assert f"已销号{rectification['closed']}条" in text
    assert f"其中逾期未报送整改情况{rectification['overdue']}条" in text
    assert "本期共销号整改意见1条" in text
    assert found["整改意见按状态统计"][1:] == [
        [s["state_label"], str(s["count"]), str(s["overdue"])] for s in rectification["by_state"]
    ]
    assert found["整改意见按巡察机构统计"][1:] == [
        [n["node_name"], str(n["total"]), str(n["open"]), str(n["overdue"]), str(n["closed"])]
        for n in rectification["by_node"]
    ]
    assert found["整改意见按被巡察单位统计"][1:] == [
        ["县教育局", "黄龙县", "1", "1", "0", "0"],
        ["县水利局", "黄龙县", "2", "1", "1", "1"],
    ]
    assert found["逾期未报送整改情况清单（按被巡察单位）"][1:] == [
        ["县水利局", "黄龙县", "待整改", "2027-03-10", "2027-03-10", "1"]
    ]
    assert found["本期销号的整改意见"][1:] == [["县水利局", "黄龙县", "2027-03-10", "2027-03-10"]]
    rounds = stats["rounds"]
    coverage = ok(call(province, "GET", f"{ROUNDS}/coverage"))
    assert (coverage["total"]["units_total"], coverage["total"]["units_inspected"]) == (4, 2)
    assert "共有被巡察单位4个，已巡察2个，覆盖率50.0%" in text
    assert f"期间开展巡察{rounds['total']}轮次，发现问题{rounds['problems_found']}个" in text
    assert found["本期开展巡察轮次（按方式和状态）"][1:] == [
        [k["kind_label"], k["state_label"], str(k["count"]), str(k["problems_found"])]
        for k in rounds["by_kind"]
    ]
    [term_table] = [rows for caption, rows in found.items() if caption.startswith("本届任期")]
    # Each node before those below it: the province first.
    order = tree_order(province.ctx, "shaanxi")
    assert order[:3] == ["shaanxi", "yanan", "huanglong"]
    assert term_table[1][0] == "陕西省"
    assert term_table[1:] == [
        [
            n["node_name"],
            str(n["units_total"]),
            str(n["units_inspected"]),
            str(n["units_planned"]),
            "—" if n["coverage"] is None else f"{n['coverage'] * 100:.1f}%",
            str(n["rounds"]),
            str(n["problems_found"]),
        ]
        for n in sorted(coverage["by_node"], key=lambda n: order.index(n["node"]))
    ]
    # The finding naming the province is readable there; the case-secret clue only counted.
    assert [row[1:] for row in found["巡视巡察发现问题（标题）"][1:]] == [
        ["限定知悉范围信息", "2027-03-10", "县水利局项目管理问题"]
    ]
    # Chinese fonts on the East Asian slot: 宋体 for the body, 黑体 for headings.
    styles = document.styles
    normal = styles["Normal"].element.rPr.rFonts
    assert normal.get(qn("w:eastAsia")) == "宋体"
    assert styles["Heading 1"].element.rPr.rFonts.get(qn("w:eastAsia")) == "黑体"
    assert styles["Title"].element.rPr.rFonts.get(qn("w:eastAsia")) == "黑体"
    # One audit entry per bulletin, with its period and subtree.
    assert fed.rows(
        "shaanxi",
        "SELECT action, object_id, reason FROM audit_log WHERE object_type = 'bulletin'",
    ) == [("bulletin", "shaanxi", f"rectification {MONTH}..{MONTH}")]


def test_a_bulletin_of_part_of_the_subtree_and_of_other_months(fed: MiniFederation) -> None:
    seed_work(fed)
    province = fed["shaanxi"]
    county = ok(call(fed["huanglong"], "GET", "/api/v1/stats"))
    document = docx_of(
        call(province, "GET", f"{BULLETIN}?from={MONTH}&to={MONTH}&subtree=huanglong")
    )
    text = text_of(document)
    assert "黄龙县巡视巡察整改落实情况通报" in text
    assert "发布单位：陕西省" in text
    assert "统计范围：黄龙县\n" in text
    # The county's own figures (two orders to it, one overdue), not the city's order.
    assert county["orders"]["total"] == 2
    assert f"交办事项共{county['orders']['total']}件次" in text
    assert [row[0] for row in docx_tables(document)["交办事项按单位统计"][1:]] == ["黄龙县"]
    # A period before anything happened: all zero, tables marked empty.
    empty = text_of(docx_of(call(province, "GET", f"{BULLETIN}?from=2026-12&to=2027-02")))
    assert "2026年12月至2027年2月" in empty
    assert "交办事项共0件次" in empty
    assert "（本期无。）" in empty
    # Defaults: January to this month.
    default = text_of(docx_of(call(province, "GET", BULLETIN)))
    assert "2027年1月至2027年3月" in default
    assert "交办事项共3件次" in default


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("from=2027-13", "invalid_month"),
        ("to=2027-3", "invalid_month"),
        ("from=27-03", "invalid_month"),
        ("from=2027-04&to=2027-03", "invalid_period"),
        ("subtree=nowhere", "unknown_node"),
        ("subtree=central", "node_not_in_subtree"),
        ("subtree=shaanxi", "node_not_in_subtree"),
        ("from=2027-03-01", "invalid_input"),
    ],
)
def test_bad_parameters_are_refused(mini_federation: MakeFederation, query: str, code: str) -> None:
    fed = mini_federation("yanan")
    error(call(fed["yanan"], "GET", f"{BULLETIN}?{query}"), 422, code)
    assert fed.rows("yanan", "SELECT count(*) FROM audit_log WHERE action = 'bulletin'") == [(0,)]


@pytest.mark.parametrize("role", ["admin", "security_officer"])
def test_only_inspectors_and_approvers_issue_bulletins(
    mini_federation: MakeFederation, role: str
) -> None:
    fed = mini_federation("shaanxi")
    node = fed["shaanxi"]
    error(call(node, "GET", BULLETIN, role=role), 403, "forbidden")
    assert fed.rows(
        "shaanxi",
        "SELECT action, decision FROM audit_log WHERE object_type = 'bulletin'",
    ) == [("issue-bulletin", "deny")]
    docx_of(call(node, "GET", BULLETIN, role="approver"))


def test_a_bulletin_never_holds_what_its_reader_may_not_read(fed: MiniFederation) -> None:
    """Restricted and case-secret titles, bodies and reporters carry unique markers; every XML
    part of every bulletin and workbook is scanned for them. Titles the reader may read are
    found by the same scan, so the scan can fail."""
    province, city, county = fed["shaanxi"], fed["yanan"], fed["huanglong"]
    secret: list[str] = []

    def marker(name: str) -> str:
        value = f"XQ{name}{len(secret):02d}ZK"
        secret.append(value)
        return value

    # At the county: a finding naming only the city (the province never holds it)...
    for_city = "VISIBLE-CITY"
    city_finding = record(
        county,
        category="inspection_finding",
        title=f"县财政局问题{for_city}",
        body=f"正文{marker('BODYCITY')}",
        parties=["yanan"],
    )
    # ...a case-secret finding (released below to a province inspector) and a clue naming a
    # reporter, both read by the county's own staff.
    released = record(
        county,
        category="inspection_finding",
        classification="secret",
        title=f"涉案发现{marker('SECRETTITLE')}",
        body=f"正文{marker('SECRETBODY')}",
    )
    record(
        county,
        category="problem_clue",
        title=f"线索{marker('CLUETITLE')}",
        body=f"正文{marker('CLUEBODY')}",
        reporter={"name": f"举报人{marker('REPORTER')}", "contact": marker("CONTACT")},
    )
    # Rectification demands from that finding: their text, the person responsible and the
    # unit's report body stay out (the unit's name is a summary field, printed).
    closed, _open = demands(
        county,
        city_finding["id"],
        "县财政局",
        30 * 86400,
        60,
        content=f"整改要求{marker('DEMAND')}",
        responsible=f"责任人{marker('RESPONSIBLE')}",
    )
    close_off(county, closed["id"], report_body=f"整改报告{marker('REPORT')}")
    # At the province: its own restricted finding (title readable there, body never printed),
    # and its own case-secret finding (never named, even to its readers).
    for_province = "VISIBLE-PROVINCE"
    record(
        province,
        category="inspection_finding",
        title=f"省直单位问题{for_province}",
        body=f"正文{marker('OWNBODY')}",
        parties=["yanan"],
    )
    record(
        province,
        category="inspection_finding",
        classification="secret",
        title=f"省级涉案{marker('OWNSECRET')}",
    )
    fed.pump()
    fed.clock.advance(120)
    # The county's case-secret finding released to the province's inspector.
    asked = ok(
        call(
            province,
            "POST",
            "/api/v1/access-requests",
            json={
                "record_id": released["id"],
                "reason": "省委巡视组核查该问题涉及的省管干部",
                "duration_s": 3600,
            },
        ),
        201,
    )
    fed.pump()
    ok(
        call(
            county,
            "POST",
            f"/api/v1/access-requests/{asked['id']}/approve",
            role="approver",
            json={"comment": "同意调阅"},
        )
    )
    fed.pump()
    shown = ok(call(province, "GET", f"/api/v1/records/{released['id']}"))
    assert "涉案发现" in shown["title"]

    def scanned(node: Any, role: str, path: str) -> str:
        response = call(node, "GET", path, role=role)
        assert response.status_code == 200, response.text
        whole = "\n".join(xml_parts(response.content))
        leaked = [m for m in secret if m in whole]
        assert leaked == [], f"{path} as {node.ctx.node_id} {role} holds {leaked}"
        return whole

    query = f"{BULLETIN}?from={MONTH}&to={MONTH}"
    for node, visible in ((province, for_province), (city, for_city), (county, for_city)):
        for role in ("inspector", "approver"):
            whole = scanned(node, role, query)
            assert visible in whole
            if node is not province:
                assert "县财政局" in whole
            scanned(node, role, "/api/v1/stats/export.xlsx")
    assert for_city not in scanned(province, "inspector", query)
    assert for_province not in scanned(county, "inspector", query)
    # The province's bulletin over the county names nothing of the county's (it holds none
    # readable), whoever asks.
    scanned(province, "inspector", f"{query}&subtree=huanglong")


def test_the_workbook_has_one_sheet_per_statistics_table(fed: MiniFederation) -> None:
    seed_work(fed)
    province = fed["shaanxi"]
    stats = ok(call(province, "GET", f"/api/v1/stats?since={MONTH}&until={MONTH}"))
    response = call(province, "GET", f"/api/v1/stats/export.xlsx?since={MONTH}&until={MONTH}")
    assert response.status_code == 200, response.text
    book = load_workbook(BytesIO(response.content))

    def walk(value: Any, path: str) -> Iterator[tuple[str, list[Any]]]:
        if isinstance(value, dict):
            for key, inner in value.items():
                yield from walk(inner, f"{path}.{key}" if path else key)
        elif isinstance(value, list) and value and isinstance(value[0], dict | list):
            yield path, value

    def figures(row: Any) -> list[float]:
        cells = row.values() if isinstance(row, dict) else row
        return [c for c in cells if isinstance(c, int | float) and not isinstance(c, bool)]

    found = dict(walk(stats, ""))
    assert set(found) == {
        "records.rows",
        "orders.by_state",
        "orders.by_month",
        "ledger.by_node",
        "rectification.by_state",
        "rectification.by_node",
        "rounds.by_kind",
        "rounds.coverage_by_node",
    }
    assert set(found) <= set(TABLE_SHEETS), "a table of /api/v1/stats has no sheet"
    for path, rows in found.items():
        sheet = list(book[TABLE_SHEETS[path]].iter_rows(min_row=2, values_only=True))
        assert len(sheet) == len(rows), path
        for api_row, sheet_row in zip(rows, sheet, strict=True):
            assert figures(api_row) == figures(sheet_row), (path, api_row, sheet_row)
    detail = list(book["记录-明细"].iter_rows(values_only=True))
    assert detail[0] == (
        "来源单位",
        "信息分级",
        "信息类别",
        "状态",
        "月份",
        "记录数",
        "其中保密摘要",
    )
    assert ("黄龙县", "涉案类保密信息", "问题线索", "有效", MONTH, 1, 1) in detail


def test_bulletin_api_is_documented(mini_federation: MakeFederation) -> None:
    fed = mini_federation("shaanxi")
    schema = ok(call(fed["shaanxi"], "GET", "/openapi.json"))
    parameters = {p["name"] for p in schema["paths"][BULLETIN]["get"]["parameters"]}
    assert parameters == {"from", "to", "subtree"}
    assert re.search(r"检查通报", schema["paths"][BULLETIN]["get"]["summary"])


def test_the_issue_flow_seen_in_the_provinces_statistics_and_bulletin(
    mini_federation: MakeFederation,
) -> None:
    """Issue 13's flow: the province launches a synchronised round; two counties start linked
    rounds and report problems; one county's finding becomes demands; the unit reports; the
    county closes one off and lets another go overdue; the province's statistics and bulletin
    show it all."""
    fed = mini_federation("shaanxi", "yanan", "huanglong", "yichuan")
    fed.clock.set(START)
    province, huanglong, yichuan = fed["shaanxi"], fed["huanglong"], fed["yichuan"]
    now = fed.clock.now()
    launch = {
        "kind": "special",
        "title": "全省乡村振兴领域专项巡察同步展开",
        "theme": "乡村振兴领域资金使用和作风问题",
        "requirements": "各县同步开展专项巡察，按期报送发现问题情况",
        "addressees": ["huanglong", "yichuan"],
        "start_by": later(86400, now=now),
        "deadline": later(30 * 86400, now=now),
    }
    launched = ok(call(province, "POST", f"{ROUNDS}/launches", json=launch), 201)
    fed.pump()
    for county, problems in ((huanglong, 6), (yichuan, 3)):
        units = [unit(county, "县农业农村局"), unit(county, "县乡村振兴局")]
        today = county.clock.now().date()
        body = {
            "kind": "special",
            "title": "乡村振兴领域专项巡察",
            "theme": "乡村振兴领域资金使用和作风问题",
            "inspection_group": "县委第二巡察组",
            "period_start": today.isoformat(),
            "period_end": (today + timedelta(days=30)).isoformat(),
            "unit_ids": units,
            "launch_id": launched["id"],
        }
        linked = ok(call(county, "POST", ROUNDS, json=body), 201)
        ok(call(county, "POST", f"{ROUNDS}/{linked['id']}/start"))
        ok(
            call(
                county,
                "POST",
                f"{ROUNDS}/{linked['id']}/progress",
                json={"problems_found": problems},
            )
        )
    finding = record(
        huanglong,
        category="inspection_finding",
        title="县农业农村局乡村振兴资金拨付滞后",
        parties=["yanan"],
    )
    closed, _late = demands(huanglong, finding["id"], "县农业农村局", 30 * 86400, 3600)
    close_off(huanglong, closed["id"])
    fed.pump()
    fed.clock.advance(2 * 86400)
    fed.pump()

    stats = ok(call(province, "GET", f"/api/v1/stats?since={MONTH}&until={MONTH}"))
    assert stats["rounds"]["launches"]["started"] == 2
    assert stats["rounds"]["problems_found"] == 9
    assert (stats["rectification"]["closed"], stats["rectification"]["overdue"]) == (1, 1)
    document = docx_of(call(province, "GET", f"{BULLETIN}?from={MONTH}&to={MONTH}"))
    text = text_of(document)
    assert "提出整改意见2条，涉及被巡察单位1个；已销号1条" in text
    assert "其中逾期未报送整改情况1条" in text
    assert "期间开展巡察2轮次，发现问题9个" in text
    assert "同步巡察涉及2个单位次，已启动2个，逾期未启动0个，已发现问题9个" in text
    found = docx_tables(document)
    assert [row[:3] + row[5:] for row in found["本级部署的同步巡察落实情况"][1:]] == [
        ["全省乡村振兴领域专项巡察同步展开", "黄龙县", "已启动", "否", "6"],
        ["全省乡村振兴领域专项巡察同步展开", "宜川县", "已启动", "否", "3"],
    ]
    assert found["逾期未报送整改情况清单（按被巡察单位）"][1:] == [
        ["县农业农村局", "黄龙县", "待整改", "2027-03-10", "2027-03-10", "1"]
    ]
    assert found["本期销号的整改意见"][1:] == [
        ["县农业农村局", "黄龙县", "2027-03-10", "2027-03-10"]
    ]
    # The finding names the city only: the province holds and prints nothing of it.
    assert "县农业农村局乡村振兴资金拨付滞后" not in "\n".join(xml_parts(document_bytes(province)))


def document_bytes(node: Any) -> bytes:
    response = call(node, "GET", f"{BULLETIN}?from={MONTH}&to={MONTH}")
    assert response.status_code == 200, response.text
    content: bytes = response.content
    return content
