"""检查通报: the rectification status bulletin of a period over a subtree (DOMAIN: "the upper tier
publishes rectification status").

What goes in, and why nothing else can:
- figures (records by class, orders by state and unit, the clue-transfer ledger, overdue lists with
  deadlines) counted in SQL from what this node holds: the same rows ``/api/v1/stats`` counts
  (order and ledger *summaries* of the nodes below: ids, nodes, states, deadlines, departments;
  never a title, focus issue, note or feedback text; case-secret stubs count, their content does
  not exist here);
- the titles of inspection findings the requester may read, selected by the very policy clause
  record listings use (``PolicyEngine.visibility_by_class``), and only of the general and
  restricted classes: a case-secret record is counted, never named, even for a reader entitled to
  it (a bulletin is a file that outlives any grant), a stub or released copy is never read, and
  no body and no reporter is ever selected.

One permission (``issue-bulletin``), one audit entry per bulletin (action ``bulletin``, the period
and subtree in its reason). The document itself is rendered by ``node.stats.document``.
"""

from __future__ import annotations

import re
from calendar import monthrange
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime

from pydantic import BaseModel
from sqlalchemy.orm import Session

from node.clock import as_aware
from node.common import audited, node_name, require
from node.context import NodeContext
from node.errors import InvalidInput
from node.ledger.state import STATUS_LABELS as LEDGER_LABELS
from node.orders.state import DEADLINES as ORDER_DEADLINES
from node.orders.state import STATE_LABELS
from node.policy import Actor
from node.policy.categories import CLASS_LABELS
from node.rectification.state import DEADLINES as RECTIFICATION_DEADLINES
from node.rectification.state import STATE_LABELS as RECTIFICATION_LABELS
from node.rounds.queries import CoverageRow, coverage_by_node, current_term
from node.rounds.state import (
    NOT_STARTED,
    ROUND_KIND_LABELS,
    ROUND_STATE_LABELS,
    TARGET_STATE_LABELS,
)
from node.stats import queries
from node.stats.figures import LEDGER_OPEN, add_state, in_label_order, position, tally
from node.stats.queries import RecordQuery, record_counts

MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
MAX_LISTED = 500
"""The longest list a bulletin prints (overdue items, findings); the figures count them all."""
FINDING_CATEGORY = "inspection_finding"
NAMED_CLASSES = ("general", "restricted")
"""The classes whose titles a bulletin may print (to a reader entitled to them)."""


class InvalidMonth(InvalidInput):
    code = "invalid_month"


class InvalidPeriod(InvalidInput):
    code = "invalid_period"


class UnknownNode(InvalidInput):
    code = "unknown_node"


class NodeNotInSubtree(InvalidInput):
    code = "node_not_in_subtree"


@dataclass(frozen=True)
class Period:
    """Whole months, both ends included (UTC, ``YYYY-MM``)."""

    since: str
    until: str

    @property
    def label(self) -> str:
        def words(month: str) -> str:
            return f"{int(month[:4])}年{int(month[5:])}月"

        if self.since == self.until:
            return words(self.since)
        return f"{words(self.since)}至{words(self.until)}"

    @property
    def first_day(self) -> date:
        return date(int(self.since[:4]), int(self.since[5:]), 1)

    @property
    def last_day(self) -> date:
        year, month = int(self.until[:4]), int(self.until[5:])
        return date(year, month, monthrange(year, month)[1])


def parse_period(since: str | None, until: str | None, now: datetime) -> Period:
    """The period asked for: by default January of this year to this month. 422 ``invalid_month``
    for a month not written ``YYYY-MM``, ``invalid_period`` if it ends before it starts."""
    for value, name in ((since, "from"), (until, "to")):
        if value is not None and not MONTH.match(value):
            raise InvalidMonth(f"{name} must be a month, YYYY-MM")
    this_month = f"{now.year:04d}-{now.month:02d}"
    until = until or this_month
    since = since or f"{until[:4]}-01"
    if since > until:
        raise InvalidPeriod("the period ends before it starts (from > to)")
    return Period(since, until)


