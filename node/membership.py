"""Membership: the node's live view of the federation, grown and updated while it runs.

The topology file is loaded once at start (a cache of verified certificates); from then on
certificates arrive in the federation (``node.members``) and are learned here, so that no node
needs a file edit or a restart to learn a re-issued certificate or a new member. The context's
``topology`` is always this registry's current snapshot, and envelopes are verified against it.

Guarantees:
- ``learn`` accepts a certificate only if it chains to the root key the node was installed with:
  its issuer is its parent (the root for the central node), the signature verifies with the
  parent's *currently certified* signing key, and it is valid at the time given. Anything else
  is a ``CertificateError`` with a stable reason and nothing changes.
- A certificate replaces the one held for its node only with a higher serial; a lower or equal
  serial changes nothing (``stale``/``unchanged``), so an old certificate replayed cannot roll a
  node back, and the same serial with other content is a ``conflict``. A node cannot move to
  another parent.
- Snapshots are immutable and replaced whole: a reader holds either the old or the new tree.
- A member learned without addresses (a new node) joins the tree and is verified like any other;
  routing and NATS links to it come with its addresses (onboarding, issue 12 item 2).
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Literal

from node.certificates import VALID, CertificateError, NodeCertificate, verify_issued
from node.topology import NodeInfo, Topology, TopologyError

Learned = Literal["added", "replaced", "unchanged", "stale"]


class Membership:
    """The certified members a node knows, as a ``Topology`` snapshot that can be replaced."""

    def __init__(self, topology: Topology) -> None:
        if topology.root_key is None:
            raise TopologyError("membership needs a certified topology (a root key)")
        self._topology = topology
        self._lock = threading.Lock()

    @property
    def topology(self) -> Topology:
        return self._topology

    @property
    def root_key(self) -> str:
        assert self._topology.root_key is not None
        return self._topology.root_key

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._topology

    def certificate(self, node_id: str) -> NodeCertificate | None:
        info = self._topology.nodes.get(node_id)
        return None if info is None else info.certificate

    def certificates(self) -> list[NodeCertificate]:
        """Every member's certificate, parents before their children."""
        topology = self._topology
        ordered: list[NodeCertificate] = []
        stack = [topology.root]
        while stack:
            info = topology.get(stack.pop())
            if info.certificate is not None:
                ordered.append(info.certificate)
            stack.extend(reversed(topology.children(info.id)))
        return ordered

    def check(self, certificate: NodeCertificate, now: datetime) -> Learned:
        """What ``learn`` would do with ``certificate`` at ``now``; ``CertificateError`` if it
        cannot be accepted. Changes nothing."""
        topology = self._topology
        if certificate.parent is None:
            if certificate.node != topology.root:
                raise CertificateError("conflict", "the federation has one central node")
            issuer_key = self.root_key
        elif certificate.parent not in topology:
            raise CertificateError(
                "unknown_issuer", f"certificate of {certificate.node}: unknown parent"
            )
        else:
            issuer_key = topology.get(certificate.parent).signing_key
        verify_issued(certificate, issuer_key)
        status = certificate.status(now)
        if status != VALID:
            raise CertificateError(status, f"certificate of {certificate.node} is {status}")
        current = self.certificate(certificate.node)
        if current is None:
            return "added"
        if current.digest == certificate.digest:
            return "unchanged"
        if certificate.parent != current.parent:
            raise CertificateError(
                "conflict", f"certificate of {certificate.node} names another parent"
            )
        if certificate.serial < current.serial:
            return "stale"
        if certificate.serial == current.serial:
            raise CertificateError(
                "conflict", f"two certificates of {certificate.node} with serial {current.serial}"
            )
        return "replaced"

    def learn(self, certificate: NodeCertificate, now: datetime) -> Learned:
        """Verify ``certificate`` (``check``) and, if it is new or newer, make it the node's
        certificate in the next snapshot. A replacement that changes the signing key of a node
        whose children were certified with the old key is refused (``breaks_chain``): their
        re-certification is key rotation's work."""
        with self._lock:
            outcome = self.check(certificate, now)
            if outcome in ("unchanged", "stale"):
                return outcome
            try:
                self._topology = self._topology.with_node(NodeInfo.certified(certificate))
            except TopologyError as exc:
                raise CertificateError("breaks_chain", str(exc)) from exc
            return outcome
