"""Statistics queries over what a node holds, each figure one SQL query. Record counts come from
the ``record_stats`` rollup, which triggers keep equal to the ``GROUP BY`` over ``records`` that
``record_counts_from_records`` runs (tests hold the two equal).

The query functions take the list of nodes (None: no filter, at the root) so that the bench times
exactly what the endpoint runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from typing import cast as typed

from sqlalchemy import BigInteger, ColumnElement, case, cast, func, select
from sqlalchemy.orm import Session

from node.common import month_of, within
from node.errors import InvalidInput
from node.models import Record
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
