"""Inbox handlers for units, rounds and launches: ``inspected-unit-summary`` and
``round-summary`` (a node below -> its ancestors), ``round-launch`` (launcher -> addressees) and
``round-launch-progress`` (addressee -> launcher).

Each handler checks that the sender is entitled to say what it says before anything is written:
only a node speaks for its own units and rounds, and only to its ancestors; only an ancestor
launches, only to nodes below it that it names; only an addressee reports on its own part, only
to the launcher, only forward. A refusal becomes a dead letter with a stable reason. Applying is
idempotent: a summary or a progress report replaces only an older version of what is held.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from node.audit.chain import SYSTEM_ACTOR
from node.clock import as_aware
from node.common import audited, check_from_below, held_summary
from node.context import NodeContext
from node.replication.envelope import Envelope, EnvelopeRejected
from node.replication.kinds import Applied, Kind, KindSpec
from node.rounds.models import InspectedUnit, InspectionRound, RoundLaunch, RoundUnit
from node.rounds.queries import lock_target
from node.rounds.service import new_target, send_progress
from node.rounds.state import ADDRESSEE, LAUNCHER, SUMMARY, target_rank
from node.rounds.wire import LaunchProgressWire, LaunchWire, RoundSummaryWire, UnitSummaryWire


def apply_unit_summary(
    session: Session, ctx: NodeContext, envelope: Envelope, wire: UnitSummaryWire
) -> Applied:
    check_from_below(ctx, envelope, wire.node)
    unit = held_summary(session, InspectedUnit, wire.id, node=wire.node, summary=SUMMARY)
    if unit is not None and unit.version >= wire.version:
        return wire.id, wire.version
    clash = session.execute(
        select(InspectedUnit.id).where(
            InspectedUnit.node == wire.node,
            InspectedUnit.name == wire.name,
            InspectedUnit.id != wire.id,
        )
    ).scalar_one_or_none()
    if clash is not None:
        raise EnvelopeRejected("duplicate_name")  # the origin's own list never holds one
    if unit is None:
        unit = InspectedUnit(id=wire.id, node=wire.node, held_as=SUMMARY)
        session.add(unit)
    unit.name = wire.name
    unit.kind = wire.kind
    unit.sector = wire.sector
    unit.active = wire.active
    unit.created_at = wire.created_at
    unit.updated_at = wire.updated_at
    unit.version = wire.version
    session.flush()
    return wire.id, wire.version


def apply_round_summary(
    session: Session, ctx: NodeContext, envelope: Envelope, wire: RoundSummaryWire
) -> Applied:
    check_from_below(ctx, envelope, wire.node)
    if wire.period_end < wire.period_start:
        raise EnvelopeRejected("malformed")
    row = held_summary(session, InspectionRound, wire.id, node=wire.node, summary=SUMMARY)
    if row is not None and row.version >= wire.version:
        return wire.id, wire.version
    if row is None:
        row = InspectionRound(id=wire.id, node=wire.node, held_as=SUMMARY)
        session.add(row)
    for name in (
        "kind",
        "title",
        "theme",
        "inspection_group",
        "period_start",
        "period_end",
        "state",
        "problems_found",
        "launch_id",
        "launch_origin",
        "created_at",
        "updated_at",
        "started_at",
        "completed_at",
        "version",
    ):
        setattr(row, name, getattr(wire, name))
    session.flush()
    # Coverage joins a round's units on the round's own node, so ids of another node's units
    # count for nothing.
    session.execute(delete(RoundUnit).where(RoundUnit.round_id == wire.id))
    session.add_all(RoundUnit(round_id=wire.id, unit_id=u) for u in sorted(set(wire.unit_ids)))
    session.flush()
    return wire.id, wire.version


def receive_launch(
    session: Session, ctx: NodeContext, envelope: Envelope, wire: LaunchWire
) -> Applied:
    """A synchronised round arrives at an addressee: hold it, mark it received, tell the
    launcher."""
    origin = envelope.origin
    if wire.launcher != origin:
        raise EnvelopeRejected("origin_mismatch")
    if ctx.node_id not in wire.addressees:
        raise EnvelopeRejected("not_addressed")
    if origin not in ctx.topology.ancestors(ctx.node_id):
        raise EnvelopeRejected("not_in_subtree")
    if wire.deadline < wire.start_by:
        raise EnvelopeRejected("malformed")
    if session.get(RoundLaunch, wire.id) is not None:
        return wire.id, 1
    launch = RoundLaunch(
        id=wire.id,
        launcher=origin,
        held_as=ADDRESSEE,
        launched_by=wire.launched_by,
        kind=wire.kind,
        title=wire.title,
        theme=wire.theme,
        requirements=wire.requirements,
        addressees=sorted(set(wire.addressees)),
        start_by=wire.start_by,
        deadline=wire.deadline,
        launched_at=wire.launched_at,
    )
    session.add(launch)
    now = max(ctx.clock.now(), as_aware(wire.launched_at))
    target = new_target(launch, ctx.node_id, ADDRESSEE, now)
    target.state = "received"
    target.version = 2
    target.received_at = now
    session.add(target)
    audited(
        session,
        ctx,
        SYSTEM_ACTOR,
        "round-launch-receive",
        object_type="round-launch",
        object_id=wire.id,
        reason=f"from {origin}",
    )
    send_progress(session, ctx, target)
    return wire.id, 1


def apply_progress(
    session: Session, ctx: NodeContext, envelope: Envelope, wire: LaunchProgressWire
) -> Applied:
    """An addressee's part in one of our launches moved: take its snapshot if newer, forward
    only, its round fixed once linked."""
    origin, addressee = envelope.origin, wire.addressee
    if origin != addressee:
        raise EnvelopeRejected("not_permitted")
    launch = session.get(RoundLaunch, wire.launch_id)
    target = lock_target(session, wire.launch_id, addressee)
    if launch is None or launch.held_as != LAUNCHER:
        raise EnvelopeRejected("unknown_launch")
    if target is None or target.held_as != LAUNCHER or addressee not in launch.addressees:
        raise EnvelopeRejected("not_addressed")
    if wire.version <= target.version:
        return wire.launch_id, wire.version
    if wire.state == "issued" or target_rank(wire.state) < target_rank(target.state):
        raise EnvelopeRejected("illegal_transition")
    linked = wire.state in ("linked", "started", "completed")
    if linked != (wire.round_id is not None):
        raise EnvelopeRejected("malformed")
    if target.round_id is not None and wire.round_id != target.round_id:
        raise EnvelopeRejected("illegal_transition")  # a part is answered by one round
    target.state = wire.state
    target.version = wire.version
    target.round_id = wire.round_id
    target.round_title = wire.round_title
    target.problems_found = wire.problems_found
    for name in ("received_at", "linked_at", "started_at", "completed_at", "updated_at"):
        setattr(target, name, getattr(wire, name))
    audited(
        session,
        ctx,
        SYSTEM_ACTOR,
        f"round-launch-{wire.state}",
        object_type="round-launch",
        object_id=wire.launch_id,
        reason=f"by {origin}: {wire.problems_found} problems",
    )
    return wire.launch_id, wire.version


KINDS: tuple[KindSpec[NodeContext, Any], ...] = (
    KindSpec(
        Kind.INSPECTED_UNIT_SUMMARY,
        wire=UnitSummaryWire,
        ref_key="unit",
        handler=apply_unit_summary,
    ),
    KindSpec(
        Kind.ROUND_SUMMARY, wire=RoundSummaryWire, ref_key="round", handler=apply_round_summary
    ),
    KindSpec(Kind.ROUND_LAUNCH, wire=LaunchWire, ref_key="launch", handler=receive_launch),
    KindSpec(
        Kind.ROUND_LAUNCH_PROGRESS,
        wire=LaunchProgressWire,
        ref_key="launch",
        handler=apply_progress,
    ),
)
