"""The clue transfer ledger (移交台账): a clue handed to a department (e.g. 纪委监委第三监督检查室,
组织部) with a feedback deadline and a person responsible, feedback entries as the department
reports back, and closing off (销号).

Statuses: transferred (已移交) -> responded (已反馈, at least one feedback) -> closed (已销号).
An item is overdue while no feedback has come and its feedback deadline has passed. Every change
sends a metadata summary to every ancestor, so overdue items are visible to the tiers above and
counted in their statistics; titles, clue references and feedback never leave the node.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session

from node.clock import as_aware, iso, parse_iso, to_utc
from node.context import NodeContext
from node.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from node.ids import is_uuid, uuid7
from node.ledger.models import LedgerFeedback, LedgerItem
from node.ledger.schemas import (
    FeedbackOut,
    LedgerClose,
    LedgerCreate,
    LedgerFeedbackIn,
    LedgerItemOut,
    LedgerPage,
)
from node.models import Record
from node.orders.models import Order
from node.policy import Actor

STATUS_LABELS = {"transferred": "已移交", "responded": "已反馈", "closed": "已销号"}
OWN = "own"
SUMMARY = "summary"
MAX_HORIZON = timedelta(days=3 * 366)


class LedgerNotFound(NotFound):
    code = "ledger_item_not_found"


class LedgerClosed(Conflict):
    code = "ledger_closed"


class FeedbackRequired(Conflict):
    code = "feedback_required"


class ApplyRefused(Exception):
    """A ledger summary that must not be applied here: a stable reason, no content."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def is_overdue(status: str, deadline: datetime, now: datetime) -> bool:
    return status == "transferred" and as_aware(deadline) < now


def overdue_clause(now: datetime) -> ColumnElement[bool]:
    """SQL twin of ``is_overdue``."""
    return and_(LedgerItem.status == "transferred", LedgerItem.feedback_deadline < now)


def _require(ctx: NodeContext, actor: Actor, action: str, object_id: str | None = None) -> None:
    if not ctx.policy.allows_on_node(actor, action, object_node=ctx.node_id):
        raise PermissionDenied(
            f"role {actor.role} may not {action}",
            action=action,
            object_type="ledger",
            object_id=object_id,
        )


def _check_reference(
    session: Session, model: type[Record] | type[Order], ref: str | None, code: str
) -> None:
    if ref is None:
        return
    if not is_uuid(ref) or session.get(model, ref.lower()) is None:
        raise InvalidInput("the referenced object is not held here", code=code)


def create_item(session: Session, ctx: NodeContext, actor: Actor, data: LedgerCreate) -> LedgerItem:
    _require(ctx, actor, "manage-ledger")
    now = ctx.clock.now()
    # Stored as UTC: SQLite keeps no offset and compares times as text.
    deadline = to_utc(data.feedback_deadline)
    if deadline <= now:
        raise InvalidInput("the feedback deadline has passed", code="deadline_past")
    if deadline > now + MAX_HORIZON:
        raise InvalidInput("the feedback deadline is too far ahead", code="deadline_too_far")
    _check_reference(session, Record, data.clue_record_id, "clue_not_found")
    _check_reference(session, Order, data.order_id, "order_not_found")
    item = LedgerItem(
        id=uuid7(),
        node=ctx.node_id,
        held_as=OWN,
        title=data.title,
        clue_record_id=data.clue_record_id and data.clue_record_id.lower(),
        order_id=data.order_id and data.order_id.lower(),
        department=data.department,
        responsible=data.responsible,
        transferred_by=actor.name,
        feedback_deadline=deadline,
        status="transferred",
        feedback_count=0,
        created_at=now,
        updated_at=now,
        version=1,
    )
    session.add(item)
    session.flush()
    ctx.audit.append(
        session, actor=actor, action="ledger-transfer", object_type="ledger", object_id=item.id
    )
    send_summary(session, ctx, item)
    return item


def _load_own(session: Session, item_id: str) -> LedgerItem:
    if not is_uuid(item_id):
        raise InvalidInput("ledger item id must be a UUID", code="invalid_id")
    item = session.execute(
        select(LedgerItem).where(LedgerItem.id == item_id.lower()).with_for_update()
    ).scalar_one_or_none()
    if item is None:
        raise LedgerNotFound("no such ledger item here")
    if item.held_as != OWN:
        raise Conflict(
            "only the node that transferred the clue keeps its ledger item", code="not_owner"
        )
    return item


