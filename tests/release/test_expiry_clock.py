"""Grants end when the node's clock says so: the test moves the clock, the next sweep ends the
grant at the origin and deletes the released content at the grantee (no waiting)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from node.release.tasks import sweep_once
from tests.inprocess import MiniFederation

REQUESTS = "/api/v1/access-requests"


def test_advancing_the_clock_ends_a_grant_on_the_next_sweep(
    mini_federation: Callable[..., MiniFederation],
) -> None:
    fed = mini_federation("huanglong", "yanan", "shaanxi")
    origin, grantee = fed["huanglong"], fed["shaanxi"]

    def post(node: Any, path: str, body: dict[str, Any], role: str = "inspector") -> Any:
        response = node.client.post(path, json=body, headers=node.auth(role))
        assert response.status_code in (200, 201), response.text
        fed.pump()
        return response.json()

    record = post(
        origin,
        "/api/v1/records",
        {"category": "case_analysis", "title": "案件分析", "body": "分析正文"},
    )
    request = post(
        grantee,
        REQUESTS,
        {"record_id": record["id"], "reason": "巡视组核查相关问题需要调阅", "duration_s": 3600},
    )
    decided = post(
        origin, f"{REQUESTS}/{request['id']}/approve", {"comment": "同意"}, role="approver"
    )
    assert decided["status"] == "active", decided
    read = grantee.client.get(f"/api/v1/records/{record['id']}", headers=grantee.auth("inspector"))
    assert read.json()["body"] == "分析正文"

    assert sweep_once(origin.ctx) == 0  # not yet
    fed.clock.advance(3601)
    assert sweep_once(origin.ctx) == 1
    fed.pump()
    sweep_once(grantee.ctx)
    assert fed.rows("shaanxi", "SELECT count(*) FROM released_content") == [(0,)]
    mine = grantee.client.get(f"{REQUESTS}/{request['id']}", headers=grantee.auth("inspector"))
    assert mine.json()["status"] == "expired", mine.json()
