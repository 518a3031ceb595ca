"""The read side of orders: one order with its history, the orders issued or received here, and
every addressee's state held for the subtree (issued, received, or summaries)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, exists, select, tuple_
from sqlalchemy.orm import Session

from node.clock import as_aware, as_aware_or_none
from node.common import (
    audit_listing,
    audited,
    chosen,
    equal_to,
    newest_first,
    node_name,
    require,
    subtree_nodes,
    within,
)
from node.context import NodeContext
from node.errors import InvalidInput
from node.ids import is_uuid
from node.orders.models import Order, OrderEvent, OrderTarget
from node.orders.queries import held_targets, load_order, target_state_conditions
from node.orders.schemas import (
    AttachmentOut,
    EventOut,
    OrderOut,
    OrderPage,
    TargetOut,
    TargetPage,
)
from node.orders.state import (
    ACTION_LABELS,
    ADDRESSEE,
    ISSUER,
    STATE_LABELS,
    SUMMARY,
    is_overdue,
)
from node.policy import Actor


def target_out(
    ctx: NodeContext, target: OrderTarget, now: datetime, events: Iterable[OrderEvent] | None = None
) -> TargetOut:
    full = target.held_as != SUMMARY
    return TargetOut(
        order_id=target.order_id,
        issuer=target.issuer,
        addressee=target.addressee,
        addressee_name=node_name(ctx, target.addressee),
        state=target.state,
        state_label=STATE_LABELS[target.state],
        version=target.version,
        deadline=as_aware(target.deadline),
        overdue=is_overdue(target.state, target.deadline, now),
        issued_at=as_aware(target.issued_at),
        received_at=as_aware_or_none(target.received_at),
        acknowledged_at=as_aware_or_none(target.acknowledged_at),
        reported_at=as_aware_or_none(target.reported_at),
        accepted_at=as_aware_or_none(target.accepted_at),
        closed_at=as_aware_or_none(target.closed_at),
        returns=target.returns,
        held_as=target.held_as,
        report_record_id=target.report_record_id if full else None,
        handler=target.handler_name if full else None,
        events=None if events is None else [event_out(e) for e in events],
    )


def event_out(event: OrderEvent) -> EventOut:
    return EventOut(
        seq=event.seq,
        action=event.action,
        action_label=ACTION_LABELS.get(event.action, event.action),
        state=event.state,
        state_label=STATE_LABELS[event.state],
        node=event.node,
        actor=event.actor,
        role=event.role,
        note=event.note,
        at=as_aware(event.at),
    )


def order_out(
    ctx: NodeContext,
    order: Order,
    targets: list[OrderTarget],
    now: datetime,
    events: list[OrderEvent] | None = None,
) -> OrderOut:
    by_target: dict[str, list[OrderEvent]] = {}
    for event in events or []:
        by_target.setdefault(event.addressee, []).append(event)
    target_items = [
        target_out(ctx, t, now, None if events is None else by_target.get(t.addressee, []))
        for t in targets
    ]
    return OrderOut(
        id=order.id,
        issuer=order.issuer,
        issuer_name=node_name(ctx, order.issuer),
        issued_by=order.issued_by,
        title=order.title,
        inspected_units=list(order.inspected_units),
        focus_issues=list(order.focus_issues),
        addressees=list(order.addressees),
        deadline=as_aware(order.deadline),
        issued_at=as_aware(order.issued_at),
        held_as=order.held_as,
        overdue=any(t.overdue for t in target_items),
        attachments=[
            AttachmentOut(
                record_id=a.record_id,
                origin=a.record_origin,
                classification=a.classification,
                category=a.category,
                access_requested=a.granted,
            )
            for a in order.attachments
        ],
        targets=target_items,
    )


def get_order(session: Session, ctx: NodeContext, actor: Actor, order_id: str) -> OrderOut:
    require(ctx, actor, "read-order", object_type="order", object_id=order_id)
    order = load_order(session, order_id)
    targets = held_targets(session, [order.id]).get(order.id, [])
    events = list(
        session.scalars(
            select(OrderEvent)
            .where(OrderEvent.order_id == order.id)
            .order_by(OrderEvent.addressee, OrderEvent.seq)
        )
    )
    audited(session, ctx, actor, "read", object_type="order", object_id=order.id)
    return order_out(ctx, order, targets, ctx.clock.now(), events)


def order_view(session: Session, ctx: NodeContext, order: Order) -> OrderOut:
    """The order as just changed by its caller (no read audited: the change was)."""
    targets = held_targets(session, [order.id]).get(order.id, [])
    return order_out(ctx, order, targets, ctx.clock.now())


BOXES = {"issued": ISSUER, "received": ADDRESSEE}


@dataclass(frozen=True)
class OrderFilters:
    box: str | None = None  # issued | received
    state: str | None = None
    overdue: bool | None = None


def list_orders(
    session: Session,
    ctx: NodeContext,
    actor: Actor,
    filters: OrderFilters,
    *,
    cursor: str | None,
    limit: int,
) -> OrderPage:
    """Orders issued here or addressed here, newest first (summaries: ``list_targets``)."""
    require(ctx, actor, "read-order", object_type="order")
    now = ctx.clock.now()
    conditions = chosen(Order.held_as, filters.box, BOXES)
    target_conditions = target_state_conditions(filters.state, filters.overdue, now)
    if target_conditions:
        conditions.append(
            exists(
                select(OrderTarget.order_id).where(
                    OrderTarget.order_id == Order.id,
                    OrderTarget.held_as != SUMMARY,
                    *target_conditions,
                )
            )
        )
    page, next_cursor = newest_first(session, Order, conditions, cursor=cursor, limit=limit)
    targets = held_targets(session, [o.id for o in page])
    items = [order_out(ctx, o, targets.get(o.id, []), now) for o in page]
    audit_listing(session, ctx, actor, "order", len(items))
    return OrderPage(items=items, next_cursor=next_cursor)


@dataclass(frozen=True)
class TargetFilters:
    state: str | None = None
    overdue: bool | None = None
    addressee: str | None = None
    issuer: str | None = None


def list_targets(
    session: Session,
    ctx: NodeContext,
    actor: Actor,
    filters: TargetFilters,
    *,
    cursor: str | None,
    limit: int,
) -> TargetPage:
    """Every addressee's state held here for the subtree (issued, received, or summaries)."""
    require(ctx, actor, "read-order", object_type="order")
    now = ctx.clock.now()
    conditions: list[ColumnElement[bool]] = []
    conditions += within(OrderTarget.addressee, subtree_nodes(ctx))
    conditions += target_state_conditions(filters.state, filters.overdue, now)
    conditions += equal_to(
        (OrderTarget.addressee, filters.addressee), (OrderTarget.issuer, filters.issuer)
    )
    if cursor is not None:
        order_id, _, addressee = cursor.partition(":")
        if not is_uuid(order_id) or not addressee:
            raise InvalidInput("cursor is not valid", code="invalid_cursor")
        conditions.append(
            tuple_(OrderTarget.order_id, OrderTarget.addressee) < tuple_(order_id, addressee)
        )
    rows = list(
        session.execute(
            select(OrderTarget)
            .where(*conditions)
            .order_by(OrderTarget.order_id.desc(), OrderTarget.addressee.desc())
            .limit(limit + 1)
        )
        .scalars()
        .all()
    )
    page = rows[:limit]
    audit_listing(session, ctx, actor, "order-target", len(page))
    next_cursor = f"{page[-1].order_id}:{page[-1].addressee}" if len(rows) > limit else None
    return TargetPage(items=[target_out(ctx, t, now) for t in page], next_cursor=next_cursor)
