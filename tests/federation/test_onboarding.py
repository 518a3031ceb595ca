"""Over real NATS (a nats-server and an API process per node): a county joins a running federation
(issue 12 item 2). Its parent's admin issues a one-time code (CLI), the county runs
``fedshare join`` (keys, signed request, waiting), the admin approves (CLI, through the running
API); the parent admits the county's leaf link and sources its stream while running, and the
county's records of every class flow both ways, accepted at the root. No existing node's
nats-server or API process restarts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from node.federation import Federation
from tests.support import FederationClient, prepared_federation, wait_for

pytestmark = pytest.mark.federation
TREE: list[tuple[str, str, str | None]] = [
    ("central", "中央", None),
    ("shaanxi", "陕西省", "central"),
    ("yanan", "延安市", "shaanxi"),
]
OLD = ["central", "shaanxi", "yanan"]


def pids(fed: Federation) -> dict[str, tuple[int, int]]:
    found = {}
    for node_id in OLD:
        handle = fed.nodes[node_id]
        assert handle.api is not None
        assert handle.nats.process is not None
        assert handle.api.poll() is None, node_id
        assert handle.nats.process.poll() is None, node_id
        found[node_id] = (handle.api.pid, handle.nats.process.pid)
    return found


def bodies(origin: str, other: str) -> list[dict[str, object]]:
    return [
        {"category": "policy", "title": f"{origin} 通报", "body": "正文"},
        {
            "category": "inspection_finding",
            "title": f"{origin} 受限",
            "body": "正文",
            "classification": "restricted",
            "parties": [other],
        },
        {
            "category": "inspection_finding",
            "title": f"{origin} 秘密",
            "body": "正文",
            "classification": "secret",
            "parties": [other],
        },
    ]


def run_cli(fed: Federation, node_id: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The command line as the operator of ``node_id`` runs it (its settings)."""
    return subprocess.run(
        [sys.executable, "-m", "node.cli", *args],
        env=fed.env_for(node_id),
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_a_county_joins_a_running_federation(tmp_path: Path) -> None:
    with prepared_federation(tmp_path / "fed", TREE, start=True) as client:
        join_and_exchange(client)


def join_and_exchange(client: FederationClient) -> None:
    fed = client.federation
    before = pids(fed)
    issued = run_cli(fed, "yanan", "join-code", "issue", "--expires-in", "1h", "--for", "luochuan")
    assert issued.returncode == 0, issued.stderr
    code = issued.stdout.strip()
    joining = fed.joining_node("luochuan", "洛川县", parent="yanan", code=code)
    log = (tmp_log := joining.data_dir.parent / "join.log").open("w")
    process = subprocess.Popen(joining.command(), env=joining.env, stdout=log, stderr=log)
    try:
        pending = wait_for(
            lambda: client.get(
                "yanan", "admin", "/api/v1/federation/join-requests", params={"status": "pending"}
            ).json()["items"],
            timeout=120,
            message="the join request at yanan",
        )
        assert [p["node"] for p in pending] == ["luochuan"]
        approved = run_cli(
            fed,
            "yanan",
            "join-request",
            "approve",
            pending[0]["id"],
            "--api",
            fed.nodes["yanan"].api_url,
            "--token",
            fed.nodes["yanan"].tokens["admin"],
        )
        assert approved.returncode == 0, approved.stderr
        assert process.wait(timeout=180) == 0, tmp_log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
        log.close()
    # Joined: running the command again changes nothing.
    again = subprocess.run(
        joining.command(), env=joining.env, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stderr
    assert "joined already" in again.stdout

    fed.adopt_joined("luochuan", "洛川县", joining.data_dir, joining.api_port)
    fed.start_nats("luochuan")
    fed.start_api("luochuan")

    # The membership change reached the root and the parent's NATS config admits the child.
    wait_for(
        lambda: client.db_rows(
            "central", "SELECT node_id FROM member_certificates WHERE node_id = 'luochuan'"
        ),
        message="luochuan's certificate at central",
    )
    conf = (fed.nodes["yanan"].data_dir / "nats.conf").read_text()
    assert "LEAF_luochuan" in conf
    assert "CN=luochuan,O=fedshare" in conf

    sent: list[tuple[str, str, str]] = []
    for origin, other in (("luochuan", "central"), ("central", "luochuan")):
        for body in bodies(origin, other):
            record = client.create_record(origin, body)
            sent.append((record["id"], other, str(body.get("classification", "general"))))
    general_from_shaanxi = client.create_record("shaanxi", bodies("shaanxi", "x")[0])
    sent.append((general_from_shaanxi["id"], "luochuan", "general"))
    for record_id, receiver, _ in sent:
        wait_for(
            lambda r=record_id, n=receiver: client.record_version(n, r) is not None,
            timeout=90,
            message=f"record {record_id} at {receiver}",
        )
    # The county's records are accepted all the way up (its ancestors hold its general record,
    # and the stub of its case-secret one, whose content stays at the county).
    general_up, restricted_up, secret_up = (record_id for record_id, _, _ in sent[:3])
    for ancestor in ("yanan", "shaanxi", "central"):
        wait_for(
            lambda a=ancestor: (
                client.record_version(a, general_up) is not None
                and client.record_version(a, secret_up) is not None
            ),
            timeout=90,
            message=f"luochuan's general record and stub at {ancestor}",
        )
    for ancestor in ("yanan", "shaanxi", "central"):
        stub = client.db_rows(
            ancestor, "SELECT is_stub, body FROM records WHERE id = :id", id=secret_up
        )
        assert stub, ancestor
        assert stub[0][0], ancestor
        assert not stub[0][1], ancestor
    # Restricted content only where named: central, not the relays.
    for relay in ("yanan", "shaanxi"):
        assert client.record_version(relay, restricted_up) is None, relay
    # Restricted naming luochuan from central did not stop at the relays either.
    restricted_down = sent[4][0]
    for relay in ("yanan", "shaanxi"):
        assert client.record_version(relay, restricted_down) is None, relay
    for node in [*OLD, "luochuan"]:
        assert client.db_rows(node, "SELECT reason, origin FROM dead_letters") == [], node
    members = client.get("central", "admin", "/api/v1/federation/members").json()["items"]
    assert {m["id"]: m["status"] for m in members}["luochuan"] == "valid"
    # No existing node restarted anything.
    assert pids(fed) == before