def subtree_of(ctx: NodeContext, subtree: str | None) -> tuple[str, list[str] | None]:
    """(the node whose subtree the bulletin covers, its nodes; None: no filter, at the root).
    The node must be this one or below it: a node knows nothing of other subtrees."""
    root = ctx.node_id if subtree is None else subtree
    if root not in ctx.topology:
        raise UnknownNode("no such node in the federation")
    if not ctx.topology.is_in_subtree(root, ctx.node_id):
        raise NodeNotInSubtree("a bulletin covers this node's subtree or a part of it")
    if root == ctx.node_id and ctx.topology.parent(root) is None:
        return root, None
    return root, sorted(ctx.topology.subtree(root))


def tree_order(ctx: NodeContext, root: str) -> list[str]:
    """The subtree of ``root`` as a bulletin lists it: each node before the nodes below it,
    siblings by id."""
    order: list[str] = []
    stack = [root]
    while stack:
        node_id = stack.pop()
        order.append(node_id)
        stack.extend(sorted(ctx.topology.children(node_id), reverse=True))
    return order


def _ranked(ctx: NodeContext, root: str) -> dict[str, int]:
    return {node_id: index for index, node_id in enumerate(tree_order(ctx, root))}


class StateCount(BaseModel):
    state: str
    label: str
    count: int
    overdue: int


class UnitCount(BaseModel):
    """One node's (or one inspected unit's) part."""

    node: str
    name: str
    total: int
    open: int
    overdue: int
    closed: int


class OverdueItem(BaseModel):
    """A piece of work past its deadline: who owes it, to whom, since when. Never its text."""

    unit: str
    counterpart: str
    state_label: str
    issued_at: datetime
    deadline: datetime
    days_overdue: int


class FindingItem(BaseModel):
    origin_name: str
    classification_label: str
    title: str
    created_at: datetime


class RecordFigures(BaseModel):
    total: int
    stubs: int
    by_class: dict[str, int]
    findings: int


class WorkFigures(BaseModel):
    """Orders' or ledger items' figures: totals, by state, by unit, the overdue list."""

    total: int
    open: int
    overdue: int
    closed: int
    by_state: list[StateCount]
    by_unit: list[UnitCount]
    overdue_items: list[OverdueItem]


class InspectedUnitCount(BaseModel):
    """One inspected unit's demands from one inspecting node."""

    unit: str
    inspecting: str
    total: int
    open: int
    overdue: int
    closed: int


class ClosureItem(BaseModel):
    unit: str
    inspecting: str
    issued_at: datetime
    closed_at: datetime


class RectificationFigures(WorkFigures):
    """Rectification demands issued in the period: ``open`` are those the unit still owes a
    report on; ``by_unit`` per inspected unit; ``closures`` closed off (销号) in the period."""

    units: int
    by_inspected_unit: list[InspectedUnitCount]
    closures: list[ClosureItem]
    closures_total: int


class RoundKindCount(BaseModel):
    kind_label: str
    state_label: str
    count: int
    problems_found: int


class NodeCoverage(BaseModel):
    """One node's inspected units and their coverage in the term, and its rounds begun in the
    period."""

    node: str
    name: str
    units_total: int
    units_inspected: int
    units_planned: int
    coverage: float | None
    rounds: int
    problems_found: int


class LaunchPart(BaseModel):
    """One addressee's part in a synchronised round (同步巡察) this node launched."""

    launch: str
    unit: str
    state_label: str
    start_by: datetime
    started_at: datetime | None
    late: bool
    problems_found: int


class RoundFigures(BaseModel):
    """Coverage (全覆盖) of the current term over the subtree, and the rounds begun in the
    period (this node's and the summaries sent up from below)."""

    term_start: date
    term_end: date
    units_total: int
    units_inspected: int
    units_planned: int
    coverage: float | None
    rounds: int
    problems_found: int
    by_kind: list[RoundKindCount]
    by_node: list[NodeCoverage]
    launch_parts: list[LaunchPart]


class Bulletin(BaseModel):
    node: str
    node_name: str
    subtree: str
    subtree_name: str
    subtree_size: int
    since: str
    until: str
    period_label: str
    generated_at: datetime
    records: RecordFigures
    orders: WorkFigures
    ledger: WorkFigures
    rectification: RectificationFigures
    rounds: RoundFigures
    findings: list[FindingItem]
    findings_readable: int


