"""The console on the running demo — ``fedshare demo --seed-size small``: five nodes, a
nats-server each, real replication between them, a seeded history — in a real headless Chromium.

The main flow of each role: the province issues a relay order (交办) to a county, the county's
inspector acknowledges, reports progress and its findings, the province accepts and the county
sees it accepted; a city inspector requests a county's problem clue (a case-secret stub), the
county's two approvers approve it in 审批, the city inspector reads it, and the county's security
officer sees the grant, its approvers and the read in 安全审计. Then each role, at the province,
visits every screen of its menu: each is checked for real demo data, Chinese labels and no
raw JSON, and saved to ``var/screenshots/demo-<node>-<role>-<screen>.png``.

Replication over NATS is waited for on a condition (the receiving node's API polled), never slept
on; the browser then reloads and Playwright's ``expect`` waits for the screen."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from node.demo import SAMPLES
from tests.console.browser import expect, log_in, menu, pick, shot, step
from tests.demo import DemoNode, running_demo
from tests.support import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.federation]

REPLICATION_S = 60


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, DemoNode]]:
    """The running demo (``tests.demo.running_demo``): its nodes by id."""
    with running_demo(tmp_path_factory.mktemp("browser-demo") / "demo") as running:
        yield running.nodes


def open_as(new_page: Callable[[], Any], node: DemoNode, role: str) -> Any:
    """A new browser page logged in at ``node`` as its ``role`` user, on 信息记录."""
    page = new_page()
    name, password = node.logins[role]
    assert log_in(page, node.url, name, password).status == 200
    expect(page).to_have_url(re.compile(r"/records$"))
    expect(page.locator("[data-test=node]")).to_contain_text(node.name)
    return page


def demo_shot(page: Any, node: DemoNode, role: str, screen: str) -> None:
    shot(page, f"demo-{node.id}-{role}-{screen}")


def reload_until(page: Any, wanted: Any, loaded: Any) -> None:
    """Reload ``page`` until it shows ``wanted``, looking each time once ``loaded`` (what the
    screen shows either way) is there: for what another node sends over NATS."""

    def shown() -> bool:
        page.reload()
        expect(loaded.first).to_be_visible()
        return wanted.count() > 0

    wait_for(shown, timeout=REPLICATION_S, interval=0.5, message=f"{wanted} after a reload")


# -- 1. a relay order: issued by the province, handled by the county, accepted ------------------

ORDER_TITLE = "关于对黄龙县自然资源局开展耕地保护专项巡察的交办"


def target_state(node: DemoNode, order_id: str, addressee: str) -> str | None:
    """The state of the order's target ``addressee`` as ``node`` holds it (None: not there)."""
    response = node.get("inspector", f"/api/v1/orders/{order_id}")
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    states = [t["state"] for t in response.json()["targets"] if t["addressee"] == addressee]
    return states[0] if states else None


def await_target_state(node: DemoNode, order_id: str, addressee: str, state: str) -> None:
    wait_for(
        lambda: target_state(node, order_id, addressee) == state,
        timeout=REPLICATION_S,
        interval=0.2,
        message=f"the order's {addressee} target {state} at {node.id}",
    )


def open_order(page: Any, title: str) -> Any:
    """Open the order titled ``title`` from the list; return its detail drawer."""
    page.locator("[data-test=orders]").get_by_text(title).click()
    return page.get_by_role("dialog", name="交办详情")


