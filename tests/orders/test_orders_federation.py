"""Orders on the running demo federation (nats-servers, leafnodes, one API process per node):
the province orders a county two levels down; the county receives, acknowledges, reports; the
province accepts; the centre's statistics reflect it. The subtree rule, illegal transitions and
overdue at both ends, through the real transport."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest

from node.clock import parse_iso
from tests.helpers import order_body, target
from tests.support import FederationClient, barrier, wait_for

pytestmark = pytest.mark.federation


def state_at(fed: FederationClient, node: str, order_id: str, addressee: str) -> str | None:
    response = fed.get(node, "inspector", f"/api/v1/orders/{order_id}")
    if response.status_code != 200:
        return None
    state: str = target(response.json(), addressee)["state"]
    return state


def summary_state(fed: FederationClient, node: str, order_id: str) -> str | None:
    items = fed.get(node, "inspector", "/api/v1/orders/targets").json()["items"]
    found = [t["state"] for t in items if t["order_id"] == order_id]
    return found[0] if found else None


def has_summary(fed: FederationClient, node: str, order_id: str, state: str) -> bool:
    return summary_state(fed, node, order_id) == state


def orders_stats(fed: FederationClient, node: str) -> dict[str, Any]:
    response = fed.get(node, "inspector", "/api/v1/stats")
    assert response.status_code == 200, response.text
    stats: dict[str, Any] = response.json()["orders"]
    return stats


def test_province_orders_a_county_two_levels_down(demo_federation: FederationClient) -> None:
    fed = demo_federation
    before = orders_stats(fed, "central")["total"]
    created = fed.post("shaanxi", "inspector", "/api/v1/orders", json=order_body("huanglong"))
    assert created.status_code == 201, created.text
    order_id = created.json()["id"]
    wait_for(
        lambda: state_at(fed, "huanglong", order_id, "huanglong") == "received",
        message="order received at the county",
    )
    wait_for(
        lambda: state_at(fed, "shaanxi", order_id, "huanglong") == "received",
        message="receipt known at the province",
    )
    path = f"/api/v1/orders/{order_id}"
    for action, body in (
        ("acknowledge", {"note": "收到"}),
        ("progress", {"note": "已进驻"}),
        ("report", {"title": "专项巡察情况报告", "body": "发现问题三个"}),
    ):
        response = fed.post("huanglong", "inspector", f"{path}/{action}", json=body)
        assert response.status_code == 200, response.text
    report_id = target(response.json(), "huanglong")["report_record_id"]
    wait_for(
        lambda: state_at(fed, "shaanxi", order_id, "huanglong") == "reported",
        message="report at the province",
    )
    wait_for(
        lambda: fed.record_version("shaanxi", report_id) == 1,
        message="findings report replicated to the issuer",
    )
    report = fed.get("shaanxi", "inspector", f"/api/v1/records/{report_id}").json()
    assert (report["classification"], report["parties"]) == ("restricted", ["shaanxi"])
    accepted = fed.post("shaanxi", "approver", f"{path}/accept", json={})
    assert accepted.status_code == 200, accepted.text
    assert target(accepted.json(), "huanglong")["state_label"] == "已验收"
    wait_for(
        lambda: state_at(fed, "huanglong", order_id, "huanglong") == "accepted",
        message="acceptance at the county",
    )
    # The tiers above the county hold the order's state (metadata only) and count it.
    for node in ("yanan", "central"):
        wait_for(
            partial(has_summary, fed, node, order_id, "accepted"), message=f"summary at {node}"
        )
        assert fed.db_rows(node, "SELECT count(*) FROM orders WHERE id = :id", id=order_id) == [
            (0,)
        ]
    stats = orders_stats(fed, "central")
    assert stats["total"] == before + 1
    assert any(s["state"] == "accepted" and s["count"] >= 1 for s in stats["by_state"])
    assert stats["median_ack_seconds"] is not None
    # No plaintext of the order's title crossed NATS.
    title = order_body()["title"]
    barrier(fed, "shaanxi", "central", "yanan", "yichuan")
    barrier(fed, "huanglong", "central", "yanan", "yichuan")
    for node in ("central", "yanan", "yichuan"):
        assert fed.db_rows(node, "SELECT count(*) FROM orders WHERE title = :t", t=title) == [(0,)]


@pytest.mark.parametrize(
    ("issuer", "addressee"),
    [
        ("yichuan", "huanglong"),  # a peer
        ("huanglong", "shaanxi"),  # above
        ("shaanxi", "shaanxi"),  # itself
    ],
)
def test_non_superior_issuer_is_refused(
    demo_federation: FederationClient, issuer: str, addressee: str
) -> None:
    response = demo_federation.post(
        issuer, "inspector", "/api/v1/orders", json=order_body(addressee)
    )
    assert response.status_code == 403, response.text
    assert response.json()["error"] == "addressee_not_in_subtree"


def test_illegal_transition_and_overdue_at_both_ends(demo_federation: FederationClient) -> None:
    fed = demo_federation
    created = fed.post(
        "yanan",
        "inspector",
        "/api/v1/orders",
        json=order_body("yichuan", deadline_s=600, now=fed.federation.now()),
    )
    assert created.status_code == 201, created.text
    order_id = created.json()["id"]
    path = f"/api/v1/orders/{order_id}"
    wait_for(
        lambda: state_at(fed, "yichuan", order_id, "yichuan") == "received",
        message="order at the county",
    )
    early = fed.post("yichuan", "inspector", f"{path}/report", json={"title": "未确认即报告"})
    assert (early.status_code, early.json()["error"]) == (409, "illegal_transition")
    wrong_end = fed.post("yanan", "inspector", f"{path}/acknowledge", json={})
    assert (wrong_end.status_code, wrong_end.json()["error"]) == (403, "not_addressee")
    # Move the federation's clock past the deadline instead of waiting for it.
    deadline = parse_iso(created.json()["deadline"])
    fed.federation.advance_clock((deadline - fed.federation.now()).total_seconds() + 1)
    for node in ("yanan", "yichuan"):
        shown = fed.get(node, "inspector", path).json()
        assert shown["overdue"], node
        assert target(shown, "yichuan")["overdue"], node
    wait_for(
        lambda: summary_state(fed, "central", order_id) == "received",
        message="summary at the centre",
    )
    overdue = fed.get(
        "central", "inspector", "/api/v1/orders/targets", params={"overdue": "true"}
    ).json()["items"]
    assert order_id in [t["order_id"] for t in overdue]
    assert orders_stats(fed, "shaanxi")["overdue"] >= 1
