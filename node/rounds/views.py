"""The read side of units, rounds and launches: one object, listings over what is held here (own
and summaries from below), coverage of the term over the subtree, and launches with each
addressee's part (started, late, problems found)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from node.clock import as_aware, as_aware_or_none
from node.common import (
    audit_listing,
    audited,
    chosen,
    equal_to,
    newest_first,
    node_name,
    require,
    subtree_nodes,
    uuid_cursor,
)
from node.context import NodeContext
from node.errors import InvalidInput
from node.policy import Actor
from node.rounds.models import InspectedUnit, InspectionRound, LaunchTarget, RoundLaunch
from node.rounds.queries import (
    CoverageRow,
    Term,
    coverage_by_node,
    current_term,
    inspected_units,
    load_launch,
    load_round,
    load_unit,
    round_unit_ids,
    targets_of,
    unit_names,
)
from node.rounds.schemas import (
    CoverageFigures,
    CoverageOut,
    LaunchOut,
    LaunchPage,
    LaunchTargetOut,
    NodeCoverageOut,
    RoundOut,
    RoundPage,
    RoundUnitOut,
    UnitOut,
    UnitPage,
)
from node.rounds.state import (
    ADDRESSEE,
    LAUNCHER,
    OWN,
    ROUND_KIND_LABELS,
    ROUND_STATE_LABELS,
    SUMMARY,
    TARGET_STATE_LABELS,
    UNIT_KIND_LABELS,
    is_late,
    is_overdue,
)

READ = "read-rounds"


def term_of(ctx: NodeContext, start: date | None = None, end: date | None = None) -> Term:
    """The term asked for (both dates), else the node's current term; 422 if only one is given
    or it ends before it starts."""
    if (start is None) != (end is None):
        raise InvalidInput("give both term_start and term_end, or neither", code="invalid_term")
    if start is not None and end is not None:
        if end < start:
            raise InvalidInput("the term ends before it starts", code="invalid_term")
        return Term(start, end)
    return current_term(ctx.settings, ctx.clock.now().date())


# -- units --------------------------------------------------------------------------------------


def unit_out(ctx: NodeContext, unit: InspectedUnit, inspected: bool) -> UnitOut:
    return UnitOut(
        id=unit.id,
        node=unit.node,
        node_name=node_name(ctx, unit.node),
        summary=unit.held_as == SUMMARY,
        name=unit.name,
        kind=unit.kind,
        kind_label=UNIT_KIND_LABELS.get(unit.kind, unit.kind),
        sector=unit.sector,
        active=unit.active,
        inspected_in_term=inspected,
        created_at=as_aware(unit.created_at),
        updated_at=as_aware(unit.updated_at),
        version=unit.version,
    )


def unit_view(session: Session, ctx: NodeContext, unit: InspectedUnit) -> UnitOut:
    inspected = unit.id in inspected_units(session, [unit.id], term_of(ctx))
    return unit_out(ctx, unit, inspected)


def get_unit(session: Session, ctx: NodeContext, actor: Actor, unit_id: str) -> UnitOut:
    require(ctx, actor, READ, object_type="inspected-unit", object_id=unit_id)
    unit = load_unit(session, unit_id)
    audited(session, ctx, actor, "read", object_type="inspected-unit", object_id=unit.id)
    return unit_view(session, ctx, unit)


@dataclass(frozen=True)
class UnitFilters:
    scope: str | None = None  # own | subtree (summaries from below); None: both
    node: str | None = None
    kind: str | None = None
    active: bool | None = None


SCOPES = {"own": OWN, "subtree": SUMMARY}


def list_units(
    session: Session,
    ctx: NodeContext,
    actor: Actor,
    filters: UnitFilters,
    *,
    cursor: str | None,
    limit: int,
) -> UnitPage:
    require(ctx, actor, READ, object_type="inspected-unit")
    conditions = [
        *chosen(InspectedUnit.held_as, filters.scope, SCOPES),
        *equal_to((InspectedUnit.node, filters.node), (InspectedUnit.kind, filters.kind)),
    ]
    if filters.active is not None:
        conditions.append(InspectedUnit.active.is_(filters.active))
    page, next_cursor = newest_first(session, InspectedUnit, conditions, cursor=cursor, limit=limit)
    inspected = inspected_units(session, [u.id for u in page], term_of(ctx))
    audit_listing(session, ctx, actor, "inspected-unit", len(page))
    return UnitPage(
        items=[unit_out(ctx, u, u.id in inspected) for u in page], next_cursor=next_cursor
    )


# -- rounds -------------------------------------------------------------------------------------


def round_out(
    ctx: NodeContext,
    row: InspectionRound,
    units: list[str],
    names: dict[str, tuple[str, str]],
) -> RoundOut:
    own = row.held_as == OWN
    return RoundOut(
        id=row.id,
        node=row.node,
        node_name=node_name(ctx, row.node),
        summary=not own,
        kind=row.kind,
        kind_label=ROUND_KIND_LABELS.get(row.kind, row.kind),
        title=row.title,
        theme=row.theme,
        inspection_group=row.inspection_group,
        period_start=row.period_start,
        period_end=row.period_end,
        state=row.state,
        state_label=ROUND_STATE_LABELS.get(row.state, row.state),
        problems_found=row.problems_found,
        units=[
            RoundUnitOut(id=u, name=names[u][1] if u in names and names[u][0] == row.node else None)
            for u in units
        ],
        launch_id=row.launch_id,
        launch_origin=row.launch_origin,
        planned_by=row.planned_by if own else None,
        created_at=as_aware(row.created_at),
        updated_at=as_aware(row.updated_at),
        started_at=as_aware_or_none(row.started_at),
        completed_at=as_aware_or_none(row.completed_at),
        version=row.version,
    )


def _rounds_out(session: Session, ctx: NodeContext, rows: list[InspectionRound]) -> list[RoundOut]:
    units = round_unit_ids(session, [r.id for r in rows])
    names = unit_names(session, sorted({u for ids in units.values() for u in ids}))
    return [round_out(ctx, r, units.get(r.id, []), names) for r in rows]


def round_view(session: Session, ctx: NodeContext, row: InspectionRound) -> RoundOut:
    [out] = _rounds_out(session, ctx, [row])
    return out


def get_round(session: Session, ctx: NodeContext, actor: Actor, round_id: str) -> RoundOut:
    require(ctx, actor, READ, object_type="inspection-round", object_id=round_id)
    row = load_round(session, round_id)
    audited(session, ctx, actor, "read", object_type="inspection-round", object_id=row.id)
    return round_view(session, ctx, row)


@dataclass(frozen=True)
class RoundFilters:
    scope: str | None = None
    node: str | None = None
    kind: str | None = None
    state: str | None = None
    launch_id: str | None = None


def list_rounds(
    session: Session,
    ctx: NodeContext,
    actor: Actor,
    filters: RoundFilters,
    *,
    cursor: str | None,
    limit: int,
) -> RoundPage:
    require(ctx, actor, READ, object_type="inspection-round")
    conditions = [
        *chosen(InspectionRound.held_as, filters.scope, SCOPES),
        *equal_to(
            (InspectionRound.node, filters.node),
            (InspectionRound.kind, filters.kind),
            (InspectionRound.state, filters.state),
            (InspectionRound.launch_id, uuid_cursor(filters.launch_id)),
        ),
    ]
    page, next_cursor = newest_first(
        session, InspectionRound, conditions, cursor=cursor, limit=limit
    )
    audit_listing(session, ctx, actor, "inspection-round", len(page))
    return RoundPage(items=_rounds_out(session, ctx, page), next_cursor=next_cursor)


# -- coverage -----------------------------------------------------------------------------------


def _figures(row: CoverageRow) -> dict[str, int | float | None]:
    return {
        "units_total": row.units_total,
        "units_inspected": row.units_inspected,
        "units_planned": max(0, row.units_in_rounds - row.units_inspected),
        "coverage": round(row.units_inspected / row.units_total, 4) if row.units_total else None,
        "rounds": row.rounds,
        "rounds_in_progress": row.rounds_in_progress,
        "rounds_completed": row.rounds_completed,
        "problems_found": row.problems_found,
    }


def coverage(
    session: Session, ctx: NodeContext, term: Term
) -> tuple[CoverageFigures, list[NodeCoverageOut]]:
    """Coverage of ``term`` per node of the subtree (every node of it, those with nothing too)
    and in total, from the units and rounds held here."""
    nodes = subtree_nodes(ctx)
    found = coverage_by_node(session, nodes, term)
    total = CoverageRow()
    by_node = []
    for node in sorted(ctx.topology.subtree(ctx.node_id)):
        row = found.get(node, CoverageRow())
        for name in vars(total):
            setattr(total, name, getattr(total, name) + getattr(row, name))
        by_node.append(NodeCoverageOut(node=node, node_name=node_name(ctx, node), **_figures(row)))
    return CoverageFigures(**_figures(total)), by_node


def get_coverage(
    session: Session,
    ctx: NodeContext,
    actor: Actor,
    *,
    term_start: date | None = None,
    term_end: date | None = None,
) -> CoverageOut:
    require(ctx, actor, READ, object_type="coverage")
    term = term_of(ctx, term_start, term_end)
    total, by_node = coverage(session, ctx, term)
    audited(session, ctx, actor, "read", object_type="coverage")
    return CoverageOut(
        node=ctx.node_id,
        node_name=node_name(ctx, ctx.node_id),
        term_start=term.start,
        term_end=term.end,
        total=total,
        by_node=by_node,
    )


# -- launches -----------------------------------------------------------------------------------


def target_out(ctx: NodeContext, target: LaunchTarget, now: datetime) -> LaunchTargetOut:
    return LaunchTargetOut(
        launch_id=target.launch_id,
        addressee=target.addressee,
        addressee_name=node_name(ctx, target.addressee),
        state=target.state,
        state_label=TARGET_STATE_LABELS.get(target.state, target.state),
        late=is_late(target.state, target.start_by, now),
        overdue=is_overdue(target.state, target.deadline, now),
        round_id=target.round_id,
        round_title=target.round_title,
        problems_found=target.problems_found,
        received_at=as_aware_or_none(target.received_at),
        linked_at=as_aware_or_none(target.linked_at),
        started_at=as_aware_or_none(target.started_at),
        completed_at=as_aware_or_none(target.completed_at),
        updated_at=as_aware(target.updated_at),
    )


def launch_out(
    ctx: NodeContext, launch: RoundLaunch, targets: list[LaunchTarget], now: datetime
) -> LaunchOut:
    items = [target_out(ctx, t, now) for t in targets]
    return LaunchOut(
        id=launch.id,
        launcher=launch.launcher,
        launcher_name=node_name(ctx, launch.launcher),
        launched_by=launch.launched_by,
        kind=launch.kind,
        kind_label=ROUND_KIND_LABELS.get(launch.kind, launch.kind),
        title=launch.title,
        theme=launch.theme,
        requirements=launch.requirements,
        addressees=list(launch.addressees),
        start_by=as_aware(launch.start_by),
        deadline=as_aware(launch.deadline),
        launched_at=as_aware(launch.launched_at),
        held_as=launch.held_as,
        started=sum(1 for t in items if t.state in ("started", "completed")),
        late=sum(1 for t in items if t.late),
        overdue=sum(1 for t in items if t.overdue),
        problems_found=sum(t.problems_found for t in items),
        targets=items,
    )


def launch_view(session: Session, ctx: NodeContext, launch: RoundLaunch) -> LaunchOut:
    targets = targets_of(session, [launch.id]).get(launch.id, [])
    return launch_out(ctx, launch, targets, ctx.clock.now())


def get_launch(session: Session, ctx: NodeContext, actor: Actor, launch_id: str) -> LaunchOut:
    require(ctx, actor, READ, object_type="round-launch", object_id=launch_id)
    launch = load_launch(session, launch_id)
    audited(session, ctx, actor, "read", object_type="round-launch", object_id=launch.id)
    return launch_view(session, ctx, launch)


BOXES = {"launched": LAUNCHER, "received": ADDRESSEE}


def list_launches(
    session: Session,
    ctx: NodeContext,
    actor: Actor,
    *,
    box: str | None,
    cursor: str | None,
    limit: int,
) -> LaunchPage:
    """Launches made here (``launched``) or received here (``received``), newest first."""
    require(ctx, actor, READ, object_type="round-launch")
    page, next_cursor = newest_first(
        session,
        RoundLaunch,
        chosen(RoundLaunch.held_as, box, BOXES),
        cursor=cursor,
        limit=limit,
    )
    now = ctx.clock.now()
    targets = targets_of(session, [launch.id for launch in page])
    audit_listing(session, ctx, actor, "round-launch", len(page))
    return LaunchPage(
        items=[launch_out(ctx, launch, targets.get(launch.id, []), now) for launch in page],
        next_cursor=next_cursor,
    )
