"""``/api/v1/rectifications``: rectification to closure (整改), thin endpoints over its service."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from node.api.deps import ContextDep, CurrentActor, SessionDep
from node.rectification import service, views
from node.rectification.schemas import (
    LookBack,
    RectificationBatch,
    RectificationClose,
    RectificationCreate,
    RectificationDecision,
    RectificationOut,
    RectificationPage,
    RectificationReport,
    RectificationState,
)

router = APIRouter(prefix="/api/v1/rectifications", tags=["rectifications 整改"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=RectificationBatch,
    summary="提出整改意见 A finding becomes rectification demands to an inspected unit",
)
def create_demands(
    data: RectificationCreate, session: SessionDep, ctx: ContextDep, actor: CurrentActor
) -> RectificationBatch:
    return views.batch_view(ctx, service.create_demands(session, ctx, actor, data))


@router.get(
    "", response_model=RectificationPage, summary="整改列表 Own demands and summaries from below"
)
def list_items(
    session: SessionDep,
    ctx: ContextDep,
    actor: CurrentActor,
    scope: Literal["own", "subtree"] | None = None,
    state: RectificationState | None = None,
    overdue: bool | None = None,
    node: Annotated[str | None, Query(pattern=r"^[a-z0-9-]+$", max_length=64)] = None,
    unit_name: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    unit_id: Annotated[str | None, Query(min_length=36, max_length=36)] = None,
    finding_record_id: Annotated[str | None, Query(min_length=36, max_length=36)] = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> RectificationPage:
    filters = views.RectificationFilters(
        scope=scope,
        state=state,
        overdue=overdue,
        node=node,
        unit_name=unit_name,
        unit_id=unit_id,
        finding_record_id=finding_record_id,
    )
    return views.list_items(session, ctx, actor, filters, cursor=cursor, limit=limit)


@router.post(
    "/lookback",
    response_model=RectificationBatch,
    summary="回头看 Reopen a unit's closed demands for re-checking",
)
def look_back(
    data: LookBack, session: SessionDep, ctx: ContextDep, actor: CurrentActor
) -> RectificationBatch:
    return views.batch_view(ctx, service.look_back(session, ctx, actor, data))


@router.get("/{item_id}", response_model=RectificationOut, summary="查看整改 Read a demand")
def read_item(
    item_id: str, session: SessionDep, ctx: ContextDep, actor: CurrentActor
) -> RectificationOut:
    return views.get_item(session, ctx, actor, item_id)


@router.post(
    "/{item_id}/report",
    response_model=RectificationOut,
    summary="报送整改情况 The unit's report: a restricted record naming this node's superior",
)
def report(
    item_id: str,
    data: RectificationReport,
    session: SessionDep,
    ctx: ContextDep,
    actor: CurrentActor,
) -> RectificationOut:
    return views.item_view(ctx, service.report(session, ctx, actor, item_id, data))


@router.post("/{item_id}/accept", response_model=RectificationOut, summary="评估通过 Accept")
def accept(
    item_id: str,
    data: RectificationDecision,
    session: SessionDep,
    ctx: ContextDep,
    actor: CurrentActor,
) -> RectificationOut:
    return views.item_view(ctx, service.evaluate(session, ctx, actor, item_id, "accept", data))


@router.post(
    "/{item_id}/return", response_model=RectificationOut, summary="退回整改 Return for more work"
)
def return_for_rework(
    item_id: str,
    data: RectificationDecision,
    session: SessionDep,
    ctx: ContextDep,
    actor: CurrentActor,
) -> RectificationOut:
    return views.item_view(ctx, service.evaluate(session, ctx, actor, item_id, "return", data))


@router.post(
    "/{item_id}/close", response_model=RectificationOut, summary="销号 Close off with evidence"
)
def close(
    item_id: str,
    data: RectificationClose,
    session: SessionDep,
    ctx: ContextDep,
    actor: CurrentActor,
) -> RectificationOut:
    return views.item_view(ctx, service.close(session, ctx, actor, item_id, data))
