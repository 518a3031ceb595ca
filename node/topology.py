"""The federation topology: a tree of nodes with their addresses and certified public keys.

The topology file is a cache of verified certificates plus addresses (DESIGN §11), never a root of
trust: the trust comes from the root public key each node is installed with. A certified
topology (``root_key`` given) holds, for every node, a certificate (``node.certificates``) that
names it, its parent and its keys, signed by its parent's certified signing key (the central
node's by the root key).

Guarantees:
- Constructing a certified ``Topology`` verifies every certificate's chain to the root key and,
  given ``now``, its validity; a node whose certificate is missing, forged, signed by anyone but
  its parent, expired or not yet valid is refused with a clear ``TopologyError``. Signatures are
  checked once per (certificate, issuer key), so a topology derived from another
  (``with_node``) re-verifies only what changed.
- ``certified_signing_key`` gives a node's signing key only if every certificate from the node up
  to the root is valid at the time asked: the key envelopes are verified with is the certified
  one, never a key from the file.
- Loading also validates the tree (unknown parent, cycle, duplicate id, missing address).
- Key rotation (issue 12 item 3): a node whose certificate was replaced by one with other keys
  keeps its previous signing key for an overlap (``NodeInfo.previous_until``). Until then,
  ``acceptable_signing_keys`` gives both keys, and its children's certificates signed with the
  previous key still chain; after it, only what the current key signed does (the rotating node
  re-certifies its children with its new key at once, ``node.members.service``). A leaked old
  key therefore vouches for nothing once the overlap is over.
- Revocation: a node whose certificate serial an ancestor revoked (``Revocation``), and every
  node below it, is refused by ``acceptable_signing_keys`` (``RevokedNode``), and
  ``is_revoked`` tells routing and sealing to skip it.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from node.certificates import (
    ROOT_ISSUER,
    VALID,
    CertificateError,
    NodeCertificate,
    Revocation,
    verify_issued,
)
from node.settings import NODE_ID_PATTERN


class TopologyError(ValueError):
    """The topology file is not a valid, certified tree."""


class UncertifiedNode(Exception):
    """A node whose certificate chain does not reach the root key, or is not valid now."""


class RevokedNode(UncertifiedNode):
    """A node whose certificate (or an ancestor's) an ancestor revoked."""


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
    certificate: NodeCertificate | None = None
    # Key rotation: the signing key of the certificate this one replaced, accepted (for its
    # envelopes and its children's certificates) until ``previous_until``.
    previous_signing_key: str | None = None
    previous_until: datetime | None = None

    def signing_keys(self, now: datetime) -> list[str]:
        """The keys this node's signatures may verify with at ``now``: the certified one, and
        the previous one during the overlap after a rotation."""
        keys = [self.signing_key]
        if (
            self.previous_signing_key is not None
            and self.previous_until is not None
            and now < self.previous_until
            and self.previous_signing_key != self.signing_key
        ):
            keys.append(self.previous_signing_key)
        return keys

    @classmethod
    def certified(
        cls, certificate: NodeCertificate, *, api: str = "", nats: str = "", leaf: str = ""
    ) -> NodeInfo:
        """A node as its certificate describes it, at the given addresses (none yet: a member
        learned from the federation, routed once it has addresses)."""
        return cls(
            id=certificate.node,
            name=certificate.name,
            parent=certificate.parent,
            api=api,
            nats=nats,
            leaf=leaf,
            signing_key=certificate.signing_key,
            encryption_key=certificate.encryption_key,
            certificate=certificate,
        )


class Topology:
    """An immutable, validated tree of nodes; certified if ``root_key`` is given."""

    def __init__(
        self,
        nodes: Iterable[NodeInfo],
        *,
        root_key: str | None = None,
        now: datetime | None = None,
        verified: set[tuple[str, str]] | None = None,
        revocations: Mapping[str, Revocation] | None = None,
    ) -> None:
        self.root_key = root_key
        self.revocations: dict[str, Revocation] = dict(revocations or {})
        # Which of its parent's keys signed each node's certificate (rotation: the current or
        # the previous one).
        self._issued_by: dict[str, str] = {}
        # (certificate digest, issuer key) pairs whose signature verified: never checked twice.
        self._verified: set[tuple[str, str]] = set(verified or ())
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
        if root_key is not None:
            self._verify_chains(root_key, now)

    def _verify_chains(self, root_key: str, now: datetime | None) -> None:
        """Every certificate against its issuer's certified key, top down; validity at ``now``."""
        stack = [self.root]
        while stack:
            info = self.nodes[stack.pop()]
            stack.extend(self._children[info.id])
            certificate = info.certificate
            if certificate is None:
                raise TopologyError(f"node {info.id!r}: no certificate")
            described = (
                certificate.node,
                certificate.name,
                certificate.parent,
                certificate.signing_key,
                certificate.encryption_key,
            )
            if described != (
                info.id,
                info.name,
                info.parent,
                info.signing_key,
                info.encryption_key,
            ):
                raise TopologyError(
                    f"node {info.id!r}: the certificate describes another node, parent or keys"
                )
            if info.parent is None:
                candidates = [root_key]
            else:
                parent = self.nodes[info.parent]
                candidates = [parent.signing_key]
                if parent.previous_signing_key is not None:
                    candidates.append(parent.previous_signing_key)
            self._issued_by[info.id] = self._verified_issuer(certificate, candidates)
            if now is not None and certificate.status(now) != VALID:
                raise TopologyError(
                    f"node {info.id!r}: certificate {certificate.status(now).replace('_', ' ')}"
                    f" (valid {certificate.not_before.isoformat()} to "
                    f"{certificate.not_after.isoformat()})"
                )

    def _verified_issuer(self, certificate: NodeCertificate, candidates: list[str]) -> str:
        """The first of ``candidates`` that ``certificate``'s signature verifies with."""
        for issuer_key in candidates:
            if (certificate.digest, issuer_key) in self._verified:
                return issuer_key
        failure: CertificateError | None = None
        for issuer_key in candidates:
            try:
                verify_issued(certificate, issuer_key)
            except CertificateError as exc:
                failure = failure or exc
                continue
            self._verified.add((certificate.digest, issuer_key))
            return issuer_key
        assert failure is not None
        raise TopologyError(
            f"node {certificate.node!r}: {failure} (issuer {certificate.issuer!r}"
            f"{', the root key' if certificate.issuer == ROOT_ISSUER else ''})"
        ) from failure

    def issued_by(self, node_id: str) -> str | None:
        """Which signing key of its parent (or the root key) verified ``node_id``'s certificate."""
        return self._issued_by.get(node_id)

    def revoked_by(self, node_id: str) -> Revocation | None:
        """The revocation that covers ``node_id``'s certificate or an ancestor's, if any."""
        if not self.revocations:
            return None
        cursor: str | None = node_id
        while cursor is not None:
            info = self.nodes.get(cursor)
            if info is None:
                return None
            revocation = self.revocations.get(cursor)
            if (
                revocation is not None
                and info.certificate is not None
                and info.certificate.serial <= revocation.up_to_serial
            ):
                return revocation
            cursor = info.parent
        return None

    def is_revoked(self, node_id: str) -> bool:
        """Whether ``node_id`` or an ancestor is revoked: nothing is routed or sealed to it."""
        return self.revoked_by(node_id) is not None

    def with_revocation(self, revocation: Revocation) -> Topology:
        """This topology with ``revocation`` in force (the one reaching the higher serial is
        kept per node)."""
        revocations = dict(self.revocations)
        held = revocations.get(revocation.node)
        if held is None or held.up_to_serial < revocation.up_to_serial:
            revocations[revocation.node] = revocation
        return Topology(
            self.nodes.values(),
            root_key=self.root_key,
            verified=self._verified,
            revocations=revocations,
        )

    @property
    def certified(self) -> bool:
        return self.root_key is not None

    def certified_signing_key(self, node_id: str, now: datetime) -> str:
        """The signing key of ``node_id``'s certificate, if every certificate from it up to the
        root is valid at ``now``; else ``UncertifiedNode``. (Signatures were verified when this
        topology was made.)"""
        return self.acceptable_signing_keys(node_id, now)[0]

    def acceptable_signing_keys(self, node_id: str, now: datetime) -> list[str]:
        """The keys a signature by ``node_id`` may verify with at ``now``: its certified key
        first, and its previous key during a rotation's overlap. ``RevokedNode`` if it or an
        ancestor is revoked; ``UncertifiedNode`` unless every certificate up to the root is
        valid at ``now`` and was signed by a key its issuer may still use at ``now``."""
        if self.root_key is None:
            raise UncertifiedNode(f"{node_id}: the topology is not certified")
        revocation = self.revoked_by(node_id)
        if revocation is not None:
            raise RevokedNode(f"{node_id}: {revocation.node} is revoked")
        cursor: str | None = node_id
        while cursor is not None:
            info = self.nodes.get(cursor)
            if info is None or info.certificate is None:
                raise UncertifiedNode(f"{node_id}: no certificate for {cursor}")
            status = info.certificate.status(now)
            if status != VALID:
                raise UncertifiedNode(f"{node_id}: certificate of {cursor} is {status}")
            if info.parent is not None:
                issued_by = self._issued_by.get(cursor)
                if issued_by not in self.nodes[info.parent].signing_keys(now):
                    raise UncertifiedNode(
                        f"{node_id}: certificate of {cursor} was signed by a key of "
                        f"{info.parent} that its rotation retired"
                    )
            cursor = info.parent
        return self.nodes[node_id].signing_keys(now)

    def with_node(self, info: NodeInfo, *, now: datetime | None = None) -> Topology:
        """This topology with ``info`` added or replacing the entry of that id (same root key;
        signatures already verified are not verified again). ``TopologyError`` if the result is
        not a valid certified tree."""
        nodes = dict(self.nodes)
        current = nodes.get(info.id)
        if current is not None:
            info = replace(
                info,
                api=info.api or current.api,
                nats=info.nats or current.nats,
                leaf=info.leaf or current.leaf,
                extra=info.extra or current.extra,
            )
        nodes[info.id] = info
        return Topology(
            nodes.values(),
            root_key=self.root_key,
            now=now,
            verified=self._verified,
            revocations=self.revocations,
        )

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


def _certificate(node_id: str, value: object) -> NodeCertificate:
    if not isinstance(value, str) or not value:
        raise TopologyError(f"node {node_id!r}: no certificate")
    try:
        certificate = NodeCertificate.from_document(json.loads(value))
    except (ValueError, RecursionError) as exc:
        raise TopologyError(f"node {node_id!r}: unreadable certificate: {exc}") from exc
    if certificate.node != node_id:
        raise TopologyError(f"node {node_id!r}: the certificate is {certificate.node!r}'s")
    return certificate


def parse_topology(data: dict[str, object], *, root_key: str, now: datetime) -> Topology:
    """A certified topology from the parsed file: every entry's certificate is verified up to
    ``root_key`` (the key this node was installed with) and must be valid at ``now``. Fields an
    entry repeats from its certificate (name, parent, keys; written for readers) must agree."""
    file_root = data.get("root_key")
    if file_root is not None and file_root != root_key:
        raise TopologyError("the topology was certified under another root key than this node's")
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
        for required in ("api", "nats", "leaf"):
            if not isinstance(entry.get(required), str) or not entry[required]:
                raise TopologyError(f"node {node_id!r}: missing {required} address")
        certificate = _certificate(node_id, entry.get("certificate"))
        repeated = {
            "name": certificate.name,
            "parent": certificate.parent or "",
            "signing_key": certificate.signing_key,
            "encryption_key": certificate.encryption_key,
        }
        for label, certified in repeated.items():
            if label in entry and entry[label] != certified:
                raise TopologyError(
                    f"node {node_id!r}: {label} differs from the one its certificate names"
                )
        extra = {"tier": entry["tier"]} if isinstance(entry.get("tier"), str) else {}
        nodes.append(
            replace(
                NodeInfo.certified(
                    certificate, api=entry["api"], nats=entry["nats"], leaf=entry["leaf"]
                ),
                extra=extra,
            )
        )
    return Topology(nodes, root_key=root_key, now=now)


def load_topology(path: Path, *, root_key: str, now: datetime) -> Topology:
    """Load and verify a topology file (``parse_topology``); ``TopologyError`` if it is not a
    valid tree of certificates chaining to ``root_key``, valid at ``now``."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError as exc:
        raise TopologyError(f"topology file {path} not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise TopologyError(f"topology file {path} is not valid TOML: {exc}") from exc
    return parse_topology(data, root_key=root_key, now=now)


def _toml_str(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def dump_topology(topology: Topology) -> str:
    """Write a certified topology back as TOML (the demo, ``fedshare topology add``)."""
    if topology.root_key is None:
        raise TopologyError("only a certified topology can be written")
    lines = [
        "# fedshare federation topology: a cache of certificates and addresses. Every certificate",
        "# is verified up to the root key each node is installed with (root.pub), not this one.",
        f"root_key = {_toml_str(topology.root_key)}",
        "",
    ]
    for info in topology.nodes.values():
        assert info.certificate is not None
        lines.append("[[nodes]]")
        lines.append(f"id = {_toml_str(info.id)}")
        lines.append(f"name = {_toml_str(info.name)}")
        lines.append(f"parent = {_toml_str(info.parent or '')}")
        if "tier" in info.extra:
            lines.append(f"tier = {_toml_str(info.extra['tier'])}")
        lines.append(f"api = {_toml_str(info.api)}")
        lines.append(f"nats = {_toml_str(info.nats)}")
        lines.append(f"leaf = {_toml_str(info.leaf)}")
        lines.append(f"certificate = {_toml_str(info.certificate.to_json())}")
        lines.append("")
    return "\n".join(lines)
