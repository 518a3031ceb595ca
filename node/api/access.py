"""``/api/v1/access-requests`` and ``/api/v1/grants``: thin endpoints over node.release.service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from node.api.deps import ContextDep, CurrentActor, SessionDep
from node.clock import UtcDateTime
from node.release import service, views
from node.release.schemas import (
    AccessRequestCreate,
    AccessRequestOut,
    AccessRequestPage,
    ApproveIn,
    DenyIn,
    GrantPage,
    Status,
)

router = APIRouter(prefix="/api/v1/access-requests", tags=["access 调阅审批"])
grants_router = APIRouter(prefix="/api/v1/grants", tags=["access 调阅审批"])

Uuid = Annotated[str | None, Query(pattern=r"^[0-9a-f-]{36}$")]
Limit = Annotated[int, Query(ge=1, le=500)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=AccessRequestOut,
    summary="申请调阅 Request access to a case-secret record",
)
def create_request(
    data: AccessRequestCreate, session: SessionDep, ctx: ContextDep, actor: CurrentActor
) -> AccessRequestOut:
    request = service.create_request(session, ctx, actor, data)
    return views.describe(session, ctx, request=request)


@router.get(
    "",
    response_model=AccessRequestPage,
    summary="调阅申请列表 My requests, and (approvers) requests to decide",
)
def list_requests(
    session: SessionDep,
    ctx: ContextDep,
    actor: CurrentActor,
    status: Status | None = None,
    record_id: Uuid = None,
    limit: Limit = 100,
) -> AccessRequestPage:
    items = views.list_requests(
        session, ctx, actor, status=status, record_id=record_id, limit=limit
    )
    return AccessRequestPage(items=items)


@router.get("/{request_id}", response_model=AccessRequestOut, summary="调阅申请 One request")
def get_request(
    request_id: str, session: SessionDep, ctx: ContextDep, actor: CurrentActor
) -> AccessRequestOut:
    return views.get_request(session, ctx, actor, request_id)


@router.post(
    "/{request_id}/approve",
    response_model=AccessRequestOut,
    summary="批准 Approve (approvers at the record's origin)",
)
def approve_request(
    request_id: str, data: ApproveIn, session: SessionDep, ctx: ContextDep, actor: CurrentActor
) -> AccessRequestOut:
    request = service.approve_request(session, ctx, actor, request_id, data)
    return views.describe(session, ctx, request=request)


@router.post(
    "/{request_id}/deny",
    response_model=AccessRequestOut,
    summary="驳回 Deny (approvers at the record's origin)",
)
def deny_request(
    request_id: str, data: DenyIn, session: SessionDep, ctx: ContextDep, actor: CurrentActor
) -> AccessRequestOut:
    request = service.deny_request(session, ctx, actor, request_id, data)
    return views.describe(session, ctx, request=request)


@grants_router.get(
    "",
    response_model=GrantPage,
    summary="授权审计 Grants and requests across the subtree (security officers)",
)
def list_grants(
    session: SessionDep,
    ctx: ContextDep,
    actor: CurrentActor,
    node: Annotated[str | None, Query(pattern=r"^[a-z0-9-]+$", max_length=64)] = None,
    user: Annotated[str | None, Query(max_length=100)] = None,
    record_id: Uuid = None,
    status: Status | None = None,
    since: UtcDateTime | None = None,
    until: UtcDateTime | None = None,
    limit: Limit = 100,
) -> GrantPage:
    filters = views.GrantFilters(
        node=node, user=user, record_id=record_id, status=status, since=since, until=until
    )
    return GrantPage(items=views.list_grants(session, ctx, actor, filters, limit=limit))


@grants_router.post(
    "/{grant_id}/revoke",
    response_model=AccessRequestOut,
    summary="撤销授权 Revoke a grant (at the record's origin)",
)
def revoke_grant(
    grant_id: str, session: SessionDep, ctx: ContextDep, actor: CurrentActor
) -> AccessRequestOut:
    grant = service.revoke_grant(session, ctx, actor, grant_id)
    return views.describe(session, ctx, grant=grant)
