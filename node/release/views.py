"""The read side of release: one request, requests to decide, and the security officers' view of
every request and grant across the subtree (with approvers and reads). Metadata only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, select
from sqlalchemy.orm import Session

from node.clock import as_aware, as_aware_or_none, to_utc
from node.common import audit_listing, audited, require
from node.context import NodeContext
from node.errors import PermissionDenied
from node.models import Grant
from node.policy import Actor
from node.release.models import AccessDecision, AccessRequest, GrantRead
from node.release.queries import grant_status, load_request, request_status
from node.release.schemas import AccessRequestOut, DecisionOut, GrantOut, ReadOut


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
            counts_for=d.counts_for or "category",
        )
        for d in req.decisions
    ]


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
            "approvals": sum(
                1 for d in decisions if d.decision == "approve" and d.counts_for == "category"
            ),
            "include_reporter": req.include_reporter,
            "reporter_approvals": sum(
                1 for d in decisions if d.decision == "approve" and d.counts_for == "reporter"
            ),
            "created_at": as_aware(req.created_at),
            "expires_at": as_aware(req.expires_at),
            "decided_at": as_aware_or_none(req.decided_at),
            "decisions": decisions,
            "order_id": req.order_id,
            "for_node": req.for_node,
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
            "order_id": grant.order_id,
            "for_node": grant.grantee_node if grant.order_id else None,
        }
    else:
        raise ValueError("a view needs a request or a grant")
    view["status"] = status
    view["grant_id"] = grant.id if grant else None
    view["source"] = grant.source if grant else None
    view["granted_at"] = as_aware_or_none(grant.granted_at) if grant else None
    view["grant_expires_at"] = as_aware_or_none(grant.expires_at) if grant else None
    view["revoked_at"] = as_aware_or_none(grant.revoked_at) if grant else None
    view["revoked_by"] = grant.revoked_by if grant else None
    return view


def may_audit(ctx: NodeContext, actor: Actor) -> bool:
    return ctx.policy.allows_on_node(actor, "audit", object_node=ctx.node_id)


def may_decide(ctx: NodeContext, actor: Actor) -> bool:
    return actor.node == ctx.node_id and ctx.policy.allows(actor.role, "secret", "approve", ["own"])


def may_decide_reporter(ctx: NodeContext, actor: Actor) -> bool:
    """A security officer of the origin: decides the requests that ask for a reporter."""
    return actor.node == ctx.node_id and ctx.policy.allows(
        actor.role, "secret", "approve-reporter", ["own"]
    )


def get_request(
    session: Session, ctx: NodeContext, actor: Actor, request_id: str
) -> AccessRequestOut:
    """One request: for its requester, the origin's approvers, and security officers."""
    req = load_request(session, request_id)
    own = req.requester_id == actor.user_id and req.requester_node == actor.node
    decides = req.record_origin == ctx.node_id and may_decide(ctx, actor)
    if not (own or decides or may_audit(ctx, actor)):
        raise PermissionDenied(
            "not permitted to see this request",
            action="read",
            object_type="access_request",
            object_id=req.id,
        )
    audited(
        session,
        ctx,
        actor,
        "read",
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
    """The actor's own requests, and the requests to decide here: all of them for approvers,
    those that ask for a reporter for security officers. No content."""
    now = ctx.clock.now()
    status_expr = request_status(now)
    to_decide: ColumnElement[bool] = false()
    if may_decide(ctx, actor):
        to_decide = AccessRequest.record_origin == ctx.node_id
    elif may_decide_reporter(ctx, actor):
        to_decide = and_(
            AccessRequest.record_origin == ctx.node_id, AccessRequest.include_reporter.is_(True)
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
    audit_listing(session, ctx, actor, "access_request", len(rows))
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
    require(ctx, actor, "audit", object_type="grant", message="not permitted to audit grants")
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
        since = to_utc(filters.since)
        asked = asked.where(AccessRequest.created_at >= since)
        given = given.where(Grant.granted_at >= since)
    if filters.until is not None:
        until = to_utc(filters.until)
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
                ReadOut(
                    reader=read.reader_name,
                    reader_node=read.reader_node,
                    at=as_aware(read.at),
                    what="reporter" if read.what == "reporter" else "content",
                )
            )
    audit_listing(session, ctx, actor, "grant", len(views))
    return [
        GrantOut(
            **view,
            read_count=len(reads.get(view["grant_id"] or "", [])),
            reads=reads.get(view["grant_id"] or "", []),
        )
        for view in views
    ]
