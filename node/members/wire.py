"""The ``member-certificate`` envelope: one node certificate, in clear (certificates are public;
their signatures, not the envelope, are what a receiver trusts)."""

from __future__ import annotations

from typing import Any

from node.certificates import NodeCertificate, Revocation
from node.replication.kinds import WireModel


class MemberCertificateWire(WireModel):
    certificate: dict[str, Any]

    def envelope_ref(self) -> dict[str, Any]:
        node = self.certificate.get("node")
        return {"node": node if isinstance(node, str) else None}


def certificate_wire(certificate: NodeCertificate) -> MemberCertificateWire:
    return MemberCertificateWire(certificate=certificate.document())


class MemberRevocationWire(WireModel):
    """``member-revocation``: one revocation, in clear (its signature by an ancestor of the
    revoked node, not the envelope, is what a receiver trusts)."""

    revocation: dict[str, Any]

    def envelope_ref(self) -> dict[str, Any]:
        node = self.revocation.get("node")
        return {"node": node if isinstance(node, str) else None}


def revocation_wire(revocation: Revocation) -> MemberRevocationWire:
    return MemberRevocationWire(revocation=revocation.document())
