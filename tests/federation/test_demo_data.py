"""The demo's history (``node.demo_data``, small size) on the five-node demo federation, made
through the nodes' API on their clock file: records of every category and class where they
belong, orders in every state (some overdue), ledger items, grants that ended every way,
statistics over several months, and intact audit chains on every node afterwards."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from node.demo_data import SIZES, SeedReport, rewind_clock, seed_history
from node.federation import Federation
from tests.support import FederationClient, wait_for

pytestmark = pytest.mark.federation

CATEGORIES = {
    "policy",
    "practice",
    "work_requirement",
    "supervision_check",
    "inspection_finding",
    "political_ecology",
    "accountability",
    "problem_clue",
    "petition",
    "evidence",
    "case_analysis",
    "integrity_consultation",
    "integrity_file",
    "personal_matter_report",
}
RESTING_STATES = {
    "received",
    "acknowledged",
    "in_progress",
    "reported",
    "returned",
    "accepted",
    "closed",
}


@pytest.fixture(scope="module")
def seeded(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[FederationClient, SeedReport]]:
    size = SIZES["small"]
    federation = Federation(tmp_path_factory.mktemp("history") / "fed", test_clock=True)
    rewind_clock(federation, size)
    federation.prepare()
    client = FederationClient(federation)
    try:
        federation.start()
        report = seed_history(federation, size, log=lambda _line: None)
        yield client, report
    finally:
        client.close()
        federation.stop()


def listing(
    client: FederationClient, node: str, role: str, path: str, **params: Any
) -> list[dict[str, Any]]:
    """Every item of a paginated listing."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page_params = {**params, "limit": 200, **({"cursor": cursor} if cursor else {})}
        response = client.get(node, role, path, params=page_params)
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            return items


def test_the_clock_reads_real_time_again(seeded: tuple[FederationClient, SeedReport]) -> None:
    client, report = seeded
    assert abs((client.federation.now() - datetime.now(UTC)).total_seconds()) < 5
    assert report.requests > 100


def test_records_of_every_category_and_class_where_they_belong(
    seeded: tuple[FederationClient, SeedReport],
) -> None:
    client, report = seeded
    federation = client.federation
    topology = federation.topology
    assert topology is not None
    nodes = list(federation.nodes)
    own = {
        node: listing(
            client, node, "inspector", "/api/v1/records", origin=node, include_deleted="true"
        )
        for node in nodes
    }
    made = [r for records in own.values() for r in records]
    assert {r["category"] for r in made} == CATEGORIES
    assert {r["classification"] for r in made} == {"general", "restricted", "secret"}
    assert all(not r["stub"] for r in made if not r["deleted"])
    assert any(r["version"] > 1 and not r["deleted"] for r in made), "some were edited"
    assert any(r["deleted"] for r in made), "a few were deleted"
    assert len(made) >= SIZES["small"].records
    assert sum(report.records.values()) >= SIZES["small"].records
    # An order carrying a case-secret record of its issuer sends the addressees its stub.
    sent_with_orders: dict[tuple[str, str], set[str]] = {}
    for issuer in ("central", "shaanxi", "yanan"):
        for order in listing(client, issuer, "inspector", "/api/v1/orders", box="issued"):
            for attachment in order["attachments"]:
                if attachment["access_requested"]:
                    key = (attachment["origin"], attachment["record_id"])
                    sent_with_orders.setdefault(key, set()).update(order["addressees"])

    def entitled(record: dict[str, Any]) -> dict[str, str]:
        """node -> "full" | "stub" for every node other than the origin."""
        origin = record["origin"]
        others = [n for n in nodes if n != origin]
        if record["classification"] == "general":
            return dict.fromkeys(others, "full")
        if record["classification"] == "restricted":
            return dict.fromkeys(record["parties"], "full")
        holders = set(topology.ancestors(origin)) | set(record["parties"])
        holders |= sent_with_orders.get((origin, record["id"]), set())
        return dict.fromkeys(holders, "stub")

    def replicated() -> bool:
        held = {
            node: {
                (r["origin"], r["id"]): r
                for r in listing(client, node, "inspector", "/api/v1/records")
            }
            for node in nodes
        }
        for record in made:
            if record["deleted"]:
                continue
            key = (record["origin"], record["id"])
            wanted = entitled(record)
            for node in nodes:
                if node == record["origin"]:
                    continue
                there = held[node].get(key)
                if node not in wanted:
                    assert there is None, f"{key} must not be at {node}"
                    continue
                if there is None:
                    return False
                if wanted[node] == "full":
                    assert not there["stub"], (key, node)
                elif there["stub"]:  # else: released to a grantee there, while the grant lasts
                    assert "title" not in there
                    assert "body" not in there
        return True

    wait_for(replicated, timeout=90, interval=0.5, message="records at their destinations")


