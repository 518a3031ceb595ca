"""``/api/v1/orders``: thin endpoints over node.orders.service."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from node.api.deps import ContextDep, CurrentActor, SessionDep
from node.orders import service, views
from node.orders.schemas import (
    OrderCreate,
    OrderDecision,
    OrderNote,
    OrderOut,
    OrderPage,
    OrderReport,
    OrderState,
    TargetPage,
)

router = APIRouter(prefix="/api/v1/orders", tags=["orders 督办指令"])

NodeQuery = Annotated[str | None, Query(pattern=r"^[a-z0-9-]+$", max_length=64)]
Cursor = Annotated[str | None, Query(max_length=120)]
Limit = Annotated[int, Query(ge=1, le=200)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=OrderOut,
    summary="下发督办指令 Issue an order to nodes below",
)
def issue_order(
    data: OrderCreate, session: SessionDep, ctx: ContextDep, actor: CurrentActor
) -> OrderOut:
    order = service.issue_order(session, ctx, actor, data)
    return views.order_view(session, ctx, order)


@router.get("", response_model=OrderPage, summary="指令列表 Orders issued or received here")
def list_orders(
    session: SessionDep,
    ctx: ContextDep,
    actor: CurrentActor,
    box: Literal["issued", "received"] | None = None,
    state: OrderState | None = None,
    overdue: bool | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> OrderPage:
    filters = views.OrderFilters(box=box, state=state, overdue=overdue)
    return views.list_orders(session, ctx, actor, filters, cursor=cursor, limit=limit)


@router.get(
    "/targets",
    response_model=TargetPage,
    summary="辖区指令办理情况 Every addressee's state held here, over the subtree",
)
def list_targets(
    session: SessionDep,
    ctx: ContextDep,
    actor: CurrentActor,
    state: OrderState | None = None,
    overdue: bool | None = None,
    addressee: NodeQuery = None,
    issuer: NodeQuery = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> TargetPage:
    filters = views.TargetFilters(state=state, overdue=overdue, addressee=addressee, issuer=issuer)
    return views.list_targets(session, ctx, actor, filters, cursor=cursor, limit=limit)


@router.get("/{order_id}", response_model=OrderOut, summary="查看指令 Read an order")
def read_order(
    order_id: str, session: SessionDep, ctx: ContextDep, actor: CurrentActor
) -> OrderOut:
    return views.get_order(session, ctx, actor, order_id)


def _act(
    session: SessionDep,
    ctx: ContextDep,
    actor: CurrentActor,
    order_id: str,
    action: str,
    *,
    addressee: str | None = None,
    note: str = "",
    report: OrderReport | None = None,
) -> OrderOut:
    order = service.transition(
        session, ctx, actor, order_id, action, addressee=addressee, note=note, report=report
    )
    return views.order_view(session, ctx, order)


@router.post(
    "/{order_id}/acknowledge", response_model=OrderOut, summary="确认接收 Acknowledge (addressee)"
)
def acknowledge(
    order_id: str, data: OrderNote, session: SessionDep, ctx: ContextDep, actor: CurrentActor
) -> OrderOut:
    return _act(session, ctx, actor, order_id, "acknowledge", note=data.note)


@router.post(
    "/{order_id}/progress",
    response_model=OrderOut,
    summary="报送进展 Add a progress note (addressee)",
)
def progress(
    order_id: str, data: OrderNote, session: SessionDep, ctx: ContextDep, actor: CurrentActor
) -> OrderOut:
    return _act(session, ctx, actor, order_id, "progress", note=data.note)


@router.post(
    "/{order_id}/report",
    response_model=OrderOut,
    summary="报告结果 Report findings: a restricted record naming the issuer (addressee)",
)
def report(
    order_id: str, data: OrderReport, session: SessionDep, ctx: ContextDep, actor: CurrentActor
) -> OrderOut:
    return _act(session, ctx, actor, order_id, "report", report=data)


@router.post("/{order_id}/accept", response_model=OrderOut, summary="验收 Accept (issuer)")
def accept(
    order_id: str, data: OrderDecision, session: SessionDep, ctx: ContextDep, actor: CurrentActor
) -> OrderOut:
    return _act(session, ctx, actor, order_id, "accept", addressee=data.addressee, note=data.note)


@router.post(
    "/{order_id}/return", response_model=OrderOut, summary="退回重办 Return for rework (issuer)"
)
def return_for_rework(
    order_id: str, data: OrderDecision, session: SessionDep, ctx: ContextDep, actor: CurrentActor
) -> OrderOut:
    return _act(session, ctx, actor, order_id, "return", addressee=data.addressee, note=data.note)


@router.post("/{order_id}/close", response_model=OrderOut, summary="办结 Close (issuer)")
def close(
    order_id: str, data: OrderDecision, session: SessionDep, ctx: ContextDep, actor: CurrentActor
) -> OrderOut:
    return _act(session, ctx, actor, order_id, "close", addressee=data.addressee, note=data.note)
