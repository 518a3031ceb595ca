"""Statistics queries over what a node holds, each figure one SQL query. Record counts come from
the ``record_stats`` rollup, which triggers keep equal to the ``GROUP BY`` over ``records`` that
``record_counts_from_records`` runs (tests hold the two equal).

The query functions take the list of nodes (None: no filter, at the root) so that the bench times
exactly what the endpoint runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from typing import cast as typed

from sqlalchemy import BigInteger, ColumnElement, Row, and_, case, cast, func, or_, select
from sqlalchemy.orm import Session

from node.common import month_of, within
from node.errors import InvalidInput
from node.ledger.models import LedgerItem
from node.ledger.queries import overdue_clause as ledger_overdue_clause
from node.ledger.queries import overdue_count as ledger_overdue_count
from node.models import Record
from node.orders.models import OrderTarget
from node.orders.queries import overdue_clause as order_overdue_clause
from node.orders.queries import overdue_count as order_overdue_count
from node.rectification.models import Rectification
from node.rectification.queries import overdue_clause as rectification_overdue_clause
from node.rectification.queries import overdue_count as rectification_overdue_count
from node.rounds.models import InspectionRound, LaunchTarget, RoundLaunch
from node.stats.models import RecordStat

DIMENSIONS = ("origin", "classification", "category", "status", "month")
# (dimension values..., count, stubs)
CountRow = tuple[Any, ...]


class UnknownDimension(InvalidInput):
    code = "unknown_dimension"


@dataclass(frozen=True)
class RecordQuery:
    dimensions: tuple[str, ...] = DIMENSIONS
    since: str | None = None  # YYYY-MM, inclusive
    until: str | None = None  # YYYY-MM, inclusive

    @classmethod
    def parse(
        cls,
        group_by: str | None,
        *,
        since: str | None,
        until: str | None,
        months: int,
        now: datetime,
    ) -> RecordQuery:
        """From the endpoint's parameters. Without ``since``, the last ``months`` months up to
        now (0: all of them)."""
        if since is None and months > 0:
            index = now.year * 12 + now.month - 1 - (months - 1)
            since = f"{index // 12:04d}-{index % 12 + 1:02d}"
        if group_by is None:
            return cls(since=since, until=until)
        wanted = {d.strip() for d in group_by.split(",") if d.strip()}
        unknown = wanted - set(DIMENSIONS)
        if unknown:
            raise UnknownDimension(f"group_by takes {', '.join(DIMENSIONS)}")
        return cls(dimensions=tuple(d for d in DIMENSIONS if d in wanted), since=since, until=until)


def _status(deleted: Any) -> ColumnElement[str]:
    expression: ColumnElement[str] = case((deleted, "deleted"), else_="active")
    return expression


def record_counts(
    session: Session, nodes: list[str] | None, query: RecordQuery = RecordQuery()
) -> Sequence[CountRow]:
    """Rows of (dimension values..., count, stubs), in key order, from the rollup."""
    stat = RecordStat
    keys: dict[str, Any] = {
        "origin": stat.origin,
        "classification": stat.classification,
        "category": stat.category,
        "status": stat.deleted,
        "month": stat.month,
    }
    conditions = [*within(stat.origin, nodes), stat.n > 0]
    if query.since is not None:
        conditions.append(stat.month >= query.since)
    if query.until is not None:
        conditions.append(stat.month <= query.until)
    order = [keys[d] for d in query.dimensions]
    shown = [_status(stat.deleted) if d == "status" else keys[d] for d in query.dimensions]
    if query.dimensions == DIMENSIONS:
        # The rollup's rows are this GROUP BY already: read them in key order.
        statement = select(*shown, stat.n, stat.stubs).where(*conditions).order_by(*order)
    else:
        statement = (
            select(
                *shown, cast(func.sum(stat.n), BigInteger), cast(func.sum(stat.stubs), BigInteger)
            )
            .where(*conditions)
            .group_by(*order)
            .order_by(*order)
        )
    # Core, not ORM, execution: a cube has tens of thousands of rows and needs no entities.
    return typed(Sequence[CountRow], session.connection().execute(statement).all())


def record_counts_from_records(session: Session, nodes: list[str] | None) -> Sequence[CountRow]:
    """The full-grain counts straight from ``records`` (a full scan): the rollup's reference."""
    month = month_of(session, Record.created_at)
    keys = [Record.origin, Record.classification, Record.category, Record.deleted, month]
    stubs = cast(func.sum(case((Record.is_stub, 1), else_=0)), BigInteger)
    return typed(
        Sequence[CountRow],
        session.connection()
        .execute(
            select(
                Record.origin,
                Record.classification,
                Record.category,
                _status(Record.deleted),
                month,
                cast(func.count(), BigInteger),
                stubs,
            )
            .where(*within(Record.origin, nodes))
            .group_by(*keys)
            .order_by(*keys)
        )
        .all(),
    )


