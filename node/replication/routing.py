"""Hop-by-hop routing along the tree, and the NATS subjects that carry each hop.

Node N publishes what goes up on ``fs.N.up`` and what goes down to child C on ``fs.N.down.C``.
N's aggregate stream sources its parent's ``fs.P.down.N`` and each child's ``fs.C.up``; so every
envelope travels one tree edge at a time, store-and-forward, and never comes back the way it came.
"""

from __future__ import annotations

from node.replication.envelope import BROADCAST
from node.topology import Topology

UP = "up"


def up_subject(node: str) -> str:
    return f"fs.{node}.up"


def down_subject(node: str, child: str) -> str:
    return f"fs.{node}.down.{child}"


def out_subjects(node: str) -> str:
    return f"fs.{node}.>"


def out_stream(node: str) -> str:
    """The node's outbound stream (the same names as ``node.replication.service``'s, which the
    layers keep from being imported here; a test holds them equal)."""
    return f"OUT_{node}"


def in_stream(node: str) -> str:
    return f"IN_{node}"


def consumer_name(node: str) -> str:
    return f"apply_{node}"


def source_deliver_prefix(receiver: str, sender: str) -> str:
    """Where ``sender``'s server delivers what ``receiver``'s inbound stream sources from it
    (nats-server appends ``.S.<random>``). One prefix per link and direction, so that a leaf
    user can be allowed exactly its own deliveries and nobody else's."""
    return f"fsrc.{receiver}.{sender}"


def inbox_prefix(node: str) -> str:
    """The node service's reply subjects: replies to it can be allowed across a link to it alone
    (the default ``_INBOX.>`` is shared by every client, and would expose other replies)."""
    return f"_INBOX.{node}"


def next_hops(topology: Topology, here: str, dest: list[str], came_from: str | None) -> list[str]:
    """Subjects on which ``here`` must publish an envelope that arrived from ``came_from``
    (None: it originated here). Loop-free: never back towards ``came_from``. Nothing goes down
    to a revoked child (its subtree is revoked with it) nor towards a revoked destination."""
    parent = topology.parent(here)
    children = [c for c in topology.children(here) if not topology.is_revoked(c)]
    go_up = False
    down: set[str] = set()
    if dest == [BROADCAST]:
        go_up = parent is not None and came_from != parent
        down = {c for c in children if c != came_from}
    else:
        for target in dest:
            if target == here or target not in topology or topology.is_revoked(target):
                continue
            child = topology.child_towards(here, target)
            if child is None:
                if parent is not None and came_from != parent:
                    go_up = True
            elif child != came_from:
                down.add(child)
    subjects = [up_subject(here)] if go_up else []
    subjects.extend(down_subject(here, child) for child in sorted(down))
    return subjects


def arrival_source(subject: str, here: str) -> str | None:
    """Which neighbour an envelope came from, read off the subject it was sourced on."""
    parts = subject.split(".")
    if len(parts) == 3 and parts[0] == "fs" and parts[2] == UP:
        return parts[1]
    if len(parts) == 4 and parts[0] == "fs" and parts[2] == "down" and parts[3] == here:
        return parts[1]
    return None