def test_the_province_issues_an_order_the_county_reports_and_the_province_accepts(
    demo: dict[str, DemoNode], new_page: Callable[[], Any]
) -> None:
    shaanxi, huanglong = demo["shaanxi"], demo["huanglong"]
    province = open_as(new_page, shaanxi, "inspector")
    menu(province, "交办督办")
    province.locator("[data-test=new-order]").click()
    dialog = province.get_by_role("dialog", name="下发交办")
    dialog.locator("[data-test=order-title]").fill(ORDER_TITLE)
    dialog.locator("[data-test=addressees]").click()
    province.locator(".el-tree-node__content", has_text="黄龙县（县级）").click()
    dialog.locator(".el-dialog__title").click()  # close the picker
    dialog.locator("[data-test=inspected-units]").fill("黄龙县自然资源局")
    dialog.locator("[data-test=focus-issues]").fill("耕地保护\n土地出让")
    demo_shot(province, shaanxi, "inspector", "orders-issue")
    dialog.locator("[data-test=issue-submit]").click()
    expect(province.get_by_text("交办已下发")).to_be_visible()
    drawer = province.get_by_role("dialog", name="交办详情")
    target = drawer.locator("[data-test=target-huanglong]")
    # Over real NATS the county's receipt may already be back.
    expect(target.locator("[data-test=target-state]")).to_have_text(re.compile("^(已下发|已接收)$"))
    issued = shaanxi.items("inspector", "/api/v1/orders", box="issued", limit=200)
    (order_id,) = [o["id"] for o in issued if o["title"] == ORDER_TITLE]
    await_target_state(huanglong, order_id, "huanglong", "received")

    county = open_as(new_page, huanglong, "inspector")
    menu(county, "交办督办")
    county.get_by_role("tab", name="本单位承办").click()
    card = open_order(county, ORDER_TITLE).locator("[data-test=target-huanglong]")
    state = card.locator("[data-test=target-state]")
    expect(state).to_have_text("已接收")
    step(county, card, "确认接收")
    expect(state).to_have_text("已确认")
    step(county, card, "报送进展", "已进驻县自然资源局，调阅用地审批档案41卷")
    expect(state).to_have_text("办理中")
    card.get_by_role("button", name="报告结果").click()
    report = county.get_by_role("dialog", name="报告结果")
    report.locator("[data-test=report-body]").fill("发现违规占用耕地问题3个，已督促整改。")
    report.locator("[data-test=step-submit]").click()
    expect(county.get_by_text("报告结果成功")).to_be_visible()
    expect(state).to_have_text("已报告")
    expect(card.locator("[data-test=timeline]")).to_contain_text("调阅用地审批档案41卷")
    demo_shot(county, huanglong, "inspector", "orders-report")
    await_target_state(shaanxi, order_id, "huanglong", "reported")

    province.reload()
    target = open_order(province, ORDER_TITLE).locator("[data-test=target-huanglong]")
    expect(target.locator("[data-test=target-state]")).to_have_text("已报告")
    step(province, target, "验收", "报告内容完整，予以验收")
    expect(target.locator("[data-test=target-state]")).to_have_text("已验收")
    demo_shot(province, shaanxi, "inspector", "orders-accept")
    await_target_state(huanglong, order_id, "huanglong", "accepted")

    county.reload()
    county.get_by_role("tab", name="本单位承办").click()
    card = open_order(county, ORDER_TITLE).locator("[data-test=target-huanglong]")
    expect(card.locator("[data-test=target-state]")).to_have_text("已验收")


# -- 2. a county's problem clue: requested by the city, approved twice, read, audited -----------

CLUE_TITLE = next(
    str(body["title"])
    for node_id, body in SAMPLES
    if node_id == "huanglong" and body["category"] == "problem_clue"
)
REASON = "延安市巡察组核查市委交办线索，需查阅黄龙县问题线索原件"


def test_a_city_reads_a_county_clue_two_county_approvers_released_and_the_officer_sees_it(
    demo: dict[str, DemoNode], new_page: Callable[[], Any]
) -> None:
    yanan, huanglong = demo["yanan"], demo["huanglong"]
    requester = yanan.logins["inspector"][0]
    clues = huanglong.items("inspector", "/api/v1/records", category="problem_clue", limit=200)
    (clue_id,) = [c["id"] for c in clues if c.get("title") == CLUE_TITLE]

    city = open_as(new_page, yanan, "inspector")
    pick(city, "filter-origin", "黄龙县")
    pick(city, "filter-category", "问题线索")
    city.locator("[data-test=search]").click()
    # The filtered list is in once no row of another origin or category is left; the seeded
    # clue is the county's newest, and the list is newest first.
    rows = city.locator("[data-test=records] .el-table__row")
    expect(rows.filter(has_not_text="黄龙县")).to_have_count(0)
    expect(rows.filter(has_not_text="〔保密摘要〕问题线索")).to_have_count(0)
    rows.first.click()
    expect(city).to_have_url(re.compile(rf"/records/{clue_id}\?origin=huanglong$"))
    stub = city.locator("[data-test=stub]")
    expect(stub).to_contain_text("涉案类保密信息（摘要）")
    expect(stub).to_contain_text("黄龙县")
    expect(stub).not_to_contain_text("礼金")
    city.get_by_role("button", name="申请查阅").click()
    city.locator("[data-test=reason]").fill(REASON)
    demo_shot(city, yanan, "inspector", "record-stub-request")
    city.get_by_role("button", name="提交申请").click()
    expect(city.get_by_text("查阅申请已提交，等待来源单位审批")).to_be_visible()
    expect(stub).to_contain_text("待审批")

    def requests_at(node: DemoNode, role: str, status: str) -> list[dict[str, Any]]:
        items = node.items(role, "/api/v1/access-requests", record_id=clue_id)
        return [r for r in items if r["requester"] == requester and r["status"] == status]

    wait_for(
        lambda: requests_at(huanglong, "approver", "pending"),
        timeout=REPLICATION_S,
        interval=0.2,
        message="the city's request at the county",
    )
    for count, role in enumerate(("approver", "approver-2"), start=1):
        decider = open_as(new_page, huanglong, role)
        menu(decider, "审批")
        expect(decider.locator("[data-test=rules]")).to_contain_text("申请人不得审批本人的申请")
        row = decider.locator("[data-test=queue] .el-table__row", has_text=REASON)
        expect(row).to_contain_text(requester)
        expect(row).to_contain_text(f"{count - 1} / 2")
        if count == 1:
            demo_shot(decider, huanglong, role, "approvals-decide")
        row.get_by_role("button", name="批准").click()
        decider.locator("[data-test=comment]").fill(f"同意查阅（第{count}位审批人）")
        decider.get_by_role("button", name="确认批准").click()
        expect(decider.get_by_text("已批准", exact=True)).to_be_visible()

    # The grant (a grant-event) and the content (a release) come in separate envelopes: the
    # page is reloaded until it shows the content, so the city reads the clue exactly once.
    document = city.locator("[data-test=document]")
    reload_until(city, document, city.locator("[data-test=stub], [data-test=document]"))
    expect(document.locator("h1")).to_have_text(CLUE_TITLE)
    expect(document).to_contain_text("春节期间收受礼金")
    demo_shot(city, yanan, "inspector", "record-released")

    def read_reported() -> bool:
        grants = huanglong.items("security_officer", "/api/v1/grants", record_id=clue_id)
        return any(g["requester"] == requester and g["read_count"] >= 1 for g in grants)

    wait_for(read_reported, timeout=REPLICATION_S, interval=0.2, message="the read at the county")
    officer = open_as(new_page, huanglong, "security_officer")
    menu(officer, "安全审计")
    grant = officer.locator("[data-test=grants] .el-table__row", has_text=REASON)
    expect(grant).to_contain_text(requester)
    expect(grant).to_contain_text("huanglong-approver")
    expect(grant).to_contain_text("huanglong-approver-2")
    expect(grant).to_contain_text("2 / 2")
    expect(grant.locator("[data-test=reads]")).to_have_text("1 次")
    grant.locator(".el-table__expand-icon").click()
    expect(officer.locator("[data-test=grants]")).to_contain_text(f"{requester}（延安市）")
    demo_shot(officer, huanglong, "security_officer", "security-grant-read")