def test_orders_in_every_state_some_overdue(seeded: tuple[FederationClient, SeedReport]) -> None:
    client, report = seeded
    issuers = ["central", "shaanxi", "yanan"]
    orders = [
        o
        for node in issuers
        for o in listing(client, node, "inspector", "/api/v1/orders", box="issued")
    ]
    assert len(orders) == report.orders == SIZES["small"].orders
    states = {t["state"] for o in orders for t in o["targets"]}
    assert states >= RESTING_STATES
    # ``issued`` is where every addressee starts; it rests there only until the order arrives.
    detail = client.get(orders[0]["issuer"], "inspector", f"/api/v1/orders/{orders[0]['id']}")
    first_events = detail.json()["targets"][0]["events"]
    assert (first_events[0]["action"], first_events[0]["state"]) == ("issue", "issued")
    overdue = [t for o in orders for t in o["targets"] if t["overdue"]]
    assert overdue
    assert all(
        t["state"] in {"received", "acknowledged", "in_progress", "returned"} for t in overdue
    )
    # Flagged on both sides: the addressee's own listing says so too.
    late = overdue[0]
    received = listing(
        client, late["addressee"], "inspector", "/api/v1/orders", box="received", overdue="true"
    )
    assert late["order_id"] in {o["id"] for o in received}
    # Times are the nodes' own, over the simulated months.
    months = {o["issued_at"][:7] for o in orders}
    assert len(months) > 1


def test_ledger_items_with_feedback_and_closing(
    seeded: tuple[FederationClient, SeedReport],
) -> None:
    client, _report = seeded
    items = [
        i
        for node in client.federation.nodes
        for i in listing(client, node, "inspector", "/api/v1/ledger", scope="own")
    ]
    assert {i["status"] for i in items} == {"transferred", "responded", "closed"}
    assert any(i["overdue"] for i in items)
    assert any(i["clue_record_id"] for i in items)


def test_rectification_demands_closed_off_and_overdue(
    seeded: tuple[FederationClient, SeedReport],
) -> None:
    client, report = seeded
    own = [
        i
        for node in client.federation.nodes
        for i in listing(client, node, "inspector", "/api/v1/rectifications", scope="own")
    ]
    assert len(own) == sum(report.rectification.values())
    assert {i["state"] for i in own} >= {"closed", "reported", "returned", "reopened", "issued"}
    assert any(i["overdue"] for i in own)
    closed = next(i for i in own if i["state"] == "closed")
    detail = client.get(closed["node"], "inspector", f"/api/v1/rectifications/{closed['id']}")
    assert detail.json()["events"][-1]["evidence"], "closed off with evidence"

    def counted_above() -> bool:
        figures = client.get("central", "inspector", "/api/v1/stats").json()["rectification"]
        return bool(figures["total"] == len(own) and figures["overdue"] > 0 and figures["closed"])

    wait_for(counted_above, timeout=60, interval=0.5, message="rectification counted at the centre")


