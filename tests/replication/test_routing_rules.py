"""Hop-by-hop routing: every destination is reached exactly once and nothing loops back."""

from __future__ import annotations

from collections import Counter

from node.replication.envelope import BROADCAST
from node.replication.routing import arrival_source, next_hops
from node.topology import Topology


def deliver(topology: Topology, origin: str, dest: list[str]) -> Counter[str]:
    """Simulate the hop-by-hop forwarding the consumers do; count arrivals per node."""
    arrivals: Counter[str] = Counter()
    queue = [(origin, None)]
    while queue:
        here, came_from = queue.pop()
        for subject in next_hops(topology, here, dest, came_from):
            parts = subject.split(".")
            nxt = topology.parent(here) if parts[2] == "up" else parts[3]
            assert nxt is not None
            assert arrival_source(subject, nxt) == here
            arrivals[nxt] += 1
            queue.append((nxt, here))
    return arrivals


def test_broadcast_reaches_every_other_node_once(demo_topology: Topology) -> None:
    for origin in demo_topology.nodes:
        arrivals = deliver(demo_topology, origin, [BROADCAST])
        assert set(arrivals) == set(demo_topology.nodes) - {origin}
        assert set(arrivals.values()) == {1}


def test_directed_message_reaches_destinations_and_only_the_path(demo_topology: Topology) -> None:
    arrivals = deliver(demo_topology, "huanglong", ["yichuan"])
    assert arrivals == Counter({"yanan": 1, "yichuan": 1})  # up to the common parent, then down
    arrivals = deliver(demo_topology, "huanglong", ["shaanxi"])
    assert arrivals == Counter({"yanan": 1, "shaanxi": 1})
    assert "central" not in arrivals
    assert "yichuan" not in arrivals
    arrivals = deliver(demo_topology, "central", ["huanglong", "yichuan"])
    assert arrivals == Counter({"shaanxi": 1, "yanan": 1, "huanglong": 1, "yichuan": 1})


def test_subjects_from_strangers_are_not_arrivals() -> None:
    assert arrival_source("fs.yanan.down.yichuan", "huanglong") is None
    assert arrival_source("fs.yanan.down.huanglong", "huanglong") == "yanan"
    assert arrival_source("other.subject", "huanglong") is None
