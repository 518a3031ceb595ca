"""The console's daily-work screens in a real headless Chromium, against live nodes: 交办督办 (a
province issues an order to a county from the tree picker, with a case-secret attachment whose
access request the form explains; the county acknowledges, reports progress and its findings; the
province accepts and closes; an order past its deadline is flagged on both sides), 移交台账
(transfer, feedback, 销号), 整改落实 (a finding becomes a demand, reported, evaluated, closed off
only with evidence), 统计 (ECharts charts drawn; the rounds of the term, coverage, synchronised
rounds and rectification per inspecting unit shown as the API counts them; the Excel export opened
with openpyxl),
安全审计 (a grant with its approvers and reads, the audit trail filtered, the chain verified, a
dead letter) and 联邦 (the tree with each link's state). Menus follow the role. Every wait is on
a condition; the node clock is moved, never slept on. Screenshots go to ``var/screenshots/``."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from node.ids import uuid7
from tests.console.browser import expect, log_in, menu, shot, step
from tests.console.conftest import LiveFederation, LiveNode
from tests.helpers import order_body

pytestmark = pytest.mark.browser


def api(node: LiveNode, token: str, method: str, path: str, **kwargs: Any) -> Any:
    response = httpx.request(
        method,
        f"{node.url}{path}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
        **kwargs,
    )
    assert response.status_code in (200, 201), response.text
    return response.json()


def test_a_relay_order_from_issue_to_close_in_the_browser(
    live_federation: Callable[..., LiveFederation], new_page: Callable[[], Any]
) -> None:
    federation = live_federation("shaanxi", "huanglong")
    shaanxi, huanglong = federation["shaanxi"], federation["huanglong"]
    issuer, issuer_token = shaanxi.add_user("inspector")
    handler, _ = huanglong.add_user("inspector")
    api(
        shaanxi,
        issuer_token,
        "POST",
        "/api/v1/records",
        json={"category": "problem_clue", "title": "关于黄龙县水利局工程围标的问题线索"},
    )

    page = new_page()
    log_in(page, shaanxi.url, issuer)
    menu(page, "交办督办")
    page.locator("[data-test=new-order]").click()
    dialog = page.get_by_role("dialog", name="下发交办")
    dialog.locator("[data-test=order-title]").fill("关于对黄龙县水利局开展专项巡察的交办")
    dialog.locator("[data-test=addressees]").click()
    page.locator(".el-tree-node__content", has_text="黄龙县（县级）").click()
    dialog.locator(".el-dialog__title").click()  # close the picker
    dialog.locator("[data-test=inspected-units]").fill("黄龙县水利局、黄龙县住建局")
    dialog.locator("[data-test=focus-issues]").fill("工程招投标\n专项资金使用")
    dialog.locator("[data-test=attachments]").click()
    page.get_by_role("option", name=re.compile("工程围标")).click()
    dialog.locator(".el-dialog__title").click()
    explain = dialog.locator("[data-test=secret-explain]")
    expect(explain).to_contain_text("须经本单位审批人")
    expect(explain).to_contain_text("承办单位确认接收交办后，其承办人方可查阅")
    shot(page, "orders-issue")
    dialog.locator("[data-test=issue-submit]").click()
    # Without the confirmation, the API refuses; its error is shown in Chinese.
    expect(dialog.locator("[data-test=issue-error]")).to_contain_text("须确认为承办单位申请查阅")
    dialog.locator("[data-test=request-secret-access]").click()
    dialog.locator("[data-test=issue-submit]").click()
    expect(page.get_by_text("交办已下发")).to_be_visible()
    drawer = page.get_by_role("dialog", name="交办详情")
    target = drawer.locator("[data-test=target-huanglong]")
    expect(target.locator("[data-test=target-state]")).to_have_text("已下发")
    expect(drawer).to_contain_text("已为承办单位申请查阅")
    expect(drawer).to_contain_text("黄龙县水利局、黄龙县住建局")
    expect(drawer).to_contain_text("工程招投标；专项资金使用")
    federation.pump()  # the order reaches the county

    county = new_page()
    log_in(county, huanglong.url, handler)
    menu(county, "交办督办")
    county.get_by_role("tab", name="本单位承办").click()
    county.locator("[data-test=orders]").get_by_text("关于对黄龙县水利局开展专项巡察的交办").click()
    card = county.get_by_role("dialog", name="交办详情").locator("[data-test=target-huanglong]")
    expect(card.locator("[data-test=target-state]")).to_have_text("已接收")
    step(county, card, "确认接收")
    expect(card.locator("[data-test=target-state]")).to_have_text("已确认")
    step(county, card, "报送进展", "已进驻水利局，调取招投标档案32卷")
    expect(card.locator("[data-test=target-state]")).to_have_text("办理中")
    card.get_by_role("button", name="报告结果").click()
    report = county.get_by_role("dialog", name="报告结果")
    report.locator("[data-test=report-body]").fill("发现围标串标问题线索2条，已按程序移交。")
    report.locator("[data-test=step-submit]").click()
    expect(county.get_by_text("报告结果成功")).to_be_visible()
    expect(card.locator("[data-test=target-state]")).to_have_text("已报告")
    timeline = card.locator("[data-test=timeline]")
    expect(timeline).to_contain_text("已进驻水利局，调取招投标档案32卷")
    expect(timeline.locator(".el-timeline-item")).to_have_count(5)  # issue … report
    shot(county, "orders-county")
    federation.pump()  # the report reaches the province

    page.reload()
    page.locator("[data-test=orders]").get_by_text("关于对黄龙县水利局开展专项巡察的交办").click()
    expect(target.locator("[data-test=target-state]")).to_have_text("已报告")
    expect(target).to_contain_text("查看报告")
    step(page, target, "验收", "报告内容完整，予以验收")
    expect(target.locator("[data-test=target-state]")).to_have_text("已验收")
    step(page, target, "办结")
    expect(target.locator("[data-test=target-state]")).to_have_text("已办结")
    expect(target.locator("[data-test=timeline] .el-timeline-item")).to_have_count(7)
    shot(page, "orders-province")


def test_an_order_past_its_deadline_is_flagged_on_both_sides(
    live_federation: Callable[..., LiveFederation], new_page: Callable[[], Any]
) -> None:
    federation = live_federation("shaanxi", "huanglong")
    shaanxi, huanglong = federation["shaanxi"], federation["huanglong"]
    issuer, issuer_token = shaanxi.add_user("inspector")
    handler, _ = huanglong.add_user("inspector")
    now = shaanxi.node.clock.now()
    late = order_body("huanglong", deadline_s=3600, now=now, title="限期一小时的督办交办")
    api(shaanxi, issuer_token, "POST", "/api/v1/orders", json=late)
    api(shaanxi, issuer_token, "POST", "/api/v1/orders", json=order_body("huanglong", now=now))
    federation.pump()
    shaanxi.node.clock.advance(2 * 3600)  # the nodes share the test clock

    for node, user, tab in ((shaanxi, issuer, None), (huanglong, handler, "本单位承办")):
        page = new_page()
        log_in(page, node.url, user)
        menu(page, "交办督办")
        if tab:
            page.get_by_role("tab", name=tab).click()
        rows = page.locator("[data-test=orders] .el-table__row")
        expect(rows).to_have_count(2)
        flagged = rows.filter(has=page.locator("[data-test=overdue]"))
        expect(flagged).to_have_count(1)
        expect(flagged).to_contain_text("限期一小时的督办交办")
        page.locator("[data-test=filter-overdue]").click()
        page.get_by_role("button", name="查询").click()
        expect(rows).to_have_count(1)
        if tab is None:
            page.get_by_role("tab", name="辖区办理情况").click()
            expect(page.locator("[data-test=targets]")).to_contain_text("逾期")
            shot(page, "orders-overdue")


def test_a_ledger_item_is_transferred_answered_and_closed_off(
    live_federation: Callable[..., LiveFederation], new_page: Callable[[], Any]
) -> None:
    node = live_federation("huanglong")["huanglong"]
    user, _ = node.add_user("inspector")
    page = new_page()
    log_in(page, node.url, user)
    menu(page, "移交台账")
    page.locator("[data-test=new-ledger]").click()
    page.locator("[data-test=ledger-title]").fill("县水利局围标串标问题线索")
    page.locator("[data-test=ledger-department]").fill("县纪委监委第二监督检查室")
    page.locator("[data-test=ledger-responsible]").fill("王强")
    page.locator("[data-test=ledger-create]").click()
    expect(page.get_by_text("移交已登记")).to_be_visible()
    detail = page.get_by_role("dialog", name="台账详情")
    expect(detail.locator("[data-test=ledger-status]")).to_have_text("已移交")
    detail.locator("[data-test=ledger-feedback]").click()
    page.locator("[data-test=ledger-note]").fill("已初核，拟立案审查")
    page.locator("[data-test=ledger-submit]").click()
    expect(page.get_by_text("反馈已登记")).to_be_visible()
    expect(detail.locator("[data-test=ledger-status]")).to_have_text("已反馈")
    expect(detail.locator("[data-test=feedback]")).to_contain_text("已初核，拟立案审查")
    detail.locator("[data-test=ledger-close]").click()
    page.locator("[data-test=ledger-submit]").click()
    expect(page.get_by_text("已销号", exact=True).first).to_be_visible()
    expect(detail.locator("[data-test=ledger-status]")).to_have_text("已销号")
    shot(page, "ledger-detail")
    page.keyboard.press("Escape")
    expect(page.locator("[data-test=ledger]")).to_contain_text("县纪委监委第二监督检查室")
    shot(page, "ledger")


def test_a_finding_becomes_demands_reported_evaluated_and_closed_off(
    live_federation: Callable[..., LiveFederation], new_page: Callable[[], Any]
) -> None:
    federation = live_federation("yanan", "huanglong")
    node = federation["huanglong"]
    user, token = node.add_user("inspector")
    api(
        node,
        token,
        "POST",
        "/api/v1/records",
        json={
            "category": "inspection_finding",
            "title": "县水利局巡察反馈问题清单",
            "body": "工程招投标管理不规范",
            "parties": ["yanan"],
        },
    )
    unit = {"name": "县水利局", "kind": "institution", "sector": "水利"}
    api(node, token, "POST", "/api/v1/inspected-units", json=unit)
    page = new_page()
    log_in(page, node.url, user)
    menu(page, "整改落实")
    page.locator("[data-test=new-rectification]").click()
    dialog = page.get_by_role("dialog", name="提出整改意见")
    dialog.locator("[data-test=finding]").click()
    page.get_by_role("option", name="县水利局巡察反馈问题清单").click()
    dialog.locator("[data-test=unit]").click()
    page.get_by_role("option", name="县水利局", exact=True).click()
    dialog.locator("[data-test=demand-content-0]").fill(
        "全面排查工程招投标项目，建立问题台账逐项整改"
    )
    dialog.locator("[data-test=demand-responsible-0]").fill("县水利局局长 李某")
    shot(page, "rectification-new")
    dialog.locator("[data-test=rectification-create]").click()
    expect(page.get_by_text("整改意见已提出")).to_be_visible()
    detail = page.get_by_role("dialog", name="整改详情")
    state = detail.locator("[data-test=rectification-state]")
    expect(state).to_have_text("待整改")
    detail.locator("[data-test=rectification-report]").click()
    page.locator("[data-test=report-body]").fill("已排查项目37个，整改问题12个")
    page.locator("[data-test=rectification-submit]").click()
    expect(page.get_by_text("整改情况已报送")).to_be_visible()
    expect(state).to_have_text("已报送整改情况")
    detail.locator("[data-test=rectification-accept]").click()
    page.locator("[data-test=rectification-note]").fill("整改到位")
    page.locator("[data-test=rectification-submit]").click()
    expect(page.get_by_text("已评估通过")).to_be_visible()
    expect(state).to_have_text("评估通过")
    # 销号 without evidence is refused, in Chinese; with the report as evidence it is done.
    detail.locator("[data-test=rectification-close]").click()
    evidence = page.locator("[data-test=evidence-record]")
    expect(evidence).not_to_have_value("")
    report_id = evidence.input_value()
    evidence.fill("")
    page.locator("[data-test=rectification-submit]").click()
    expect(page.get_by_text("销号须提供整改佐证").first).to_be_visible()
    evidence.fill(report_id)
    page.locator("[data-test=rectification-submit]").click()
    expect(state).to_have_text("已销号")
    events = detail.locator("[data-test=rectification-events]")
    expect(events).to_contain_text("销号依据")
    expect(events).to_contain_text("报送整改情况")
    shot(page, "rectification-detail")
    page.keyboard.press("Escape")
    expect(page.locator("[data-test=rectifications]")).to_contain_text("县水利局")
    expect(page.locator("[data-test=rectifications]")).to_contain_text("已销号")
    shot(page, "rectifications")


def table_rows(page: Any, test_id: str, count: int) -> list[list[str]]:
    """The cells' texts of the table marked ``data-test=<test_id>``, once it has ``count`` rows."""
    rows = page.locator(f"[data-test={test_id}] .el-table__body tr")
    expect(rows).to_have_count(count)
    return [[cell.strip() for cell in row.locator("td").all_inner_texts()] for row in rows.all()]