def _days_late(deadline: datetime, now: datetime) -> int:
    return max(0, (now - as_aware(deadline)).days)


def _record_figures(
    session: Session, nodes: list[str] | None, period: Period, category: str
) -> RecordFigures:
    query = RecordQuery(
        dimensions=("classification", "category"), since=period.since, until=period.until
    )
    rows = record_counts(session, nodes, query)
    by_class = dict.fromkeys(CLASS_LABELS, 0)
    for cls, _category, n, _stubs in rows:
        by_class[str(cls)] = by_class.get(str(cls), 0) + int(n)
    return RecordFigures(
        total=sum(int(r[-2]) for r in rows),
        stubs=sum(int(r[-1]) for r in rows),
        by_class=by_class,
        findings=sum(int(r[-2]) for r in rows if r[1] == category),
    )


@dataclass(frozen=True)
class _Scope:
    """What every figure of one bulletin counts over."""

    session: Session
    ctx: NodeContext
    nodes: list[str] | None
    period: Period
    now: datetime
    rank: dict[str, int]


@dataclass(frozen=True)
class _WorkKind:
    """One kind of work as the bulletin counts and prints it: its columns, its state labels, the
    states in which it counts as open, and which of (who owes it, to whom) are node ids, printed
    by name."""

    columns: queries.WorkColumns
    labels: dict[str, str]
    open_states: Collection[str]
    node_named: tuple[bool, bool]


ORDER_WORK = _WorkKind(queries.ORDERS, STATE_LABELS, ORDER_DEADLINES.open_states, (True, True))
# Owed by a node to a department.
LEDGER_WORK = _WorkKind(queries.LEDGER, LEDGER_LABELS, LEDGER_OPEN, (True, False))
# Owed by an inspected unit to the inspecting node.
RECTIFICATION_WORK = _WorkKind(
    queries.RECTIFICATIONS,
    RECTIFICATION_LABELS,
    RECTIFICATION_DEADLINES.open_states,
    (False, True),
)


def _overdue_items(scope: _Scope, kind: _WorkKind) -> list[OverdueItem]:
    def shown(value: str, is_node: bool) -> str:
        return node_name(scope.ctx, value) if is_node else value

    unit_is_node, counterpart_is_node = kind.node_named
    rows = queries.bulletin_overdue(
        scope.session,
        kind.columns,
        scope.nodes,
        scope.period.since,
        scope.period.until,
        scope.now,
        limit=MAX_LISTED,
    )
    return [
        OverdueItem(
            unit=shown(unit, unit_is_node),
            counterpart=shown(counterpart, counterpart_is_node),
            state_label=kind.labels.get(state, state),
            issued_at=as_aware(issued_at),
            deadline=as_aware(deadline),
            days_overdue=_days_late(deadline, scope.now),
        )
        for unit, counterpart, state, issued_at, deadline in rows
    ]


def _by_state(states: dict[str, list[int]], labels: dict[str, str]) -> list[StateCount]:
    return [
        StateCount(state=s, label=labels.get(s, s), count=n, overdue=late)
        for s, (n, late) in in_label_order(states.items(), labels)
    ]


def _work_figures(scope: _Scope, kind: _WorkKind) -> WorkFigures:
    """Orders' or ledger items' figures: per node counted for, by state, the overdue list."""
    per_unit: dict[str, UnitCount] = {}
    states: dict[str, list[int]] = {}
    for node_id, state, n, late in queries.bulletin_counts(
        scope.session, kind.columns, scope.nodes, scope.period.since, scope.period.until, scope.now
    ):
        entry = per_unit.setdefault(node_id, _unit(scope.ctx, node_id))
        tally(entry, state, n, late, open_states=kind.open_states)
        add_state(states, state, n, late)
    by_state = _by_state(states, kind.labels)
    overdue = _overdue_items(scope, kind)
    return _work(by_state, per_unit, overdue, open_states=kind.open_states, rank=scope.rank)


