"""Attachments (DESIGN §2): upload at the record's origin, listing and download wherever the
record's content may be read. Storage, sealing, routing and purging: ``attachment_store``.

Guarantees:
- Upload: only a user who may change the record, at its origin, on a record that is neither a
  stub nor deleted. The bytes are checked before anything is stored: empty (422
  ``attachment_empty``), over ``attachment_max_bytes`` (413 ``attachment_too_large``), a type
  outside the allowed ones (415 ``attachment_type_not_allowed``, detected from the bytes, never
  from the name) or a declared type that disagrees with the bytes (415
  ``attachment_type_mismatch``). A refusal stores nothing (the request's transaction rolls back,
  the spool is deleted). Adding an attachment bumps the record's version; that version carries
  the manifest (with the SHA-256) signed with it, and the chunks follow it to exactly the record's
  content destinations.
- Listing and download: the same permission as reading the record's content (the policy's
  ``read``, with the grant scope for a case-secret stub); at a grantee's node only the copies
  released under the reader's own active grants. Refusals are audited 403s. Every download is
  audited as ``download-attachment`` (record id, attachment id in the reason, grant id; never the
  filename). A copy whose chunks are still arriving answers 409 ``attachment_incomplete``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import filetype
from sqlalchemy import select
from sqlalchemy.orm import Session

from node.clock import as_aware
from node.common import audited, object_id
from node.context import NodeContext
from node.errors import Conflict, InvalidInput, NodeError, NotFound, PermissionDenied
from node.models import Grant, Record
from node.policy import Actor
from node.records import attachment_store
from node.records.attachment_store import UploadSpool
from node.records.models import Attachment, AttachmentChunk
from node.records.ports import GRANTED_CONTENT
from node.records.schemas import AttachmentList, AttachmentOut
from node.records.service import (
    check_change,
    find_record,
    has_active_grant,
    send_record,
)
from node.records.wire import record_destinations

ALLOWED_TYPES: dict[str, str] = {
    "application/pdf": "PDF",
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/tiff": "TIFF",
    "image/gif": "GIF",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "DOCX",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "XLSX",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "PPTX",
    "application/msword": "DOC",
    "application/vnd.ms-excel": "XLS",
    "application/vnd.ms-powerpoint": "PPT",
    "text/plain": "TXT",
}
"""What a record may carry: scans (PDF and images) and office documents, detected from the
bytes (``detect_type``); plain text only if it is valid UTF-8 without control bytes."""

ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/tif": "image/tiff"}
UNDECLARED = frozenset({"", "application/octet-stream"})


class AttachmentEmpty(InvalidInput):
    code = "attachment_empty"


class AttachmentTooLarge(NodeError):
    code = "attachment_too_large"
    status = 413


class AttachmentTypeNotAllowed(NodeError):
    code = "attachment_type_not_allowed"
    status = 415


class AttachmentTypeMismatch(NodeError):
    code = "attachment_type_mismatch"
    status = 415


class AttachmentNotFound(NotFound):
    code = "attachment_not_found"


class AttachmentIncomplete(Conflict):
    code = "attachment_incomplete"


class AttachmentToStub(Conflict):
    code = "attachment_to_stub"


def detect_type(head: bytes) -> str | None:
    """The content type of a file from its first bytes, if it is one of ``ALLOWED_TYPES``."""
    kind = filetype.guess(head)
    if kind is not None:
        mime = str(kind.mime)
        return mime if mime in ALLOWED_TYPES else None
    return "text/plain" if _plain_text(head) else None


def _plain_text(head: bytes) -> bool:
    # The head may end inside a multi-byte character: a few trailing bytes may be cut.
    for cut in range(4):
        try:
            text = head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        return not any(ch < " " and ch not in "\t\r\n\f" for ch in text)
    return False


def declared_type(header: str | None) -> str:
    """A request's Content-Type without its parameters, lower-case, aliases resolved."""
    value = (header or "").split(";", 1)[0].strip().lower()
    return ALIASES.get(value, value)


