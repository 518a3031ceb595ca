"""Case-secret release (DESIGN §5): requests, decisions at the origin, grants, revocation, expiry,
and the security officers' view of all of it.

Rules kept here (the API and the envelope handlers both come through these functions):
- A request needs a reason that says something, names a record the requester sees only as a stub,
  and travels sealed to the record's origin (kind ``access-request``).
- Only approvers at the origin decide. The requester never decides their own request; each approver
  decides once, so N approvals come from N different approvers; the category sets N; one deny
  settles the request as denied (deny wins); an undecided request expires.
- The grant's clock starts at the deciding approval; its length is the shortest of what was asked
  for, what any approver allowed, and ``MAX_GRANT_S``. The content then travels sealed for the
  grantee's node only (kind ``release``). The origin's approvers (and security officers) revoke.
- Every state change is audited where it happens and announced, as metadata (no reason, comment,
  title or body), to the origin, the requester's node and the ancestors of both (kind
  ``grant-event``), whose security officers see it in ``/api/v1/grants``; each read of released
  content is reported the same way, so both ends audit it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, false, or_, select
from sqlalchemy.orm import Session

from node.audit.chain import SYSTEM_ACTOR
from node.clock import as_aware, to_utc
from node.context import NodeContext
from node.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from node.ids import is_uuid, uuid7
from node.models import Grant, Record
from node.policy import Actor
from node.release import content
from node.release.models import AccessDecision, AccessRequest, GrantRead
from node.release.schemas import (
    MAX_GRANT_S,
    MAX_RESPOND_S,
    AccessRequestCreate,
    AccessRequestOut,
    ApproveIn,
    DecisionOut,
    DecisionWire,
    DenyIn,
    GrantEventWire,
    GrantOut,
    GrantWire,
    ReadOut,
    ReadWire,
    ReleasedRecordWire,
    ReleaseWire,
    RequestWire,
)

MIN_REASON_CHARS = 8
MIN_REASON_DISTINCT = 4
SOURCE_APPROVAL = "approval"


# -- who hears about a request --------------------------------------------------------------


def audience(ctx: NodeContext, origin: str, grantee_node: str) -> list[str]:
    """The nodes that learn of a request's every step: both ends and the ancestors of both."""
    topology = ctx.topology
    nodes = {origin, grantee_node, *topology.ancestors(origin), *topology.ancestors(grantee_node)}
    nodes.discard(ctx.node_id)
    return sorted(nodes)


def remote_actor(user_id: str, name: str, role: str, node: str) -> Actor:
    """A user of another node, as this node's audit trail names them."""
    return Actor(user_id=user_id, name=f"{name}@{node}"[:100], role=role, node=node)


# -- wire forms (metadata only, except the release itself) ----------------------------------


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
        decided_at=as_aware(req.decided_at) if req.decided_at else None,
        grant_id=req.grant_id,
        revision=req.revision,
        reason=req.reason if with_reason else None,
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
        revoked_at=as_aware(grant.revoked_at) if grant.revoked_at else None,
        revoked_by=grant.revoked_by,
    )


def announce(
    session: Session,
    ctx: NodeContext,
    event: str,
    *,
    request: AccessRequest | None,
    grant: Grant | None,
) -> None:
    """Send the origin's current view of a request and its grant to the audience (sealed)."""
    if request is not None:
        ends = (request.record_origin, request.requester_node)
    elif grant is not None:
        ends = (grant.record_origin, grant.grantee_node)
    else:
        raise ValueError("announce needs a request or a grant")
    snapshot = GrantEventWire(
        event=event,
        request=request_wire(request, with_reason=False) if request is not None else None,
        decisions=[decision_wire(d) for d in request.decisions] if request is not None else [],
        grant=grant_wire(grant) if grant is not None else None,
    )
    _tell_audience(
        session,
        ctx,
        ends=ends,
        ref={"request": request.id if request else None, "grant": grant.id if grant else None},
        payload=snapshot.model_dump(mode="json"),
    )


def _tell_audience(
    session: Session,
    ctx: NodeContext,
    *,
    ends: tuple[str, str],
    ref: dict[str, Any],
    payload: dict[str, Any],
) -> None:
    """Enqueue a ``grant-event`` sealed for the audience of a grant's two ends (origin, grantee's
    node), in the caller's transaction."""
    ctx.outbox.enqueue(
        session,
        kind="grant-event",
        dest=audience(ctx, *ends),
        ref=ref,
        payload=payload,
        encrypt=True,
    )


