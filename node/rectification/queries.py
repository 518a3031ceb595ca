"""Rectification queries: loading a demand, the overdue condition in SQL, and the counts
statistics read."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from node import common
from node.errors import Conflict, NotFound
from node.rectification.models import Rectification
from node.rectification.state import DEADLINES, OWN


class RectificationNotFound(NotFound):
    code = "rectification_not_found"


def overdue_clause(now: datetime) -> ColumnElement[bool]:
    """SQL twin of ``state.is_overdue``."""
    return DEADLINES.overdue_clause(Rectification.state, Rectification.deadline, now)


def overdue_count(now: datetime) -> ColumnElement[int]:
    """How many demands of a group are overdue (NULL over none)."""
    return DEADLINES.overdue_count(Rectification.state, Rectification.deadline, now)


def load_demand(session: Session, item_id: str, *, lock: bool = False) -> Rectification:
    return common.get_or_404(
        session,
        Rectification,
        item_id,
        what="rectification",
        missing=RectificationNotFound("no such rectification demand here"),
        lock=lock,
    )


def load_own(session: Session, item_id: str) -> Rectification:
    """A demand this node made, locked for a change."""
    item = load_demand(session, item_id, lock=True)
    if item.held_as != OWN:
        raise Conflict(
            "only the inspecting node acts on its rectification demands", code="not_inspecting_node"
        )
    return item


def rectification_counts(
    session: Session, nodes: list[str] | None, now: datetime
) -> list[tuple[str, str, int, int]]:
    """(node, state, demands, overdue) for demands of inspecting nodes in ``nodes``."""
    rows = session.execute(
        select(Rectification.node, Rectification.state, func.count(), overdue_count(now))
        .where(*common.within(Rectification.node, nodes))
        .group_by(Rectification.node, Rectification.state)
    ).all()
    return [(r[0], r[1], int(r[2]), int(r[3] or 0)) for r in rows]
