"""``/api/v1/ledger``: the clue transfer ledger (移交台账), thin endpoints over its service."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from node.api.deps import ContextDep, CurrentActor, SessionDep
from node.ledger import service, views
from node.ledger.schemas import (
    LedgerClose,
    LedgerCreate,
    LedgerFeedbackIn,
    LedgerItemOut,
    LedgerPage,
    LedgerStatus,
)

router = APIRouter(prefix="/api/v1/ledger", tags=["ledger 移交台账"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=LedgerItemOut,
    summary="登记移交 Record a clue transferred to a department",
)
def create_item(
    data: LedgerCreate, session: SessionDep, ctx: ContextDep, actor: CurrentActor
) -> LedgerItemOut:
    return views.item_view(ctx, service.create_item(session, ctx, actor, data))


@router.get("", response_model=LedgerPage, summary="台账列表 Own items and summaries from below")
def list_items(
    session: SessionDep,
    ctx: ContextDep,
    actor: CurrentActor,
    scope: Literal["own", "subtree"] | None = None,
    status: LedgerStatus | None = None,
    overdue: bool | None = None,
    node: Annotated[str | None, Query(pattern=r"^[a-z0-9-]+$", max_length=64)] = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> LedgerPage:
    filters = views.LedgerFilters(scope=scope, status=status, overdue=overdue, node=node)
    return views.list_items(session, ctx, actor, filters, cursor=cursor, limit=limit)


@router.get("/{item_id}", response_model=LedgerItemOut, summary="查看台账 Read an item")
def read_item(
    item_id: str, session: SessionDep, ctx: ContextDep, actor: CurrentActor
) -> LedgerItemOut:
    return views.get_item(session, ctx, actor, item_id)


@router.post(
    "/{item_id}/feedback",
    response_model=LedgerItemOut,
    summary="登记反馈 Record the department's feedback",
)
def add_feedback(
    item_id: str, data: LedgerFeedbackIn, session: SessionDep, ctx: ContextDep, actor: CurrentActor
) -> LedgerItemOut:
    return views.item_view(ctx, service.add_feedback(session, ctx, actor, item_id, data))


@router.post("/{item_id}/close", response_model=LedgerItemOut, summary="销号 Close off")
def close_item(
    item_id: str, data: LedgerClose, session: SessionDep, ctx: ContextDep, actor: CurrentActor
) -> LedgerItemOut:
    return views.item_view(ctx, service.close_item(session, ctx, actor, item_id, data))
