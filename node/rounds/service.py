"""Inspected units, inspection rounds and synchronised launches: the commands.

Every change is written with its audit entry and its outbound envelopes in one transaction:
a unit's or a round's summary (general-class metadata) to every ancestor, so that coverage and
statistics at any tier above count it; a launch to its addressees; an addressee's progress on a
launch to its launcher (``node.rounds.wire``). What arrives is applied by ``node.rounds.handlers``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.clock import as_aware
from node.common import audited, require
from node.context import NodeContext
from node.deadlines import check_deadline
from node.errors import Conflict, InvalidInput, PermissionDenied
from node.ids import uuid7
from node.policy import Actor
from node.replication.kinds import Kind
from node.rounds.models import InspectedUnit, InspectionRound, LaunchTarget, RoundLaunch, RoundUnit
from node.rounds.queries import load_round, load_unit, lock_target, round_unit_ids
from node.rounds.schemas import (
    LaunchCreate,
    RoundComplete,
    RoundCreate,
    RoundProgress,
    UnitCreate,
    UnitUpdate,
)
from node.rounds.state import (
    ADDRESSEE,
    LAUNCHER,
    OWN,
    ROUND_SOURCES,
    ROUND_STATE_LABELS,
    target_rank,
    target_state_for,
)
from node.rounds.wire import launch_wire, progress_wire, round_wire, unit_wire

MAX_PERIOD = timedelta(days=3 * 366)


class UnitNameTaken(Conflict):
    code = "unit_name_taken"


class IllegalRoundStep(Conflict):
    code = "illegal_transition"


class AlreadyLinked(Conflict):
    code = "already_linked"


def _not_own(what: str, action: str, object_id: str) -> PermissionDenied:
    return PermissionDenied(
        f"only the node that holds this {what} in full may change it",
        action=action,
        object_type=what,
        object_id=object_id,
        code="not_origin",
    )


# -- units --------------------------------------------------------------------------------------


def _check_name_free(session: Session, ctx: NodeContext, name: str, unit_id: str | None) -> None:
    taken = session.execute(
        select(InspectedUnit.id).where(
            InspectedUnit.node == ctx.node_id, InspectedUnit.name == name
        )
    ).scalar_one_or_none()
    if taken is not None and taken != unit_id:
        raise UnitNameTaken("an inspected unit of this name is listed already")


def create_unit(
    session: Session, ctx: NodeContext, actor: Actor, data: UnitCreate
) -> InspectedUnit:
    require(ctx, actor, "manage-units", object_type="inspected-unit")
    _check_name_free(session, ctx, data.name, None)
    now = ctx.clock.now()
    unit = InspectedUnit(
        id=uuid7(),
        node=ctx.node_id,
        held_as=OWN,
        name=data.name,
        kind=data.kind,
        sector=data.sector,
        active=True,
        created_at=now,
        updated_at=now,
        version=1,
    )
    session.add(unit)
    audited(session, ctx, actor, "unit-create", object_type="inspected-unit", object_id=unit.id)
    send_unit_summary(session, ctx, unit)
    return unit


def update_unit(
    session: Session, ctx: NodeContext, actor: Actor, unit_id: str, data: UnitUpdate
) -> InspectedUnit:
    require(ctx, actor, "manage-units", object_type="inspected-unit", object_id=unit_id)
    unit = load_unit(session, unit_id, lock=True)
    if unit.held_as != OWN:
        raise _not_own("inspected-unit", "manage-units", unit.id)
    changes = data.model_dump(exclude_none=True)
    if not changes:
        raise InvalidInput("nothing to change", code="nothing_to_change")
    if "name" in changes:
        _check_name_free(session, ctx, changes["name"], unit.id)
    for name, value in changes.items():
        setattr(unit, name, value)
    unit.updated_at = max(ctx.clock.now(), as_aware(unit.updated_at))
    unit.version += 1
    audited(session, ctx, actor, "unit-update", object_type="inspected-unit", object_id=unit.id)
    send_unit_summary(session, ctx, unit)
    return unit


def send_unit_summary(session: Session, ctx: NodeContext, unit: InspectedUnit) -> None:
    dest = ctx.topology.ancestors(ctx.node_id)
    session.flush()
    ctx.outbox.send(session, Kind.INSPECTED_UNIT_SUMMARY, unit_wire(unit), dest=dest, encrypt=True)


# -- rounds -------------------------------------------------------------------------------------


def _round_units(session: Session, ctx: NodeContext, unit_ids: list[str]) -> list[str]:
    wanted = sorted({u.lower() for u in unit_ids})
    rows = session.execute(
        select(InspectedUnit.id, InspectedUnit.active).where(
            InspectedUnit.id.in_(wanted),
            InspectedUnit.node == ctx.node_id,
            InspectedUnit.held_as == OWN,
        )
    ).all()
    found = {r[0]: bool(r[1]) for r in rows}
    if len(found) != len(wanted):
        raise InvalidInput(
            "a round covers only this node's own inspected units", code="unit_not_found"
        )
    if not all(found.values()):
        raise InvalidInput("a unit taken off the list cannot be covered", code="unit_inactive")
    return wanted


def _received_target(session: Session, ctx: NodeContext, launch_id: str) -> LaunchTarget:
    """This node's part in a launch it received, locked; 422 if there is none."""
    target = lock_target(session, launch_id.lower(), ctx.node_id)
    if target is None or target.held_as != ADDRESSEE:
        raise InvalidInput(
            "no synchronised round addressed to this node has that id", code="launch_not_found"
        )
    if target.round_id is not None:
        raise AlreadyLinked("that synchronised round is answered by another round already")
    return target


