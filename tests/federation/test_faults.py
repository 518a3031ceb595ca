"""Real faults: kill -9 a node, restart a NATS server, cut a leaf link. Each time every record
version is applied exactly once at every entitled node, in version order, and nothing is
dead-lettered."""

from __future__ import annotations

import os
import socket
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from node.federation import leaf_port_of
from node.replication.natsconf import host_port
from tests.support import FederationClient, LinkProxy, prepared_federation, wait_for

pytestmark = pytest.mark.federation

CHAIN = [
    ("central", "中央", None),
    ("shaanxi", "陕西省", "central"),
    ("huanglong", "黄龙县", "shaanxi"),
]
BODY = "巡察发现问题整改情况。" * 40  # about 1 KiB of UTF-8
LINK_CUT_SECONDS = float(os.environ.get("FEDSHARE_TEST_LINK_CUT_SECONDS", "10"))
CUT_MS = LINK_CUT_SECONDS * 1000


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[FederationClient]:
    with prepared_federation(tmp_path / "fed", CHAIN) as client:
        yield client


class Writer(threading.Thread):
    """Writes ``creates`` general records at ``node``, updating every fourth one once."""

    def __init__(self, client: FederationClient, node: str, creates: int) -> None:
        super().__init__(daemon=True)
        self.client = client
        self.node = node
        self.creates = creates
        self.expected: dict[str, int] = {}
        self.progress = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for index in range(self.creates):
                record = self.client.create_record(
                    self.node,
                    {"category": "practice", "title": f"{self.node}-{index}", "body": BODY},
                )
                self.expected[record["id"]] = 1
                if index % 4 == 0:
                    updated = self.client.request(
                        "PATCH",
                        self.node,
                        "inspector",
                        f"/api/v1/records/{record['id']}",
                        json={"body": BODY + "(更新)"},
                    )
                    assert updated.status_code == 200, updated.text
                    self.expected[record["id"]] = 2
                self.progress = index + 1
        except BaseException as exc:  # reported by the test
            self.error = exc

    def wait_progress(self, count: int) -> None:
        wait_for(
            lambda: self.progress >= count or self.error is not None,
            timeout=120,
            message=f"{self.node} writer at {count}",
        )


def applied_exactly_once(
    client: FederationClient, node: str, origin: str, expected: dict[str, int]
) -> Callable[[], bool]:
    def check() -> bool:
        rows = client.db_rows(node, "SELECT id, version FROM records WHERE origin = :o", o=origin)
        return {r[0]: r[1] for r in rows} == expected

    return check


def assert_exactly_once_in_order(
    client: FederationClient, node: str, origin: str, expected: dict[str, int]
) -> None:
    rows = client.db_rows(
        node,
        "SELECT object_id, version, stream_seq FROM inbox WHERE origin = :o AND kind = 'record' "
        "ORDER BY stream_seq",
        o=origin,
    )
    applied = [(r[0], r[1]) for r in rows]
    assert len(applied) == len(set(applied)), f"{node}: a version was applied twice"
    wanted = {(rid, v) for rid, top in expected.items() for v in range(1, top + 1)}
    assert set(applied) == wanted, f"{node}: applied versions differ from what {origin} wrote"
    seen: dict[str, list[int]] = defaultdict(list)
    for rid, version, _seq in rows:
        seen[rid].append(version)
    assert all(versions == sorted(versions) for versions in seen.values()), "out of version order"
    dead = client.db_rows(node, "SELECT reason, count(*) FROM dead_letters GROUP BY reason")
    assert dead == [], f"{node}: dead letters {dead}"


def assert_replicated(
    client: FederationClient, nodes: tuple[str, ...], origin: str, expected: dict[str, int]
) -> None:
    """Wait for every version from ``origin`` at ``nodes``; check each applied once, in order."""
    for node in nodes:
        wait_for(
            applied_exactly_once(client, node, origin, expected),
            timeout=120,
            message=f"{origin}'s versions at {node}",
        )
        assert_exactly_once_in_order(client, node, origin, expected)


def silent_ms(client: FederationClient, node: str, peer: str) -> float:
    """How long ``node``'s inbound source from ``peer`` has been silent (ms), per its own server;
    infinite when it has heard nothing at all since the server set the source up again (a long
    cut makes the server retry the source, and its activity starts over: ``active_ms_ago`` null)."""
    status = client.get(node, "admin", "/api/v1/federation/status")
    assert status.status_code == 200, status.text
    for entry in status.json()["transport"]["peers"]:
        if entry.get("node") == peer:
            active = entry["active_ms_ago"]
            return float("inf") if active is None else float(active)
    raise AssertionError(f"{node} has no source from {peer}")


