"""Request and response shapes for ``/api/v1/ledger`` (移交台账)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from node.clock import UtcDateTime
from node.records.schemas import NodeId
from node.text import clean_text

LedgerStatus = Literal["transferred", "responded", "closed"]
Department = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200, strip_whitespace=True),
    AfterValidator(clean_text),
]
PersonName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=100, strip_whitespace=True),
    AfterValidator(clean_text),
]
Title = Annotated[str, StringConstraints(min_length=1, max_length=500), AfterValidator(clean_text)]
Note = Annotated[str, StringConstraints(max_length=20_000), AfterValidator(clean_text)]
Uuid = Annotated[str, StringConstraints(min_length=36, max_length=36)]


class LedgerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title
    department: Department
    responsible: PersonName
    feedback_deadline: UtcDateTime
    clue_record_id: Uuid | None = None
    clue_record_origin: NodeId | None = Field(
        default=None,
        description="the clue's origin; needed only when records of several origins share the id",
    )
    order_id: Uuid | None = None


class LedgerFeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Annotated[
        str, StringConstraints(min_length=1, max_length=20_000), AfterValidator(clean_text)
    ]


class LedgerClose(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Note = ""


class FeedbackOut(BaseModel):
    seq: int
    at: datetime
    author: str
    note: str


class LedgerItemOut(BaseModel):
    """An item; a summary (``summary: true``) from below has no title, clue, responsible or
    feedback text."""

    id: str
    node: str
    node_name: str
    summary: bool
    department: str
    feedback_deadline: datetime
    status: LedgerStatus
    status_label: str
    overdue: bool
    feedback_count: int
    last_feedback_at: datetime | None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    version: int
    title: str | None = None
    clue_record_id: str | None = None
    clue_record_origin: str | None = None
    order_id: str | None = None
    responsible: str | None = None
    transferred_by: str | None = None
    closed_by: str | None = None
    feedback: list[FeedbackOut] | None = None


class LedgerPage(BaseModel):
    items: list[LedgerItemOut]
    next_cursor: str | None