# -- status, in SQL (one definition for listings, filters and single reads) -----------------


def request_status(now: datetime) -> ColumnElement[str]:
    """Effective status of an ``AccessRequest`` outer-joined with its ``Grant``."""
    return case(
        (Grant.revoked_at.is_not(None), "revoked"),
        (Grant.expires_at <= now, "expired"),
        (Grant.id.is_not(None), "active"),
        (AccessRequest.status == "denied", "denied"),
        (
            or_(
                AccessRequest.status == "expired",
                and_(AccessRequest.status == "pending", AccessRequest.expires_at <= now),
            ),
            "request_expired",
        ),
        else_=AccessRequest.status,
    )


def grant_status(now: datetime) -> ColumnElement[str]:
    """Effective status of a ``Grant`` that no request led to (e.g. one made by an order)."""
    return case(
        (Grant.revoked_at.is_not(None), "revoked"),
        (Grant.expires_at <= now, "expired"),
        else_="active",
    )


# -- requests -------------------------------------------------------------------------------


def check_reason(text: str) -> str:
    """A reason must say something: enough letters or digits, not one repeated."""
    stripped = text.strip()
    if not stripped:
        raise InvalidInput("a reason is required", code="reason_required")
    signs = [c for c in stripped if unicodedata.category(c)[0] in "LN"]
    if len(signs) < MIN_REASON_CHARS or len(set(signs)) < MIN_REASON_DISTINCT:
        raise InvalidInput(
            f"the reason must say why access is needed (at least {MIN_REASON_CHARS} letters)",
            code="reason_too_vague",
        )
    return stripped


def _record(session: Session, record_id: str) -> Record:
    if not is_uuid(record_id):
        raise InvalidInput("record id must be a UUID", code="invalid_id")
    record = session.get(Record, record_id)
    if record is None:
        raise NotFound("no such record", code="record_not_found")
    return record


def _request(session: Session, request_id: str, *, lock: bool = False) -> AccessRequest:
    if not is_uuid(request_id):
        raise InvalidInput("request id must be a UUID", code="invalid_id")
    query = select(AccessRequest).where(AccessRequest.id == request_id)
    req = session.execute(query.with_for_update() if lock else query).scalar_one_or_none()
    if req is None:
        raise NotFound("no such access request", code="request_not_found")
    return req


def _grant(session: Session, grant_id: str | None, *, lock: bool = False) -> Grant | None:
    if grant_id is None:
        return None
    query = select(Grant).where(Grant.id == grant_id)
    return session.execute(query.with_for_update() if lock else query).scalar_one_or_none()


def create_request(
    session: Session, ctx: NodeContext, actor: Actor, data: AccessRequestCreate
) -> AccessRequest:
    """File a request for a case-secret record seen here as a stub; send it to the origin."""
    reason = check_reason(data.reason)
    record = _record(session, data.record_id)
    if record.classification != "secret":
        raise Conflict("only case-secret records are released on request", code="not_case_secret")
    if not ctx.policy.allows_on_record(actor, "request", record):
        raise PermissionDenied(
            "not permitted to request this record",
            action="request",
            object_type="record",
            object_id=record.id,
        )
    if record.deleted:
        raise Conflict("the record is deleted", code="record_deleted")
    if not record.is_stub or record.origin == ctx.node_id:
        raise Conflict("the record is readable at its own node", code="already_readable")
    category = ctx.policy.categories.get(record.category)
    if category is None:
        raise Conflict("the record's category is not known here", code="unknown_category")
    now = ctx.clock.now()
    open_request = session.execute(
        select(AccessRequest.id)
        .outerjoin(Grant, Grant.id == AccessRequest.grant_id)
        .where(
            AccessRequest.record_id == record.id,
            AccessRequest.requester_id == actor.user_id,
            AccessRequest.requester_node == actor.node,
            request_status(now).in_(("pending", "active")),
        )
    ).first()
    if open_request is not None:
        raise Conflict(
            f"request {open_request[0]} for this record is still open", code="request_exists"
        )
    req = AccessRequest(
        id=uuid7(),
        record_id=record.id,
        record_origin=record.origin,
        category=record.category,
        requester_id=actor.user_id,
        requester_name=actor.name,
        requester_role=actor.role,
        requester_node=actor.node,
        reason=reason,
        wanted_s=data.duration_s,
        approvals_needed=category.approvals,
        status="pending",
        created_at=now,
        expires_at=now + timedelta(seconds=data.respond_within_s),
        decided_at=None,
        grant_id=None,
        revision=1,
    )
    session.add(req)
    session.flush()
    ctx.audit.append(
        session,
        actor=actor,
        action="request-access",
        object_type="record",
        object_id=record.id,
        reason=f"request {req.id}",
    )
    ctx.outbox.enqueue(
        session,
        kind="access-request",
        dest=[record.origin],
        ref={"request": req.id},
        payload=request_wire(req, with_reason=True).model_dump(mode="json"),
        encrypt=True,
    )
    return req


