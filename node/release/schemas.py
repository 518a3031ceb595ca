"""Request and response shapes for ``/api/v1/access-requests`` and ``/api/v1/grants`` (the
envelope payloads are in ``node.release.wire``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from node.text import clean_text

MAX_GRANT_S = 7 * 24 * 3600
"""The cap on a grant's length, whatever was asked for or approved."""
DEFAULT_RESPOND_S = 3 * 24 * 3600
MAX_RESPOND_S = 14 * 24 * 3600
"""How long a request may wait for its decisions before it expires."""

RecordId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f-]{36}$")]
NodeId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]+$", max_length=64)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Reason = Annotated[str, StringConstraints(max_length=2000), AfterValidator(clean_text)]
Comment = Annotated[str, StringConstraints(max_length=1000), AfterValidator(clean_text)]

Status = Literal["pending", "approved", "active", "expired", "revoked", "denied", "request_expired"]
"""Effective state: pending (awaiting decisions), denied, request_expired (undecided in time, or
withdrawn when its order closed), approved (an order's request: approved, granted once the
addressee's handler acknowledges), active (granted, within its time), expired (its time is over),
revoked."""


class AccessRequestCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    record_id: RecordId
    record_origin: NodeId | None = Field(
        default=None,
        description="the record's origin; needed only when records of several origins share the id",
    )
    reason: Reason = Field(description="why access is needed; must say something")
    duration_s: int = Field(ge=1, le=MAX_GRANT_S, description="wanted grant length, seconds")
    respond_within_s: int = Field(
        default=DEFAULT_RESPOND_S,
        ge=1,
        le=MAX_RESPOND_S,
        description="the request expires if not decided within this many seconds",
    )
    include_reporter: bool = Field(
        default=False,
        description="also ask for the record's reporter (petition and problem_clue only, else "
        "422 reporter_not_allowed): needs the category's approvals plus one by a security "
        "officer of the origin; without it a release never carries the reporter",
    )


class ApproveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: Comment
    duration_s: int | None = Field(
        default=None, ge=1, le=MAX_GRANT_S, description="shorten the grant (never lengthen it)"
    )


class DenyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: Comment


class DecisionOut(BaseModel):
    approver: str
    approver_node: str
    decision: Literal["approve", "deny"]
    at: datetime
    duration_s: int | None = None
    comment: str | None = Field(default=None, description="held at the origin only")
    counts_for: Literal["category", "reporter"] = Field(
        default="category",
        description="an approval toward the category's number, or the security officer's "
        "extra one for the reporter",
    )


class ReadOut(BaseModel):
    reader: str
    reader_node: str
    at: datetime
    what: Literal["content", "reporter"] = "content"


class AccessRequestOut(BaseModel):
    """A request and its grant: metadata only, never the record's title or body."""

    id: str | None
    record_id: str
    record_origin: str
    category: str | None
    requester: str
    requester_node: str
    reason: str | None = Field(default=None, description="held at the requester's node and origin")
    duration_s: int | None
    approvals_needed: int | None
    approvals: int = Field(description="approvals toward the category's number")
    include_reporter: bool = False
    reporter_approvals: int = Field(
        default=0, description="security officers' approvals for the reporter (one needed)"
    )
    status: Status
    created_at: datetime | None
    expires_at: datetime | None = Field(description="when an undecided request expires")
    decided_at: datetime | None
    decisions: list[DecisionOut]
    order_id: str | None = Field(
        default=None, description="a request filed by an order's issuer: the order (DESIGN §6)"
    )
    for_node: str | None = Field(
        default=None, description="the addressee node whose handler the order's request is for"
    )
    grant_id: str | None = None
    source: str | None = None
    granted_at: datetime | None = None
    grant_expires_at: datetime | None = None
    revoked_at: datetime | None = None
    revoked_by: str | None = None


class AccessRequestPage(BaseModel):
    items: list[AccessRequestOut]


class GrantOut(AccessRequestOut):
    """A security officer's view: the request, its grant, and each read of released content."""

    read_count: int
    reads: list[ReadOut]


class GrantPage(BaseModel):
    items: list[GrantOut]
