"""Order queries: loading what a step acts on, the targets held here, the overdue condition in SQL,
and the figures statistics read (by state, overdue, time to acknowledge)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from node import common
from node.errors import NotFound
from node.orders.models import Order, OrderTarget
from node.orders.state import DEADLINES, SUMMARY


class OrderNotFound(NotFound):
    code = "order_not_found"


def overdue_clause(now: datetime) -> ColumnElement[bool]:
    """SQL twin of ``state.is_overdue``."""
    return DEADLINES.overdue_clause(OrderTarget.state, OrderTarget.deadline, now)


def overdue_count(now: datetime) -> ColumnElement[int]:
    """How many targets of a group are overdue (NULL over none)."""
    return DEADLINES.overdue_count(OrderTarget.state, OrderTarget.deadline, now)


def load_order(session: Session, order_id: str) -> Order:
    return common.get_or_404(
        session, Order, order_id, what="order", missing=OrderNotFound("no such order here")
    )


def lock_target(session: Session, order_id: str, addressee: str) -> OrderTarget | None:
    return session.execute(
        select(OrderTarget)
        .where(OrderTarget.order_id == order_id, OrderTarget.addressee == addressee)
        .with_for_update()
    ).scalar_one_or_none()


def held_targets(session: Session, order_ids: list[str]) -> dict[str, list[OrderTarget]]:
    rows = (
        session.execute(
            select(OrderTarget)
            .where(OrderTarget.order_id.in_(order_ids), OrderTarget.held_as != SUMMARY)
            .order_by(OrderTarget.order_id, OrderTarget.addressee)
        )
        .scalars()
        .all()
    )
    found: dict[str, list[OrderTarget]] = {}
    for target in rows:
        found.setdefault(target.order_id, []).append(target)
    return found


def target_state_conditions(
    state: str | None, overdue: bool | None, now: datetime
) -> list[ColumnElement[bool]]:
    """``OrderTarget`` conditions for the state and overdue filters (None: no condition), the same
    for orders and for targets."""
    state_is = common.equal_to((OrderTarget.state, state))
    return [*state_is, *common.holds(overdue_clause(now), overdue)]


def order_states(
    session: Session, nodes: list[str] | None, now: datetime
) -> list[tuple[str, int, int]]:
    """(state, targets, overdue) for every addressee in ``nodes``."""
    rows = session.execute(
        select(OrderTarget.state, func.count(), overdue_count(now))
        .where(*common.within(OrderTarget.addressee, nodes))
        .group_by(OrderTarget.state)
    ).all()
    return [(r[0], int(r[1]), int(r[2] or 0)) for r in rows]


def median_ack_seconds(session: Session, nodes: list[str] | None) -> tuple[int, float | None]:
    """(acknowledged targets, median seconds from issue to acknowledgement), by index order."""
    acknowledged = [
        OrderTarget.ack_seconds.is_not(None),
        *common.within(OrderTarget.addressee, nodes),
    ]
    count = int(
        session.scalar(select(func.count()).select_from(OrderTarget).where(*acknowledged)) or 0
    )
    if count == 0:
        return 0, None
    middle = (
        session.execute(
            select(OrderTarget.ack_seconds)
            .where(*acknowledged)
            .order_by(OrderTarget.ack_seconds)
            .offset((count - 1) // 2)
            .limit(2 - count % 2)
        )
        .scalars()
        .all()
    )
    values = [int(v) for v in middle if v is not None]
    return count, sum(values) / len(values)


def targets_by_month(
    session: Session, nodes: list[str] | None, now: datetime, since: str | None = None
) -> list[tuple[str, int, int, int]]:
    """(month issued, targets, closed, overdue now) for every addressee in ``nodes``, one
    ``GROUP BY`` over the month of issue (UTC, ``YYYY-MM``), from ``since`` on, in month order."""
    month = common.month_of(session, OrderTarget.issued_at)
    conditions = list(common.within(OrderTarget.addressee, nodes))
    if since is not None:
        conditions.append(month >= since)
    rows = session.execute(
        select(
            month,
            func.count(),
            func.sum(case((OrderTarget.state == "closed", 1), else_=0)),
            overdue_count(now),
        )
        .where(*conditions)
        .group_by(month)
        .order_by(month)
    ).all()
    return [(str(r[0]), int(r[1]), int(r[2] or 0), int(r[3] or 0)) for r in rows]
