"""The ``record`` and ``attachment-chunk`` envelopes: a record as it travels, in full or as a stub,
with the manifest of its attachments (signed with its version), their bytes chunk by chunk, and
where each goes."""

from __future__ import annotations

from collections.abc import Sequence
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
CONTENT_FIELDS = frozenset({"author", "title", "body", "parties", "attachments"})
Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
MAX_ATTACHMENTS = 200
MAX_CHUNK_BYTES = 2 * 1024**2
"""A chunk's bytes, at most: its envelope (the bytes detached after the header) stays under the
4 MiB envelope cap (``node.replication.envelope.MAX_ENVELOPE_BYTES``) even carried again, base64
inside a sealed ``resend`` (about 16/9 of its size)."""


class AttachmentManifestWire(WireModel):
    """One attachment as a record version names it: the SHA-256 of its bytes is signed with the
    record's version, so every chunk that arrives later is checked against it."""

    id: CanonicalUuid
    filename: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    content_type: Annotated[str, StringConstraints(pattern=r"^[a-z0-9.+/-]{3,120}$")]
    size: Annotated[int, Field(ge=1, le=2**40)]
    sha256: Sha256Hex
    version: Annotated[int, Field(ge=1, le=2**31 - 1)]
    chunk_size: Annotated[int, Field(ge=1, le=MAX_CHUNK_BYTES)]
    chunk_count: Annotated[int, Field(ge=1, le=2**20)]


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
    attachments: Annotated[list[AttachmentManifestWire], Field(max_length=MAX_ATTACHMENTS)] = []

    def envelope_ref(self) -> dict[str, Any]:
        return {"record": self.id, "version": self.version}

    def payload(self) -> dict[str, Any]:
        # A record without attachments travels in the previous format, byte for byte.
        exclude = (
            set(CONTENT_FIELDS) if self.stub else set() if self.attachments else {"attachments"}
        )
        return self.model_dump(mode="json", exclude=exclude)


class AttachmentChunkWire(WireModel):
    """``attachment-chunk``: one chunk of an attachment, from the record's origin only, to exactly
    the nodes the record's class sends its content to, or (``grant_id``) to a grantee's node under
    a release. ``sha256`` is the chunk's own digest; the whole file is checked against the
    manifest once every chunk is in. The bytes are the envelope's detached body (``Envelope.body``:
    in clear for a general record, else sealed with the payload for the destinations only)."""

    record_origin: NodeId
    record_id: CanonicalUuid
    attachment_id: CanonicalUuid
    grant_id: CanonicalUuid | None = None
    index: Annotated[int, Field(ge=0, lt=2**20)]
    sha256: Sha256Hex

    def envelope_ref(self) -> dict[str, Any]:
        return {
            "record": self.record_id,
            "attachment": self.attachment_id,
            "chunk": self.index,
            "grant": self.grant_id,
        }


def record_wire(
    record: Record, *, full: bool, attachments: Sequence[AttachmentManifestWire] = ()
) -> RecordWire:
    """``record`` as it travels: in full (with its attachments' manifest), or as its stub
    (metadata only: not even a filename)."""
    content: dict[str, Any] = {}
    if full:
        content = {
            "author": record.author,
            "title": record.title or "",
            "body": record.body or "",
            "parties": record.party_ids,
            "attachments": list(attachments),
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
