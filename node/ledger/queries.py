"""Ledger queries: loading an item, the overdue condition in SQL, and the counts statistics read."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from node import common
from node.errors import Conflict, NotFound
from node.ledger.models import LedgerItem
from node.ledger.state import DEADLINES, OWN


class LedgerNotFound(NotFound):
    code = "ledger_item_not_found"


def overdue_clause(now: datetime) -> ColumnElement[bool]:
    """SQL twin of ``state.is_overdue``."""
    return DEADLINES.overdue_clause(LedgerItem.status, LedgerItem.feedback_deadline, now)


def overdue_count(now: datetime) -> ColumnElement[int]:
    """How many items of a group are overdue (NULL over none)."""
    return DEADLINES.overdue_count(LedgerItem.status, LedgerItem.feedback_deadline, now)


def load_item(session: Session, item_id: str, *, lock: bool = False) -> LedgerItem:
    return common.get_or_404(
        session,
        LedgerItem,
        item_id,
        what="ledger item",
        missing=LedgerNotFound("no such ledger item here"),
        lock=lock,
    )


def load_own(session: Session, item_id: str) -> LedgerItem:
    """An item of this node's, locked for a change."""
    item = load_item(session, item_id, lock=True)
    if item.held_as != OWN:
        raise Conflict(
            "only the node that transferred the clue keeps its ledger item", code="not_owner"
        )
    return item


def ledger_counts(
    session: Session, nodes: list[str] | None, now: datetime
) -> list[tuple[str, str, int, int]]:
    """(node, status, items, overdue) for ledger items of ``nodes``."""
    rows = session.execute(
        select(
            LedgerItem.node,
            LedgerItem.status,
            func.count(),
            overdue_count(now),
        )
        .where(*common.within(LedgerItem.node, nodes))
        .group_by(LedgerItem.node, LedgerItem.status)
    ).all()
    return [(r[0], r[1], int(r[2]), int(r[3] or 0)) for r in rows]
