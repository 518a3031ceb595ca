"""The read side of the ledger: one item (with its feedback, for this node's own items) and the
items held here, own or summaries from below."""

from __future__ import annotations

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
from node.ledger.models import LedgerFeedback, LedgerItem
from node.ledger.queries import load_item, overdue_clause
from node.ledger.schemas import FeedbackOut, LedgerItemOut, LedgerPage
from node.ledger.state import OWN, STATUS_LABELS, SUMMARY, is_overdue
from node.policy import Actor


def item_out(
    ctx: NodeContext, item: LedgerItem, now: datetime, feedback: list[LedgerFeedback] | None = None
) -> LedgerItemOut:
    own = item.held_as == OWN
    return LedgerItemOut(
        id=item.id,
        node=item.node,
        node_name=node_name(ctx, item.node),
        summary=not own,
        department=item.department,
        feedback_deadline=as_aware(item.feedback_deadline),
        status=item.status,
        status_label=STATUS_LABELS[item.status],
        overdue=is_overdue(item.status, item.feedback_deadline, now),
        feedback_count=item.feedback_count,
        last_feedback_at=as_aware_or_none(item.last_feedback_at),
        created_at=as_aware(item.created_at),
        updated_at=as_aware(item.updated_at),
        closed_at=as_aware_or_none(item.closed_at),
        version=item.version,
        title=item.title if own else None,
        clue_record_id=item.clue_record_id if own else None,
        clue_record_origin=item.clue_record_origin if own else None,
        order_id=item.order_id if own else None,
        responsible=item.responsible if own else None,
        transferred_by=item.transferred_by if own else None,
        closed_by=item.closed_by if own else None,
        feedback=None
        if feedback is None
        else [
            FeedbackOut(seq=f.seq, at=as_aware(f.at), author=f.author, note=f.note)
            for f in feedback
        ],
    )


def get_item(session: Session, ctx: NodeContext, actor: Actor, item_id: str) -> LedgerItemOut:
    require(ctx, actor, "read-ledger", object_type="ledger", object_id=item_id)
    item = load_item(session, item_id)
    feedback = None
    if item.held_as == OWN:
        feedback = list(
            session.scalars(
                select(LedgerFeedback)
                .where(LedgerFeedback.item_id == item.id)
                .order_by(LedgerFeedback.seq)
            )
        )
    audited(session, ctx, actor, "read", object_type="ledger", object_id=item.id)
    return item_out(ctx, item, ctx.clock.now(), feedback)


def item_view(ctx: NodeContext, item: LedgerItem) -> LedgerItemOut:
    return item_out(ctx, item, ctx.clock.now())


SCOPES = {"own": OWN, "subtree": SUMMARY}


@dataclass(frozen=True)
class LedgerFilters:
    scope: str | None = None  # own | subtree (summaries from below); None: both
    status: str | None = None
    overdue: bool | None = None
    node: str | None = None


def list_items(
    session: Session,
    ctx: NodeContext,
    actor: Actor,
    filters: LedgerFilters,
    *,
    cursor: str | None,
    limit: int,
) -> LedgerPage:
    require(ctx, actor, "read-ledger", object_type="ledger")
    now = ctx.clock.now()
    page, next_cursor = newest_first(
        session,
        LedgerItem,
        [
            *chosen(LedgerItem.held_as, filters.scope, SCOPES),
            *equal_to((LedgerItem.status, filters.status)),
            *holds(overdue_clause(now), filters.overdue),
            *equal_to((LedgerItem.node, filters.node)),
        ],
        cursor=cursor,
        limit=limit,
    )
    audit_listing(session, ctx, actor, "ledger", len(page))
    return LedgerPage(items=[item_out(ctx, i, now) for i in page], next_cursor=next_cursor)
