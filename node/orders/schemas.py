"""Request and response shapes for ``/api/v1/orders``. States carry a stable code and a Chinese
label side by side."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from node.clock import UtcDateTime
from node.records.schemas import NodeId
from node.text import clean_text

OrderState = Literal[
    "issued",
    "received",
    "acknowledged",
    "in_progress",
    "reported",
    "accepted",
    "returned",
    "closed",
]
ShortText = Annotated[
    str, StringConstraints(min_length=1, max_length=500), AfterValidator(clean_text)
]
Note = Annotated[str, StringConstraints(max_length=20_000), AfterValidator(clean_text)]
LongText = Annotated[str, StringConstraints(max_length=100_000), AfterValidator(clean_text)]
RecordId = Annotated[str, StringConstraints(min_length=36, max_length=36)]


class AttachmentRef(BaseModel):
    """A record to attach, by id and, where records of several origins share the id, origin."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    record_id: RecordId
    record_origin: NodeId | None = None


def attachment_ref(value: str | AttachmentRef) -> AttachmentRef:
    """An attachment as given (a bare id or a reference), with its id in canonical form."""
    if isinstance(value, str):
        return AttachmentRef(record_id=value.lower())
    return AttachmentRef(record_id=value.record_id.lower(), record_origin=value.record_origin)


class OrderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: ShortText
    addressees: list[NodeId] = Field(min_length=1, max_length=64)
    inspected_units: list[ShortText] = Field(default_factory=list, max_length=100)
    focus_issues: list[ShortText] = Field(default_factory=list, max_length=100)
    attachments: list[RecordId | AttachmentRef] = Field(
        default_factory=list,
        max_length=100,
        description="records held here: an id, or {record_id, record_origin} when records of "
        "several origins share the id",
    )
    request_secret_access: bool = Field(
        default=False,
        description="file, for each addressee, an access request for each attached case-secret "
        "record of this node: the addressee's handler reads it only once this node's approvers "
        "approve (the category's number of approvals), for the grant's capped time, and at the "
        "latest until the order closes",
    )
    deadline: UtcDateTime


class OrderNote(BaseModel):
    """Body of acknowledge / progress: a note (required for progress)."""

    model_config = ConfigDict(extra="forbid")

    note: Note = ""


class OrderDecision(BaseModel):
    """Body of accept / return / close at the issuer: which addressee (optional when only one)."""

    model_config = ConfigDict(extra="forbid")

    addressee: NodeId | None = None
    note: Note = ""


class OrderReport(BaseModel):
    """The findings report: stored as a restricted record naming the issuer."""

    model_config = ConfigDict(extra="forbid")

    title: ShortText
    body: LongText = ""
    category: Annotated[str, StringConstraints(pattern=r"^[a-z_]+$", max_length=40)] = (
        "inspection_finding"
    )


class AttachmentOut(BaseModel):
    record_id: str
    origin: str
    classification: str
    category: str
    access_requested: bool = Field(
        description="a case-secret record of the issuer: access requests were filed for the "
        "addressees (see /api/v1/access-requests)"
    )


class EventOut(BaseModel):
    seq: int
    action: str
    action_label: str
    state: OrderState
    state_label: str
    node: str
    actor: str
    role: str
    note: str | None
    at: datetime


class TargetOut(BaseModel):
    """One addressee's state; at nodes that hold only a summary, no report id, handler or events."""

    order_id: str
    issuer: str
    addressee: str
    addressee_name: str
    state: OrderState
    state_label: str
    version: int
    deadline: datetime
    overdue: bool
    issued_at: datetime
    received_at: datetime | None
    acknowledged_at: datetime | None
    reported_at: datetime | None
    accepted_at: datetime | None
    closed_at: datetime | None
    returns: int
    held_as: str
    report_record_id: str | None = None
    handler: str | None = None
    events: list[EventOut] | None = None


class OrderOut(BaseModel):
    id: str
    issuer: str
    issuer_name: str
    issued_by: str
    title: str
    inspected_units: list[str]
    focus_issues: list[str]
    addressees: list[str]
    deadline: datetime
    issued_at: datetime
    held_as: Literal["issuer", "addressee"]
    overdue: bool
    attachments: list[AttachmentOut]
    targets: list[TargetOut]


class OrderPage(BaseModel):
    items: list[OrderOut]
    next_cursor: str | None


class TargetPage(BaseModel):
    items: list[TargetOut]
    next_cursor: str | None
