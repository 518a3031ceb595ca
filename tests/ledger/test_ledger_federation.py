"""A ledger item on the running demo federation: a county transfers a clue, the tiers above see it
(overdue included) as metadata, the county records feedback and closes it off."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest

from tests.helpers import later
from tests.support import FederationClient, barrier, wait_for

pytestmark = pytest.mark.federation
TITLE = "县交通局负责人违规收受礼金问题线索"


def seen_at(fed: FederationClient, node: str, item_id: str) -> dict[str, Any] | None:
    response = fed.get(node, "inspector", f"/api/v1/ledger/{item_id}")
    if response.status_code != 200:
        return None
    item: dict[str, Any] = response.json()
    return item


def test_ledger_item_from_transfer_to_closing_off(demo_federation: FederationClient) -> None:
    fed = demo_federation
    created = fed.post(
        "huanglong",
        "inspector",
        "/api/v1/ledger",
        json={
            "title": TITLE,
            "department": "组织部",
            "responsible": "王芳",
            "feedback_deadline": later(600, now=fed.federation.now()),
        },
    )
    assert created.status_code == 201, created.text
    item_id = created.json()["id"]
    for node in ("yanan", "shaanxi", "central"):
        summary = wait_for(
            partial(seen_at, fed, node, item_id), message=f"ledger summary at {node}"
        )
        assert summary is not None
        assert summary["summary"]
        assert summary["title"] is None
        assert summary["department"] == "组织部"
    barrier(fed, "huanglong", "yichuan")
    assert seen_at(fed, "yichuan", item_id) is None
    # Past the feedback deadline: the nodes' clocks move, nobody waits.
    fed.federation.advance_clock(601)
    overdue = fed.get("yanan", "inspector", "/api/v1/ledger", params={"overdue": "true"}).json()[
        "items"
    ]
    assert [i["id"] for i in overdue] == [item_id]
    assert fed.get("shaanxi", "inspector", "/api/v1/stats").json()["ledger"]["overdue"] == 1
    path = f"/api/v1/ledger/{item_id}"
    early = fed.post("huanglong", "inspector", f"{path}/close", json={})
    assert (early.status_code, early.json()["error"]) == (409, "feedback_required")
    assert (
        fed.post(
            "huanglong", "inspector", f"{path}/feedback", json={"note": "已对相关人员进行组织处理"}
        ).status_code
        == 200
    )
    closed = fed.post("huanglong", "inspector", f"{path}/close", json={})
    assert closed.status_code == 200, closed.text
    assert closed.json()["status_label"] == "已销号"
    wait_for(
        lambda: (seen_at(fed, "central", item_id) or {}).get("status") == "closed",
        message="closed off, seen at the centre",
    )
    ledger = fed.get("central", "inspector", "/api/v1/stats").json()["ledger"]
    assert (ledger["closed"], ledger["overdue"]) == (1, 0)
    # The closing-off reached the centre, behind every earlier envelope of the item: had any
    # carried the title, it would be stored by now.
    for node in ("yanan", "shaanxi", "central"):
        assert fed.db_rows(node, "SELECT count(*) FROM ledger_items WHERE title = :t", t=TITLE) == [
            (0,)
        ]
