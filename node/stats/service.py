"""Statistics over a node's subtree, from what the node holds, each figure one SQL query.

- Records: counts by origin x class x category x status x month (or any subset of those
  dimensions, within a range of months), over origins in the subtree; stubs count (their content
  does not exist here). Read from the ``record_stats`` rollup, which triggers keep equal to that
  ``GROUP BY`` over ``records`` (``record_counts_from_records`` is the reference query; tests hold
  the two equal).
- Orders: every addressee's state held here (issued, received, or summaries) whose addressee is in
  the subtree, by state, with overdue counts, and the median time from issue to acknowledgement.
- Ledger: items of nodes in the subtree, open / overdue / closed, per node.

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

from node.context import NodeContext
from node.errors import InvalidInput, PermissionDenied
from node.ledger.models import LedgerItem
from node.ledger.service import STATUS_LABELS as LEDGER_LABELS
from node.ledger.service import overdue_clause as ledger_overdue
from node.models import Record
from node.orders.models import OrderTarget
from node.orders.service import OPEN_STATES, STATE_LABELS
from node.orders.service import overdue_clause as order_overdue
from node.policy import Actor
from node.policy.categories import CLASS_LABELS
from node.stats.models import RecordStat
from node.stats.schemas import (
    LedgerNodeOut,
    LedgerStatsOut,
    OrderStateOut,
    OrderStatsOut,
    RecordStatsOut,
    StatsOut,
)

DIMENSIONS = ("origin", "classification", "category", "status", "month")
RECORD_STATUS_LABELS = {"active": "有效", "deleted": "已删除"}
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


def _within(column: Any, nodes: list[str] | None) -> list[ColumnElement[bool]]:
    return [] if nodes is None else [column.in_(nodes)]


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
    conditions = [*_within(stat.origin, nodes), stat.n > 0]
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


def month_of(session: Session, column: Any) -> ColumnElement[str]:
    """The UTC month (``YYYY-MM``) of a timestamp column, as the rollup triggers compute it."""
    if session.get_bind().dialect.name == "postgresql":
        expression: ColumnElement[str] = func.to_char(func.timezone("UTC", column), "YYYY-MM")
        return expression
    return func.substr(column, 1, 7)


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
            .where(*_within(Record.origin, nodes))
            .group_by(*keys)
            .order_by(*keys)
        )
        .all(),
    )


def order_states(
    session: Session, nodes: list[str] | None, now: datetime
) -> list[tuple[str, int, int]]:
    """(state, targets, overdue) for every addressee in ``nodes``."""
    rows = session.execute(
        select(OrderTarget.state, func.count(), func.sum(case((order_overdue(now), 1), else_=0)))
        .where(*_within(OrderTarget.addressee, nodes))
        .group_by(OrderTarget.state)
    ).all()
    return [(r[0], int(r[1]), int(r[2] or 0)) for r in rows]


def median_ack_seconds(session: Session, nodes: list[str] | None) -> tuple[int, float | None]:
    """(acknowledged targets, median seconds from issue to acknowledgement), by index order."""
    acknowledged = [OrderTarget.ack_seconds.is_not(None), *_within(OrderTarget.addressee, nodes)]
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


def ledger_counts(
    session: Session, nodes: list[str] | None, now: datetime
) -> list[tuple[str, str, int, int]]:
    """(node, status, items, overdue) for ledger items of ``nodes``."""
    rows = session.execute(
        select(
            LedgerItem.node,
            LedgerItem.status,
            func.count(),
            func.sum(case((ledger_overdue(now), 1), else_=0)),
        )
        .where(*_within(LedgerItem.node, nodes))
        .group_by(LedgerItem.node, LedgerItem.status)
    ).all()
    return [(r[0], r[1], int(r[2]), int(r[3] or 0)) for r in rows]


def subtree_nodes(ctx: NodeContext) -> list[str] | None:
    """The nodes to count; None at the root (every origin a node can hold is below it)."""
    if ctx.topology.parent(ctx.node_id) is None:
        return None
    return sorted(ctx.topology.subtree(ctx.node_id))


def _name(ctx: NodeContext, node_id: str) -> str:
    return ctx.topology.get(node_id).name if node_id in ctx.topology else node_id


def _record_stats(ctx: NodeContext, query: RecordQuery, rows: Sequence[CountRow]) -> RecordStatsOut:
    labels: dict[str, dict[str, str]] = {}
    for index, dimension in enumerate(query.dimensions):
        codes = {str(row[index]) for row in rows}
        if dimension == "origin":
            labels[dimension] = {code: _name(ctx, code) for code in sorted(codes)}
        elif dimension == "classification":
            labels[dimension] = {code: CLASS_LABELS.get(code, code) for code in sorted(codes)}
        elif dimension == "category":
            labels[dimension] = {
                code: (c.label_zh if (c := ctx.policy.categories.get(code)) else code)
                for code in sorted(codes)
            }
        elif dimension == "status":
            labels[dimension] = {code: RECORD_STATUS_LABELS[code] for code in sorted(codes)}
    return RecordStatsOut(
        total=sum(row[-2] for row in rows),
        stubs=sum(row[-1] for row in rows),
        dimensions=list(query.dimensions),
        since=query.since,
        until=query.until,
        columns=[*query.dimensions, "count", "stubs"],
        rows=[list(row) for row in rows],
        labels=labels,
    )


def compute_stats(
    session: Session,
    ctx: NodeContext,
    actor: Actor,
    *,
    group_by: str | None = None,
    since: str | None = None,
    until: str | None = None,
    months: int = 12,
) -> StatsOut:
    """Every figure over this node's subtree; records grouped by ``group_by`` (default: all five
    dimensions) for the months from ``since`` (default: ``months`` back) to ``until``."""
    if not ctx.policy.allows_on_node(actor, "read-stats", object_node=ctx.node_id):
        raise PermissionDenied(
            f"role {actor.role} may not read statistics", action="read-stats", object_type="stats"
        )
    now = ctx.clock.now()
    query = RecordQuery.parse(group_by, since=since, until=until, months=months, now=now)
    nodes = subtree_nodes(ctx)
    records = _record_stats(ctx, query, record_counts(session, nodes, query))

    states = order_states(session, nodes, now)
    acknowledged, median = median_ack_seconds(session, nodes)
    by_state = [
        OrderStateOut(
            state=state, state_label=STATE_LABELS.get(state, state), count=n, overdue=late
        )
        for state, n, late in sorted(states, key=lambda s: list(STATE_LABELS).index(s[0]))
    ]

    per_node: dict[str, LedgerNodeOut] = {}
    for node_id, status, n, late in ledger_counts(session, nodes, now):
        entry = per_node.setdefault(
            node_id,
            LedgerNodeOut(
                node=node_id, node_name=_name(ctx, node_id), total=0, open=0, overdue=0, closed=0
            ),
        )
        entry.total += n
        entry.overdue += late
        if status == "closed":
            entry.closed += n
        elif status in LEDGER_LABELS:
            entry.open += n
    ledger_nodes = [per_node[k] for k in sorted(per_node)]

    ctx.audit.append(session, actor=actor, action="read", object_type="stats")
    return StatsOut(
        node=ctx.node_id,
        node_name=_name(ctx, ctx.node_id),
        subtree=sorted(ctx.topology.subtree(ctx.node_id)),
        generated_at=now,
        records=records,
        orders=OrderStatsOut(
            total=sum(s.count for s in by_state),
            open=sum(s.count for s in by_state if s.state in OPEN_STATES),
            overdue=sum(s.overdue for s in by_state),
            acknowledged=acknowledged,
            median_ack_seconds=median,
            by_state=by_state,
        ),
        ledger=LedgerStatsOut(
            total=sum(n.total for n in ledger_nodes),
            open=sum(n.open for n in ledger_nodes),
            overdue=sum(n.overdue for n in ledger_nodes),
            closed=sum(n.closed for n in ledger_nodes),
            by_node=ledger_nodes,
        ),
    )