def add_feedback(
    session: Session, ctx: NodeContext, actor: Actor, item_id: str, data: LedgerFeedbackIn
) -> LedgerItem:
    _require(ctx, actor, "manage-ledger", item_id)
    item = _load_own(session, item_id)
    if item.status == "closed":
        raise LedgerClosed("the item is closed off")
    now = max(ctx.clock.now(), as_aware(item.updated_at))
    _add_feedback(session, item, author=actor.name, note=data.note, at=now)
    item.status = "responded"
    item.last_feedback_at = now
    return _save_change(session, ctx, actor, item, action="ledger-feedback", now=now)


def close_item(
    session: Session, ctx: NodeContext, actor: Actor, item_id: str, data: LedgerClose
) -> LedgerItem:
    """Close off (销号): only once the department has fed back how it handled the clue."""
    _require(ctx, actor, "manage-ledger", item_id)
    item = _load_own(session, item_id)
    if item.status == "closed":
        raise LedgerClosed("the item is already closed off")
    if item.feedback_count == 0:
        raise FeedbackRequired("an item is closed off only after the department's feedback")
    now = max(ctx.clock.now(), as_aware(item.updated_at))
    if data.note:
        _add_feedback(session, item, author=actor.name, note=data.note, at=now)
    item.status = "closed"
    item.closed_at = now
    item.closed_by = actor.name
    return _save_change(session, ctx, actor, item, action="ledger-close", now=now)


def _add_feedback(
    session: Session, item: LedgerItem, *, author: str, note: str, at: datetime
) -> None:
    """The department's next feedback entry on ``item``, numbered by ``feedback_count``."""
    item.feedback_count += 1
    session.add(
        LedgerFeedback(item_id=item.id, seq=item.feedback_count, at=at, author=author, note=note)
    )


def _save_change(
    session: Session,
    ctx: NodeContext,
    actor: Actor,
    item: LedgerItem,
    *,
    action: str,
    now: datetime,
) -> LedgerItem:
    """A new version of ``item`` as of ``now``: flushed, audited as ``action`` and summarised to
    the ancestors in the caller's transaction."""
    item.updated_at = now
    item.version += 1
    session.flush()
    ctx.audit.append(session, actor=actor, action=action, object_type="ledger", object_id=item.id)
    send_summary(session, ctx, item)
    return item


# -- replication --------------------------------------------------------------------------------


def summary_payload(item: LedgerItem) -> dict[str, Any]:
    """Metadata only: never the title, the clue, the person responsible or the feedback text."""
    return {
        "id": item.id,
        "node": item.node,
        "department": item.department,
        "feedback_deadline": iso(item.feedback_deadline),
        "status": item.status,
        "feedback_count": item.feedback_count,
        "last_feedback_at": None if item.last_feedback_at is None else iso(item.last_feedback_at),
        "created_at": iso(item.created_at),
        "updated_at": iso(item.updated_at),
        "closed_at": None if item.closed_at is None else iso(item.closed_at),
        "version": item.version,
    }


def send_summary(session: Session, ctx: NodeContext, item: LedgerItem) -> None:
    ctx.outbox.enqueue(
        session,
        kind="ledger-summary",
        dest=ctx.topology.ancestors(ctx.node_id),
        ref={"ledger": item.id, "version": item.version},
        payload=summary_payload(item),
        encrypt=True,
    )


