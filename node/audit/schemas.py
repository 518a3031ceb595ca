"""Response shapes for ``/api/v1/audit``. Audit entries never hold titles or bodies."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class AuditEntryOut(BaseModel):
    seq: int
    at: datetime
    node: str
    actor: str
    role: str
    action: str
    object_type: str
    object_id: str | None
    decision: str
    reason: str | None
    grant_id: str | None
    hash: str


class AuditPage(BaseModel):
    items: list[AuditEntryOut]
    next_after_seq: int | None


class CheckpointOut(BaseModel):
    node: str
    seq: int
    head_hash: str
    at: datetime
    verified: bool


class VerifyFindingOut(BaseModel):
    """One finding about a subordinate (``node``; None for the tree as a whole)."""

    node: str | None
    ok: bool
    detail: str


class VerifyOut(BaseModel):
    """What ``fedshare audit verify --federation`` reports, run now at this node."""

    node: str
    checked_at: datetime
    entries: int
    ok: bool
    problems: list[str]
    subordinates_ok: bool
    findings: list[VerifyFindingOut]
