"""The web console is served at / with Chinese labels and talks to the same API."""

from __future__ import annotations

from collections.abc import Callable

from tests.conftest import NodeUnderTest


def test_console_page_has_chinese_labels(make_node: Callable[[str], NodeUnderTest]) -> None:
    node = make_node("yanan")
    page = node.client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for label in ("巡视巡察上下联动信息共享平台", "一般基础性信息", "涉案类保密信息", "新建记录"):
        assert label in page.text
    script = node.client.get("/console.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    for path in ("/api/v1/records", "/api/v1/me", "/api/v1/categories"):
        assert path in script.text
    assert node.client.get("/console.css").headers["content-type"].startswith("text/css")
    schema = node.client.get("/openapi.json", headers=node.auth("inspector")).json()
    assert "/" not in schema["paths"]


def test_metrics_labels_stay_bounded(make_node: Callable[[str], NodeUnderTest]) -> None:
    node = make_node("yanan")
    node.client.request("BREW", "/healthz")
    metrics = node.client.get("/metrics", headers=node.auth("admin")).text
    assert 'method="BREW"' not in metrics
    assert 'method="OTHER"' in metrics