# -- the bulletin (检查通报): the work of a period, by month of issue --------------------------


def _in_months(session: Session, column: Any, since: str, until: str) -> ColumnElement[bool]:
    return month_of(session, column).between(since, until)


@dataclass(frozen=True)
class WorkColumns:
    """Where one kind of work keeps what the bulletin counts and lists: the node it is counted
    for, its state, when it was issued, its overdue condition and count (``node.deadlines``), and
    the summary columns an overdue item is listed with, (who owes it, to whom, state, issued at,
    deadline), in the list's order."""

    node: Any
    state: Any
    issued_at: Any
    overdue_clause: Callable[[datetime], ColumnElement[bool]]
    overdue_count: Callable[[datetime], ColumnElement[int]]
    listed: tuple[Any, Any, Any, Any, Any]
    listed_order: tuple[Any, ...]

    def in_period(
        self, session: Session, nodes: list[str] | None, since: str, until: str
    ) -> list[ColumnElement[bool]]:
        return [*within(self.node, nodes), _in_months(session, self.issued_at, since, until)]


ORDERS = WorkColumns(
    node=OrderTarget.addressee,
    state=OrderTarget.state,
    issued_at=OrderTarget.issued_at,
    overdue_clause=order_overdue_clause,
    overdue_count=order_overdue_count,
    # Summary columns only: no title, focus or note. Longest overdue first.
    listed=(
        OrderTarget.addressee,
        OrderTarget.issuer,
        OrderTarget.state,
        OrderTarget.issued_at,
        OrderTarget.deadline,
    ),
    listed_order=(OrderTarget.deadline, OrderTarget.addressee, OrderTarget.order_id),
)
LEDGER = WorkColumns(
    node=LedgerItem.node,
    state=LedgerItem.status,
    issued_at=LedgerItem.created_at,
    overdue_clause=ledger_overdue_clause,
    overdue_count=ledger_overdue_count,
    # Summary columns only: no title, clue or feedback. Longest overdue first.
    listed=(
        LedgerItem.node,
        LedgerItem.department,
        LedgerItem.status,
        LedgerItem.created_at,
        LedgerItem.feedback_deadline,
    ),
    listed_order=(LedgerItem.feedback_deadline, LedgerItem.node, LedgerItem.id),
)
RECTIFICATIONS = WorkColumns(
    node=Rectification.node,
    state=Rectification.state,
    issued_at=Rectification.issued_at,
    overdue_clause=rectification_overdue_clause,
    overdue_count=rectification_overdue_count,
    # Summary columns only: no finding, text or person. By unit.
    listed=(
        Rectification.unit_name,
        Rectification.node,
        Rectification.state,
        Rectification.issued_at,
        Rectification.deadline,
    ),
    listed_order=(
        Rectification.node,
        Rectification.unit_name,
        Rectification.deadline,
        Rectification.id,
    ),
)


def _work_counts(
    session: Session,
    work: WorkColumns,
    keys: Sequence[Any],
    nodes: list[str] | None,
    since: str,
    until: str,
    now: datetime,
) -> Sequence[Row[*tuple[Any, ...]]]:
    return session.execute(
        select(*keys, func.count(), work.overdue_count(now))
        .where(*work.in_period(session, nodes, since, until))
        .group_by(*keys)
    ).all()


def bulletin_counts(
    session: Session,
    work: WorkColumns,
    nodes: list[str] | None,
    since: str,
    until: str,
    now: datetime,
) -> list[tuple[str, str, int, int]]:
    """(node, state, count, overdue now) of the ``work`` issued in the months given."""
    rows = _work_counts(session, work, (work.node, work.state), nodes, since, until, now)
    return [(r[0], r[1], int(r[2]), int(r[3] or 0)) for r in rows]


def bulletin_overdue(
    session: Session,
    work: WorkColumns,
    nodes: list[str] | None,
    since: str,
    until: str,
    now: datetime,
    *,
    limit: int,
) -> list[tuple[str, str, str, datetime, datetime]]:
    """The ``work.listed`` summary columns (who owes it, to whom, state, issued at, deadline) of
    the overdue ``work`` issued in the months given, in ``work.listed_order``."""
    rows = session.execute(
        select(*work.listed)
        .where(*work.in_period(session, nodes, since, until), work.overdue_clause(now))
        .order_by(*work.listed_order)
        .limit(limit)
    ).all()
    return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]


