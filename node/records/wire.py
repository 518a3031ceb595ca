"""The ``record`` envelope: a record as it travels, in full or as a stub, and where it goes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StrictBool, StringConstraints

from node.clock import WireDateTime
from node.context import NodeContext
from node.ids import CanonicalUuid
from node.models import Record
from node.replication.envelope import BROADCAST
from node.replication.kinds import WireModel
from node.text import clean_text

NodeId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]{1,64}$")]
CONTENT_FIELDS = frozenset({"author", "title", "body", "parties"})


class RecordWire(WireModel):
    """A record as it travels: validated whole before anything is written. A stub carries no
    content fields at all."""

    id: CanonicalUuid
    origin: NodeId
    category: Annotated[str, StringConstraints(max_length=40)]
    classification: Literal["general", "restricted", "secret"]
    version: Annotated[int, Field(ge=1, le=2**31 - 1)]
    created_at: WireDateTime
    updated_at: WireDateTime
    deleted: StrictBool
    stub: StrictBool
    author: Annotated[str, StringConstraints(max_length=100), AfterValidator(clean_text)] = ""
    title: Annotated[str, StringConstraints(max_length=500), AfterValidator(clean_text)] = ""
    body: Annotated[str, StringConstraints(max_length=100_000), AfterValidator(clean_text)] = ""
    parties: list[NodeId] = []

    def envelope_ref(self) -> dict[str, Any]:
        return {"record": self.id, "version": self.version}

    def payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude=set(CONTENT_FIELDS) if self.stub else None)


def record_wire(record: Record, *, full: bool) -> RecordWire:
    """``record`` as it travels: in full, or as its stub (metadata only)."""
    content: dict[str, Any] = {}
    if full:
        content = {
            "author": record.author,
            "title": record.title or "",
            "body": record.body or "",
            "parties": record.party_ids,
        }
    return RecordWire(
        id=record.id,
        origin=record.origin,
        category=record.category,
        classification=record.classification,
        version=record.version,
        created_at=record.created_at,
        updated_at=record.updated_at,
        deleted=record.deleted,
        stub=not full,
        **content,
    )


def record_destinations(ctx: NodeContext, record: Record) -> tuple[list[str], bool]:
    """(destinations, full content?) for a record by class: DESIGN §3 routing."""
    if record.classification == "general":
        return [BROADCAST], True
    if record.classification == "restricted":
        return record.party_ids, True
    stub_to = set(ctx.topology.ancestors(record.origin)) | set(record.party_ids)
    stub_to.discard(record.origin)
    return sorted(stub_to), False
