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


class RecordCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: Annotated[str, StringConstraints(pattern=r"^[a-z_]+$", max_length=40)]
    classification: Classification | None = Field(
        default=None, description="defaults to the category's minimum class"
    )
    title: Title
    body: Body = ""
    parties: list[NodeId] = Field(default_factory=list, max_length=64)


class RecordUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    body: Body | None = None
    parties: list[NodeId] | None = Field(
        default=None, max_length=64, description="parties may be added, never removed"
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

    @model_serializer(mode="wrap")
    def _drop_content_of_stubs(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if self.stub:
            for key in ("author", "title", "body", "parties"):
                data.pop(key, None)
        return data


class RecordPage(BaseModel):
    items: list[RecordOut]
    next_cursor: str | None
