"""The envelope kinds of units, rounds and launches and their wire models, built from rows when
sent and validated whole on receipt:

- ``inspected-unit-summary`` (a node -> every ancestor, sealed): one of its units;
- ``round-summary`` (a node -> every ancestor, sealed): one of its rounds, with the ids of the
  units it covers and the launch it answers;
- ``round-launch`` (launcher -> addressees, sealed): a synchronised round as launched;
- ``round-launch-progress`` (addressee -> launcher, sealed): its part's state, linked round and
  problems found.

Summaries carry general-class metadata only (names, kinds, themes, periods, states, counts).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from node.clock import WireDateTime
from node.ids import CanonicalUuid
from node.replication.kinds import WireModel
from node.rounds.models import InspectedUnit, InspectionRound, LaunchTarget, RoundLaunch
from node.rounds.schemas import RoundKind, RoundState, TargetState, UnitKind

Text100 = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Text200 = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Text500 = Annotated[str, StringConstraints(min_length=1, max_length=500)]

NodeName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]+$", max_length=64)]
Count = Annotated[int, Field(ge=0, le=100_000)]
Version = Annotated[int, Field(ge=1)]


class UnitSummaryWire(WireModel):
    id: CanonicalUuid
    node: NodeName
    name: Text200
    kind: UnitKind
    sector: Text100
    active: bool
    created_at: WireDateTime
    updated_at: WireDateTime
    version: Version

    def envelope_ref(self) -> dict[str, Any]:
        return {"unit": self.id, "version": self.version}


class RoundSummaryWire(WireModel):
    id: CanonicalUuid
    node: NodeName
    kind: RoundKind
    title: Text500
    theme: Text500
    inspection_group: Text200
    period_start: date
    period_end: date
    state: RoundState
    problems_found: Count
    unit_ids: list[CanonicalUuid] = Field(max_length=500)
    launch_id: CanonicalUuid | None
    launch_origin: NodeName | None
    created_at: WireDateTime
    updated_at: WireDateTime
    started_at: WireDateTime | None
    completed_at: WireDateTime | None
    version: Version

    def envelope_ref(self) -> dict[str, Any]:
        return {"round": self.id, "version": self.version}


class LaunchWire(WireModel):
    id: CanonicalUuid
    launcher: NodeName
    launched_by: Text100
    kind: RoundKind
    title: Text500
    theme: Text500
    requirements: Annotated[str, StringConstraints(max_length=20_000)]
    addressees: list[NodeName] = Field(min_length=1, max_length=5_000)
    start_by: WireDateTime
    deadline: WireDateTime
    launched_at: WireDateTime

    def envelope_ref(self) -> dict[str, Any]:
        return {"launch": self.id}


class LaunchProgressWire(WireModel):
    launch_id: CanonicalUuid
    addressee: NodeName
    state: TargetState
    version: Version
    round_id: CanonicalUuid | None
    round_title: Annotated[str, StringConstraints(max_length=500)] | None
    problems_found: Count
    received_at: WireDateTime | None
    linked_at: WireDateTime | None
    started_at: WireDateTime | None
    completed_at: WireDateTime | None
    updated_at: WireDateTime

    def envelope_ref(self) -> dict[str, Any]:
        return {"launch": self.launch_id, "addressee": self.addressee, "version": self.version}


# -- from rows ----------------------------------------------------------------------------------


def unit_wire(unit: InspectedUnit) -> UnitSummaryWire:
    return UnitSummaryWire(
        id=unit.id,
        node=unit.node,
        name=unit.name,
        kind=unit.kind,
        sector=unit.sector,
        active=unit.active,
        created_at=unit.created_at,
        updated_at=unit.updated_at,
        version=unit.version,
    )


def round_wire(row: InspectionRound, unit_ids: list[str]) -> RoundSummaryWire:
    return RoundSummaryWire(
        id=row.id,
        node=row.node,
        kind=row.kind,
        title=row.title,
        theme=row.theme,
        inspection_group=row.inspection_group,
        period_start=row.period_start,
        period_end=row.period_end,
        state=row.state,
        problems_found=row.problems_found,
        unit_ids=sorted(unit_ids),
        launch_id=row.launch_id,
        launch_origin=row.launch_origin,
        created_at=row.created_at,
        updated_at=row.updated_at,
        started_at=row.started_at,
        completed_at=row.completed_at,
        version=row.version,
    )


def launch_wire(launch: RoundLaunch) -> LaunchWire:
    return LaunchWire(
        id=launch.id,
        launcher=launch.launcher,
        launched_by=launch.launched_by,
        kind=launch.kind,
        title=launch.title,
        theme=launch.theme,
        requirements=launch.requirements,
        addressees=list(launch.addressees),
        start_by=launch.start_by,
        deadline=launch.deadline,
        launched_at=launch.launched_at,
    )


def progress_wire(target: LaunchTarget) -> LaunchProgressWire:
    return LaunchProgressWire(
        launch_id=target.launch_id,
        addressee=target.addressee,
        state=target.state,
        version=target.version,
        round_id=target.round_id,
        round_title=target.round_title,
        problems_found=target.problems_found,
        received_at=target.received_at,
        linked_at=target.linked_at,
        started_at=target.started_at,
        completed_at=target.completed_at,
        updated_at=target.updated_at,
    )