def clean_filename(name: str) -> str:
    """A filename as kept: its last path component, no control characters, at most 255
    characters; 422 ``invalid_filename`` if nothing is left."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if ch >= " " and ch != "\x7f").strip()
    if not cleaned or cleaned in (".", ".."):
        raise InvalidInput("the filename is empty", code="invalid_filename")
    return cleaned[:255]


def new_spool(ctx: NodeContext, declared_length: int | None) -> UploadSpool:
    """A spool for an upload; 413 at once if its declared length is over the cap."""
    cap = ctx.settings.attachment_max_bytes
    if declared_length is not None and declared_length > cap:
        raise AttachmentTooLarge(f"an attachment may be at most {cap} bytes")
    return UploadSpool(ctx, max_bytes=cap, chunk_size=ctx.settings.attachment_chunk_bytes)


def too_large(ctx: NodeContext) -> AttachmentTooLarge:
    return AttachmentTooLarge(
        f"an attachment may be at most {ctx.settings.attachment_max_bytes} bytes"
    )


def add_attachment(
    session: Session,
    ctx: NodeContext,
    actor: Actor,
    record_id: str,
    *,
    spool: UploadSpool,
    filename: str,
    content_type: str | None,
    origin: str | None = None,
) -> AttachmentOut:
    """Store the spooled upload on the record (at its origin), bump the record's version and send
    the version (with the manifest) and the chunks to the record's content destinations."""
    record = find_record(session, ctx, actor, record_id, origin)
    if record.is_stub:
        raise AttachmentToStub("this node holds only the record's stub: attach files at its origin")
    check_change(ctx, actor, record, "update")
    name = clean_filename(filename)
    if spool.size == 0:
        raise AttachmentEmpty("the file is empty")
    detected = detect_type(spool.head)
    if detected is None:
        raise AttachmentTypeNotAllowed(
            "only PDF, JPEG, PNG, TIFF, GIF, Word, Excel, PowerPoint and plain text files"
        )
    declared = declared_type(content_type)
    if declared not in UNDECLARED and declared != detected:
        raise AttachmentTypeMismatch(f"the file's bytes are {detected}, not {declared[:80]}")
    now = ctx.clock.now()
    record.version += 1
    record.updated_at = max(now, as_aware(record.updated_at))
    row = Attachment(
        key=spool.key,
        record_origin=record.origin,
        record_id=record.id,
        attachment_id=spool.attachment_id,
        grant_id="",
        filename=name,
        content_type=detected,
        size=spool.size,
        sha256=spool.sha256,
        record_version=record.version,
        chunk_size=spool.chunk_size,
        chunk_count=spool.chunk_count,
        complete=True,
        sealed_key=spool.sealed_key,
        created_at=now,
    )
    session.add(row)
    session.flush()
    audited(
        session,
        ctx,
        actor,
        "attach",
        object_type="record",
        object_id=record.id,
        reason=f"attachment {row.attachment_id}, {row.size} bytes, version {record.version}",
    )
    # The version that names the attachment first, then its chunks (one commit order); each
    # chunk is stored and sent in one pass over the spool.
    send_record(session, ctx, record)
    dest, _full = record_destinations(ctx, record)
    attachment_store.keep_upload(session, ctx, record, row, spool, dest)
    return _out(row)


def _out(row: Attachment) -> AttachmentOut:
    return AttachmentOut(
        id=row.attachment_id,
        record_id=row.record_id,
        origin=row.record_origin,
        filename=row.filename,
        content_type=row.content_type,
        size=row.size,
        sha256=row.sha256,
        version=row.record_version,
        complete=row.complete,
        grant_id=row.grant_id or None,
        created_at=as_aware(row.created_at),
    )


