"""The read side of rectification: one demand (with its history and evidence, for this node's
own) and the demands held here, own or summaries from below."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.clock import as_aware, as_aware_or_none
from node.common import (
    audit_listing,
    audited,
    chosen,
    equal_to,
    holds,
    newest_first,
    node_name,
    require,
)
from node.context import NodeContext
from node.policy import Actor
from node.rectification.models import Rectification, RectificationEvent, RectificationEvidence
from node.rectification.queries import load_demand, overdue_clause
from node.rectification.schemas import (
    EventOut,
    EvidenceOut,
    RectificationBatch,
    RectificationOut,
    RectificationPage,
)
from node.rectification.state import ACTION_LABELS, OWN, STATE_LABELS, SUMMARY, is_overdue


def event_out(event: RectificationEvent, evidence: Sequence[RectificationEvidence]) -> EventOut:
    return EventOut(
        seq=event.seq,
        action=event.action,
        action_label=ACTION_LABELS.get(event.action, event.action),
        state=event.state,
        state_label=STATE_LABELS[event.state],
        actor=event.actor,
        role=event.role,
        note=event.note,
        record_id=event.record_id,
        deadline=as_aware_or_none(event.deadline),
        at=as_aware(event.at),
        evidence=[
            EvidenceOut(
                record_id=e.record_id, record_origin=e.record_origin, attachment_id=e.attachment_id
            )
            for e in evidence
            if e.seq == event.seq
        ],
    )


def item_out(
    ctx: NodeContext,
    item: Rectification,
    now: datetime,
    events: list[RectificationEvent] | None = None,
    evidence: Sequence[RectificationEvidence] = (),
) -> RectificationOut:
    own = item.held_as == OWN
    return RectificationOut(
        id=item.id,
        node=item.node,
        node_name=node_name(ctx, item.node),
        summary=not own,
        unit_id=item.unit_id,
        unit_name=item.unit_name,
        state=item.state,
        state_label=STATE_LABELS[item.state],
        overdue=is_overdue(item.state, item.deadline, now),
        version=item.version,
        deadline=as_aware(item.deadline),
        issued_at=as_aware(item.issued_at),
        updated_at=as_aware(item.updated_at),
        reported_at=as_aware_or_none(item.reported_at),
        accepted_at=as_aware_or_none(item.accepted_at),
        closed_at=as_aware_or_none(item.closed_at),
        reopened_at=as_aware_or_none(item.reopened_at),
        returns=item.returns,
        lookbacks=item.lookbacks,
        finding_record_id=item.finding_record_id if own else None,
        finding_record_origin=item.finding_record_origin if own else None,
        content=item.content if own else None,
        responsible=item.responsible if own else None,
        issued_by=item.issued_by if own else None,
        report_record_id=item.report_record_id if own else None,
        events=None if events is None else [event_out(e, evidence) for e in events],
    )


def get_item(session: Session, ctx: NodeContext, actor: Actor, item_id: str) -> RectificationOut:
    require(ctx, actor, "read-rectification", object_type="rectification", object_id=item_id)
    item = load_demand(session, item_id)
    events: list[RectificationEvent] | None = None
    evidence: list[RectificationEvidence] = []
    if item.held_as == OWN:
        events = list(
            session.scalars(
                select(RectificationEvent)
                .where(RectificationEvent.rectification_id == item.id)
                .order_by(RectificationEvent.seq)
            )
        )
        evidence = list(
            session.scalars(
                select(RectificationEvidence)
                .where(RectificationEvidence.rectification_id == item.id)
                .order_by(RectificationEvidence.seq, RectificationEvidence.position)
            )
        )
    audited(session, ctx, actor, "read", object_type="rectification", object_id=item.id)
    return item_out(ctx, item, ctx.clock.now(), events, evidence)


def item_view(ctx: NodeContext, item: Rectification) -> RectificationOut:
    """The demand as just changed by its caller (no read audited: the change was)."""
    return item_out(ctx, item, ctx.clock.now())


def batch_view(ctx: NodeContext, items: list[Rectification]) -> RectificationBatch:
    now = ctx.clock.now()
    return RectificationBatch(items=[item_out(ctx, i, now) for i in items])


SCOPES = {"own": OWN, "subtree": SUMMARY}


def _lower(value: str | None) -> str | None:
    return None if value is None else value.lower()


@dataclass(frozen=True)
class RectificationFilters:
    scope: str | None = None  # own | subtree (summaries from below); None: both
    state: str | None = None
    overdue: bool | None = None
    node: str | None = None
    unit_name: str | None = None
    unit_id: str | None = None
    finding_record_id: str | None = None


def list_items(
    session: Session,
    ctx: NodeContext,
    actor: Actor,
    filters: RectificationFilters,
    *,
    cursor: str | None,
    limit: int,
) -> RectificationPage:
    """Demands held here, newest first."""
    require(ctx, actor, "read-rectification", object_type="rectification")
    now = ctx.clock.now()
    page, next_cursor = newest_first(
        session,
        Rectification,
        [
            *chosen(Rectification.held_as, filters.scope, SCOPES),
            *equal_to((Rectification.state, filters.state)),
            *holds(overdue_clause(now), filters.overdue),
            *equal_to(
                (Rectification.node, filters.node),
                (Rectification.unit_name, filters.unit_name),
                (Rectification.unit_id, _lower(filters.unit_id)),
                (Rectification.finding_record_id, _lower(filters.finding_record_id)),
            ),
        ],
        cursor=cursor,
        limit=limit,
    )
    audit_listing(session, ctx, actor, "rectification", len(page))
    return RectificationPage(items=[item_out(ctx, i, now) for i in page], next_cursor=next_cursor)