def apply_summary(session: Session, ctx: NodeContext, origin: str, data: dict[str, Any]) -> int:
    """A summary from a node below: insert, or replace an older version."""
    item_id = data.get("id")
    if not isinstance(item_id, str) or not is_uuid(item_id):
        raise ApplyRefused("malformed")
    if data.get("node") != origin:
        raise ApplyRefused("origin_mismatch")
    if ctx.node_id not in ctx.topology.ancestors(origin):
        raise ApplyRefused("not_in_subtree")
    status = data.get("status")
    if status not in STATUS_LABELS:
        raise ApplyRefused("malformed")
    version = int(data["version"])
    item = session.execute(
        select(LedgerItem).where(LedgerItem.id == item_id).with_for_update()
    ).scalar_one_or_none()
    if item is not None and (item.held_as != SUMMARY or item.node != origin):
        raise ApplyRefused("origin_mismatch")
    if item is not None and item.version >= version:
        return version
    if item is None:
        item = LedgerItem(id=item_id, node=origin, held_as=SUMMARY)
        session.add(item)
    item.department = str(data["department"])[:200]
    item.feedback_deadline = parse_iso(str(data["feedback_deadline"]))
    item.status = str(status)
    item.feedback_count = int(data["feedback_count"])
    item.last_feedback_at = (
        None if data["last_feedback_at"] is None else parse_iso(str(data["last_feedback_at"]))
    )
    item.created_at = parse_iso(str(data["created_at"]))
    item.updated_at = parse_iso(str(data["updated_at"]))
    item.closed_at = None if data["closed_at"] is None else parse_iso(str(data["closed_at"]))
    item.version = version
    session.flush()
    return version


# -- reading ------------------------------------------------------------------------------------


def item_out(
    ctx: NodeContext, item: LedgerItem, now: datetime, feedback: list[LedgerFeedback] | None = None
) -> LedgerItemOut:
    own = item.held_as == OWN
    return LedgerItemOut(
        id=item.id,
        node=item.node,
        node_name=ctx.topology.get(item.node).name if item.node in ctx.topology else item.node,
        summary=not own,
        department=item.department,
        feedback_deadline=as_aware(item.feedback_deadline),
        status=item.status,
        status_label=STATUS_LABELS[item.status],
        overdue=is_overdue(item.status, item.feedback_deadline, now),
        feedback_count=item.feedback_count,
        last_feedback_at=None if item.last_feedback_at is None else as_aware(item.last_feedback_at),
        created_at=as_aware(item.created_at),
        updated_at=as_aware(item.updated_at),
        closed_at=None if item.closed_at is None else as_aware(item.closed_at),
        version=item.version,
        title=item.title if own else None,
        clue_record_id=item.clue_record_id if own else None,
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
    _require(ctx, actor, "read-ledger", item_id)
    if not is_uuid(item_id):
        raise InvalidInput("ledger item id must be a UUID", code="invalid_id")
    item = session.get(LedgerItem, item_id.lower())
    if item is None:
        raise LedgerNotFound("no such ledger item here")
    feedback = None
    if item.held_as == OWN:
        feedback = list(
            session.execute(
                select(LedgerFeedback)
                .where(LedgerFeedback.item_id == item.id)
                .order_by(LedgerFeedback.seq)
            )
            .scalars()
            .all()
        )
    ctx.audit.append(session, actor=actor, action="read", object_type="ledger", object_id=item.id)
    return item_out(ctx, item, ctx.clock.now(), feedback)


def item_view(ctx: NodeContext, item: LedgerItem) -> LedgerItemOut:
    return item_out(ctx, item, ctx.clock.now())


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
    _require(ctx, actor, "read-ledger")
    now = ctx.clock.now()
    conditions: list[ColumnElement[bool]] = []
    if filters.scope == "own":
        conditions.append(LedgerItem.held_as == OWN)
    elif filters.scope == "subtree":
        conditions.append(LedgerItem.held_as == SUMMARY)
    if filters.status is not None:
        conditions.append(LedgerItem.status == filters.status)
    if filters.overdue is not None:
        clause = overdue_clause(now)
        conditions.append(clause if filters.overdue else ~clause)
    if filters.node is not None:
        conditions.append(LedgerItem.node == filters.node)
    if cursor is not None:
        if not is_uuid(cursor):
            raise InvalidInput("cursor is not valid", code="invalid_cursor")
        conditions.append(LedgerItem.id < cursor)
    rows = list(
        session.execute(
            select(LedgerItem).where(*conditions).order_by(LedgerItem.id.desc()).limit(limit + 1)
        )
        .scalars()
        .all()
    )
    page = rows[:limit]
    ctx.audit.append(
        session, actor=actor, action="list", object_type="ledger", reason=f"{len(page)} items"
    )
    return LedgerPage(
        items=[item_out(ctx, i, now) for i in page],
        next_cursor=page[-1].id if len(rows) > limit else None,
    )
