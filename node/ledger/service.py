"""The clue transfer ledger (移交台账): a clue handed to a department (e.g. 纪委监委第三监督检查室,
组织部) with a feedback deadline and a person responsible, feedback entries as the department
reports back, and closing off (销号).

Statuses: transferred (已移交) -> responded (已反馈, at least one feedback) -> closed (已销号).
An item is overdue while no feedback has come and its feedback deadline has passed. Every change
sends a metadata summary to every ancestor, so overdue items are visible to the tiers above and
counted in their statistics; titles, clue references and feedback never leave the node.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from node.clock import as_aware
from node.common import audited, require
from node.context import NodeContext
from node.deadlines import check_deadline
from node.errors import Conflict, InvalidInput
from node.ids import is_uuid, uuid7
from node.ledger.models import LedgerFeedback, LedgerItem
from node.ledger.queries import load_own
from node.ledger.schemas import LedgerClose, LedgerCreate, LedgerFeedbackIn
from node.ledger.state import OWN
from node.ledger.wire import summary_wire
from node.models import Record
from node.orders.models import Order
from node.policy import Actor
from node.records.service import RecordNotFound, find_record
from node.replication.kinds import Kind


class LedgerClosed(Conflict):
    code = "ledger_closed"


class FeedbackRequired(Conflict):
    code = "feedback_required"


def _check_reference(session: Session, model: type[Order], ref: str | None, code: str) -> None:
    if ref is None:
        return
    if not is_uuid(ref) or session.get(model, ref.lower()) is None:
        raise InvalidInput("the referenced object is not held here", code=code)


def _clue(session: Session, ctx: NodeContext, actor: Actor, data: LedgerCreate) -> Record | None:
    """The clue record the item refers to, by id (and origin where the id alone is ambiguous)."""
    if data.clue_record_id is None:
        return None
    try:
        if not is_uuid(data.clue_record_id):
            raise RecordNotFound("no such record")
        return find_record(session, ctx, actor, data.clue_record_id, data.clue_record_origin)
    except RecordNotFound as exc:
        raise InvalidInput("the referenced object is not held here", code="clue_not_found") from exc


def create_item(session: Session, ctx: NodeContext, actor: Actor, data: LedgerCreate) -> LedgerItem:
    require(ctx, actor, "manage-ledger", object_type="ledger")
    now = ctx.clock.now()
    deadline = check_deadline(data.feedback_deadline, now, what="feedback deadline")
    clue = _clue(session, ctx, actor, data)
    _check_reference(session, Order, data.order_id, "order_not_found")
    item = LedgerItem(
        id=uuid7(),
        node=ctx.node_id,
        held_as=OWN,
        title=data.title,
        clue_record_id=clue.id if clue is not None else None,
        clue_record_origin=clue.origin if clue is not None else None,
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
    audited(session, ctx, actor, "ledger-transfer", object_type="ledger", object_id=item.id)
    send_summary(session, ctx, item)
    return item


def add_feedback(
    session: Session, ctx: NodeContext, actor: Actor, item_id: str, data: LedgerFeedbackIn
) -> LedgerItem:
    require(ctx, actor, "manage-ledger", object_type="ledger", object_id=item_id)
    item = load_own(session, item_id)
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
    require(ctx, actor, "manage-ledger", object_type="ledger", object_id=item_id)
    item = load_own(session, item_id)
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
    audited(session, ctx, actor, action, object_type="ledger", object_id=item.id)
    send_summary(session, ctx, item)
    return item


def send_summary(session: Session, ctx: NodeContext, item: LedgerItem) -> None:
    """Metadata of ``item`` to every ancestor (``node.ledger.wire``)."""
    dest = ctx.topology.ancestors(ctx.node_id)
    ctx.outbox.send(session, Kind.LEDGER_SUMMARY, summary_wire(item), dest=dest, encrypt=True)
