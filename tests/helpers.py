"""Small helpers shared by the order, ledger, release and statistics tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.conftest import NodeUnderTest


def later(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def order_body(*addressees: str, deadline_s: float = 7 * 86400, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "关于对县水利局开展专项巡察的督办指令",
        "addressees": list(addressees),
        "inspected_units": ["县水利局"],
        "focus_issues": ["工程招投标", "专项资金使用"],
        "deadline": later(deadline_s),
    }
    body.update(extra)
    return body


def call(
    node: NodeUnderTest, method: str, path: str, role: str = "inspector", **kwargs: Any
) -> httpx.Response:
    response: httpx.Response = node.client.request(method, path, headers=node.auth(role), **kwargs)
    return response


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    data: dict[str, Any] = response.json()
    return data


def error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == code, response.text


def target(order: dict[str, Any], addressee: str) -> dict[str, Any]:
    found: dict[str, Any] = next(t for t in order["targets"] if t["addressee"] == addressee)
    return found
