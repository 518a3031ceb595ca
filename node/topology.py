"""The federation topology: a tree of nodes with their addresses and public keys.

The topology file is the root of trust: a node accepts a signature only from a key listed here for
the envelope's origin. Loading validates the whole tree (unknown parent, cycle, duplicate id,
missing or malformed key) and fails with a clear ``TopologyError``.
"""

from __future__ import annotations

import base64
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from node.settings import NODE_ID_PATTERN


class TopologyError(ValueError):
    """The topology file is not a valid tree."""


@dataclass(frozen=True)
class NodeInfo:
    id: str
    name: str
    parent: str | None
    api: str
    nats: str
    leaf: str
    signing_key: str
    encryption_key: str
    extra: dict[str, str] = field(default_factory=dict)


def _check_key(node_id: str, label: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise TopologyError(f"node {node_id!r}: missing {label}")
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError as exc:
        raise TopologyError(f"node {node_id!r}: {label} is not base64") from exc
    if len(raw) != 32:
        raise TopologyError(f"node {node_id!r}: {label} must be a 32-byte key")
    return value


class Topology:
    """An immutable, validated tree of nodes."""

    def __init__(self, nodes: Iterable[NodeInfo]) -> None:
        self.nodes: dict[str, NodeInfo] = {}
        for info in nodes:
            if info.id in self.nodes:
                raise TopologyError(f"duplicate node id {info.id!r}")
            self.nodes[info.id] = info
        if not self.nodes:
            raise TopologyError("topology has no nodes")
        roots = [n.id for n in self.nodes.values() if n.parent is None]
        if len(roots) != 1:
            raise TopologyError(f"topology needs exactly one root, found {len(roots)}")
        self.root = roots[0]
        for info in self.nodes.values():
            if info.parent is not None and info.parent not in self.nodes:
                raise TopologyError(f"node {info.id!r}: unknown parent {info.parent!r}")
        for info in self.nodes.values():
            seen = {info.id}
            cursor = info.parent
            while cursor is not None:
                if cursor in seen:
                    raise TopologyError(f"node {info.id!r}: parent chain has a cycle")
                seen.add(cursor)
                cursor = self.nodes[cursor].parent
        self._children: dict[str, list[str]] = {node_id: [] for node_id in self.nodes}
        for info in self.nodes.values():
            if info.parent is not None:
                self._children[info.parent].append(info.id)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self.nodes

    def get(self, node_id: str) -> NodeInfo:
        return self.nodes[node_id]

    def parent(self, node_id: str) -> str | None:
        return self.nodes[node_id].parent

    def children(self, node_id: str) -> list[str]:
        return list(self._children[node_id])

    def ancestors(self, node_id: str) -> list[str]:
        """Parent first, root last."""
        chain: list[str] = []
        cursor = self.nodes[node_id].parent
        while cursor is not None:
            chain.append(cursor)
            cursor = self.nodes[cursor].parent
        return chain

    def subtree(self, node_id: str) -> set[str]:
        """``node_id`` and every node below it."""
        found = {node_id}
        stack = [node_id]
        while stack:
            for child in self._children[stack.pop()]:
                found.add(child)
                stack.append(child)
        return found

    def is_in_subtree(self, node_id: str, root: str) -> bool:
        return node_id == root or root in self.ancestors(node_id)

    def child_towards(self, node_id: str, target: str) -> str | None:
        """The child of ``node_id`` whose subtree holds ``target`` (None if not below)."""
        if target == node_id or target not in self.nodes:
            return None
        chain = [target, *self.ancestors(target)]
        if node_id not in chain:
            return None
        return chain[chain.index(node_id) - 1]

    def depth(self, node_id: str) -> int:
        return len(self.ancestors(node_id))


def parse_topology(data: dict[str, object]) -> Topology:
    raw_nodes = data.get("nodes")
    if not isinstance(raw_nodes, list):
        raise TopologyError("topology needs a [[nodes]] list")
    nodes: list[NodeInfo] = []
    for entry in raw_nodes:
        if not isinstance(entry, dict):
            raise TopologyError("each node must be a table")
        node_id = entry.get("id")
        if not isinstance(node_id, str) or not NODE_ID_PATTERN.match(node_id):
            raise TopologyError(f"bad node id {node_id!r}: must match [a-z0-9-]+")
        parent = entry.get("parent") or None
        if parent is not None and not isinstance(parent, str):
            raise TopologyError(f"node {node_id!r}: parent must be a node id")
        for required in ("api", "nats", "leaf"):
            if not isinstance(entry.get(required), str) or not entry[required]:
                raise TopologyError(f"node {node_id!r}: missing {required} address")
        nodes.append(
            NodeInfo(
                id=node_id,
                name=str(entry.get("name") or node_id),
                parent=parent,
                api=entry["api"],
                nats=entry["nats"],
                leaf=entry["leaf"],
                signing_key=_check_key(node_id, "signing_key", entry.get("signing_key")),
                encryption_key=_check_key(node_id, "encryption_key", entry.get("encryption_key")),
            )
        )
    return Topology(nodes)


def load_topology(path: Path) -> Topology:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError as exc:
        raise TopologyError(f"topology file {path} not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise TopologyError(f"topology file {path} is not valid TOML: {exc}") from exc
    return parse_topology(data)


def _toml_str(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def dump_topology(topology: Topology) -> str:
    """Write a topology back as TOML (used by the demo and ``fedshare keys init``)."""
    lines = ["# fedshare federation topology: the root of trust.", ""]
    for info in topology.nodes.values():
        lines.append("[[nodes]]")
        lines.append(f"id = {_toml_str(info.id)}")
        lines.append(f"name = {_toml_str(info.name)}")
        lines.append(f"parent = {_toml_str(info.parent or '')}")
        lines.append(f"api = {_toml_str(info.api)}")
        lines.append(f"nats = {_toml_str(info.nats)}")
        lines.append(f"leaf = {_toml_str(info.leaf)}")
        lines.append(f"signing_key = {_toml_str(info.signing_key)}")
        lines.append(f"encryption_key = {_toml_str(info.encryption_key)}")
        lines.append("")
    return "\n".join(lines)
