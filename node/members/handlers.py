"""Inbox handler for ``member-certificate``: a certificate travelling the federation.

Any certified node may carry a certificate: what is trusted is the certificate's own chain to the
root key, verified here against this node's membership, not the envelope's origin. A certificate
that does not chain, or is older than the one held, never changes the membership; one that does
not chain is dead-lettered as ``certificate_<reason>`` (``forged``, ``not_parent``,
``unknown_issuer``, ``expired``, ``not_yet_valid``, ``conflict``, ``breaks_chain``, ``revoked``,
``revoked_issuer``).

Handler for ``member-revocation``: likewise trusted by its own signature, which must be by an
ancestor of the revoked node with a key that ancestor may use now; anything else is
dead-lettered as ``revocation_<reason>`` (``forged``, ``not_ancestor``, ``unknown_node``,
``unknown_issuer``, ``revoked_issuer``, ``malformed``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from node.certificates import CertificateError, NodeCertificate, Revocation
from node.context import NodeContext
from node.members.service import learn_certificate, learn_revocation
from node.members.wire import MemberCertificateWire, MemberRevocationWire
from node.replication.envelope import Envelope
from node.replication.kinds import Applied, Kind, KindSpec


def apply_certificate(
    session: Session, ctx: NodeContext, envelope: Envelope, wire: MemberCertificateWire
) -> Applied:
    try:
        certificate = NodeCertificate.from_document(wire.certificate)
    except CertificateError as exc:
        raise envelope.reject("malformed") from exc
    try:
        learn_certificate(session, ctx, certificate, source=envelope.origin)
    except CertificateError as exc:
        raise envelope.reject(f"certificate_{exc.reason}") from exc
    return certificate.node, certificate.serial


def apply_revocation(
    session: Session, ctx: NodeContext, envelope: Envelope, wire: MemberRevocationWire
) -> Applied:
    try:
        revocation = Revocation.from_document(wire.revocation)
    except CertificateError as exc:
        raise envelope.reject("revocation_malformed") from exc
    try:
        learn_revocation(session, ctx, revocation, source=envelope.origin)
    except CertificateError as exc:
        raise envelope.reject(f"revocation_{exc.reason}") from exc
    return revocation.node, revocation.up_to_serial


KINDS: tuple[KindSpec[NodeContext, Any], ...] = (
    KindSpec(
        Kind.MEMBER_CERTIFICATE,
        wire=MemberCertificateWire,
        ref_key="node",
        handler=apply_certificate,
        clear=True,
    ),
    KindSpec(
        Kind.MEMBER_REVOCATION,
        wire=MemberRevocationWire,
        ref_key="node",
        handler=apply_revocation,
        clear=True,
    ),
)