def bulletin_readable_titles(
    session: Session,
    readable: dict[str, ColumnElement[bool]],
    nodes: list[str] | None,
    category: str,
    since: str,
    until: str,
    *,
    limit: int,
) -> tuple[list[tuple[str, str, str | None, datetime]], int]:
    """(origin, class, title, created at) of the live, non-stub records of ``category`` created in
    the months given whose content the reader may read (``readable``: per class, the listing's
    policy clause), oldest first, and how many there are. Only the classes in ``readable`` are
    read; never a body."""
    if not readable:
        return [], 0
    allowed = or_(*(and_(Record.classification == cls, clause) for cls, clause in readable.items()))
    conditions = [
        *within(Record.origin, nodes),
        Record.category == category,
        Record.is_stub.is_(False),
        Record.deleted.is_(False),
        _in_months(session, Record.created_at, since, until),
        allowed,
    ]
    total = int(session.scalar(select(func.count()).select_from(Record).where(*conditions)) or 0)
    rows = session.execute(
        select(Record.origin, Record.classification, Record.title, Record.created_at)
        .where(*conditions)
        .order_by(Record.created_at, Record.origin, Record.id)
        .limit(limit)
    ).all()
    return [(r[0], r[1], r[2], r[3]) for r in rows], total


def bulletin_rectification_counts(
    session: Session, nodes: list[str] | None, since: str, until: str, now: datetime
) -> list[tuple[str, str, str, int, int]]:
    """(inspecting node, inspected unit, state, demands, overdue now) of the rectification
    demands issued in the months given."""
    keys = (Rectification.node, Rectification.unit_name, Rectification.state)
    rows = _work_counts(session, RECTIFICATIONS, keys, nodes, since, until, now)
    return [(r[0], r[1], r[2], int(r[3]), int(r[4] or 0)) for r in rows]


def bulletin_closed_rectifications(
    session: Session, nodes: list[str] | None, since: str, until: str, *, limit: int
) -> tuple[list[tuple[str, str, datetime, datetime | None]], int]:
    """(inspecting node, inspected unit, issued at, closed at) of the demands closed off (销号)
    in the months given and still closed, by unit, and how many there are."""
    conditions = [
        *within(Rectification.node, nodes),
        Rectification.state == "closed",
        Rectification.closed_at.is_not(None),
        _in_months(session, Rectification.closed_at, since, until),
    ]
    total = int(
        session.scalar(select(func.count()).select_from(Rectification).where(*conditions)) or 0
    )
    rows = session.execute(
        select(
            Rectification.node,
            Rectification.unit_name,
            Rectification.issued_at,
            Rectification.closed_at,
        )
        .where(*conditions)
        .order_by(
            Rectification.node, Rectification.unit_name, Rectification.closed_at, Rectification.id
        )
        .limit(limit)
    ).all()
    return [(r[0], r[1], r[2], r[3]) for r in rows], total


def bulletin_round_counts(
    session: Session, nodes: list[str] | None, first_day: date, last_day: date
) -> list[tuple[str, str, str, int, int]]:
    """(node, kind, state, rounds, problems found) of the rounds (this node's and summaries from
    below) whose period begins between the two days."""
    rows = session.execute(
        select(
            InspectionRound.node,
            InspectionRound.kind,
            InspectionRound.state,
            func.count(),
            func.sum(InspectionRound.problems_found),
        )
        .where(
            *within(InspectionRound.node, nodes),
            InspectionRound.period_start >= first_day,
            InspectionRound.period_start <= last_day,
        )
        .group_by(InspectionRound.node, InspectionRound.kind, InspectionRound.state)
    ).all()
    return [(r[0], r[1], r[2], int(r[3]), int(r[4] or 0)) for r in rows]


def bulletin_launch_parts(
    session: Session,
    launcher: str,
    nodes: list[str] | None,
    since: str,
    until: str,
    *,
    limit: int,
) -> list[tuple[str, str, str, datetime, datetime, datetime | None, int]]:
    """(launch title, addressee, state, start by, deadline, started at, problems found) of every
    addressee in ``nodes`` of the synchronised rounds ``launcher`` launched in the months given,
    as the launcher holds them."""
    rows = session.execute(
        select(
            RoundLaunch.title,
            LaunchTarget.addressee,
            LaunchTarget.state,
            LaunchTarget.start_by,
            LaunchTarget.deadline,
            LaunchTarget.started_at,
            LaunchTarget.problems_found,
        )
        .join(RoundLaunch, RoundLaunch.id == LaunchTarget.launch_id)
        .where(
            RoundLaunch.launcher == launcher,
            RoundLaunch.held_as == "launcher",
            LaunchTarget.held_as == "launcher",
            *within(LaunchTarget.addressee, nodes),
            _in_months(session, RoundLaunch.launched_at, since, until),
        )
        .order_by(RoundLaunch.launched_at, RoundLaunch.id, LaunchTarget.addressee)
        .limit(limit)
    ).all()
    return [(r[0], r[1], r[2], r[3], r[4], r[5], int(r[6] or 0)) for r in rows]