def _readable_copies(
    session: Session, ctx: NodeContext, actor: Actor, record: Record, action: str
) -> list[Attachment]:
    """The copies of ``record``'s attachments ``actor`` may read here: the record's own where
    they may read its content, else those released under their own active grants; an audited
    403 if they may read neither."""
    now = ctx.clock.now()
    if record.is_stub:
        ctx.port(GRANTED_CONTENT).purge_ended(session, ctx, now, record=record)
    granted = has_active_grant(session, actor, record, now)
    if not ctx.policy.allows_on_record(actor, "read", record, has_active_grant=granted):
        raise PermissionDenied(
            "not permitted to read this record's attachments",
            action=action,
            object_type="record",
            object_id=record.id,
        )
    if record.deleted:
        return []
    if not record.is_stub:
        return attachment_store.copies_of(session, record)
    grants = (
        session.execute(
            select(Grant.id).where(
                Grant.record_origin == record.origin,
                Grant.record_id == record.id,
                Grant.grantee_id == actor.user_id,
                Grant.grantee_node == actor.node,
                Grant.revoked_at.is_(None),
                Grant.ended_at.is_(None),
                Grant.granted_at <= now,
                Grant.expires_at > now,
            )
        )
        .scalars()
        .all()
    )
    return attachment_store.copies_of(session, record, grant_ids=list(grants))


def list_attachments(
    session: Session, ctx: NodeContext, actor: Actor, record_id: str, origin: str | None = None
) -> AttachmentList:
    """The record's attachments the actor may read (metadata only), audited as one listing."""
    record = find_record(session, ctx, actor, record_id, origin)
    rows = _readable_copies(session, ctx, actor, record, "list-attachments")
    audited(
        session,
        ctx,
        actor,
        "list-attachments",
        object_type="record",
        object_id=record.id,
        reason=f"{len(rows)} items",
    )
    return AttachmentList(items=[_out(row) for row in rows])


@dataclass(frozen=True)
class Download:
    """What a download streams: the copy's key (the bytes are read chunk by chunk after the
    request's transaction, with its audit entry, has committed) and its headers."""

    key: str
    filename: str
    content_type: str
    size: int
    sha256: str


def open_download(
    session: Session,
    ctx: NodeContext,
    actor: Actor,
    record_id: str,
    attachment_id: str,
    origin: str | None = None,
) -> Download:
    """Check and audit a download (``download-attachment``); the caller streams ``chunks``."""
    record = find_record(session, ctx, actor, record_id, origin)
    wanted = object_id(attachment_id, "attachment")
    rows = [
        r
        for r in _readable_copies(session, ctx, actor, record, "download-attachment")
        if r.attachment_id == wanted
    ]
    if not rows:
        raise AttachmentNotFound("no such attachment")
    row = rows[0]
    if not row.complete:
        raise AttachmentIncomplete("the attachment is still arriving at this node")
    audited(
        session,
        ctx,
        actor,
        "download-attachment",
        object_type="record",
        object_id=record.id,
        grant_id=row.grant_id or None,
        reason=f"attachment {row.attachment_id}",
    )
    return Download(
        key=row.key,
        filename=row.filename,
        content_type=row.content_type,
        size=row.size,
        sha256=row.sha256,
    )


def chunks(ctx: NodeContext, download: Download) -> Iterator[bytes]:
    """The downloaded file's bytes, one chunk at a time, each read in a short session of its
    own (a copy purged meanwhile ends the stream early)."""
    with ctx.sessions() as session:
        row = session.get(Attachment, download.key)
        if row is None:
            return
        data_key = attachment_store.open_data_key(ctx, row)
        count = row.chunk_count
    for index in range(count):
        with ctx.sessions() as session:
            sealed = session.execute(
                select(AttachmentChunk.sealed).where(
                    AttachmentChunk.attachment_key == download.key, AttachmentChunk.idx == index
                )
            ).scalar_one_or_none()
        if sealed is None:
            return
        yield attachment_store.open_chunk(data_key, download.key, index, sealed)
