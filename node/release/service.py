"""Case-secret release (DESIGN §5): requests, decisions at the origin, grants, revocation, expiry,
and the security officers' view of all of it.

Rules kept here (the API and the envelope handlers both come through these functions):
- A request needs a reason that says something, names a record the requester sees only as a stub,
  and travels sealed to the record's origin (kind ``access-request``).
- Only approvers at the origin decide. The requester never decides their own request; each approver
  decides once, so N approvals come from N different approvers; the category sets N; one deny
  settles the request as denied (deny wins); an undecided request expires.
- An order's issuer attaching a case-secret record of this node files a request for each
  addressee (``file_order_request``): the same approvers and rules decide it; the grant goes to the
  addressee's handler (from acknowledgement on, its clock still started by the deciding approval)
  and ends at the latest when the order closes for them. There is no other way to a grant.
- The grant's clock starts at the deciding approval; its length is the shortest of what was asked
  for, what any approver allowed, and ``MAX_GRANT_S``. The content then travels sealed for the
  grantee's node only (kind ``release``). The origin's approvers (and security officers) revoke.
- A request may ask for the record's reporter too (``include_reporter``; petitions and problem
  clues only). It then needs the category's approvals from approvers plus one more from a
  security officer of the origin (``approve-reporter`` in the policy): distinct people, each
  deciding once, deny wins (a security officer's deny too), never the requester. Only such a
  request's release carries the reporter, sealed for the grantee's node and bound to the grant;
  an order's request never asks for it.
- Every state change is audited where it happens and announced, as metadata (no reason, comment,
  title or body), to the origin, the requester's node and the ancestors of both (kind
  ``grant-event``), whose security officers see it in ``/api/v1/grants``; each read of released
  content is reported the same way, so both ends audit it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from node.audit.chain import SYSTEM_ACTOR
from node.clock import as_aware
from node.common import audited
from node.context import NodeContext
from node.errors import Conflict, InvalidInput, PermissionDenied
from node.ids import uuid7
from node.models import Grant, Record
from node.policy import Actor
from node.records import attachment_store, reporter
from node.records.ports import ReleasedReporterText, ReleasedText
from node.records.search import SearchQuery
from node.records.service import find_record, get_record, load_record
from node.release import content
from node.release.models import AccessDecision, AccessRequest, GrantRead
from node.release.ports import ORDER_ACCESS
from node.release.queries import load_grant, load_request, request_status
from node.release.schemas import (
    DEFAULT_RESPOND_S,
    MAX_GRANT_S,
    AccessRequestCreate,
    ApproveIn,
    DenyIn,
)
from node.release.wire import (
    GrantEventWire,
    ReleasedRecordWire,
    ReleaseWire,
    SealedWire,
    grant_wire,
    read_wire,
    request_wire,
    snapshot_wire,
)
from node.replication.kinds import Kind

MIN_REASON_CHARS = 8
MIN_REASON_DISTINCT = 4
COUNTS_CATEGORY = "category"
COUNTS_REPORTER = "reporter"
"""What an approval counts toward: the category's number, or the security officer's extra one."""
SOURCE_APPROVAL = "approval"
SOURCE_LEGACY_ORDER = "order-legacy"
"""A grant made by the withdrawn order shortcut (no approval), marked by migration 0010: the sweep
ends it."""


# -- who hears about a request --------------------------------------------------------------


def audience_of(ctx: NodeContext, origin: str, grantee_node: str) -> set[str]:
    """The nodes that learn of a request's every step: the nodes that hold the record (its
    origin, the origin's ancestors with its stub) and the grantee's node (which holds the stub
    it asked about, or was sent with an order). A grantee's other ancestors hold nothing of the
    record, so they hear nothing of it either (DESIGN §10: no grants for records not held)."""
    return {origin, grantee_node, *ctx.topology.ancestors(origin)}


def audience(ctx: NodeContext, origin: str, grantee_node: str) -> list[str]:
    """``audience_of`` but this node, as destinations."""
    return sorted(audience_of(ctx, origin, grantee_node) - {ctx.node_id})


def remote_actor(user_id: str, name: str, role: str, node: str) -> Actor:
    """A user of another node, as this node's audit trail names them."""
    return Actor(user_id=user_id, name=f"{name}@{node}"[:100], role=role, node=node)


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
        ends = (request.record_origin, request.grantee_node)
    elif grant is not None:
        ends = (grant.record_origin, grant.grantee_node)
    else:
        raise ValueError("announce needs a request or a grant")
    tell_audience(session, ctx, ends, snapshot_wire(event, request=request, grant=grant))