def plan_round(
    session: Session, ctx: NodeContext, actor: Actor, data: RoundCreate
) -> InspectionRound:
    require(ctx, actor, "plan-round", object_type="inspection-round")
    if data.period_end < data.period_start:
        raise InvalidInput("the period ends before it starts", code="invalid_period")
    if data.period_end - data.period_start > MAX_PERIOD:
        raise InvalidInput("a round's period is at most three years", code="period_too_long")
    units = _round_units(session, ctx, data.unit_ids)
    target = _received_target(session, ctx, data.launch_id) if data.launch_id else None
    now = ctx.clock.now()
    row = InspectionRound(
        id=uuid7(),
        node=ctx.node_id,
        held_as=OWN,
        kind=data.kind,
        title=data.title,
        theme=data.theme,
        inspection_group=data.inspection_group,
        period_start=data.period_start,
        period_end=data.period_end,
        state="planned",
        problems_found=0,
        launch_id=target.launch_id if target else None,
        launch_origin=target.launcher if target else None,
        planned_by=actor.name,
        created_at=now,
        updated_at=now,
        version=1,
    )
    session.add(row)
    session.add_all(RoundUnit(round_id=row.id, unit_id=unit_id) for unit_id in units)
    audited(session, ctx, actor, "round-plan", object_type="inspection-round", object_id=row.id)
    send_round_summary(session, ctx, row)
    if target is not None:
        _follow_round(session, ctx, target, row, now)
    return row


def link_round(
    session: Session, ctx: NodeContext, actor: Actor, round_id: str, launch_id: str
) -> InspectionRound:
    """Link one of this node's rounds to a synchronised round it received."""
    require(ctx, actor, "plan-round", object_type="inspection-round", object_id=round_id)
    row = _own_round(session, round_id)
    if row.launch_id is not None:
        raise AlreadyLinked("this round answers a synchronised round already")
    target = _received_target(session, ctx, launch_id)
    now = max(ctx.clock.now(), as_aware(row.updated_at))
    row.launch_id = target.launch_id
    row.launch_origin = target.launcher
    row.updated_at = now
    row.version += 1
    audited(
        session,
        ctx,
        actor,
        "round-link",
        object_type="inspection-round",
        object_id=row.id,
        reason=f"launch {target.launch_id} of {target.launcher}",
    )
    send_round_summary(session, ctx, row)
    _follow_round(session, ctx, target, row, now)
    return row


def _own_round(session: Session, round_id: str) -> InspectionRound:
    row = load_round(session, round_id, lock=True)
    if row.held_as != OWN:
        raise _not_own("inspection-round", "plan-round", row.id)
    return row


def round_step(
    session: Session,
    ctx: NodeContext,
    actor: Actor,
    round_id: str,
    action: str,
    data: RoundProgress | RoundComplete | None = None,
) -> InspectionRound:
    """``start`` (进驻), ``progress`` (problems found so far) or ``complete`` one of this node's
    rounds. Wrong node: 403; wrong state: 409."""
    require(ctx, actor, "plan-round", object_type="inspection-round", object_id=round_id)
    row = _own_round(session, round_id)
    if row.state not in ROUND_SOURCES[action]:
        raise IllegalRoundStep(
            f"cannot {action} a round that is {row.state} ({ROUND_STATE_LABELS[row.state]})"
        )
    now = max(ctx.clock.now(), as_aware(row.updated_at))
    if action == "start":
        row.state = "in_progress"
        row.started_at = now
    elif action == "complete":
        row.state = "completed"
        row.completed_at = now
    if data is not None and data.problems_found is not None:
        row.problems_found = data.problems_found
    row.updated_at = now
    row.version += 1
    audited(
        session,
        ctx,
        actor,
        f"round-{action}",
        object_type="inspection-round",
        object_id=row.id,
        reason=f"{row.state}, {row.problems_found} problems",
    )
    send_round_summary(session, ctx, row)
    if row.launch_id is not None:
        target = lock_target(session, row.launch_id, ctx.node_id)
        if target is not None and target.held_as == ADDRESSEE:
            _follow_round(session, ctx, target, row, now)
    return row