def test_kill_9_receiving_node_mid_stream(chain: FederationClient) -> None:
    federation = chain.federation
    federation.start()
    writer = Writer(chain, "huanglong", 800)  # 800 creates + 200 updates = 1,000 versions
    writer.start()
    writer.wait_progress(200)
    federation.stop_api("shaanxi", kill=True)  # kill -9 the receiver mid-stream
    writer.wait_progress(350)
    federation.start_api("shaanxi")
    writer.join(timeout=300)
    assert not writer.is_alive(), "writer still running"
    assert writer.error is None, writer.error
    assert_replicated(chain, ("shaanxi", "central"), "huanglong", writer.expected)


def test_restart_nats_server_mid_stream(chain: FederationClient) -> None:
    federation = chain.federation
    federation.start()
    writer = Writer(chain, "huanglong", 300)
    writer.start()
    writer.wait_progress(80)
    federation.stop_nats("shaanxi", kill=True)
    # The county goes on writing while the province's server is down: wait until it has.
    writer.wait_progress(writer.progress + 20)
    federation.start_nats("shaanxi")
    writer.join(timeout=300)
    assert not writer.is_alive(), "writer still running"
    assert writer.error is None, writer.error
    assert_replicated(chain, ("shaanxi", "central"), "huanglong", writer.expected)


def test_cut_leaf_link_while_both_sides_write(chain: FederationClient) -> None:
    federation = chain.federation
    assert federation.topology is not None
    proxy = LinkProxy(leaf_port_of(federation.topology, "shaanxi"))
    federation.reroute_leaf("huanglong", proxy.url)
    try:
        federation.start()
        before = chain.create_record("huanglong", {"category": "practice", "title": "before"})
        wait_for(
            lambda: chain.record_version("central", before["id"]) == 1,
            message="link up before the cut",
        )
        proxy.cut()
        county = Writer(chain, "huanglong", 60)
        province = Writer(chain, "shaanxi", 60)
        county.start()
        province.start()
        for writer in (county, province):
            writer.join(timeout=120)
            assert not writer.is_alive(), f"{writer.node} writer still running"
            assert writer.error is None, writer.error
        # The outage lasts until each side has heard nothing from the other for
        # LINK_CUT_SECONDS (sources heartbeat every second while a link is up).
        for node, peer in (("shaanxi", "huanglong"), ("huanglong", "shaanxi")):
            wait_for(
                lambda node=node, peer=peer: (
                    silent_ms(chain, node, peer) >= LINK_CUT_SECONDS * 1000
                ),
                timeout=LINK_CUT_SECONDS + 60,
                message=f"{node} to notice the cut link to {peer}",
            )
        # While cut, nothing crossed the link.
        sample = next(iter(county.expected))
        assert chain.record_version("shaanxi", sample) is None
        assert chain.record_version("huanglong", next(iter(province.expected))) is None
        proxy.heal()
        county.expected[before["id"]] = 1
        assert_replicated(chain, ("shaanxi", "central"), "huanglong", county.expected)
        assert_replicated(chain, ("huanglong", "central"), "shaanxi", province.expected)
    finally:
        proxy.close()


def test_a_federation_that_fails_to_start_leaves_nothing_running(tmp_path: Path) -> None:
    """A nats-server that cannot listen (its leafnode port taken) fails the start at once,
    naming its log, and every process started before it is stopped."""
    tree = [("shaanxi", "陕西省", None), ("yanan", "延安市", "shaanxi")]
    with prepared_federation(tmp_path / "fed", tree) as client:
        federation = client.federation
        assert federation.topology is not None
        # Its leafnode port (the client port, taken, would look like the server answering).
        port = leaf_port_of(federation.topology, "yanan")
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", port))
            taken.listen()
            with pytest.raises(RuntimeError, match="nats-server did not start"):
                federation.start()
        # The first node's nats-server had started (its log says so) and is stopped again.
        first = federation.nodes["shaanxi"].nats
        assert "Server is ready" in first.log_path.read_text()
        assert first.process is None
        with socket.socket() as probe:
            assert probe.connect_ex(host_port(first.client_url)) != 0
        assert all(handle.api is None for handle in federation.nodes.values())