def coverage_text(share: float | None) -> str:
    """A coverage share as the screen shows it: a percentage with at most one decimal."""
    return "—" if share is None else f"{int(share * 1000 + 0.5) / 10:g}%"


def test_statistics_are_drawn_as_charts_and_export_to_a_workbook(
    live_federation: Callable[..., LiveFederation], new_page: Callable[[], Any]
) -> None:
    federation = live_federation("shaanxi", "huanglong")
    shaanxi = federation["shaanxi"]
    user, token = shaanxi.add_user("inspector")
    finding: dict[str, Any] = {}
    for category, title in (
        ("policy", "巡视工作条例实施办法"),
        ("practice", "县级巡察经验做法"),
        ("inspection_finding", "专项巡察发现问题汇总"),
        ("problem_clue", "某局负责人违规收受礼金线索"),
    ):
        body: dict[str, Any] = {"category": category, "title": title}
        if category == "inspection_finding":
            body["parties"] = ["huanglong"]
        made = api(shaanxi, token, "POST", "/api/v1/records", json=body)
        if category == "inspection_finding":
            finding = made
    api(shaanxi, token, "POST", "/api/v1/orders", json=order_body("huanglong"))

    # The term's rounds (one started with problems found, one planned) over two units, a
    # synchronised round for the county and two demands, each pair one late once the clock moves.
    now = shaanxi.node.ctx.clock.now()
    units = [
        api(
            shaanxi,
            token,
            "POST",
            "/api/v1/inspected-units",
            json={"name": name, "kind": "party_organ", "sector": sector},
        )["id"]
        for name, sector in (("省水利厅", "水利"), ("省财政厅", "财政"))
    ]
    for kind, title, unit in (
        ("regular", "省委第三轮巡视", units[0]),
        ("special", "专项巡视", units[1]),
    ):
        made = api(
            shaanxi,
            token,
            "POST",
            "/api/v1/inspection-rounds",
            json={
                "kind": kind,
                "title": title,
                "theme": "落实全面从严治党主体责任情况",
                "inspection_group": "省委第一巡视组",
                "period_start": now.date().isoformat(),
                "period_end": (now + timedelta(days=45)).date().isoformat(),
                "unit_ids": [unit],
            },
        )
        if kind == "regular":
            path = f"/api/v1/inspection-rounds/{made['id']}"
            api(shaanxi, token, "POST", f"{path}/start", json={})
            api(shaanxi, token, "POST", f"{path}/progress", json={"problems_found": 6})
    api(
        shaanxi,
        token,
        "POST",
        "/api/v1/inspection-rounds/launches",
        json={
            "kind": "special",
            "title": "全省乡村振兴领域专项巡察同步展开",
            "theme": "乡村振兴领域资金使用",
            "addressees": ["huanglong"],
            "start_by": (now + timedelta(minutes=10)).isoformat(),
            "deadline": (now + timedelta(days=30)).isoformat(),
        },
    )
    api(
        shaanxi,
        token,
        "POST",
        "/api/v1/rectifications",
        json={
            "finding_record_id": finding["id"],
            "unit_name": "省水利厅",
            "demands": [
                {
                    "content": content,
                    "responsible": "张三",
                    "deadline": (now + timedelta(minutes=minutes)).isoformat(),
                }
                for content, minutes in (
                    ("整改工程招投标问题", 10),
                    ("规范专项资金使用", 60 * 24 * 30),
                )
            ],
        },
    )
    shaanxi.node.clock.advance(20 * 60)  # past the start date and the first demand's deadline

    page = new_page()
    log_in(page, shaanxi.url, user)
    menu(page, "统计")
    expect(page.locator("[data-test=figures]")).to_contain_text("信息记录")
    for chart in ("origin", "category", "month", "orders", "ledger", "rectification"):
        expect(page.locator(f"[data-test=chart-{chart}] canvas").first).to_be_visible()

    # What the screen shows of rounds and rectification is what /stats answers.
    stats = api(shaanxi, token, "GET", "/api/v1/stats", params={"months": 12})
    rounds, rectification = stats["rounds"], stats["rectification"]
    launches, coverage = rounds["launches"], rounds["coverage"]
    assert (rounds["total"], rounds["problems_found"], coverage["coverage"]) == (2, 6, 0.5)
    assert (launches["launched"], launches["late"], rectification["overdue"]) == (1, 1, 1)
    expect(page.locator("[data-test=term]")).to_contain_text(
        f"{rounds['term_start']} 至 {rounds['term_end']}"
    )
    figures = page.locator("[data-test=figures-rounds]")
    expect(figures.locator(".el-statistic__content")).to_have_text(
        [
            str(rounds["total"]),
            str(rounds["problems_found"]),
            coverage_text(coverage["coverage"]),
            str(launches["launched"]),
            str(launches["late"]),
            str(launches["overdue"]),
        ]
    )
    expect(figures).to_contain_text(
        f"已计划 {rounds['planned']} · 巡察中 {rounds['in_progress']} · "
        f"已完成 {rounds['completed']}"
    )
    expect(figures).to_contain_text(
        f"已巡察 {coverage['units_inspected']} / 被巡察单位 {coverage['units_total']}"
    )
    expect(figures).to_contain_text(
        f"开展单位 {launches['targets']} · 已启动 {launches['started']} · "
        f"发现问题 {launches['problems_found']}"
    )
    expect(page.locator("[data-test=figures-rectification] .el-statistic__content")).to_have_text(
        [str(rectification["total"]), str(rectification["overdue"])]
    )
    assert table_rows(page, "table-rounds", len(rounds["by_kind"])) == [
        [r["kind_label"], r["state_label"], str(r["count"]), str(r["problems_found"])]
        for r in rounds["by_kind"]
    ]
    assert table_rows(page, "table-coverage", len(rounds["coverage_by_node"])) == [
        [
            n["node_name"],
            *(str(n[k]) for k in ("units_total", "units_inspected", "units_planned")),
            coverage_text(n["coverage"]),
            *(str(n[k]) for k in ("rounds", "rounds_in_progress", "rounds_completed")),
            str(n["problems_found"]),
        ]
        for n in rounds["coverage_by_node"]
    ]
    assert table_rows(page, "table-rectification-nodes", len(rectification["by_node"])) == [
        [n["node_name"], *(str(n[k]) for k in ("total", "open", "overdue", "closed"))]
        for n in rectification["by_node"]
    ]
    shot(page, "stats")
    with page.expect_download() as download_info:
        page.locator("[data-test=export]").click()
    download = download_info.value
    assert download.suggested_filename.startswith("stats-shaanxi-")
    expect(page.get_by_text("统计表已导出")).to_be_visible()
    book = load_workbook(BytesIO(Path(download.path()).read_bytes()))
    overview = {row[0]: row[1] for row in book["概览"].iter_rows(min_row=2, values_only=True)}
    assert overview["统计单位"] == "陕西省"
    assert overview["信息记录总数"] == 4
    assert overview["交办（承办单位）总数"] == 1
    by_class = list(book["记录-来源与分级"].iter_rows(values_only=True))
    assert by_class[1] == ("陕西省", 2, 1, 1, 4)