def send_round_summary(session: Session, ctx: NodeContext, row: InspectionRound) -> None:
    session.flush()
    units = round_unit_ids(session, [row.id]).get(row.id, [])
    dest = ctx.topology.ancestors(ctx.node_id)
    ctx.outbox.send(session, Kind.ROUND_SUMMARY, round_wire(row, units), dest=dest, encrypt=True)


def _follow_round(
    session: Session, ctx: NodeContext, target: LaunchTarget, row: InspectionRound, now: datetime
) -> None:
    """The linked round moved: this node's part in the launch follows it (forward only) and the
    launcher is told."""
    state = target_state_for(row.state)
    if target_rank(state) < target_rank(target.state):
        state = target.state
    target.state = state
    target.round_id = row.id
    target.round_title = row.title
    target.problems_found = row.problems_found
    if target.linked_at is None:
        target.linked_at = now
    if state in ("started", "completed") and target.started_at is None:
        target.started_at = row.started_at or now
    if state == "completed" and target.completed_at is None:
        target.completed_at = row.completed_at or now
    target.updated_at = now
    target.version += 1
    send_progress(session, ctx, target)


def send_progress(session: Session, ctx: NodeContext, target: LaunchTarget) -> None:
    session.flush()
    ctx.outbox.send(
        session,
        Kind.ROUND_LAUNCH_PROGRESS,
        progress_wire(target),
        dest=[target.launcher],
        encrypt=True,
    )


# -- synchronised launches ----------------------------------------------------------------------


def _addressees(ctx: NodeContext, data: LaunchCreate) -> list[str]:
    topology = ctx.topology
    below = sorted(set(topology.subtree(ctx.node_id)) - {ctx.node_id})
    if data.whole_subtree:
        if data.addressees:
            raise InvalidInput(
                "name addressees or ask for the whole subtree, not both",
                code="addressees_ambiguous",
            )
        addressees = [n for n in below if not topology.is_revoked(n)]
    else:
        addressees = sorted(set(data.addressees))
    if not addressees:
        raise InvalidInput("a synchronised round needs addressees", code="addressees_required")
    for addressee in addressees:
        if addressee not in topology:
            raise InvalidInput(f"unknown node {addressee!r}", code="unknown_addressee")
        if addressee == ctx.node_id or ctx.node_id not in topology.ancestors(addressee):
            raise PermissionDenied(
                f"{ctx.node_id} may address only nodes below it; {addressee} is not",
                action="launch-round",
                object_type="round-launch",
                code="addressee_not_in_subtree",
            )
    return addressees


def launch_round(
    session: Session, ctx: NodeContext, actor: Actor, data: LaunchCreate
) -> RoundLaunch:
    """A synchronised round (同步展开) on a theme for nodes below: they start rounds of their own
    on it by ``start_by`` and complete them by ``deadline``."""
    require(ctx, actor, "launch-round", object_type="round-launch")
    addressees = _addressees(ctx, data)
    now = ctx.clock.now()
    start_by = check_deadline(data.start_by, now, what="start date")
    deadline = check_deadline(data.deadline, now)
    if deadline < start_by:
        raise InvalidInput("the deadline is before the start date", code="deadline_before_start")
    launch = RoundLaunch(
        id=uuid7(),
        launcher=ctx.node_id,
        held_as=LAUNCHER,
        launched_by=actor.name,
        kind=data.kind,
        title=data.title,
        theme=data.theme,
        requirements=data.requirements,
        addressees=addressees,
        start_by=start_by,
        deadline=deadline,
        launched_at=now,
    )
    session.add(launch)
    session.add_all(new_target(launch, addressee, LAUNCHER, now) for addressee in addressees)
    audited(
        session,
        ctx,
        actor,
        "round-launch",
        object_type="round-launch",
        object_id=launch.id,
        reason=f"to {len(addressees)} nodes",
    )
    session.flush()
    ctx.outbox.send(session, Kind.ROUND_LAUNCH, launch_wire(launch), dest=addressees, encrypt=True)
    return launch


def new_target(launch: RoundLaunch, addressee: str, held_as: str, now: datetime) -> LaunchTarget:
    return LaunchTarget(
        launch_id=launch.id,
        addressee=addressee,
        launcher=launch.launcher,
        held_as=held_as,
        state="issued",
        version=1,
        start_by=launch.start_by,
        deadline=launch.deadline,
        problems_found=0,
        updated_at=now,
    )
