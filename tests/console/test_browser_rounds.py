"""The console's 巡察全覆盖 and 同步巡察 screens in a real headless Chromium, against live nodes: a
county lists inspected units and plans, starts and completes a round from the screen, and the
coverage of the term shows it; the province launches a synchronised round for its county from the
tree picker; the county links a round to it and reports problems; the province sees the county
started with its problems, and past the start date a county that has not started is flagged late.
Every wait is on a condition; the node clock is moved, never slept on. Screenshots go to
``var/screenshots/``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from tests.console.browser import expect, log_in, menu, shot
from tests.console.conftest import LiveFederation
from tests.console.test_browser_work import api

pytestmark = pytest.mark.browser
# Each assertion after a request waits as long as a busy machine may need.
WAIT = 30_000


def test_units_a_round_and_coverage_in_the_browser(
    live_federation: Callable[..., LiveFederation], new_page: Callable[[], Any]
) -> None:
    county = live_federation("huanglong")["huanglong"]
    inspector, token = county.add_user("inspector")
    api(
        county,
        token,
        "POST",
        "/api/v1/inspected-units",
        json={"name": "县财政局", "kind": "party_organ", "sector": "财政"},
    )
    page = new_page()
    log_in(page, county.url, inspector)
    menu(page, "巡察全覆盖")
    expect(page.locator("main .page-title")).to_have_text("巡察全覆盖", timeout=WAIT)

    page.locator("[data-test=new-unit]").click()
    dialog = page.get_by_role("dialog", name="登记被巡察单位")
    dialog.locator("[data-test=unit-name]").fill("县水利局")
    dialog.locator("[data-test=unit-sector]").fill("水利")
    dialog.locator("[data-test=unit-submit]").click()
    expect(dialog).to_be_hidden(timeout=30_000)
    # A name listed already: refused, in Chinese.
    page.locator("[data-test=new-unit]").click()
    dialog.locator("[data-test=unit-name]").fill("县水利局")
    dialog.locator("[data-test=unit-sector]").fill("水利")
    dialog.locator("[data-test=unit-submit]").click()
    expect(dialog).to_contain_text("名录中已有同名的被巡察单位", timeout=WAIT)
    dialog.get_by_role("button", name="取消").click()

    page.locator("[data-test=new-round]").click()
    plan = page.get_by_role("dialog", name="计划巡察轮次")
    plan.locator("[data-test=plan-title]").fill("十四届县委第五轮巡察")
    plan.locator("[data-test=plan-theme]").fill("落实全面从严治党主体责任情况")
    plan.locator("[data-test=plan-group]").fill("县委第一巡察组")
    plan.locator("[data-test=plan-units]").click()
    page.get_by_role("option", name="县水利局").click()
    plan.locator(".el-dialog__title").click()  # close the picker
    plan.locator("[data-test=plan-submit]").click()
    detail = page.locator("[data-test=round-detail]")
    expect(detail.locator("[data-test=round-state]")).to_have_text("已计划", timeout=30_000)
    detail.locator("[data-test=round-start]").click()
    page.get_by_role("dialog", name="启动巡察（进驻）").locator("[data-test=round-submit]").click()
    expect(detail.locator("[data-test=round-state]")).to_have_text("巡察中", timeout=WAIT)
    detail.locator("[data-test=round-complete]").click()
    done = page.get_by_role("dialog", name="完成巡察")
    done.locator("[data-test=round-problems] input").fill("9")
    done.locator("[data-test=round-submit]").click()
    expect(detail.locator("[data-test=round-state]")).to_have_text("已完成", timeout=WAIT)
    expect(detail).to_contain_text("9 个", timeout=WAIT)
    shot(page, "rounds-detail")
    page.keyboard.press("Escape")

    page.get_by_role("tab", name="全覆盖进度").click()
    figures = page.locator("[data-test=coverage-figures]")
    expect(figures).to_contain_text("被巡察单位", timeout=WAIT)
    coverage = page.locator("[data-test=coverage]")
    expect(coverage).to_contain_text("黄龙县", timeout=WAIT)
    expect(coverage.locator(".el-progress__text")).to_contain_text("50%", timeout=WAIT)
    shot(page, "rounds-coverage")
    page.get_by_role("tab", name="被巡察单位").click()
    units = page.locator("[data-test=units]")
    expect(units.locator(".el-table__row", has_text="县水利局")).to_contain_text(
        "已巡察", timeout=WAIT
    )
    expect(units.locator(".el-table__row", has_text="县财政局")).to_contain_text(
        "未巡察", timeout=WAIT
    )
    shot(page, "rounds-units")


def test_a_synchronised_round_launched_linked_and_followed_in_the_browser(
    live_federation: Callable[..., LiveFederation], new_page: Callable[[], Any]
) -> None:
    federation = live_federation("shaanxi", "huanglong")
    shaanxi, huanglong = federation["shaanxi"], federation["huanglong"]
    launcher, launcher_token = shaanxi.add_user("inspector")
    county_user, county_token = huanglong.add_user("inspector")
    unit = api(
        huanglong,
        county_token,
        "POST",
        "/api/v1/inspected-units",
        json={"name": "县农业农村局", "kind": "party_organ", "sector": "农业农村"},
    )

    province = new_page()
    log_in(province, shaanxi.url, launcher)
    menu(province, "同步巡察")
    province.locator("[data-test=new-launch]").click()
    dialog = province.get_by_role("dialog", name="部署同步巡察")
    dialog.locator("[data-test=launch-title]").fill("全省乡村振兴领域专项巡察同步展开")
    dialog.locator("[data-test=launch-theme]").fill("乡村振兴领域资金使用")
    dialog.locator("[data-test=launch-addressees]").click()
    province.locator(".el-tree-node__content", has_text="黄龙县（县级）").click()
    dialog.locator(".el-dialog__title").click()
    dialog.locator("[data-test=launch-submit]").click()
    # Launched: its detail opens (a busy machine may take longer than the message stays).
    targets = province.locator("[data-test=launch-targets]")
    expect(targets).to_contain_text("黄龙县", timeout=30_000)
    expect(targets).to_contain_text("已下发", timeout=WAIT)
    federation.pump()

    county = new_page()
    log_in(county, huanglong.url, county_user)
    menu(county, "巡察全覆盖")
    county.locator("[data-test=new-round]").click()
    plan = county.get_by_role("dialog", name="计划巡察轮次")
    plan.locator("[data-test=plan-launch]").click()
    county.get_by_role("option", name="陕西省：全省乡村振兴领域专项巡察同步展开").click()
    expect(plan.locator("[data-test=plan-theme]")).to_have_value(
        "乡村振兴领域资金使用", timeout=WAIT
    )
    plan.locator("[data-test=plan-group]").fill("县委第二巡察组")
    plan.locator("[data-test=plan-units]").click()
    county.get_by_role("option", name=unit["name"]).click()
    plan.locator(".el-dialog__title").click()
    plan.locator("[data-test=plan-submit]").click()
    detail = county.locator("[data-test=round-detail]")
    expect(detail).to_contain_text("关联上级部署的同步巡察", timeout=WAIT)
    detail.locator("[data-test=round-start]").click()
    county.get_by_role("dialog", name="启动巡察（进驻）").locator(
        "[data-test=round-submit]"
    ).click()
    expect(detail.locator("[data-test=round-state]")).to_have_text("巡察中", timeout=WAIT)
    detail.locator("[data-test=round-progress]").click()
    progress = county.get_by_role("dialog", name="报送发现问题")
    progress.locator("[data-test=round-problems] input").fill("4")
    progress.locator("[data-test=round-submit]").click()
    expect(detail).to_contain_text("4 个", timeout=WAIT)
    federation.pump()

    province.reload()
    province.locator("[data-test=launches] .el-table__row").first.click()
    targets = province.locator("[data-test=launch-targets]")
    expect(targets).to_contain_text("已启动", timeout=WAIT)
    expect(targets).to_contain_text("4", timeout=WAIT)
    expect(targets.locator("[data-test=late]")).to_have_count(0, timeout=WAIT)
    shot(province, "launch-started")

    # A second launch, not started by its start date: flagged late.
    now = federation.federation.clock.now()
    api(
        shaanxi,
        launcher_token,
        "POST",
        "/api/v1/inspection-rounds/launches",
        json={
            "kind": "regular",
            "title": "常规巡察同步展开",
            "theme": "全面从严治党",
            "addressees": ["huanglong"],
            "start_by": (now + timedelta(minutes=10)).isoformat(),
            "deadline": (now + timedelta(days=30)).isoformat(),
        },
    )
    federation.pump()
    # Past its start date (within the console session's idle time).
    federation.federation.clock.advance(20 * 60)
    province.reload()
    rows = province.locator("[data-test=launches] .el-table__row")
    expect(rows.first).to_contain_text("1 个单位未按期启动", timeout=WAIT)
    rows.first.click()
    expect(province.locator("[data-test=launch-targets] [data-test=late]")).to_have_count(
        1, timeout=WAIT
    )
    shot(province, "launch-late")
