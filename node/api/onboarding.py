"""Onboarding (issue 12 item 2): ``/api/v1/federation/join-codes`` and ``/join-requests``.

Two endpoints take no token, since the new node has no user here yet: ``POST /join-requests`` (a
signed request and a one-time code) and ``GET /join-requests/{id}`` (its answer, by the
unguessable id the post returned). Both spend the client address's join budget
(``FEDSHARE_JOIN_RATE_LIMIT``, default ``30/minute``; then ``429 rate_limited``), and a wrong,
used or expired code is a 403, which also spends the address's failure budget. Nothing a caller
sent is echoed back in an error.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from node.api.deps import ContextDep, CurrentActor, SessionDep
from node.api.ratelimit import FailureLimiter, client_address
from node.certificates import key_id
from node.clock import as_aware
from node.errors import InvalidInput, NodeError
from node.members import onboarding
from node.members.models import JoinCode
from node.members.models import JoinRequest as JoinRequestRow
from node.members.schemas import (
    IssuedJoinCodeOut,
    JoinAnswerOut,
    JoinCodeIn,
    JoinCodeOut,
    JoinCodePage,
    JoinRejectIn,
    JoinRequestIn,
    JoinRequestOut,
    JoinRequestPage,
    JoinSubmittedOut,
)
from node.settings import parse_lifetime

router = APIRouter(prefix="/api/v1/federation", tags=["federation 联邦"])


class RateLimited(NodeError):
    code = "rate_limited"
    status = 429


def _spend_join_budget(request: Request) -> None:
    """One unit of the address's join budget; 429 once it is spent."""
    ctx = request.app.state.ctx
    limiter: FailureLimiter | None = getattr(request.app.state, "join_limiter", None)
    if limiter is None:
        limiter = FailureLimiter(
            ctx.settings.join_rate_limit,
            ctx.clock,
            max_addresses=ctx.settings.rate_limit_max_addresses,
        )
        request.app.state.join_limiter = limiter
    address = client_address(request.scope)
    wait = limiter.retry_after(address)
    if wait is not None:
        raise RateLimited(f"too many join requests from this address; retry after {wait} s")
    limiter.record_failure(address)


def _code_out(row: JoinCode, status: str) -> JoinCodeOut:
    return JoinCodeOut(
        id=row.id,
        node=row.node_id,
        created_at=as_aware(row.created_at),
        created_by=row.created_by,
        expires_at=as_aware(row.expires_at),
        status=status,
    )


def _request_out(row: JoinRequestRow) -> JoinRequestOut:
    request = onboarding.request_of(row)
    return JoinRequestOut(
        id=row.id,
        node=row.node_id,
        name=row.name,
        status=row.status,
        signing_key_id=key_id(request.signing_key),
        encryption_key_id=key_id(request.encryption_key),
        api=request.address("api"),
        nats=request.address("nats"),
        leaf=request.address("leaf"),
        client_address=row.client_address,
        created_at=as_aware(row.created_at),
        decided_at=as_aware(row.decided_at) if row.decided_at else None,
        decided_by=row.decided_by,
        reason=row.reason,
    )


@router.post(
    "/join-codes",
    response_model=IssuedJoinCodeOut,
    status_code=201,
    summary="发放加入码 Issue a one-time join code (admins)",
)
def issue_join_code(
    body: JoinCodeIn, session: SessionDep, ctx: ContextDep, actor: CurrentActor
) -> IssuedJoinCodeOut:
    """A random one-time code for a new child, shown once (stored as its SHA-256 only), valid
    for ``expires_in`` (default 24h, at most 30d), optionally for one node id. Audited."""
    try:
        lifetime = parse_lifetime(body.expires_in)
    except ValueError as exc:
        raise InvalidInput(str(exc), code="invalid_lifetime") from exc
    if lifetime is None:
        raise InvalidInput("a join code must expire", code="invalid_lifetime")
    row, code = onboarding.issue_code(session, ctx, actor, lifetime=lifetime, node_id=body.node)
    return IssuedJoinCodeOut(**_code_out(row, "unused").model_dump(), code=code)