def _rectification_figures(scope: _Scope) -> RectificationFigures:
    ctx, since, until = scope.ctx, scope.period.since, scope.period.until
    kind = RECTIFICATION_WORK
    per_node: dict[str, UnitCount] = {}
    per_unit: dict[tuple[str, str], InspectedUnitCount] = {}
    states: dict[str, list[int]] = {}
    for node_id, unit_name, state, n, late in queries.bulletin_rectification_counts(
        scope.session, scope.nodes, since, until, scope.now
    ):
        entry = per_node.setdefault(node_id, _unit(ctx, node_id))
        unit = per_unit.setdefault(
            (node_id, unit_name),
            InspectedUnitCount(
                unit=unit_name,
                inspecting=node_name(ctx, node_id),
                total=0,
                open=0,
                overdue=0,
                closed=0,
            ),
        )
        for counted in (entry, unit):
            tally(counted, state, n, late, open_states=kind.open_states)
        add_state(states, state, n, late)
    overdue = _overdue_items(scope, kind)
    closed, closed_total = queries.bulletin_closed_rectifications(
        scope.session, scope.nodes, since, until, limit=MAX_LISTED
    )
    by_state = _by_state(states, kind.labels)
    work = _work(by_state, per_node, overdue, open_states=kind.open_states, rank=scope.rank)
    return RectificationFigures(
        **work.model_dump(),
        units=len({unit for _node, unit in per_unit}),
        by_inspected_unit=[
            per_unit[k]
            for k in sorted(per_unit, key=lambda k: (scope.rank.get(k[0], len(scope.rank)), k))
        ],
        closures=[
            ClosureItem(
                unit=unit_name,
                inspecting=node_name(ctx, node_id),
                issued_at=as_aware(issued_at),
                closed_at=as_aware(closed_at),
            )
            for node_id, unit_name, issued_at, closed_at in closed
            if closed_at is not None
        ],
        closures_total=closed_total,
    )


def _share(inspected: int, total: int) -> float | None:
    return round(inspected / total, 4) if total else None


def _round_figures(
    session: Session, ctx: NodeContext, root: str, nodes: list[str] | None, period: Period
) -> RoundFigures:
    term = current_term(ctx.settings, ctx.clock.now().date())
    covered = coverage_by_node(session, nodes, term)
    begun: dict[str, list[int]] = {}
    kinds: dict[tuple[str, str], list[int]] = {}
    for node_id, kind, state, n, problems in queries.bulletin_round_counts(
        session, nodes, period.first_day, period.last_day
    ):
        for figures in (begun.setdefault(node_id, [0, 0]), kinds.setdefault((kind, state), [0, 0])):
            figures[0] += n
            figures[1] += problems
    by_node = []
    for node_id in tree_order(ctx, root):
        row = covered.get(node_id, CoverageRow())
        n, problems = begun.get(node_id, [0, 0])
        by_node.append(
            NodeCoverage(
                node=node_id,
                name=node_name(ctx, node_id),
                units_total=row.units_total,
                units_inspected=row.units_inspected,
                units_planned=max(0, row.units_in_rounds - row.units_inspected),
                coverage=_share(row.units_inspected, row.units_total),
                rounds=n,
                problems_found=problems,
            )
        )
    kind_order, state_order = list(ROUND_KIND_LABELS), list(ROUND_STATE_LABELS)
    by_kind = [
        RoundKindCount(
            kind_label=ROUND_KIND_LABELS.get(kind, kind),
            state_label=ROUND_STATE_LABELS.get(state, state),
            count=n,
            problems_found=problems,
        )
        for (kind, state), (n, problems) in sorted(
            kinds.items(),
            key=lambda i: (
                position(kind_order, i[0][0]),
                position(state_order, i[0][1]),
            ),
        )
    ]
    now = ctx.clock.now()
    parts = [
        LaunchPart(
            launch=title,
            unit=node_name(ctx, addressee),
            state_label=TARGET_STATE_LABELS.get(state, state),
            start_by=as_aware(start_by),
            started_at=None if started_at is None else as_aware(started_at),
            late=state in NOT_STARTED and as_aware(start_by) < now,
            problems_found=problems,
        )
        for title, addressee, state, start_by, _deadline, started_at, problems in (
            queries.bulletin_launch_parts(
                session, ctx.node_id, nodes, period.since, period.until, limit=MAX_LISTED
            )
        )
    ]
    units_total = sum(n.units_total for n in by_node)
    units_inspected = sum(n.units_inspected for n in by_node)
    return RoundFigures(
        term_start=term.start,
        term_end=term.end,
        units_total=units_total,
        units_inspected=units_inspected,
        units_planned=sum(n.units_planned for n in by_node),
        coverage=_share(units_inspected, units_total),
        rounds=sum(n.rounds for n in by_node),
        problems_found=sum(n.problems_found for n in by_node),
        by_kind=by_kind,
        by_node=by_node,
        launch_parts=parts,
    )