def receive_request(
    session: Session, ctx: NodeContext, wire: RequestWire, record: Record, approvals_needed: int
) -> AccessRequest:
    """At the origin: take in a request the handler has checked (sender, record, entitlement).
    Idempotent. The origin's own category table sets ``approvals_needed``."""
    existing = session.get(AccessRequest, wire.id)
    if existing is not None:
        return existing
    now = ctx.clock.now()
    req = AccessRequest(
        id=wire.id,
        record_id=record.id,
        record_origin=ctx.node_id,
        category=record.category,
        requester_id=wire.requester_id,
        requester_name=wire.requester_name,
        requester_role=wire.requester_role,
        requester_node=wire.requester_node,
        reason=wire.reason,
        wanted_s=wire.wanted_s,
        approvals_needed=approvals_needed,
        status="pending",
        created_at=wire.created_at,
        expires_at=min(wire.expires_at, now + timedelta(seconds=MAX_RESPOND_S)),
        decided_at=None,
        grant_id=None,
        revision=1,
    )
    session.add(req)
    session.flush()
    requester = remote_actor(
        wire.requester_id, wire.requester_name, wire.requester_role, wire.requester_node
    )
    ctx.audit.append(
        session,
        actor=requester,
        action="request-access",
        object_type="record",
        object_id=record.id,
        reason=f"request {req.id} received",
    )
    announce(session, ctx, "requested", request=req, grant=None)
    return req


# -- decisions at the origin ----------------------------------------------------------------


def _pending_request(
    session: Session, ctx: NodeContext, actor: Actor, request_id: str, *, action: str
) -> tuple[AccessRequest, Record, datetime]:
    """The request (locked), its record and the decision's time, once ``actor`` may ``action`` it
    here (an approver at the origin, not the requester) and it still awaits their decision."""
    req = _request(session, request_id, lock=True)
    if actor.user_id == req.requester_id and actor.node == req.requester_node:
        raise PermissionDenied(
            "the requester may not decide their own request",
            action=action,
            object_type="access_request",
            object_id=req.id,
            code="self_approval",
        )
    if req.record_origin != ctx.node_id:
        raise Conflict("requests are decided at the record's origin", code="not_origin")
    record = _record(session, req.record_id)
    if not ctx.policy.allows_on_record(actor, "approve", record):
        raise PermissionDenied(
            "not permitted to decide access requests",
            action=action,
            object_type="access_request",
            object_id=req.id,
        )
    now = ctx.clock.now()
    _check_pending(req, actor, now)
    return req, record, now


def _comment(text: str) -> str:
    stripped = text.strip()
    if not stripped:
        raise InvalidInput("a decision needs a comment", code="comment_required")
    return stripped


def _check_pending(req: AccessRequest, actor: Actor, now: datetime) -> None:
    if req.status == "expired" or (req.status == "pending" and as_aware(req.expires_at) <= now):
        raise Conflict("the request expired before it was decided", code="request_expired")
    if req.status != "pending":
        raise Conflict(f"the request is already {req.status}", code="request_not_pending")
    if any(d.approver_id == actor.user_id and d.approver_node == actor.node for d in req.decisions):
        raise Conflict("you have already decided this request", code="already_decided")


def _add_decision(
    session: Session,
    ctx: NodeContext,
    actor: Actor,
    req: AccessRequest,
    record: Record,
    *,
    decision: str,
    comment: str,
    duration_s: int | None,
    now: datetime,
) -> None:
    """Record ``actor``'s decision on ``req`` (a new revision) with its audit entry against the
    record. The caller has checked it (``_pending_request``) and settles the request's status."""
    req.decisions.append(
        AccessDecision(
            id=uuid7(),
            approver_id=actor.user_id,
            approver_name=actor.name,
            approver_node=actor.node,
            decision=decision,
            comment=comment,
            duration_s=duration_s,
            at=now,
        )
    )
    req.revision += 1
    session.flush()
    ctx.audit.append(
        session,
        actor=actor,
        action=decision,
        object_type="record",
        object_id=record.id,
        reason=f"request {req.id}",
    )


