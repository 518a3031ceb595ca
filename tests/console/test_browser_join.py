"""新节点加入 in the console (issue 12 item 2): the city's admin issues a one-time join code on the
联邦 screen, a new county's signed request arrives with it, and the admin approves it there; the
county appears in the federation tree. In a real headless Chromium over a live node."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from node.crypto import generate_keys
from node.members.joining import make_request
from tests.console.browser import expect, log_in, menu, shot
from tests.console.conftest import LiveFederation

pytestmark = pytest.mark.browser


def test_the_admin_issues_a_code_and_approves_a_county(
    live_federation: Callable[..., LiveFederation], new_page: Callable[[], Any]
) -> None:
    live = live_federation("yanan")
    yanan = live["yanan"]
    name, _token = yanan.add_user("admin")
    page = new_page()
    log_in(page, yanan.url, name)
    menu(page, "联邦")
    panel = page.locator("[data-test=join-panel]")
    expect(panel).to_contain_text("新节点加入")
    expect(panel.locator("[data-test=join-requests]")).to_contain_text("暂无加入申请")
    panel.locator("[data-test=join-code-node]").fill("luochuan")
    panel.locator("[data-test=join-code-issue]").click()
    issued = panel.locator("[data-test=join-code-issued]")
    expect(issued).to_contain_text("仅显示这一次")
    code = issued.locator("code").inner_text().strip()
    assert len(code) >= 20
    expect(panel.locator("[data-test=join-codes]")).to_contain_text("未使用")

    keys = generate_keys()
    request = make_request(
        signing=keys.signing,
        node="luochuan",
        name="洛川县",
        parent="yanan",
        signing_key=keys.signing_public_b64,
        encryption_key=keys.encryption_public_b64,
        api="http://127.0.0.1:18000",
        nats="nats://127.0.0.1:14222",
        leaf="nats-leaf://127.0.0.1:17422",
        time=yanan.node.ctx.clock.now(),
    )
    sent = httpx.post(
        f"{yanan.url}/api/v1/federation/join-requests",
        json={"code": code, "request": request.document},
        timeout=30,
    )
    assert sent.status_code == 202, sent.text

    panel.get_by_role("button", name="刷新").click()
    requests = panel.locator("[data-test=join-requests]")
    expect(requests).to_contain_text("洛川县（luochuan）")
    expect(requests).to_contain_text("待审批")
    expect(panel.locator("[data-test=join-codes]")).to_contain_text("已使用")
    shot(page, "federation-join-request")
    requests.locator("[data-test=join-approve]").click()
    page.get_by_role("dialog").get_by_role("button", name="批准").click()
    expect(page.get_by_text("洛川县 已批准加入")).to_be_visible()
    expect(requests).to_contain_text("已批准")
    expect(page.locator("[data-test=fed-tree]")).to_contain_text("洛川县")
    shot(page, "federation-join-approved")
    assert "luochuan" in yanan.node.ctx.topology.children("yanan")
