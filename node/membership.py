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
- A certificate that replaces another with other keys (a rotation, issue 12 item 3) keeps the
  previous signing key acceptable for ``overlap`` from the moment it is learned, for the node's
  envelopes and for its children's certificates (``NodeInfo.previous_until``).
- ``revoke`` accepts a revocation only from an ancestor of the revoked node, signed with a key
  that ancestor may use now; from then on the node and its subtree are refused
  (``Topology.acceptable_signing_keys``), and no certificate it issues, nor one of its own up to
  the revoked serial, is learned.
- A member learned without addresses (a new node) joins the tree and is verified like any other,
  and routing reaches it at once (routing reads this snapshot). Subscribers (``subscribe``) are
  told after every change: the replication service then gives a child that joined (or takes from
  one revoked) its NATS account, leaf user and inbound source while the node runs (onboarding,
  issue 12 item 2).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Literal

from node.certificates import (
    VALID,
    CertificateError,
    NodeCertificate,
    Revocation,
    verify_issued,
    verify_revocation,
)
from node.topology import NodeInfo, RevokedNode, Topology, TopologyError, UncertifiedNode

Learned = Literal["added", "replaced", "unchanged", "stale"]
RevocationLearned = Literal["added", "unchanged"]
DEFAULT_OVERLAP = timedelta(days=1)


class Membership:
    """The certified members a node knows, as a ``Topology`` snapshot that can be replaced."""

    def __init__(self, topology: Topology, *, overlap: timedelta = DEFAULT_OVERLAP) -> None:
        if topology.root_key is None:
            raise TopologyError("membership needs a certified topology (a root key)")
        self._topology = topology
        self.overlap = overlap
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` (from whichever thread changed it) after each change of the
        membership; returns a function that unsubscribes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _changed(self) -> None:
        for listener in list(self._listeners):
            listener()

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
            if topology.is_revoked(certificate.parent):
                raise CertificateError(
                    "revoked_issuer", f"certificate of {certificate.node}: its issuer is revoked"
                )
            issuer_keys = topology.get(certificate.parent).signing_keys(now)
            for issuer_key in issuer_keys[1:]:
                # Issued just before the parent rotated: its previous key, during the overlap.
                try:
                    verify_issued(certificate, issuer_key)
                except CertificateError:
                    continue
                break
            else:
                issuer_key = issuer_keys[0]
        verify_issued(certificate, issuer_key)
        held = topology.revocations.get(certificate.node)
        if held is not None and certificate.serial <= held.up_to_serial:
            raise CertificateError(
                "revoked", f"certificate of {certificate.node} serial {certificate.serial}"
            )
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
        certificate in the next snapshot. A replacement with another signing key (a rotation)
        keeps the previous key acceptable until ``now + overlap``; the children certified with
        it stay valid that long (their parent re-certifies them meanwhile). A replacement that
        would still leave a child's certificate unverifiable is refused (``breaks_chain``)."""
        with self._lock:
            outcome = self.check(certificate, now)
            if outcome in ("unchanged", "stale"):
                return outcome
            info = NodeInfo.certified(certificate)
            current = self._topology.nodes.get(certificate.node)
            held = self._topology.revoked_by(certificate.node)
            if current is not None and held is not None and held.node == certificate.node:
                # Re-admitted after a revocation: the revoked key gets no overlap (it is kept
                # only so that the tree stays whole; what it signed is refused at once).
                info = replace(info, previous_signing_key=current.signing_key, previous_until=now)
            elif current is not None:
                if current.signing_key != certificate.signing_key:
                    info = replace(
                        info,
                        previous_signing_key=current.signing_key,
                        previous_until=now + self.overlap,
                    )
                else:
                    info = replace(
                        info,
                        previous_signing_key=current.previous_signing_key,
                        previous_until=current.previous_until,
                    )
            try:
                self._topology = self._topology.with_node(info)
            except TopologyError as exc:
                raise CertificateError("breaks_chain", str(exc)) from exc
        self._changed()
        return outcome

    def check_revocation(self, revocation: Revocation, now: datetime) -> RevocationLearned:
        """What ``revoke`` would do; ``CertificateError`` if the revocation is not from an
        ancestor of the node it names, or not signed with a key that ancestor may use now."""
        topology = self._topology
        if revocation.node not in topology:
            raise CertificateError("unknown_node", f"revocation of unknown {revocation.node}")
        if revocation.issuer not in topology.ancestors(revocation.node):
            raise CertificateError(
                "not_ancestor",
                f"{revocation.issuer} is no ancestor of {revocation.node}: it may not revoke it",
            )
        try:
            keys = topology.acceptable_signing_keys(revocation.issuer, now)
        except RevokedNode as exc:
            raise CertificateError("revoked_issuer", str(exc)) from exc
        except UncertifiedNode as exc:
            raise CertificateError("unknown_issuer", str(exc)) from exc
        failure: CertificateError | None = None
        for key in keys:
            try:
                verify_revocation(revocation, key)
                break
            except CertificateError as exc:
                failure = exc
        else:
            assert failure is not None
            raise failure
        held = topology.revocations.get(revocation.node)
        if held is not None and held.up_to_serial >= revocation.up_to_serial:
            return "unchanged"
        return "added"

    def revoke(self, revocation: Revocation, now: datetime) -> RevocationLearned:
        """Verify ``revocation`` (``check_revocation``) and put it in force in the next
        snapshot: from then on the node and everything below it are refused."""
        with self._lock:
            outcome = self.check_revocation(revocation, now)
            if outcome == "added":
                self._topology = self._topology.with_revocation(revocation)
        if outcome == "added":
            self._changed()
        return outcome