def test_units_rounds_coverage_and_a_synchronised_launch(
    seeded: tuple[FederationClient, SeedReport],
) -> None:
    client, report = seeded
    assert report.units > 0
    assert report.launches == 1
    rounds = listing(client, "huanglong", "inspector", "/api/v1/inspection-rounds", scope="own")
    assert {r["state"] for r in rounds} == {"planned", "in_progress", "completed"}
    assert {r["kind"] for r in rounds} >= {"regular", "special"}
    coverage = client.get("shaanxi", "inspector", "/api/v1/inspection-rounds/coverage").json()
    county = next(n for n in coverage["by_node"] if n["node"] == "huanglong")
    assert 0 < county["units_inspected"] < county["units_total"]
    assert coverage["total"]["problems_found"] > 0
    [launch] = listing(
        client, "shaanxi", "inspector", "/api/v1/inspection-rounds/launches", box="launched"
    )

    def reported() -> bool:
        found = client.get(
            "shaanxi", "inspector", f"/api/v1/inspection-rounds/launches/{launch['id']}"
        ).json()
        states = {t["addressee"]: (t["state"], t["late"]) for t in found["targets"]}
        return states == {
            "huanglong": ("started", False),
            "yichuan": ("linked", True),
        } and bool(found["problems_found"])

    wait_for(reported, timeout=60, interval=0.5, message="the launch's parts at the province")
    stats = client.get("central", "inspector", "/api/v1/stats").json()["rounds"]
    assert stats["coverage"]["units_inspected"] > 0
    assert stats["total"] >= len(rounds)


def test_grants_ended_every_way_with_reads(seeded: tuple[FederationClient, SeedReport]) -> None:
    client, _report = seeded
    grants = client.get("central", "security_officer", "/api/v1/grants", params={"limit": 500})
    assert grants.status_code == 200, grants.text
    items = grants.json()["items"]
    statuses = {g["status"] for g in items}
    assert statuses >= {"active", "expired", "revoked", "denied", "pending", "request_expired"}
    assert any(g["read_count"] > 0 for g in items)
    two = [
        g
        for g in items
        if g["approvals_needed"] == 2 and g["status"] in {"active", "expired", "revoked"}
    ]
    assert two
    assert all(len({d["approver"] for d in g["decisions"]}) == 2 for g in two)


def test_stats_show_several_months(seeded: tuple[FederationClient, SeedReport]) -> None:
    client, _report = seeded
    response = client.get("central", "inspector", "/api/v1/stats", params={"group_by": "month"})
    assert response.status_code == 200, response.text
    stats = response.json()
    months = {row[0] for row in stats["records"]["rows"] if int(row[1]) > 0}
    assert len(months) > 1
    assert stats["records"]["stubs"] > 0
    by_state = {s["state"] for s in stats["orders"]["by_state"] if s["count"]}
    assert by_state >= RESTING_STATES
    assert stats["orders"]["overdue"] > 0
    assert stats["ledger"]["total"] > 0


def test_audit_chains_intact_and_nothing_dead_lettered(
    seeded: tuple[FederationClient, SeedReport],
) -> None:
    client, _report = seeded
    federation = client.federation
    for node in federation.nodes:
        verified = subprocess.run(
            [sys.executable, "-m", "node.cli", "audit", "verify"],
            env=federation.env_for(node),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert verified.returncode == 0, (node, verified.stdout, verified.stderr)
        status = client.get(node, "admin", "/api/v1/federation/status")
        assert status.status_code == 200, status.text
        assert status.json()["dead_letters"] == {}, node


def test_the_history_is_deterministic(tmp_path: Path) -> None:
    """Same seed, same plan (titles, categories, origins): only the dates follow today's."""
    from node.demo_data import Seeder

    federation = Federation(tmp_path / "fed", test_clock=True)
    federation.prepare()
    plans = []
    for _ in range(2):
        seeder = Seeder(federation, SIZES["small"], seed=7, log=lambda _line: None)
        seeder.plan_records()
        orders = seeder.plan_orders()
        plans.append(
            (
                [
                    (r.origin, r.category, r.classification, r.title, r.parties)
                    for r in seeder.records
                ],
                [(o.issuer, o.addressees, o.title, [p.final for p in o.paths]) for o in orders],
            )
        )
        seeder.api.close()
    assert plans[0] == plans[1]
