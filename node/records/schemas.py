"""Request and response shapes for ``/api/v1/records`` (names fixed by DESIGN §9)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    model_serializer,
)

from node.text import validated_text

Classification = Literal["general", "restricted", "secret"]
NodeId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]+$", max_length=64)]
Title = Annotated[
    str, StringConstraints(min_length=1, max_length=500), AfterValidator(validated_text)
]
Body = Annotated[str, StringConstraints(max_length=100_000), AfterValidator(validated_text)]


class ReporterIn(BaseModel):
    """The reporter (举报人) of a petition or problem clue. Stored sealed at the origin only, apart
    from the record (``node.records.reporter``); never echoed in an error."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
        AfterValidator(validated_text),
    ] = Field(description="the reporter's name")
    contact: Annotated[
        str,
        StringConstraints(strip_whitespace=True, max_length=200),
        AfterValidator(validated_text),
    ] = Field(default="", description="phone, address or other contact")
    relationship: Annotated[
        str,
        StringConstraints(strip_whitespace=True, max_length=100),
        AfterValidator(validated_text),
    ] = Field(default="", description="the reporter's relation to the matter or the person named")


class ReporterOut(BaseModel):
    """The reporter as its author, the origin's approvers, or a grantee (under a grant that
    released it) read it."""

    record_id: str
    origin: str
    name: str
    contact: str
    relationship: str
    grant_id: str | None = Field(default=None, description="the grant a grantee reads it under")


class RecordCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: Annotated[str, StringConstraints(pattern=r"^[a-z_]+$", max_length=40)]
    classification: Classification | None = Field(
        default=None, description="defaults to the category's minimum class"
    )
    title: Title
    body: Body = ""
    parties: list[NodeId] = Field(default_factory=list, max_length=64)
    reporter: ReporterIn | None = Field(
        default=None,
        description="petition and problem_clue only (else 422 reporter_not_allowed): sealed "
        "apart from the record, never shown in the record, a stub or a list",
    )


class RecordUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    body: Body | None = None
    parties: list[NodeId] | None = Field(
        default=None, max_length=64, description="parties may be added, never removed"
    )
    reporter: ReporterIn | None = Field(
        default=None,
        description="set or replace the reporter (the record's author only; petition and "
        "problem_clue only); does not change the record's version",
    )


class RecordOut(BaseModel):
    """A record, or a stub (``stub: true``, no ``title``/``body``)."""

    id: str
    origin: str
    author: str | None = None
    category: str
    category_label: str
    classification: Classification
    title: str | None = None
    body: str | None = None
    parties: list[str] | None = None
    version: int
    created_at: datetime
    updated_at: datetime
    deleted: bool
    stub: bool = False
    status: str
    has_reporter: bool | None = Field(
        default=None,
        description="only in a single record's answer at its origin, to those who may read "
        "its reporter (its author and the origin's approvers); absent for everyone else",
    )

    @model_serializer(mode="wrap")
    def _drop_content_of_stubs(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if self.has_reporter is None:
            data.pop("has_reporter", None)
        if self.stub:
            for key in ("author", "title", "body", "parties"):
                data.pop(key, None)
        return data


class RecordPage(BaseModel):
    items: list[RecordOut]
    next_cursor: str | None


class AttachmentOut(BaseModel):
    """A file on a record, as a reader of the record's content sees it (no bytes)."""

    id: str
    record_id: str
    origin: str
    filename: str
    content_type: str
    size: int
    sha256: str
    version: int = Field(description="the record version that added it")
    complete: bool = Field(description="false while its chunks are still arriving here")
    grant_id: str | None = None
    created_at: datetime


class AttachmentList(BaseModel):
    items: list[AttachmentOut]