def test_the_security_officer_audits_a_grant_the_trail_the_chain_and_dead_letters(
    live_federation: Callable[..., LiveFederation], new_page: Callable[[], Any]
) -> None:
    federation = live_federation("yanan", "huanglong")
    yanan, huanglong = federation["yanan"], federation["huanglong"]
    requester, requester_token = yanan.add_user("inspector")
    _, author_token = huanglong.add_user("inspector")
    approvers = [huanglong.add_user("approver", f"huanglong-approver-{i}") for i in (1, 2)]
    officer, _ = huanglong.add_user("security_officer")
    clue = api(
        huanglong,
        author_token,
        "POST",
        "/api/v1/records",
        json={"category": "problem_clue", "title": "关于某局负责人违规收受礼金的问题线索"},
    )
    federation.pump()
    request = api(
        yanan,
        requester_token,
        "POST",
        "/api/v1/access-requests",
        json={
            "record_id": clue["id"],
            "record_origin": "huanglong",
            "reason": "核查延安市交办的专项巡察线索，需要查阅原件",
            "duration_s": 86400,
        },
    )
    federation.pump()
    for name, token in approvers:
        api(
            huanglong,
            token,
            "POST",
            f"/api/v1/access-requests/{request['id']}/approve",
            json={"comment": f"同意查阅（{name}）"},
        )
    federation.pump()
    api(yanan, requester_token, "GET", f"/api/v1/records/{clue['id']}?origin=huanglong")
    federation.pump()  # the read is reported to the origin
    record_id = uuid7()
    assert federation.federation.send_as(
        "yichuan",
        "huanglong",
        kind="record",
        dest=["huanglong"],
        ref={"record": record_id, "version": 1},
        payload={"id": record_id, "origin": "not-a-node"},
        encrypt=False,
    ).startswith("rejected:")

    page = new_page()
    log_in(page, huanglong.url, officer)
    expect(page.get_by_role("menuitem", name="联邦")).to_be_visible()
    menu(page, "安全审计")
    grants = page.locator("[data-test=grants]")
    expect(grants).to_contain_text(requester)
    expect(grants).to_contain_text("huanglong-approver-1")
    expect(grants).to_contain_text("huanglong-approver-2")
    expect(grants).to_contain_text("2 / 2")
    expect(grants.locator("[data-test=reads]")).to_have_text("1 次")
    grants.locator(".el-table__expand-icon").first.click()
    expect(grants).to_contain_text(f"{requester}（延安市）")
    shot(page, "security-grants")

    page.get_by_role("tab", name="审计日志").click()
    trail = page.locator("[data-test=audit]")
    expect(trail.locator(".el-table__row").first).to_be_visible()
    page.locator("[data-test=audit-action]").click()
    page.get_by_role("option", name="批准（approve）").click()
    page.locator("[data-test=audit-search]").click()
    rows = trail.locator(".el-table__row")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("huanglong-approver-1")
    expect(rows.nth(1)).to_contain_text("huanglong-approver-2")
    expect(trail).not_to_contain_text("列表查询")
    shot(page, "security-audit")

    page.get_by_role("tab", name="审计链校验").click()
    page.locator("[data-test=run-verify]").click()
    expect(page.locator("[data-test=verify-result]")).to_contain_text("本单位审计链完整")
    expect(page.get_by_text("审计链校验已完成")).to_be_visible()
    shot(page, "security-verify")

    page.get_by_role("tab", name="死信").click()
    letters = page.locator("[data-test=dead-letters]")
    expect(letters.locator(".el-table__row")).to_have_count(1)
    expect(letters).to_contain_text("宜川县")
    shot(page, "security-dead-letters")


def test_the_admin_sees_the_tree_with_link_states_and_only_its_menus(
    live_federation: Callable[..., LiveFederation], new_page: Callable[[], Any]
) -> None:
    node = live_federation("shaanxi")["shaanxi"]
    admin, _ = node.add_user("admin")
    page = new_page()
    log_in(page, node.url, admin)
    expect(page.get_by_role("menuitem", name="联邦")).to_be_visible()
    for hidden in ("审批", "交办督办", "移交台账", "整改落实", "统计", "安全审计"):
        expect(page.get_by_role("menuitem", name=hidden)).to_have_count(0)
    menu(page, "联邦")
    tree = page.locator("[data-test=fed-tree]")
    for name in ("中央", "陕西省", "延安市", "黄龙县", "宜川县"):
        expect(tree).to_contain_text(name)
    expect(tree).to_contain_text("本节点")
    # The fixture's nodes run without NATS: each link of this node says it is not connected.
    expect(tree.locator("[data-test=link-state]")).to_have_count(2)
    links = page.locator("[data-test=links]")
    expect(links).to_contain_text("上级")
    expect(links).to_contain_text("延安市")
    expect(links).to_contain_text("未连接")
    shot(page, "federation")
