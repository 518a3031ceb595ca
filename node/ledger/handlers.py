"""Inbox handler for ``ledger-summary``: metadata of a ledger item of a node below.

Only the item's own node speaks for it, only to its ancestors; a summary replaces only an older
version of the copy held here, so a redelivery changes nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.context import NodeContext
from node.ledger.models import LedgerItem
from node.ledger.state import SUMMARY
from node.ledger.wire import LedgerSummaryWire
from node.replication.envelope import Envelope, EnvelopeRejected
from node.replication.kinds import Applied, Kind, KindSpec


def apply_summary(
    session: Session, ctx: NodeContext, envelope: Envelope, wire: LedgerSummaryWire
) -> Applied:
    """A summary from a node below: insert, or replace an older version."""
    origin = envelope.origin
    if wire.node != origin:
        raise EnvelopeRejected("origin_mismatch")
    if ctx.node_id not in ctx.topology.ancestors(origin):
        raise EnvelopeRejected("not_in_subtree")
    item = session.execute(
        select(LedgerItem).where(LedgerItem.id == wire.id).with_for_update()
    ).scalar_one_or_none()
    if item is not None and (item.held_as != SUMMARY or item.node != origin):
        raise EnvelopeRejected("origin_mismatch")
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