def tell_audience(
    session: Session, ctx: NodeContext, ends: tuple[str, str], wire: GrantEventWire
) -> None:
    """Enqueue a ``grant-event`` sealed for the audience of a grant's two ends (origin, grantee's
    node), in the caller's transaction."""
    ctx.outbox.send(session, Kind.GRANT_EVENT, wire, dest=audience(ctx, *ends), encrypt=True)


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


def create_request(
    session: Session, ctx: NodeContext, actor: Actor, data: AccessRequestCreate
) -> AccessRequest:
    """File a request for a case-secret record seen here as a stub; send it to the origin."""
    reason = check_reason(data.reason)
    record = find_record(session, ctx, actor, data.record_id, data.record_origin)
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
    if data.include_reporter:
        reporter.check_category(record.category)
    now = ctx.clock.now()
    open_request = session.execute(
        select(AccessRequest.id)
        .outerjoin(Grant, Grant.id == AccessRequest.grant_id)
        .where(
            AccessRequest.record_id == record.id,
            AccessRequest.record_origin == record.origin,
            AccessRequest.requester_id == actor.user_id,
            AccessRequest.requester_node == actor.node,
            request_status(now).in_(("pending", "active")),
        )
    ).first()
    if open_request is not None:
        raise Conflict(
            f"request {open_request[0]} for this record is still open", code="request_exists"
        )
    req = _new_request(
        record,
        actor,
        reason=reason,
        wanted_s=data.duration_s,
        approvals_needed=category.approvals,
        now=now,
        respond_within_s=data.respond_within_s,
        include_reporter=data.include_reporter,
    )
    session.add(req)
    audited(
        session,
        ctx,
        actor,
        "request-access",
        object_type="record",
        object_id=record.id,
        reason=f"request {req.id}" + (", with the reporter" if req.include_reporter else ""),
    )
    ctx.outbox.send(
        session,
        Kind.ACCESS_REQUEST,
        request_wire(req, with_reason=True),
        dest=[record.origin],
        encrypt=True,
    )
    return req


def _new_request(
    record: Record,
    actor: Actor,
    *,
    reason: str,
    wanted_s: int,
    approvals_needed: int,
    now: datetime,
    respond_within_s: int,
    include_reporter: bool,
    order_id: str | None = None,
    for_node: str | None = None,
) -> AccessRequest:
    """A pending request by ``actor`` for ``record`` (not yet added to the session)."""
    return AccessRequest(
        id=uuid7(),
        record_id=record.id,
        record_origin=record.origin,
        category=record.category,
        requester_id=actor.user_id,
        requester_name=actor.name,
        requester_role=actor.role,
        requester_node=actor.node,
        reason=reason,
        wanted_s=wanted_s,
        approvals_needed=approvals_needed,
        status="pending",
        created_at=now,
        expires_at=now + timedelta(seconds=respond_within_s),
        decided_at=None,
        grant_id=None,
        revision=1,
        include_reporter=include_reporter,
        order_id=order_id,
        for_node=for_node,
    )