def approve_request(
    session: Session, ctx: NodeContext, actor: Actor, request_id: str, data: ApproveIn
) -> AccessRequest:
    """Add one approval; the last one needed starts the grant and releases the content."""
    comment = _comment(data.comment)
    req, record, now = _pending_request(session, ctx, actor, request_id, action="approve")
    if record.deleted:
        raise Conflict("the record is deleted", code="record_deleted")
    if data.duration_s is not None and data.duration_s > req.wanted_s:
        raise InvalidInput(
            "an approval may shorten a grant, never lengthen it", code="duration_too_long"
        )
    _add_decision(
        session,
        ctx,
        actor,
        req,
        record,
        decision="approve",
        comment=comment,
        duration_s=data.duration_s,
        now=now,
    )
    approvals = [d for d in req.decisions if d.decision == "approve"]
    grant = None
    if len({(d.approver_id, d.approver_node) for d in approvals}) >= req.approvals_needed:
        grant = _start_grant(session, ctx, req, approvals, now)
        release_grant(session, ctx, grant, record)
    announce(session, ctx, "approved" if grant else "approval", request=req, grant=grant)
    return req


def _start_grant(
    session: Session,
    ctx: NodeContext,
    req: AccessRequest,
    approvals: list[AccessDecision],
    now: datetime,
) -> Grant:
    seconds = min([req.wanted_s, MAX_GRANT_S] + [d.duration_s for d in approvals if d.duration_s])
    req.status = "approved"
    req.decided_at = now
    grant = open_grant(
        session,
        ctx,
        record_id=req.record_id,
        grantee_id=req.requester_id,
        grantee_name=req.requester_name,
        grantee_node=req.requester_node,
        source=SOURCE_APPROVAL,
        request_id=req.id,
        order_id=None,
        now=now,
        expires_at=now + timedelta(seconds=seconds),
        reason=f"request {req.id}: {req.requester_name}@{req.requester_node}, {seconds}s",
    )
    req.grant_id = grant.id
    return grant


def open_grant(
    session: Session,
    ctx: NodeContext,
    *,
    record_id: str,
    grantee_id: str,
    grantee_name: str,
    grantee_node: str,
    source: str,
    request_id: str | None,
    order_id: str | None,
    now: datetime,
    expires_at: datetime,
    reason: str,
) -> Grant:
    """Grant access to a record of this node's from ``now`` until ``expires_at``: the grant is
    flushed with the system's ``grant`` audit entry in the caller's transaction; nothing is sent.

    Also the way for other domains (orders) to grant; ``release_grant`` then sends the content."""
    grant = Grant(
        id=uuid7(),
        record_id=record_id,
        record_origin=ctx.node_id,
        grantee_id=grantee_id,
        grantee_name=grantee_name,
        grantee_node=grantee_node,
        source=source,
        request_id=request_id,
        order_id=order_id,
        granted_at=now,
        expires_at=expires_at,
        revoked_at=None,
        revoked_by=None,
        ended_at=None,
    )
    session.add(grant)
    session.flush()
    ctx.audit.append(
        session,
        actor=SYSTEM_ACTOR,
        action="grant",
        object_type="record",
        object_id=record_id,
        grant_id=grant.id,
        reason=reason,
    )
    return grant


def release_grant(session: Session, ctx: NodeContext, grant: Grant, record: Record) -> None:
    """Send ``record``'s content with ``grant``, sealed for the grantee's node only.

    Also the way for other domains (orders) to release content under a grant they made."""
    payload = ReleaseWire(
        grant=grant_wire(grant),
        record=ReleasedRecordWire(
            id=record.id, version=record.version, title=record.title or "", body=record.body or ""
        ),
    )
    ctx.outbox.enqueue(
        session,
        kind="release",
        dest=[grant.grantee_node],
        ref={"grant": grant.id},
        payload=payload.model_dump(mode="json"),
        encrypt=True,
    )
    ctx.audit.append(
        session,
        actor=SYSTEM_ACTOR,
        action="release",
        object_type="record",
        object_id=record.id,
        grant_id=grant.id,
        reason=f"version {record.version} sealed for {grant.grantee_node}",
    )


