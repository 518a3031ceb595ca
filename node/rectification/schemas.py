"""Request and response shapes for ``/api/v1/rectifications`` (整改). States carry a stable code
and a Chinese label side by side."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from node.clock import UtcDateTime
from node.records.schemas import NodeId
from node.text import clean_text

RectificationState = Literal["issued", "reported", "accepted", "returned", "closed", "reopened"]
UnitName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200, strip_whitespace=True),
    AfterValidator(clean_text),
]
UnitId = Annotated[str, StringConstraints(min_length=36, max_length=36)]
PersonName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=100, strip_whitespace=True),
    AfterValidator(clean_text),
]
DemandText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=20_000, strip_whitespace=True),
    AfterValidator(clean_text),
]
Title = Annotated[str, StringConstraints(min_length=1, max_length=500), AfterValidator(clean_text)]
Note = Annotated[str, StringConstraints(max_length=20_000), AfterValidator(clean_text)]
LongText = Annotated[str, StringConstraints(max_length=100_000), AfterValidator(clean_text)]
RecordId = Annotated[str, StringConstraints(min_length=36, max_length=36)]


class DemandIn(BaseModel):
    """One rectification demand (整改意见): what the unit must put right, by when, who answers."""

    model_config = ConfigDict(extra="forbid")

    content: DemandText
    deadline: UtcDateTime
    responsible: PersonName


class RectificationCreate(BaseModel):
    """A finding (an ``inspection_finding`` record held here) becomes one or more demands to an
    inspected unit: one of this node's inspected units (``unit_id``, ``/api/v1/inspected-units``)
    or, by name, any unit (linked to the list when a unit of that name is on it)."""

    model_config = ConfigDict(extra="forbid")

    finding_record_id: RecordId
    finding_record_origin: NodeId | None = Field(
        default=None,
        description="the finding's origin; needed only when records of several origins share "
        "the id",
    )
    unit_name: UnitName | None = Field(
        default=None, description="the unit's name; taken from the list when unit_id is given"
    )
    unit_id: UnitId | None = Field(
        default=None, description="the unit's id in this node's list of inspected units"
    )
    demands: list[DemandIn] = Field(min_length=1, max_length=50)


class RectificationReport(BaseModel):
    """The unit's rectification report (整改情况报告): stored as a restricted record naming this
    node's superior."""

    model_config = ConfigDict(extra="forbid")

    title: Title
    body: LongText = ""
    category: Annotated[str, StringConstraints(pattern=r"^[a-z_]+$", max_length=40)] = (
        "inspection_finding"
    )


class RectificationDecision(BaseModel):
    """Body of accept / return. A return needs a note and may set a new deadline."""

    model_config = ConfigDict(extra="forbid")

    note: Note = ""
    deadline: UtcDateTime | None = None


class EvidenceIn(BaseModel):
    """A record held here (and optionally one of its attachments) that shows the rectification."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    record_id: RecordId
    record_origin: NodeId | None = None
    attachment_id: RecordId | None = None


class RectificationClose(BaseModel):
    """销号: only with evidence."""

    model_config = ConfigDict(extra="forbid")

    evidence: list[EvidenceIn] = Field(default_factory=list, max_length=20)
    note: Note = ""


class LookBack(BaseModel):
    """回头看: reopen a unit's closed demands for re-checking (all of them, or those named)."""

    model_config = ConfigDict(extra="forbid")

    unit_name: UnitName
    deadline: UtcDateTime
    note: Note = ""
    ids: list[RecordId] | None = Field(default=None, max_length=200)


class EvidenceOut(BaseModel):
    record_id: str
    record_origin: str
    attachment_id: str | None


class EventOut(BaseModel):
    seq: int
    action: str
    action_label: str
    state: RectificationState
    state_label: str
    actor: str
    role: str
    note: str | None
    record_id: str | None
    deadline: datetime | None
    at: datetime
    evidence: list[EvidenceOut] = Field(default_factory=list)


class RectificationOut(BaseModel):
    """A demand; a summary (``summary: true``) from below has no finding, text, person
    responsible, report or history."""

    id: str
    node: str
    node_name: str
    summary: bool
    unit_id: str | None
    unit_name: str
    state: RectificationState
    state_label: str
    overdue: bool
    version: int
    deadline: datetime
    issued_at: datetime
    updated_at: datetime
    reported_at: datetime | None
    accepted_at: datetime | None
    closed_at: datetime | None
    reopened_at: datetime | None
    returns: int
    lookbacks: int
    finding_record_id: str | None = None
    finding_record_origin: str | None = None
    content: str | None = None
    responsible: str | None = None
    issued_by: str | None = None
    report_record_id: str | None = None
    events: list[EventOut] | None = None


class RectificationPage(BaseModel):
    items: list[RectificationOut]
    next_cursor: str | None


class RectificationBatch(BaseModel):
    items: list[RectificationOut]
