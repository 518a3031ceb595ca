from __future__ import annotations

from collections.abc import Callable

from tests.conftest import NodeUnderTest


def test_general_record_round_trip(make_node: Callable[[str], NodeUnderTest]) -> None:
    node = make_node("shaanxi")
    created = node.client.post(
        "/api/v1/records",
        json={"category": "policy", "title": "关于加强巡察工作的意见", "body": "正文"},
        headers=node.auth("inspector"),
    )
    assert created.status_code == 201, created.text
    record = created.json()
    assert record["classification"] == "general"
    assert record["origin"] == "shaanxi"
    fetched = node.client.get(f"/api/v1/records/{record['id']}", headers=node.auth("admin"))
    assert fetched.status_code == 200
    assert fetched.json()["title"] == "关于加强巡察工作的意见"
