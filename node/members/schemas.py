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
