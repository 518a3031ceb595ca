"""What ``GET /api/v1/federation/members`` returns: certificates' public facts, never keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

MemberStatus = Literal["valid", "expired", "not_yet_valid", "revoked"]


class MemberOut(BaseModel):
    id: str
    name: str
    parent: str | None
    issuer: str
    signing_key_id: str
    encryption_key_id: str
    serial: int
    not_before: datetime
    not_after: datetime
    status: MemberStatus
    """At the node's clock now; a member is only as valid as its whole chain up to the root."""


class MemberPage(BaseModel):
    items: list[MemberOut]
    next_cursor: str | None


class CertificateIn(BaseModel):
    certificate: dict[str, Any]
    """A certificate document as ``fedshare node certify`` / ``root certify`` wrote it."""


class AnnouncedOut(BaseModel):
    node: str
    serial: int
    outcome: Literal["added", "replaced", "unchanged", "stale"]


class RevocationIn(BaseModel):
    revocation: dict[str, Any]
    """A revocation document as ``fedshare node revoke`` wrote it."""


class RevokeIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500)
    serials: list[int] | None = None
    """Certificate serials to revoke (and every earlier one); default the one held now."""


class RevokedOut(BaseModel):
    node: str
    up_to_serial: int
    issuer: str
    outcome: Literal["added", "unchanged"]


class JoinCodeIn(BaseModel):
    expires_in: str = Field(default="24h", max_length=20)
    """How long the code admits a request: ``24h``, ``7d``, ``30m`` … (at most 30 days)."""
    node: str | None = Field(default=None, pattern=r"^[a-z0-9-]+$", max_length=64)
    """The node id it is given for (any id if not named)."""


class JoinCodeOut(BaseModel):
    id: str
    node: str | None
    created_at: datetime
    created_by: str
    expires_at: datetime
    status: Literal["unused", "used", "expired"]


class IssuedJoinCodeOut(JoinCodeOut):
    code: str
    """Shown once: give it to the new node's operator out of band."""


class JoinCodePage(BaseModel):
    items: list[JoinCodeOut]


class JoinRequestIn(BaseModel):
    code: str = Field(min_length=1, max_length=200)
    request: dict[str, Any]
    """The signed join request ``fedshare join`` makes."""


class JoinSubmittedOut(BaseModel):
    id: str
    """Unguessable: the new node polls ``GET /join-requests/{id}`` with it."""
    node: str
    status: Literal["pending", "approved", "rejected"]


class JoinAnswerOut(JoinSubmittedOut):
    reason: str | None = None
    answer: dict[str, Any] | None = None
    """Once approved: the parent's signed answer (certificates, TLS client certificate, CAs)."""


class JoinRequestOut(BaseModel):
    id: str
    node: str
    name: str
    status: Literal["pending", "approved", "rejected"]
    signing_key_id: str
    encryption_key_id: str
    api: str
    nats: str
    leaf: str
    client_address: str
    created_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    reason: str | None


class JoinRequestPage(BaseModel):
    items: list[JoinRequestOut]


class JoinRejectIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500)
