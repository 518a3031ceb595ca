"""Inbox handler for ``ledger-summary``: metadata of a ledger item of a node below.

Only the item's own node speaks for it, only to its ancestors; a summary replaces only an older
version of the copy held here, so a redelivery changes nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from node.common import check_from_below, held_summary
from node.context import NodeContext
from node.ledger.models import LedgerItem
from node.ledger.state import SUMMARY
from node.ledger.wire import LedgerSummaryWire
from node.replication.envelope import Envelope
from node.replication.kinds import Applied, Kind, KindSpec


def apply_summary(
    session: Session, ctx: NodeContext, envelope: Envelope, wire: LedgerSummaryWire
) -> Applied:
    """A summary from a node below: insert, or replace an older version."""
    origin = envelope.origin
    check_from_below(ctx, envelope, wire.node)
    item = held_summary(session, LedgerItem, wire.id, node=origin, summary=SUMMARY)
    if item is not None and item.version >= wire.version:
        return wire.id, wire.version
    if item is None:
        item = LedgerItem(id=wire.id, node=origin, held_as=SUMMARY)
        session.add(item)
    item.department = wire.department[:200]
    item.feedback_deadline = wire.feedback_deadline
    item.status = wire.status
    item.feedback_count = wire.feedback_count
    item.last_feedback_at = wire.last_feedback_at
    item.created_at = wire.created_at
    item.updated_at = wire.updated_at
    item.closed_at = wire.closed_at
    item.version = wire.version
    session.flush()
    return wire.id, wire.version


KINDS: tuple[KindSpec[NodeContext, Any], ...] = (
    KindSpec(Kind.LEDGER_SUMMARY, wire=LedgerSummaryWire, ref_key="ledger", handler=apply_summary),
)