def file_order_request(
    session: Session,
    ctx: NodeContext,
    actor: Actor,
    record: Record,
    *,
    order_id: str,
    addressee: str,
    now: datetime,
) -> AccessRequest:
    """At the origin: the order's issuer (``actor``) asks, on ``addressee``'s behalf, for its
    handler to read ``record``; decided like any request, by the origin's approvers."""
    category = ctx.policy.categories.get(record.category)
    if category is None:
        raise Conflict("the record's category is not known here", code="unknown_category")
    req = _new_request(
        record,
        actor,
        reason=f"order {order_id}: for the handler at {addressee}",
        wanted_s=MAX_GRANT_S,
        approvals_needed=category.approvals,
        now=now,
        respond_within_s=DEFAULT_RESPOND_S,
        include_reporter=False,  # an order never releases a reporter
        order_id=order_id,
        for_node=addressee,
    )
    session.add(req)
    audited(
        session,
        ctx,
        actor,
        "request-access",
        object_type="record",
        object_id=record.id,
        reason=f"request {req.id}: order {order_id} for {addressee}",
    )
    announce(session, ctx, "requested", request=req, grant=None)
    return req


def grant_for_order(
    session: Session,
    ctx: NodeContext,
    *,
    order_id: str,
    addressee: str,
    handler: tuple[str, str],
    now: datetime,
) -> list[Grant]:
    """The addressee's handler is known (they acknowledged): grant them what the origin's
    approvers already approved for the order, for what is left of each approval's time."""
    approved = (
        session.execute(
            select(AccessRequest)
            .where(
                AccessRequest.order_id == order_id,
                AccessRequest.for_node == addressee,
                AccessRequest.record_origin == ctx.node_id,
                AccessRequest.status == "approved",
                AccessRequest.grant_id.is_(None),
            )
            .with_for_update()
        )
        .scalars()
        .all()
    )
    grants = []
    for req in approved:
        record = get_record(session, req.record_origin, req.record_id)
        if record is None or record.deleted or req.decided_at is None:
            continue
        expires_at = as_aware(req.decided_at) + timedelta(seconds=_granted_seconds(req))
        if expires_at <= now:
            continue
        grant = _open_request_grant(session, ctx, req, handler, granted_at=now, until=expires_at)
        release_grant(session, ctx, grant, record)
        announce(session, ctx, "granted", request=req, grant=grant)
        grants.append(grant)
    return grants


def withdraw_order_requests(
    session: Session, ctx: NodeContext, *, order_id: str, addressee: str, now: datetime
) -> int:
    """The order closed for ``addressee``: its requests that have not led to a grant end."""
    open_requests = (
        session.execute(
            select(AccessRequest)
            .where(
                AccessRequest.order_id == order_id,
                AccessRequest.for_node == addressee,
                AccessRequest.record_origin == ctx.node_id,
                AccessRequest.status.in_(("pending", "approved")),
                AccessRequest.grant_id.is_(None),
            )
            .with_for_update()
        )
        .scalars()
        .all()
    )
    for req in open_requests:
        req.status = "expired"
        req.decided_at = req.decided_at or now
        req.revision += 1
        audited(
            session,
            ctx,
            SYSTEM_ACTOR,
            "request-withdrawn",
            object_type="record",
            object_id=req.record_id,
            reason=f"request {req.id}: order {order_id} closed for {addressee}",
        )
        announce(session, ctx, "request_expired", request=req, grant=None)
    return len(open_requests)


# -- decisions at the origin ----------------------------------------------------------------


def _pending_request(
    session: Session, ctx: NodeContext, actor: Actor, request_id: str, *, action: str
) -> tuple[AccessRequest, Record, datetime, str]:
    """The request (locked), its record, the decision's time and what ``actor``'s decision
    counts toward, once ``actor`` may ``action`` it here (an approver at the origin, or a security
    officer of the origin if it asks for the reporter; not the requester) and it still awaits
    their decision."""
    req = load_request(session, request_id, lock=True)
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
    record = load_record(session, req.record_origin, req.record_id)
    if ctx.policy.allows_on_record(actor, "approve", record):
        counts_for = COUNTS_CATEGORY
    elif req.include_reporter and ctx.policy.allows_on_record(actor, "approve-reporter", record):
        counts_for = COUNTS_REPORTER
    else:
        raise PermissionDenied(
            "not permitted to decide this access request",
            action=action,
            object_type="access_request",
            object_id=req.id,
        )
    now = ctx.clock.now()
    _check_pending(req, actor, now)
    return req, record, now, counts_for


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
    counts_for: str = COUNTS_CATEGORY,
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
            counts_for=counts_for,
        )
    )
    req.revision += 1
    audited(
        session,
        ctx,
        actor,
        decision,
        object_type="record",
        object_id=record.id,
        reason=f"request {req.id}" + (" (reporter)" if counts_for == COUNTS_REPORTER else ""),
    )


