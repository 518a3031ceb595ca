"""联邦 on the running demo tree (a nats-server and an API process per node, leaf links between
them): the admin of the province sees the tree and each of its links — to the centre above and
the city below — up, with its lag, in a real headless Chromium."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.console.browser import expect, log_in, shot
from tests.support import FederationClient, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.federation]


def test_the_admin_sees_each_link_of_the_running_tree_up(
    demo_federation: FederationClient, new_page: Callable[[], Any]
) -> None:
    def links_up() -> bool:
        status = demo_federation.get("shaanxi", "admin", "/api/v1/federation/status").json()
        peers = {p.get("node"): p.get("link") for p in status["transport"]["peers"]}
        return peers == {"central": "up", "yanan": "up"}

    wait_for(links_up, timeout=60, message="shaanxi's links to central and yanan up")
    node = demo_federation.federation.nodes["shaanxi"]
    name, password = node.logins["admin"]
    page = new_page()
    log_in(page, node.api_url, name, password)
    page.get_by_role("menuitem", name="联邦").click()
    tree = page.locator("[data-test=fed-tree]")
    expect(tree.locator("[data-test=link-state]")).to_have_count(2)
    expect(tree.get_by_text("链路正常")).to_have_count(2)
    links = page.locator("[data-test=links]")
    expect(links.locator(".el-table__row")).to_have_count(2)
    expect(links).to_contain_text("中央")
    expect(links).to_contain_text("延安市")
    expect(links).not_to_contain_text("中断")
    shot(page, "federation-links")