def deny_request(
    session: Session, ctx: NodeContext, actor: Actor, request_id: str, data: DenyIn
) -> AccessRequest:
    """One deny settles the request, whatever approvals came before (deny wins)."""
    comment = _comment(data.comment)
    req, record, now = _pending_request(session, ctx, actor, request_id, action="deny")
    req.status = "denied"
    req.decided_at = now
    _add_decision(
        session, ctx, actor, req, record, decision="deny", comment=comment, duration_s=None, now=now
    )
    announce(session, ctx, "denied", request=req, grant=None)
    return req


def revoke_grant(session: Session, ctx: NodeContext, actor: Actor, grant_id: str) -> Grant:
    """End a grant now, at the origin; the grantee's node deletes the content on receipt."""
    if not is_uuid(grant_id):
        raise InvalidInput("grant id must be a UUID", code="invalid_id")
    grant = _grant(session, grant_id, lock=True)
    if grant is None:
        raise NotFound("no such grant", code="grant_not_found")
    if grant.record_origin != ctx.node_id:
        raise Conflict("grants are revoked at the record's origin", code="not_origin")
    record = _record(session, grant.record_id)
    if not ctx.policy.allows_on_record(actor, "revoke", record):
        raise PermissionDenied(
            "not permitted to revoke grants",
            action="revoke",
            object_type="grant",
            object_id=grant.id,
        )
    now = ctx.clock.now()
    if grant.revoked_at is not None:
        raise Conflict("the grant is already revoked", code="grant_revoked")
    if as_aware(grant.expires_at) <= now:
        raise Conflict("the grant has already expired", code="grant_expired")
    end_grant(session, ctx, actor=actor, grant=grant, now=now)
    return grant


def end_grant(
    session: Session,
    ctx: NodeContext,
    *,
    actor: Actor,
    grant: Grant,
    now: datetime,
    reason: str | None = None,
) -> None:
    """Revoke ``grant`` as of ``now``, in the caller's transaction: audited as ``actor``'s
    ``revoke`` and announced, so the grantee's node deletes the content on receipt. The caller has
    checked that ``actor`` may (here: ``revoke_grant``; orders: closing the order)."""
    grant.revoked_at = now
    grant.revoked_by = f"{actor.name}@{actor.node}"[:100]
    grant.ended_at = now
    req = session.get(AccessRequest, grant.request_id) if grant.request_id else None
    if req is not None:
        req.revision += 1
    session.flush()
    ctx.audit.append(
        session,
        actor=actor,
        action="revoke",
        object_type="record",
        object_id=grant.record_id,
        grant_id=grant.id,
        reason=reason,
    )
    announce(session, ctx, "revoked", request=req, grant=grant)


# -- copies elsewhere -----------------------------------------------------------------------


def apply_snapshot(session: Session, ctx: NodeContext, event: GrantEventWire) -> Grant | None:
    """Bring this node's copy up to the origin's snapshot; never back (revision, revoked_at)."""
    if event.request is not None:
        wire = event.request
        req = session.get(AccessRequest, wire.id)
        if req is None:
            req = AccessRequest(id=wire.id, reason=None, revision=0)
            session.add(req)
        # ">=": the origin's first snapshot settles what the requester's node assumed.
        if wire.revision >= req.revision:
            for name in (
                "record_id",
                "record_origin",
                "category",
                "requester_id",
                "requester_name",
                "requester_role",
                "requester_node",
                "wanted_s",
                "approvals_needed",
                "status",
                "created_at",
                "expires_at",
                "decided_at",
                "grant_id",
                "revision",
            ):
                setattr(req, name, getattr(wire, name))
            known = {d.id for d in req.decisions} | {d.approver_id for d in req.decisions}
            for d in event.decisions:
                if d.id not in known and d.approver_id not in known:
                    known.add(d.approver_id)
                    req.decisions.append(
                        AccessDecision(
                            id=d.id,
                            approver_id=d.approver_id,
                            approver_name=d.approver_name,
                            approver_node=d.approver_node,
                            decision=d.decision,
                            comment=None,
                            duration_s=d.duration_s,
                            at=d.at,
                        )
                    )
    grant = upsert_grant(session, event.grant) if event.grant is not None else None
    session.flush()
    return grant