# -- 3. every screen of each role's menu, at the province --------------------------------------


@dataclass(frozen=True)
class Screen:
    slug: str
    # What shows the screen's data once loaded; None: the screen may rightly be empty (its
    # empty text is then checked instead).
    data: str | None
    empty: str = ""
    tab: str | None = None  # the tab that holds it, when not the first


SCREENS = {
    "信息记录": Screen("records", "[data-test=records] .el-table__row"),
    "审批": Screen("approvals", "[data-test=queue] .el-table__row"),
    "交办督办": Screen("orders", "[data-test=orders] .el-table__row"),
    "移交台账": Screen("ledger", "[data-test=ledger] .el-table__row"),
    "整改落实": Screen("rectifications", "[data-test=rectifications] .el-table__row"),
    "巡察全覆盖": Screen("rounds", "[data-test=coverage] .el-table__row"),
    "同步巡察": Screen("launches", "[data-test=launches] .el-table__row"),
    "统计": Screen("stats", "[data-test=chart-origin] canvas"),
    "安全审计": Screen("security-grants", "[data-test=grants] .el-table__row"),
    "联邦": Screen("federation", "[data-test=links] .el-table__row"),
}
# Every role is seen at the province: its screens hold what is there whatever the day's history
# (the demo's dates, and so some of its choices, follow today's): the seeded order and its
# pending access request, the first flow's order in its subtree, the ledger items of the nodes
# below, its links up and down.
TOUR_NODE = "shaanxi"
# Orders the province's approver and security officer follow, but do not handle: those of its
# subtree (whether the centre sent the province any depends on the day).
SUBTREE_ORDERS = Screen("orders", "[data-test=targets] .el-table__row", tab="辖区办理情况")
# Per role: its menu, and the screens that show that role something else.
TOURS: dict[str, tuple[tuple[str, ...], dict[str, Screen]]] = {
    "inspector": (
        (
            "信息记录",
            "审批",
            "交办督办",
            "移交台账",
            "整改落实",
            "巡察全覆盖",
            "同步巡察",
            "统计",
        ),
        {"审批": Screen("approvals", "[data-test=mine] .el-table__row")},
    ),
    "approver": (
        (
            "信息记录",
            "审批",
            "交办督办",
            "移交台账",
            "整改落实",
            "巡察全覆盖",
            "同步巡察",
            "统计",
        ),
        {"交办督办": SUBTREE_ORDERS},
    ),
    "security_officer": (
        (
            "信息记录",
            "审批",
            "交办督办",
            "移交台账",
            "整改落实",
            "巡察全覆盖",
            "同步巡察",
            "统计",
            "安全审计",
            "联邦",
        ),
        {
            # Security officers decide only requests that name a reporter; the demo has none.
            "审批": Screen("approvals", None, "暂无待审批的申请"),
            "交办督办": SUBTREE_ORDERS,
        },
    ),
    "admin": (("信息记录", "巡察全覆盖", "同步巡察", "联邦"), {}),
}

