"""The web console is served at / (and its client routes), with hashed assets and a strict CSP."""

from __future__ import annotations

import re
from collections.abc import Callable

from tests.conftest import NodeUnderTest


def test_console_index_assets_and_client_routes(make_node: Callable[[str], NodeUnderTest]) -> None:
    node = make_node("yanan")
    page = node.client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "巡视巡察上下联动信息共享平台" in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-eval" not in csp
    assert "unsafe-inline" not in csp
    assert "<script>" not in page.text  # no inline script: only <script src=…>
    assets = re.findall(r'(?:src|href)="(/assets/[^"]+)"', page.text)
    assert any(a.endswith(".js") for a in assets)
    assert any(a.endswith(".css") for a in assets)
    for asset in assets:
        answer = node.client.get(asset)
        assert answer.status_code == 200
        assert "immutable" in answer.headers["cache-control"]
    script = node.client.get(next(a for a in assets if a.endswith(".js")))
    assert script.headers["content-type"].startswith("text/javascript")
    for route in (
        "/login",
        "/records",
        "/records/0190b7a4-0000-7000-8000-000000000000",
        "/approvals",
    ):
        assert node.client.get(route).text == page.text
    missing = node.client.get("/assets/nothing.js")
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")
    assert node.client.get("/assets/..%2Fapp%2Findex.html").status_code == 404
    assert node.client.get("/api/v1/nothing").json()["error"] == "not_found"
    schema = node.client.get("/openapi.json", headers=node.auth("inspector")).json()
    assert "/" not in schema["paths"]
    assert "/records" not in schema["paths"]


def test_tree_and_categories_for_pickers(make_node: Callable[[str], NodeUnderTest]) -> None:
    node = make_node("yanan")
    tree = node.client.get("/api/v1/federation/tree", headers=node.auth("inspector")).json()
    assert [(n["id"], n["name"], n["tier_label"]) for n in tree] == [
        ("central", "中央", "中央"),
        ("shaanxi", "陕西省", "省级"),
        ("yanan", "延安市", "市级"),
        ("huanglong", "黄龙县", "县级"),
        ("yichuan", "宜川县", "县级"),
    ]
    assert set(tree[0]) == {"id", "name", "parent", "tier", "tier_label"}  # no addresses, keys
    assert node.client.get("/api/v1/federation/tree").status_code == 401
    categories = node.client.get("/api/v1/categories", headers=node.auth("inspector")).json()
    clue = next(c for c in categories if c["code"] == "problem_clue")
    assert (clue["label_zh"], clue["min_class"], clue["approvals"]) == ("问题线索", "secret", 2)


def test_metrics_labels_stay_bounded(make_node: Callable[[str], NodeUnderTest]) -> None:
    node = make_node("yanan")
    node.client.request("BREW", "/healthz")
    metrics = node.client.get("/metrics", headers=node.auth("admin")).text
    assert 'method="BREW"' not in metrics
    assert 'method="OTHER"' in metrics