def upsert_grant(session: Session, wire: GrantWire) -> Grant:
    """This node's copy of the origin's grant; only a revocation changes a copy once held. The
    caller has checked that the sender is the grant's origin (``handlers._check_known_grant``)."""
    grant = _grant(session, wire.id, lock=True)
    if grant is None:
        grant = Grant(
            id=wire.id,
            record_id=wire.record_id,
            record_origin=wire.record_origin,
            grantee_id=wire.grantee_id,
            grantee_name=wire.grantee_name,
            grantee_node=wire.grantee_node,
            source=wire.source,
            request_id=wire.request_id,
            order_id=wire.order_id,
            granted_at=wire.granted_at,
            expires_at=wire.expires_at,
            revoked_at=wire.revoked_at,
            revoked_by=wire.revoked_by,
            ended_at=None,
        )
        session.add(grant)
    elif wire.revoked_at is not None and grant.revoked_at is None:
        grant.revoked_at = wire.revoked_at
        grant.revoked_by = wire.revoked_by
    return grant


def read_payload(read: GrantRead) -> dict[str, Any]:
    wire = ReadWire(
        id=read.id,
        grant_id=read.grant_id,
        record_id=read.record_id,
        reader_name=read.reader_name,
        reader_node=read.reader_node,
        at=as_aware(read.at),
    )
    return GrantEventWire(event="read", read=wire).model_dump(mode="json")


# -- reading released content at the grantee's node -----------------------------------------


@dataclass(frozen=True)
class Released:
    grant_id: str
    title: str
    body: str


def read_released(
    session: Session, ctx: NodeContext, actor: Actor, records: Sequence[Record], now: datetime
) -> dict[str, Released]:
    """Released content of these stubs for the actor's active grants; each one returned is a
    read, recorded and reported to the origin (the caller audits it with the grant id)."""
    found = content.released_for(session, actor, [r.id for r in records if r.is_stub], now)
    result: dict[str, Released] = {}
    for record_id, (grant, released) in found.items():
        read = GrantRead(
            id=uuid7(),
            grant_id=grant.id,
            record_id=record_id,
            reader_name=actor.name,
            reader_node=actor.node,
            at=now,
        )
        session.add(read)
        _tell_audience(
            session,
            ctx,
            ends=(grant.record_origin, grant.grantee_node),
            ref={"grant": grant.id, "read": read.id},
            payload=read_payload(read),
        )
        result[record_id] = Released(grant.id, released.title, released.body)
    return result


# -- expiry ---------------------------------------------------------------------------------


def sweep(session: Session, ctx: NodeContext, now: datetime, *, limit: int = 200) -> int:
    """Expire undecided requests and end expired grants at the origin; delete released content
    of ended grants at the grantee's node. Returns how many things changed."""
    me = ctx.node_id
    stale = (
        session.execute(
            select(AccessRequest)
            .where(
                AccessRequest.record_origin == me,
                AccessRequest.status == "pending",
                AccessRequest.expires_at <= now,
            )
            .limit(limit)
            .with_for_update()
        )
        .scalars()
        .all()
    )
    for req in stale:
        req.status = "expired"
        req.decided_at = now
        req.revision += 1
        ctx.audit.append(
            session,
            actor=SYSTEM_ACTOR,
            action="request-expired",
            object_type="record",
            object_id=req.record_id,
            reason=f"request {req.id}",
        )
        announce(session, ctx, "request_expired", request=req, grant=None)
    ended = (
        session.execute(
            select(Grant)
            .where(Grant.record_origin == me, Grant.ended_at.is_(None), Grant.expires_at <= now)
            .limit(limit)
            .with_for_update()
        )
        .scalars()
        .all()
    )
    for grant in ended:
        grant.ended_at = now
        ctx.audit.append(
            session,
            actor=SYSTEM_ACTOR,
            action="grant-expired",
            object_type="record",
            object_id=grant.record_id,
            grant_id=grant.id,
        )
    purged = content.purge_ended(session, ctx, now, limit=limit)
    session.flush()
    return len(stale) + len(ended) + purged


# -- views ----------------------------------------------------------------------------------


def _decisions_out(req: AccessRequest | None) -> list[DecisionOut]:
    if req is None:
        return []
    return [
        DecisionOut(
            approver=d.approver_name,
            approver_node=d.approver_node,
            decision=d.decision,
            at=as_aware(d.at),
            duration_s=d.duration_s,
            comment=d.comment,
        )
        for d in req.decisions
    ]