# The labels of a screen (headings, columns, fields, tabs, buttons, the menu): each must read in
# Chinese. Values (user names, numbers) are not labels.
_ENGLISH_LABELS = """() => [...document.querySelectorAll(
  'aside .el-menu-item, main .page-title, main th, main .el-form-item__label, main .el-tabs__item,'
  + ' main .el-card__header, main .el-statistic__head, main button, main .el-empty__description,'
  + ' main .el-table__empty-text, main .el-descriptions__label'
)].map((e) => e.innerText.trim())
  .filter((t) => /[A-Za-z]/.test(t) && !/[\\u4e00-\\u9fff]/.test(t))"""


def check_screen(page: Any, screen: Screen) -> None:
    """The screen has loaded and shows real data (or, where it may rightly be empty, says so in
    Chinese); its labels are Chinese; no raw JSON is in front of the user."""
    main = page.locator("main")
    expect(main.locator(".el-loading-mask:visible")).to_have_count(0)
    if screen.data is not None:
        expect(main.locator(screen.data).first).to_be_visible()
    else:
        expect(main).to_contain_text(screen.empty)
    assert page.evaluate(_ENGLISH_LABELS) == []
    text = main.inner_text()
    assert '{"' not in text
    assert not re.search(r"^\s*[\[{]", text, re.MULTILINE), text


def visit_records(page: Any, node: DemoNode, role: str) -> None:
    """信息记录, then the newest full record it lists, rendered as a document."""
    rows = page.locator("[data-test=records] .el-table__row")
    rows.filter(has=page.locator(".el-link")).first.click()
    document = page.locator("[data-test=document]")
    expect(document.locator("h1")).not_to_be_empty()
    expect(document.locator("p.doc-para").first).to_be_visible()
    check_screen(page, Screen("record", "[data-test=document]"))
    demo_shot(page, node, role, "record")
    page.get_by_role("button", name="返回列表").click()
    expect(rows.first).to_be_visible()


def visit_stats(page: Any) -> None:
    figures = page.locator("[data-test=figures]")
    expect(figures).to_contain_text("信息记录")
    for chart in ("origin", "category", "month", "orders", "ledger", "rectification"):
        expect(page.locator(f"[data-test=chart-{chart}] canvas").first).to_be_visible()
    # Charts with data: the records counted are the demo's, not zero.
    count = figures.locator(".el-statistic__content").first.inner_text()
    assert int(re.sub(r"\D", "", count)) > 0, count


def visit_security_tabs(page: Any, node: DemoNode, role: str) -> None:
    """The province's grants hold the seeded order's request, whose reason is the node's own
    note: it is said in Chinese. Then the other tabs."""
    grants = page.locator("[data-test=grants]")
    expect(grants).to_contain_text("交办附带的涉案类保密信息")
    expect(grants).not_to_contain_text(re.compile(r"order [0-9a-f]{8}"))
    page.get_by_role("tab", name="审计日志").click()
    check_screen(page, Screen("security-audit", "[data-test=audit] .el-table__row"))
    demo_shot(page, node, role, "security-audit")
    page.get_by_role("tab", name="审计链校验").click()
    page.locator("[data-test=run-verify]").click()
    expect(page.locator("[data-test=verify-result]")).to_contain_text("审计链完整")
    check_screen(page, Screen("security-verify", "[data-test=verify-findings] .el-table__row"))
    demo_shot(page, node, role, "security-verify")
    page.get_by_role("tab", name="死信").click()
    # A healthy demo has no dead letters: the tab says so.
    check_screen(page, Screen("security-dead-letters", None, "暂无死信"))
    demo_shot(page, node, role, "security-dead-letters")


@pytest.mark.parametrize("role", list(TOURS))
def test_every_screen_of_each_roles_menu_shows_demo_data_in_chinese(
    demo: dict[str, DemoNode], new_page: Callable[[], Any], role: str
) -> None:
    titles, special = TOURS[role]
    node = demo[TOUR_NODE]
    page = open_as(new_page, node, role)
    expect(page.get_by_role("menuitem")).to_have_text(list(titles))
    for title in titles:
        screen = special.get(title, SCREENS[title])
        menu(page, title)
        expect(page.locator("main .page-title")).to_have_text(title)
        if screen.tab:
            page.get_by_role("tab", name=screen.tab).click()
        check_screen(page, screen)
        if title == "统计":
            visit_stats(page)
        demo_shot(page, node, role, screen.slug)
        if title == "信息记录":
            visit_records(page, node, role)
        elif title == "安全审计":
            visit_security_tabs(page, node, role)
