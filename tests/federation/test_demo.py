"""The README's first command: ``fedshare demo`` (here detached, with the small history) brings up
the five-node federation, writes federation.json as DESIGN §9 says, seeds Chinese records, and
stops cleanly."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from node.demo import SECRET_ORDER
from tests.support import fedshare, free_base_port, wait_for

pytestmark = pytest.mark.federation


def test_demo_detach_and_stop(tmp_path: Path) -> None:
    demo_dir = tmp_path / "demo"
    base_port = free_base_port()
    started = fedshare(
        "demo",
        "--detach",
        "--dir",
        str(demo_dir),
        "--base-port",
        str(base_port),
        "--seed-size",
        "small",
    )
    try:
        assert started.returncode == 0, started.stderr
        description = json.loads((demo_dir / "federation.json").read_text(encoding="utf-8"))
        nodes = description["nodes"]
        assert set(nodes) == {"central", "shaanxi", "yanan", "huanglong", "yichuan"}
        assert nodes["central"]["parent"] is None
        assert nodes["huanglong"]["parent"] == "yanan"
        for node in nodes.values():
            roles = {"inspector", "approver", "approver-2", "security_officer", "admin"}
            assert set(node["tokens"]) == roles
            assert set(node["users"]) == set(node["tokens"])
            assert node["api"].startswith("http://127.0.0.1:")
        again = fedshare("demo", "--detach", "--dir", str(demo_dir), "--base-port", str(base_port))
        assert again.returncode != 0
        assert "already running" in again.stderr

        login = nodes["yanan"]["users"]["approver"]
        session = httpx.post(
            f"{nodes['yanan']['api']}/api/v1/session",
            json={"name": login["username"], "password": login["password"]},
            timeout=30,
        )
        assert session.status_code == 200, session.text
        assert (session.json()["node_name"], session.json()["role"]) == ("延安市", "approver")

        central = nodes["central"]
        headers = {"Authorization": f"Bearer {central['tokens']['inspector']}"}

        def central_holds_seeds() -> list[dict[str, object]]:
            page = httpx.get(f"{central['api']}/api/v1/records", headers=headers, timeout=10)
            items: list[dict[str, object]] = page.json()["items"]
            return items if len(items) >= 4 else []

        items = wait_for(central_holds_seeds, timeout=60, message="seeded records at central")
        titles = {i.get("title") for i in items if not i["stub"]}
        assert "关于开展接力式巡视巡察联动的工作要求" in titles
        assert any(i["stub"] and i["category"] == "problem_clue" for i in items)

        # The seeded order's case-secret clue: requested for the county, pending two approvals;
        # the county holds it as a stub and reads nothing before then.
        shaanxi, huanglong = nodes["shaanxi"], nodes["huanglong"]
        approver = {"Authorization": f"Bearer {shaanxi['tokens']['approver']}"}
        issued = httpx.get(
            f"{shaanxi['api']}/api/v1/orders",
            params={"box": "issued", "limit": 200},
            headers={"Authorization": f"Bearer {shaanxi['tokens']['inspector']}"},
            timeout=10,
        ).json()["items"]
        (seeded_order,) = [o for o in issued if o["title"] == SECRET_ORDER["title"]]
        (clue,) = seeded_order["attachments"]
        requests = httpx.get(
            f"{shaanxi['api']}/api/v1/access-requests",
            params={"record_id": clue["record_id"]},
            headers=approver,
            timeout=10,
        ).json()["items"]
        (pending,) = [r for r in requests if r["status"] == "pending"]
        assert (pending["approvals_needed"], pending["approvals"]) == (2, 0)
        county = {"Authorization": f"Bearer {huanglong['tokens']['inspector']}"}

        def county_holds_stub() -> dict[str, object] | None:
            response = httpx.get(
                f"{huanglong['api']}/api/v1/records/{pending['record_id']}",
                headers=county,
                timeout=10,
            )
            return response.json() if response.status_code == 200 else None

        stub = wait_for(county_holds_stub, timeout=60, message="the clue's stub at the county")
        assert stub["stub"] is True
        assert "title" not in stub

        # The county's seeded clue names its reporter in a sealed block, not in the body: its
        # author reads it; no other node's listing holds the name.
        clues = httpx.get(
            f"{huanglong['api']}/api/v1/records",
            params={"category": "problem_clue", "origin": "huanglong"},
            headers=county,
            timeout=10,
        ).json()["items"]
        (clue,) = [c for c in clues if c["title"] == "关于某局负责人违规收受礼金的问题线索"]
        assert "王某" not in clue["body"]
        reporter = httpx.get(
            f"{huanglong['api']}/api/v1/records/{clue['id']}/reporter",
            params={"origin": "huanglong"},
            headers=county,
            timeout=10,
        )
        assert reporter.status_code == 200, reporter.text
        assert reporter.json()["name"] == "王某"
        listed = httpx.get(f"{central['api']}/api/v1/records", headers=headers, timeout=10)
        assert "王某" not in listed.text
        assert "李某" not in listed.text
    finally:
        stopped = fedshare("demo", "stop", "--dir", str(demo_dir))
    assert stopped.returncode == 0
    assert not (demo_dir / "demo.pid").exists()
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{nodes['central']['api']}/healthz", timeout=2)