def _utc(moment: datetime) -> datetime:
    """A bound for a time column: SQLite compares stored UTC times as text, so bring any offset
    (a user's +08:00, or none) to UTC first."""
    return to_utc(moment)


def _aware(moment: datetime | None) -> datetime | None:
    return as_aware(moment) if moment is not None else None


def _view(req: AccessRequest | None, grant: Grant | None, status: str) -> dict[str, Any]:
    """The fields of ``AccessRequestOut`` for a request (and its grant), or a bare grant."""
    if req is not None:
        decisions = _decisions_out(req)
        view: dict[str, Any] = {
            "id": req.id,
            "record_id": req.record_id,
            "record_origin": req.record_origin,
            "category": req.category,
            "requester": req.requester_name,
            "requester_node": req.requester_node,
            "reason": req.reason,
            "duration_s": req.wanted_s,
            "approvals_needed": req.approvals_needed,
            "approvals": sum(1 for d in decisions if d.decision == "approve"),
            "created_at": as_aware(req.created_at),
            "expires_at": as_aware(req.expires_at),
            "decided_at": _aware(req.decided_at),
            "decisions": decisions,
        }
    elif grant is not None:
        view = {
            "id": None,
            "record_id": grant.record_id,
            "record_origin": grant.record_origin,
            "category": None,
            "requester": grant.grantee_name,
            "requester_node": grant.grantee_node,
            "reason": None,
            "duration_s": None,
            "approvals_needed": None,
            "approvals": 0,
            "created_at": as_aware(grant.granted_at),
            "expires_at": None,
            "decided_at": None,
            "decisions": [],
        }
    else:
        raise ValueError("a view needs a request or a grant")
    view["status"] = status
    view["grant_id"] = grant.id if grant else None
    view["source"] = grant.source if grant else None
    view["granted_at"] = _aware(grant.granted_at) if grant else None
    view["grant_expires_at"] = _aware(grant.expires_at) if grant else None
    view["revoked_at"] = _aware(grant.revoked_at) if grant else None
    view["revoked_by"] = grant.revoked_by if grant else None
    return view


def _may_audit(ctx: NodeContext, actor: Actor) -> bool:
    return ctx.policy.allows_on_node(actor, "audit", object_node=ctx.node_id)


def _may_decide(ctx: NodeContext, actor: Actor) -> bool:
    return actor.node == ctx.node_id and ctx.policy.allows(actor.role, "secret", "approve", ["own"])


def get_request(
    session: Session, ctx: NodeContext, actor: Actor, request_id: str
) -> AccessRequestOut:
    """One request: for its requester, the origin's approvers, and security officers."""
    req = _request(session, request_id)
    own = req.requester_id == actor.user_id and req.requester_node == actor.node
    decides = req.record_origin == ctx.node_id and _may_decide(ctx, actor)
    if not (own or decides or _may_audit(ctx, actor)):
        raise PermissionDenied(
            "not permitted to see this request",
            action="read",
            object_type="access_request",
            object_id=req.id,
        )
    ctx.audit.append(
        session,
        actor=actor,
        action="read",
        object_type="access_request",
        object_id=req.id,
        grant_id=req.grant_id,
    )
    return describe(session, ctx, request=req)


def describe(
    session: Session,
    ctx: NodeContext,
    *,
    request: AccessRequest | None = None,
    grant: Grant | None = None,
) -> AccessRequestOut:
    """The current view of a request (with its grant) or of a bare grant. No audit entry."""
    now = ctx.clock.now()
    if request is None and grant is not None and grant.request_id is not None:
        request = session.get(AccessRequest, grant.request_id)
    if request is not None:
        found, status = session.execute(
            select(Grant, request_status(now))
            .select_from(AccessRequest)
            .outerjoin(Grant, Grant.id == AccessRequest.grant_id)
            .where(AccessRequest.id == request.id)
        ).one()
        return AccessRequestOut(**_view(request, found, status))
    if grant is None:
        raise ValueError("describe needs a request or a grant")
    status = session.execute(select(grant_status(now)).where(Grant.id == grant.id)).scalar_one()
    return AccessRequestOut(**_view(None, grant, status))