@router.get(
    "/join-codes",
    response_model=JoinCodePage,
    summary="加入码 Join codes issued here, newest first (admins; never the codes)",
)
def join_codes(session: SessionDep, ctx: ContextDep, actor: CurrentActor) -> JoinCodePage:
    now = ctx.clock.now()
    rows = onboarding.list_codes(session, ctx, actor)
    return JoinCodePage(items=[_code_out(row, onboarding.code_status(row, now)) for row in rows])


@router.post(
    "/join-requests",
    response_model=JoinSubmittedOut,
    status_code=202,
    summary="申请加入 A new child's signed join request with its one-time code (no token)",
)
def submit_join_request(
    body: JoinRequestIn, request: Request, session: SessionDep, ctx: ContextDep
) -> JoinSubmittedOut:
    """Stored as pending for an admin to approve. Refusals (nothing stored, the code unchanged):
    ``422 join_request_malformed|forged|stale``, ``409 join_request_replayed``, ``403
    join_code_invalid|used|expired``, ``422 join_not_child``, ``409 join_node_taken``,
    ``429 rate_limited``."""
    _spend_join_budget(request)
    row = onboarding.submit_request(
        session,
        ctx,
        code=body.code,
        document=body.request,
        client_address=client_address(request.scope),
    )
    return JoinSubmittedOut(id=row.id, node=row.node_id, status="pending")


@router.get(
    "/join-requests",
    response_model=JoinRequestPage,
    summary="加入申请 Join requests, newest first (admins)",
)
def join_requests(
    session: SessionDep,
    ctx: ContextDep,
    actor: CurrentActor,
    status: Annotated[str | None, Query(pattern="^(pending|approved|rejected)$")] = None,
) -> JoinRequestPage:
    rows = onboarding.list_requests(session, ctx, actor, status=status)
    return JoinRequestPage(items=[_request_out(row) for row in rows])


@router.get(
    "/join-requests/{request_id}",
    response_model=JoinAnswerOut,
    summary="加入结果 A join request's state and, once approved, the signed answer (no token)",
)
def join_answer(
    request_id: str,
    request: Request,
    session: SessionDep,
) -> JoinAnswerOut:
    """By the unguessable id ``POST /join-requests`` returned: ``pending``, ``rejected`` (with
    the reason) or ``approved`` with the answer the new node verifies up to its root key."""
    _spend_join_budget(request)
    if len(request_id) > 64:
        raise InvalidInput("no such join request", code="join_request_not_found")
    row, answer = onboarding.answer_for(session, request_id)
    return JoinAnswerOut(
        id=row.id,
        node=row.node_id,
        status=row.status,
        reason=row.reason,
        answer=answer,
    )


@router.post(
    "/join-requests/{request_id}/approval",
    response_model=JoinRequestOut,
    summary="批准加入 Approve a join request: certify the child (admins)",
)
def approve_join_request(
    request_id: str, session: SessionDep, ctx: ContextDep, actor: CurrentActor
) -> JoinRequestOut:
    """Sign the child's certificate, learn and broadcast it, issue its TLS client certificate;
    the child's leaf user, account and inbound source are added while the node runs. Audited.
    ``404 join_request_not_found``, ``409 join_request_decided|join_node_taken``."""
    return _request_out(onboarding.approve(session, ctx, actor, request_id))


@router.post(
    "/join-requests/{request_id}/rejection",
    response_model=JoinRequestOut,
    summary="拒绝加入 Reject a join request (admins)",
)
def reject_join_request(
    request_id: str, body: JoinRejectIn, session: SessionDep, ctx: ContextDep, actor: CurrentActor
) -> JoinRequestOut:
    return _request_out(onboarding.reject(session, ctx, actor, request_id, reason=body.reason))