def _unit(ctx: NodeContext, node_id: str) -> UnitCount:
    return UnitCount(
        node=node_id, name=node_name(ctx, node_id), total=0, open=0, overdue=0, closed=0
    )


def _work(
    by_state: list[StateCount],
    per_unit: dict[str, UnitCount],
    overdue: list[OverdueItem],
    *,
    open_states: Collection[str],
    rank: dict[str, int],
) -> WorkFigures:
    units = [per_unit[k] for k in sorted(per_unit, key=lambda k: (rank.get(k, len(rank)), k))]
    return WorkFigures(
        total=sum(s.count for s in by_state),
        open=sum(s.count for s in by_state if s.state in open_states),
        overdue=sum(s.overdue for s in by_state),
        closed=sum(s.count for s in by_state if s.state == "closed"),
        by_state=by_state,
        by_unit=units,
        overdue_items=overdue,
    )


def _findings(
    session: Session,
    ctx: NodeContext,
    actor: Actor,
    nodes: list[str] | None,
    period: Period,
    now: datetime,
) -> tuple[list[FindingItem], int]:
    """Inspection findings of the period the actor may read, general and restricted only."""
    readable = {
        cls: clause
        for cls, (clause, _visible) in ctx.policy.visibility_by_class(actor, now).items()
        if cls in NAMED_CLASSES
    }
    rows, total = queries.bulletin_readable_titles(
        session,
        readable,
        nodes,
        FINDING_CATEGORY,
        period.since,
        period.until,
        limit=MAX_LISTED,
    )
    items = [
        FindingItem(
            origin_name=node_name(ctx, origin),
            classification_label=CLASS_LABELS.get(cls, cls),
            title=title or "",
            created_at=as_aware(created_at),
        )
        for origin, cls, title, created_at in rows
    ]
    return items, total


def rectification_bulletin(
    session: Session,
    ctx: NodeContext,
    actor: Actor,
    *,
    since: str | None = None,
    until: str | None = None,
    subtree: str | None = None,
) -> Bulletin:
    """The bulletin's content for ``actor``: figures of the period over ``subtree`` (default this
    node's), and the findings the actor may read. Audited as ``bulletin``."""
    require(
        ctx,
        actor,
        "issue-bulletin",
        object_type="bulletin",
        message=f"role {actor.role} may not issue bulletins",
    )
    now = ctx.clock.now()
    period = parse_period(since, until, now)
    root, nodes = subtree_of(ctx, subtree)
    findings, readable = _findings(session, ctx, actor, nodes, period, now)
    scope = _Scope(session, ctx, nodes, period, now, _ranked(ctx, root))
    bulletin = Bulletin(
        node=ctx.node_id,
        node_name=node_name(ctx, ctx.node_id),
        subtree=root,
        subtree_name=node_name(ctx, root),
        subtree_size=len(ctx.topology.subtree(root)),
        since=period.since,
        until=period.until,
        period_label=period.label,
        generated_at=now,
        records=_record_figures(session, nodes, period, FINDING_CATEGORY),
        orders=_work_figures(scope, ORDER_WORK),
        ledger=_work_figures(scope, LEDGER_WORK),
        rectification=_rectification_figures(scope),
        rounds=_round_figures(session, ctx, root, nodes, period),
        findings=findings,
        findings_readable=readable,
    )
    audited(
        session,
        ctx,
        actor,
        "bulletin",
        object_type="bulletin",
        object_id=root,
        reason=f"rectification {period.since}..{period.until}",
    )
    return bulletin