def approvals_settled(req: AccessRequest) -> bool:
    """The category's number of approvals from distinct approvers, and, for a request that asks
    for the reporter, at least one from a security officer (distinct people: each decides once)."""
    approvals = [d for d in req.decisions if d.decision == "approve"]
    category = {
        (d.approver_id, d.approver_node) for d in approvals if d.counts_for != COUNTS_REPORTER
    }
    officers = {
        (d.approver_id, d.approver_node) for d in approvals if d.counts_for == COUNTS_REPORTER
    }
    if len(category) < req.approvals_needed:
        return False
    return not req.include_reporter or len(officers - category) >= 1


def approve_request(
    session: Session, ctx: NodeContext, actor: Actor, request_id: str, data: ApproveIn
) -> AccessRequest:
    """Add one approval; the last one needed starts the grant and releases the content."""
    comment = _comment(data.comment)
    req, record, now, counts_for = _pending_request(
        session, ctx, actor, request_id, action="approve"
    )
    if record.deleted:
        raise Conflict("the record is deleted", code="record_deleted")
    order_access = ctx.port(ORDER_ACCESS)
    if req.order_id is not None and not order_access.is_open(
        session, req.order_id, req.grantee_node
    ):
        raise Conflict("the order this request is for is closed", code="order_closed")
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
        counts_for=counts_for,
    )
    grant = None
    settled = approvals_settled(req)
    if settled:
        req.status = "approved"
        req.decided_at = now
        # An order's request is granted to the addressee's handler: at once if they have
        # acknowledged, else when they do (``grant_for_order``).
        grantee = (
            (req.requester_id, req.requester_name)
            if req.order_id is None
            else order_access.handler(session, req.order_id, req.grantee_node)
        )
        if grantee is not None:
            until = now + timedelta(seconds=_granted_seconds(req))
            grant = _open_request_grant(session, ctx, req, grantee, granted_at=now, until=until)
            release_grant(session, ctx, grant, record, with_reporter=req.include_reporter)
    announce(session, ctx, "approved" if settled else "approval", request=req, grant=grant)
    return req


def _granted_seconds(req: AccessRequest) -> int:
    """The grant's length: the shortest of what was asked, what any approver allowed, the cap."""
    approvals = [d for d in req.decisions if d.decision == "approve"]
    return min([req.wanted_s, MAX_GRANT_S] + [d.duration_s for d in approvals if d.duration_s])


