"""Request and response shapes for ``/api/v1/inspected-units`` and ``/api/v1/inspection-rounds``.
Kinds and states carry a stable code and a Chinese label side by side."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from node.clock import UtcDateTime
from node.records.schemas import NodeId
from node.text import validated_text

UnitKind = Literal["party_organ", "institution", "state_enterprise", "township", "village", "other"]
RoundKind = Literal["regular", "special", "mobile", "lookback"]
RoundState = Literal["planned", "in_progress", "completed"]
TargetState = Literal["issued", "received", "linked", "started", "completed"]


UnitName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(validated_text),
]
Sector = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(validated_text),
]
Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
    AfterValidator(validated_text),
]
GroupName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(validated_text),
]
LongText = Annotated[str, StringConstraints(max_length=20_000), AfterValidator(validated_text)]
ObjectId = Annotated[str, StringConstraints(min_length=36, max_length=36)]
Problems = Annotated[int, Field(ge=0, le=100_000)]


# -- inspected units ----------------------------------------------------------------------------


class UnitCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: UnitName
    kind: UnitKind
    sector: Sector


class UnitUpdate(BaseModel):
    """Change a unit; ``active: false`` takes it out of the units to cover (it stays in the
    rounds that covered it)."""

    model_config = ConfigDict(extra="forbid")

    name: UnitName | None = None
    kind: UnitKind | None = None
    sector: Sector | None = None
    active: bool | None = None


class UnitOut(BaseModel):
    id: str
    node: str
    node_name: str
    summary: bool = Field(description="a unit of a node below, held here as a summary")
    name: str
    kind: UnitKind
    kind_label: str
    sector: str
    active: bool
    inspected_in_term: bool = Field(
        description="covered by a started round of a covering kind that began in the term"
    )
    created_at: datetime
    updated_at: datetime
    version: int


class UnitPage(BaseModel):
    items: list[UnitOut]
    next_cursor: str | None


# -- rounds -------------------------------------------------------------------------------------


class RoundCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: RoundKind
    title: Title
    theme: Title
    inspection_group: GroupName
    period_start: date
    period_end: date
    unit_ids: list[ObjectId] = Field(min_length=1, max_length=500)
    launch_id: ObjectId | None = Field(
        default=None, description="a synchronised launch received here that this round answers"
    )


class RoundProgress(BaseModel):
    """Problems found so far (a count; the findings themselves are records)."""

    model_config = ConfigDict(extra="forbid")

    problems_found: Problems


class RoundComplete(BaseModel):
    model_config = ConfigDict(extra="forbid")

    problems_found: Problems | None = None


class RoundLink(BaseModel):
    model_config = ConfigDict(extra="forbid")

    launch_id: ObjectId


class RoundUnitOut(BaseModel):
    id: str
    name: str | None


class RoundOut(BaseModel):
    id: str
    node: str
    node_name: str
    summary: bool
    kind: RoundKind
    kind_label: str
    title: str
    theme: str
    inspection_group: str
    period_start: date
    period_end: date
    state: RoundState
    state_label: str
    problems_found: int
    units: list[RoundUnitOut]
    launch_id: str | None
    launch_origin: str | None
    planned_by: str | None = None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    version: int


class RoundPage(BaseModel):
    items: list[RoundOut]
    next_cursor: str | None


# -- coverage -----------------------------------------------------------------------------------


class CoverageFigures(BaseModel):
    units_total: int = Field(description="active units to cover")
    units_inspected: int = Field(description="of those, covered by a started round in the term")
    units_planned: int = Field(description="of the rest, in a round planned in the term")
    coverage: float | None = Field(description="units_inspected / units_total (None: no units)")
    rounds: int = Field(description="rounds whose period begins in the term")
    rounds_in_progress: int
    rounds_completed: int
    problems_found: int


class NodeCoverageOut(CoverageFigures):
    node: str
    node_name: str


class CoverageOut(BaseModel):
    node: str
    node_name: str
    term_start: date
    term_end: date
    total: CoverageFigures
    by_node: list[NodeCoverageOut]


# -- synchronised launches ----------------------------------------------------------------------


class LaunchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: RoundKind = "special"
    title: Title
    theme: Title
    requirements: LongText = ""
    addressees: list[NodeId] = Field(default_factory=list, max_length=5_000)
    whole_subtree: bool = Field(
        default=False, description="address every node below this one (addressees left empty)"
    )
    start_by: UtcDateTime = Field(description="the addressees start their linked rounds by then")
    deadline: UtcDateTime = Field(description="and complete them by then")


class LaunchTargetOut(BaseModel):
    launch_id: str
    addressee: str
    addressee_name: str
    state: TargetState
    state_label: str
    late: bool = Field(description="not started past start_by")
    overdue: bool = Field(description="not completed past the deadline")
    round_id: str | None
    round_title: str | None
    problems_found: int
    received_at: datetime | None
    linked_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    updated_at: datetime


class LaunchOut(BaseModel):
    id: str
    launcher: str
    launcher_name: str
    launched_by: str
    kind: RoundKind
    kind_label: str
    title: str
    theme: str
    requirements: str
    addressees: list[str]
    start_by: datetime
    deadline: datetime
    launched_at: datetime
    held_as: Literal["launcher", "addressee"]
    started: int = Field(description="addressees that have started (or completed)")
    late: int
    overdue: int
    problems_found: int
    targets: list[LaunchTargetOut]


class LaunchPage(BaseModel):
    items: list[LaunchOut]
    next_cursor: str | None
