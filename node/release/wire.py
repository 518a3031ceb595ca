"""The release envelope kinds (``access-request``, ``release``, ``grant-event``): their wire models
and the builders that make them from rows. Payloads travel sealed; every one is validated whole
on receipt like any other input. Metadata only, except the reason (to the origin) and the
released content (to the grantee's node), which may carry the record's reporter sealed once more
for the grantee's node alone (``SealedWire``), only when the request asked for it and it was
granted."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from node.clock import UtcDateTime, as_aware, as_aware_or_none
from node.models import Grant
from node.records.wire import MAX_ATTACHMENTS, AttachmentManifestWire
from node.release.models import AccessDecision, AccessRequest, GrantRead
from node.release.schemas import MAX_GRANT_S, Name, NodeId, Reason, RecordId
from node.replication.kinds import WireModel


class RequestWire(WireModel):
    """``access-request`` (sealed for the origin, with the reason) and the request in a
    ``grant-event`` snapshot (without it)."""

    id: RecordId
    record_id: RecordId
    record_origin: NodeId
    category: Annotated[str, StringConstraints(max_length=40)]
    requester_id: Annotated[str, StringConstraints(max_length=36)]
    requester_name: Name
    requester_role: Annotated[str, StringConstraints(max_length=32)]
    requester_node: NodeId
    wanted_s: int = Field(ge=1, le=MAX_GRANT_S)
    approvals_needed: int = Field(ge=1, le=10)
    status: Literal["pending", "approved", "denied", "expired"]
    created_at: UtcDateTime
    expires_at: UtcDateTime
    decided_at: UtcDateTime | None = None
    grant_id: RecordId | None = None
    revision: int = Field(ge=1)
    reason: Reason | None = None
    # Filed by an order's issuer for an addressee (DESIGN §6): the order and that node.
    order_id: RecordId | None = None
    for_node: NodeId | None = None
    # The request asks for the record's reporter too (default for the previous version: no).
    include_reporter: bool = False

    def envelope_ref(self) -> dict[str, Any]:
        return {"request": self.id}


class DecisionWire(WireModel):
    id: RecordId
    approver_id: Annotated[str, StringConstraints(max_length=36)]
    approver_name: Name
    approver_node: NodeId
    decision: Literal["approve", "deny"]
    duration_s: int | None = None
    at: UtcDateTime
    counts_for: Literal["category", "reporter"] = "category"


class GrantWire(WireModel):
    id: RecordId
    record_id: RecordId
    record_origin: NodeId
    grantee_id: Annotated[str, StringConstraints(max_length=36)]
    grantee_name: Name
    grantee_node: NodeId
    source: Annotated[str, StringConstraints(max_length=16)]
    request_id: RecordId | None = None
    order_id: RecordId | None = None
    granted_at: UtcDateTime
    expires_at: UtcDateTime
    revoked_at: UtcDateTime | None = None
    revoked_by: Annotated[str, StringConstraints(max_length=100)] | None = None


class ReadWire(WireModel):
    id: RecordId
    grant_id: RecordId
    record_id: RecordId
    reader_name: Name
    reader_node: NodeId
    at: UtcDateTime
    what: Literal["content", "reporter"] = "content"


class GrantEventWire(WireModel):
    """``grant-event``: a snapshot from the origin, or a read reported by the grantee's node."""

    event: Annotated[str, StringConstraints(max_length=24)]
    request: RequestWire | None = None
    decisions: list[DecisionWire] = Field(default_factory=list)
    grant: GrantWire | None = None
    read: ReadWire | None = None

    def envelope_ref(self) -> dict[str, Any]:
        if self.read is not None:
            return {"grant": self.read.grant_id, "read": self.read.id}
        return {
            "request": self.request.id if self.request is not None else None,
            "grant": self.grant.id if self.grant is not None else None,
        }


class ReleasedRecordWire(WireModel):
    id: RecordId
    version: int
    title: str
    body: str
    # The record's attachments (their chunks follow, sealed for the grantee's node, under the
    # grant); signed by the origin with the release.
    attachments: Annotated[list[AttachmentManifestWire], Field(max_length=MAX_ATTACHMENTS)] = []


B64 = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9+/=]*$", max_length=8192)]


class SealedWire(WireModel):
    """A ``crypto.seal`` result for one recipient node (the record's reporter in a release)."""

    alg: Literal["x25519-hkdf-aesgcm"]
    epk: B64
    nonce: B64
    ct: B64
    keys: dict[NodeId, B64] = Field(min_length=1, max_length=1)


class ReleaseWire(WireModel):
    """``release``: the grant and the record's content, sealed for the grantee's node only; with
    the reporter (sealed again, for that node and this grant) only when it was granted."""

    grant: GrantWire
    record: ReleasedRecordWire
    reporter: SealedWire | None = None

    def envelope_ref(self) -> dict[str, Any]:
        return {"grant": self.grant.id}


# -- from rows ------------------------------------------------------------------------------


def request_wire(req: AccessRequest, *, with_reason: bool) -> RequestWire:
    return RequestWire(
        id=req.id,
        record_id=req.record_id,
        record_origin=req.record_origin,
        category=req.category,
        requester_id=req.requester_id,
        requester_name=req.requester_name,
        requester_role=req.requester_role,
        requester_node=req.requester_node,
        wanted_s=req.wanted_s,
        approvals_needed=req.approvals_needed,
        status=req.status,
        created_at=as_aware(req.created_at),
        expires_at=as_aware(req.expires_at),
        decided_at=as_aware_or_none(req.decided_at),
        grant_id=req.grant_id,
        revision=req.revision,
        reason=req.reason if with_reason else None,
        order_id=req.order_id,
        for_node=req.for_node,
        include_reporter=req.include_reporter,
    )


def decision_wire(decision: AccessDecision) -> DecisionWire:
    return DecisionWire(
        id=decision.id,
        approver_id=decision.approver_id,
        approver_name=decision.approver_name,
        approver_node=decision.approver_node,
        decision=decision.decision,
        duration_s=decision.duration_s,
        at=as_aware(decision.at),
        counts_for="reporter" if decision.counts_for == "reporter" else "category",
    )


def grant_wire(grant: Grant) -> GrantWire:
    return GrantWire(
        id=grant.id,
        record_id=grant.record_id,
        record_origin=grant.record_origin,
        grantee_id=grant.grantee_id,
        grantee_name=grant.grantee_name,
        grantee_node=grant.grantee_node,
        source=grant.source,
        request_id=grant.request_id,
        order_id=grant.order_id,
        granted_at=as_aware(grant.granted_at),
        expires_at=as_aware(grant.expires_at),
        revoked_at=as_aware_or_none(grant.revoked_at),
        revoked_by=grant.revoked_by,
    )


def read_wire(read: GrantRead) -> GrantEventWire:
    """A read of released content, as the grantee's node reports it."""
    return GrantEventWire(
        event="read",
        read=ReadWire(
            id=read.id,
            grant_id=read.grant_id,
            record_id=read.record_id,
            reader_name=read.reader_name,
            reader_node=read.reader_node,
            at=as_aware(read.at),
            what="reporter" if read.what == "reporter" else "content",
        ),
    )


def snapshot_wire(
    event: str, *, request: AccessRequest | None, grant: Grant | None
) -> GrantEventWire:
    """The origin's current view of a request (no reason) and its grant."""
    return GrantEventWire(
        event=event,
        request=request_wire(request, with_reason=False) if request is not None else None,
        decisions=[decision_wire(d) for d in request.decisions] if request is not None else [],
        grant=grant_wire(grant) if grant is not None else None,
    )