def _open_request_grant(
    session: Session,
    ctx: NodeContext,
    req: AccessRequest,
    grantee: tuple[str, str],
    *,
    granted_at: datetime,
    until: datetime,
) -> Grant:
    grantee_id, grantee_name = grantee
    grant = open_grant(
        session,
        ctx,
        record_id=req.record_id,
        grantee_id=grantee_id,
        grantee_name=grantee_name,
        grantee_node=req.grantee_node,
        source=SOURCE_APPROVAL,
        request_id=req.id,
        order_id=req.order_id,
        now=granted_at,
        expires_at=until,
        reason=f"request {req.id}: {grantee_name}@{req.grantee_node}, until {until.isoformat()}",
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
    audited(
        session,
        ctx,
        SYSTEM_ACTOR,
        "grant",
        object_type="record",
        object_id=record_id,
        grant_id=grant.id,
        reason=reason,
    )
    return grant


def release_grant(
    session: Session,
    ctx: NodeContext,
    grant: Grant,
    record: Record,
    *,
    with_reporter: bool = False,
) -> None:
    """Send ``record``'s content with ``grant``, sealed for the grantee's node only.

    ``with_reporter``: the record's reporter goes too, sealed once more for the grantee's node and
    bound to the grant; only for a request that asked for it and whose approvals include a
    security officer's (checked here again: anything else is refused, nothing is sent). Without
    it a release never carries the reporter. Also the way for other domains (orders) to release
    content under a grant they made (never with the reporter)."""
    sealed_reporter = None
    if with_reporter:
        req = session.get(AccessRequest, grant.request_id) if grant.request_id else None
        if req is None or not req.include_reporter or not approvals_settled(req):
            raise Conflict(
                "the reporter is released only on a request approved for it",
                code="reporter_not_approved",
            )
        sealed = reporter.reseal_for(session, ctx, record, grant.grantee_node, grant_id=grant.id)
        sealed_reporter = SealedWire.model_validate(sealed) if sealed is not None else None
    payload = ReleaseWire(
        grant=grant_wire(grant),
        record=ReleasedRecordWire(
            id=record.id,
            version=record.version,
            title=record.title or "",
            body=record.body or "",
            attachments=attachment_store.manifest(session, record),
        ),
        reporter=sealed_reporter,
    )
    ctx.outbox.send(session, Kind.RELEASE, payload, dest=[grant.grantee_node], encrypt=True)
    # The attachments follow the release, sealed for the grantee's node and filed under the grant.
    attachment_store.send_released(
        session, ctx, record, grant_id=grant.id, grantee_node=grant.grantee_node
    )
    if with_reporter:
        audited(
            session,
            ctx,
            SYSTEM_ACTOR,
            "release-reporter",
            object_type="record",
            object_id=record.id,
            grant_id=grant.id,
            reason=f"sealed for {grant.grantee_node}"
            if sealed_reporter is not None
            else "the record names no reporter",
        )
    audited(
        session,
        ctx,
        SYSTEM_ACTOR,
        "release",
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
    req, record, now, counts_for = _pending_request(session, ctx, actor, request_id, action="deny")
    req.status = "denied"
    req.decided_at = now
    _add_decision(
        session,
        ctx,
        actor,
        req,
        record,
        decision="deny",
        comment=comment,
        duration_s=None,
        now=now,
        counts_for=counts_for,
    )
    announce(session, ctx, "denied", request=req, grant=None)
    return req


def revoke_grant(session: Session, ctx: NodeContext, actor: Actor, grant_id: str) -> Grant:
    """End a grant now, at the origin; the grantee's node deletes the content on receipt."""
    grant = load_grant(session, grant_id, lock=True)
    if grant.record_origin != ctx.node_id:
        raise Conflict("grants are revoked at the record's origin", code="not_origin")
    record = load_record(session, grant.record_origin, grant.record_id)
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
    audited(
        session,
        ctx,
        actor,
        "revoke",
        object_type="record",
        object_id=grant.record_id,
        grant_id=grant.id,
        reason=reason,
    )
    announce(session, ctx, "revoked", request=req, grant=grant)


# -- reading released content at the grantee's node -----------------------------------------


def read_released(
    session: Session, ctx: NodeContext, actor: Actor, records: Sequence[Record], now: datetime
) -> dict[tuple[str, str], ReleasedText]:
    """Released content of these stubs for the actor's active grants, by (origin, record id);
    each one returned is a read, recorded and reported to the origin (the caller audits it with
    the grant id)."""
    keys = [(r.origin, r.id) for r in records if r.is_stub]
    found = content.released_for(session, actor, keys, now)
    result: dict[tuple[str, str], ReleasedText] = {}
    for key, (grant, released) in found.items():
        read = GrantRead(
            id=uuid7(),
            grant_id=grant.id,
            record_id=grant.record_id,
            record_origin=grant.record_origin,
            reader_name=actor.name,
            reader_node=actor.node,
            at=now,
        )
        session.add(read)
        tell_audience(session, ctx, (grant.record_origin, grant.grantee_node), read_wire(read))
        result[key] = ReleasedText(grant.id, released.title, released.body)
    return result


def read_released_reporter(
    session: Session, ctx: NodeContext, actor: Actor, record: Record, now: datetime
) -> ReleasedReporterText | None:
    """The reporter of ``record`` released to ``actor`` under an active grant, opened with this
    node's key for this one read, which is recorded and reported to the origin (the caller
    audits it with the grant id); None if no active grant of theirs released it."""
    found = content.released_reporter_for(session, actor, (record.origin, record.id), now)
    if found is None:
        return None
    grant, released = found
    plaintext = content.open_reporter(ctx, grant, released)
    read = GrantRead(
        id=uuid7(),
        grant_id=grant.id,
        record_id=record.id,
        record_origin=grant.record_origin,
        reader_name=actor.name,
        reader_node=actor.node,
        at=now,
        what="reporter",
    )
    session.add(read)
    tell_audience(session, ctx, (grant.record_origin, grant.grantee_node), read_wire(read))
    return ReleasedReporterText(grant.id, plaintext)


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
        audited(
            session,
            ctx,
            SYSTEM_ACTOR,
            "request-expired",
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
        audited(
            session,
            ctx,
            SYSTEM_ACTOR,
            "grant-expired",
            object_type="record",
            object_id=grant.record_id,
            grant_id=grant.id,
        )
    legacy = _end_legacy_order_grants(session, ctx, now, limit=limit)
    purged = content.purge_ended(session, ctx, now, limit=limit)
    session.flush()
    return len(stale) + len(ended) + legacy + purged


def _end_legacy_order_grants(
    session: Session, ctx: NodeContext, now: datetime, *, limit: int
) -> int:
    """End the grants the withdrawn order shortcut made without an approval (marked by migration
    0010): at the origin as a revocation, audited and announced; at the grantee's node by deleting
    the content at once, without waiting for the origin's word."""
    grants = (
        session.execute(
            select(Grant)
            .where(Grant.source == SOURCE_LEGACY_ORDER, Grant.ended_at.is_(None))
            .limit(limit)
            .with_for_update()
        )
        .scalars()
        .all()
    )
    why = "order-grant shortcut withdrawn: no approval"
    for grant in grants:
        if grant.record_origin == ctx.node_id:
            end_grant(session, ctx, actor=SYSTEM_ACTOR, grant=grant, now=now, reason=why)
        elif grant.grantee_node == ctx.node_id:
            grant.revoked_at = grant.revoked_at or now
            content.purge(session, ctx, grant, why=why, now=now)
        else:
            grant.ended_at = now  # a copy held for the security officers: nothing to delete
    return len(grants)


class ReleasedToReaders:
    """The release domain's side of ``node.records.ports.GrantedContent`` and ``GrantedReporter``:
    what records shows of a case-secret stub (and its reporter) to a reader with an active
    grant."""

    def purge_ended(
        self, session: Session, ctx: NodeContext, now: datetime, *, record: Record
    ) -> int:
        return content.purge_ended(session, ctx, now, record=(record.origin, record.id))

    def read_released(
        self,
        session: Session,
        ctx: NodeContext,
        actor: Actor,
        records: Sequence[Record],
        now: datetime,
    ) -> dict[tuple[str, str], ReleasedText]:
        return read_released(session, ctx, actor, records, now)

    def released_matching(
        self, ctx: NodeContext, actor: Actor, query: SearchQuery, now: datetime
    ) -> Select[str, str]:
        return content.released_matching(actor, query, now, ctx.engine.dialect.name)

    def read_released_reporter(
        self, session: Session, ctx: NodeContext, actor: Actor, record: Record, now: datetime
    ) -> ReleasedReporterText | None:
        return read_released_reporter(session, ctx, actor, record, now)