def list_requests(
    session: Session,
    ctx: NodeContext,
    actor: Actor,
    *,
    status: str | None,
    record_id: str | None,
    limit: int,
) -> list[AccessRequestOut]:
    """The actor's own requests, and (approvers) the requests to decide here. No content."""
    now = ctx.clock.now()
    status_expr = request_status(now)
    to_decide: ColumnElement[bool] = (
        AccessRequest.record_origin == ctx.node_id if _may_decide(ctx, actor) else false()
    )
    mine = and_(
        AccessRequest.requester_id == actor.user_id, AccessRequest.requester_node == actor.node
    )
    query = (
        select(AccessRequest, Grant, status_expr)
        .outerjoin(Grant, Grant.id == AccessRequest.grant_id)
        .where(or_(mine, to_decide))
    )
    if status is not None:
        query = query.where(status_expr == status)
    if record_id is not None:
        query = query.where(AccessRequest.record_id == record_id)
    rows = session.execute(
        query.order_by(AccessRequest.created_at.desc(), AccessRequest.id.desc()).limit(limit)
    ).all()
    ctx.audit.append(
        session,
        actor=actor,
        action="list",
        object_type="access_request",
        reason=f"{len(rows)} items",
    )
    return [AccessRequestOut(**_view(req, grant, st)) for req, grant, st in rows]


@dataclass(frozen=True)
class GrantFilters:
    node: str | None = None
    user: str | None = None
    record_id: str | None = None
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def list_grants(
    session: Session, ctx: NodeContext, actor: Actor, filters: GrantFilters, *, limit: int
) -> list[GrantOut]:
    """Security officers: every request and grant this node knows of (its subtree's, since
    events reach exactly the ends' ancestors), newest first, with approvers and reads."""
    if not _may_audit(ctx, actor):
        raise PermissionDenied("not permitted to audit grants", action="audit", object_type="grant")
    now = ctx.clock.now()
    status_expr = request_status(now)
    asked = select(AccessRequest, Grant, status_expr).outerjoin(
        Grant, Grant.id == AccessRequest.grant_id
    )
    given = select(Grant, grant_status(now)).where(Grant.request_id.is_(None))
    if filters.node is not None:
        asked = asked.where(
            or_(
                AccessRequest.record_origin == filters.node,
                AccessRequest.requester_node == filters.node,
            )
        )
        given = given.where(
            or_(Grant.record_origin == filters.node, Grant.grantee_node == filters.node)
        )
    if filters.user is not None:
        deciders = select(AccessDecision.request_id).where(
            AccessDecision.approver_name == filters.user
        )
        asked = asked.where(
            or_(AccessRequest.requester_name == filters.user, AccessRequest.id.in_(deciders))
        )
        given = given.where(Grant.grantee_name == filters.user)
    if filters.record_id is not None:
        asked = asked.where(AccessRequest.record_id == filters.record_id)
        given = given.where(Grant.record_id == filters.record_id)
    if filters.status is not None:
        asked = asked.where(status_expr == filters.status)
        given = given.where(grant_status(now) == filters.status)
    if filters.since is not None:
        since = _utc(filters.since)
        asked = asked.where(AccessRequest.created_at >= since)
        given = given.where(Grant.granted_at >= since)
    if filters.until is not None:
        until = _utc(filters.until)
        asked = asked.where(AccessRequest.created_at < until)
        given = given.where(Grant.granted_at < until)
    views = [
        _view(req, grant, st)
        for req, grant, st in session.execute(
            asked.order_by(AccessRequest.created_at.desc()).limit(limit)
        ).all()
    ]
    views += [
        _view(None, grant, st)
        for grant, st in session.execute(given.order_by(Grant.granted_at.desc()).limit(limit)).all()
    ]
    views.sort(key=lambda v: v["created_at"], reverse=True)
    views = views[:limit]
    grant_ids = [v["grant_id"] for v in views if v["grant_id"]]
    reads: dict[str, list[ReadOut]] = {}
    if grant_ids:
        for read in session.execute(
            select(GrantRead).where(GrantRead.grant_id.in_(grant_ids)).order_by(GrantRead.at)
        ).scalars():
            reads.setdefault(read.grant_id, []).append(
                ReadOut(reader=read.reader_name, reader_node=read.reader_node, at=as_aware(read.at))
            )
    ctx.audit.append(
        session, actor=actor, action="list", object_type="grant", reason=f"{len(views)} items"
    )
    return [
        GrantOut(
            **view,
            read_count=len(reads.get(view["grant_id"] or "", [])),
            reads=reads.get(view["grant_id"] or "", []),
        )
        for view in views
    ]
