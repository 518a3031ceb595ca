"""Attachments at rest and on the wire: sealed chunks, manifests, chunk envelopes, purges.

Guarantees:
- At rest an attachment's bytes exist only sealed: each copy held here (``Attachment``) has its
  own fresh AES-256-GCM data key, wrapped for this node's own X25519 key (``crypto.seal``, as the
  reporter is), and each chunk is ``nonce || AES-GCM(chunk)`` with the copy's key and the chunk's
  index as associated data (a chunk moved to another copy or position does not open). Nothing here
  writes a plaintext byte of an attachment to the database or to disk; an upload is spooled to a
  temporary file sealed the same way (``UploadSpool``).
- On the wire every chunk is one ``attachment-chunk`` envelope from the record's origin, to
  exactly the destinations of the record's content (``record_destinations``: general to every
  node in clear; restricted sealed for the named parties; case-secret never, except released to a
  grantee's node, sealed for it alone and bound to the grant). The chunk's bytes are the
  envelope's detached body (``node.replication.envelope``: no base64; their length and SHA-256
  signed in the header; sealed under a key derived per message from the copy's data key,
  ``wire_key``), and the envelope is kept for resending without them: ``rebuild_chunk`` makes it
  again, byte for byte, from the origin's copy. The record version that adds an
  attachment carries its manifest (id, name, type, size, SHA-256, chunking), signed by the origin
  with the version, and is queued before the chunks, so a receiver holds the manifest first.
- A receiver keeps each chunk once (idempotent by (copy, index)), checks its SHA-256 and length on
  arrival, and marks the copy complete only when every chunk is in and the whole file's SHA-256
  is the manifest's. Chunks already received survive a cut link; the rest follow from the streams.
- ``purge_record`` (a tombstone) deletes every copy of a record's attachments and every chunk
  envelope of it still waiting in the outbox or kept for resending; ``purge_released`` deletes
  the copy released under a grant when the grant ends. Both mark the transaction purged, so on
  SQLite the commit truncates the WAL (``node.db.mark_purged``; ``secure_delete`` zeroes pages).
- Nothing here logs, audits or raises with a filename or a byte of content.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from node.context import NodeContext
from node.crypto import CryptoError, canonical_json, open_sealed, seal
from node.db import mark_purged
from node.ids import uuid7
from node.models import OutboxMessage, Record, SentSequence
from node.records.models import Attachment, AttachmentChunk
from node.records.wire import AttachmentChunkWire, AttachmentManifestWire
from node.replication.envelope import BodyKey, kept_header, rebuild_detached
from node.replication.kinds import Kind
from node.storage import private_dir

KEY_AAD = b"fedshare/v1/attachment-key"
CHUNK_AAD = b"fedshare/v1/attachment-chunk"
WIRE_KEY_INFO = b"fedshare/v1/attachment-wire|"
NONCE_BYTES = 12


# -- sealing at rest ----------------------------------------------------------------------------


def _key_aad(copy_key: str) -> bytes:
    return b"|".join((KEY_AAD, copy_key.encode()))


def _chunk_aad(copy_key: str, index: int) -> bytes:
    return b"|".join((CHUNK_AAD, copy_key.encode(), str(index).encode()))


def new_sealed_key(ctx: NodeContext, copy_key: str) -> tuple[bytes, str]:
    """A fresh data key for the copy ``copy_key`` and its wrapped form (JSON, for this node)."""
    data_key = AESGCM.generate_key(bit_length=256)
    sealed = seal(data_key, {ctx.node_id: ctx.keys.encryption_public_b64}, aad=_key_aad(copy_key))
    return data_key, canonical_json(sealed).decode("ascii")


def open_data_key(ctx: NodeContext, row: Attachment) -> bytes:
    """The data key of a copy held here (``CryptoError`` if it does not open)."""
    try:
        sealed: dict[str, Any] = json.loads(row.sealed_key)
    except ValueError as exc:
        raise CryptoError("the attachment key does not open") from exc
    return open_sealed(sealed, ctx.node_id, ctx.keys.encryption, aad=_key_aad(row.key))


def seal_chunk(data_key: bytes, copy_key: str, index: int, plaintext: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(data_key).encrypt(nonce, plaintext, _chunk_aad(copy_key, index))


def open_chunk(data_key: bytes, copy_key: str, index: int, sealed: bytes) -> bytes:
    try:
        return AESGCM(data_key).decrypt(
            sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], _chunk_aad(copy_key, index)
        )
    except (InvalidTag, ValueError) as exc:
        raise CryptoError("an attachment chunk does not open") from exc


def wire_key(data_key: bytes) -> BodyKey:
    """The key and nonce that seal a chunk envelope's body (``envelope.BodyKey``): derived from
    the copy's data key and the message id, one pair per envelope (HMAC-SHA512, so a destination
    that learns one learns nothing of the data key), and the same again when the origin rebuilds
    the envelope for a resend."""

    def derive(msg_id: str) -> tuple[bytes, bytes]:
        material = hmac.digest(data_key, WIRE_KEY_INFO + msg_id.encode(), "sha512")
        return material[:32], material[32:44]

    return derive


# -- an upload on its way in --------------------------------------------------------------------


class UploadTooLarge(Exception):
    """The upload went past the node's cap (the caller answers 413; nothing is kept)."""


@dataclass
class UploadSpool:
    """An upload read from the request stream: sealed chunk by chunk into a temporary file under
    the node's data directory (never plaintext on disk, never the whole file twice in memory),
    with its size, SHA-256 and first bytes (for the content type) kept aside."""

    ctx: NodeContext
    max_bytes: int
    chunk_size: int
    key: str = field(default_factory=uuid7)
    attachment_id: str = field(default_factory=uuid7)
    size: int = 0
    head: bytes = b""
    _digest: Any = field(default_factory=hashlib.sha256)
    _pending: bytearray = field(default_factory=bytearray)
    _lengths: list[int] = field(default_factory=list)
    _file: BinaryIO | None = None
    _data_key: bytes = b""
    sealed_key: str = ""

    HEAD_BYTES = 8192

    def __post_init__(self) -> None:
        self._data_key, self.sealed_key = new_sealed_key(self.ctx, self.key)
        spool_dir = private_dir(Path(self.ctx.settings.data_dir) / "tmp")
        self._file = tempfile.TemporaryFile(dir=spool_dir)  # noqa: SIM115 - closed by close()

    def write(self, data: bytes) -> None:
        """Take the next bytes of the body; ``UploadTooLarge`` once past the cap."""
        if not data:
            return
        self.size += len(data)
        if self.size > self.max_bytes:
            raise UploadTooLarge
        if len(self.head) < self.HEAD_BYTES:
            self.head += data[: self.HEAD_BYTES - len(self.head)]
        self._digest.update(data)
        self._pending += data
        while len(self._pending) >= self.chunk_size:
            self._seal_pending(self.chunk_size)

    def finish(self) -> None:
        """The body ended: seal what is left."""
        if self._pending:
            self._seal_pending(len(self._pending))

    def _seal_pending(self, length: int) -> None:
        assert self._file is not None
        piece = bytes(self._pending[:length])
        del self._pending[:length]
        sealed = seal_chunk(self._data_key, self.key, len(self._lengths), piece)
        self._file.write(sealed)
        self._lengths.append(len(sealed))

    @property
    def sha256(self) -> str:
        return str(self._digest.hexdigest())

    @property
    def chunk_count(self) -> int:
        return len(self._lengths)

    def sealed_chunks(self) -> Iterator[tuple[int, bytes]]:
        """(index, sealed chunk) in order, read back one at a time."""
        assert self._file is not None
        self._file.seek(0)
        for index, length in enumerate(self._lengths):
            yield index, self._file.read(length)

    def data_key(self) -> bytes:
        return self._data_key

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._data_key = b""


# -- copies held here ---------------------------------------------------------------------------


def copies_of(
    session: Session, record: Record, *, grant_ids: Sequence[str] = ("",)
) -> list[Attachment]:
    """The copies of ``record``'s attachments held here under ``grant_ids`` (``""``: its own)."""
    if not grant_ids:
        return []
    return list(
        session.execute(
            select(Attachment)
            .where(
                Attachment.record_origin == record.origin,
                Attachment.record_id == record.id,
                Attachment.grant_id.in_(list(grant_ids)),
            )
            .order_by(Attachment.attachment_id)
        )
        .scalars()
        .all()
    )


def held_copy(
    session: Session, origin: str, record_id: str, attachment_id: str, grant_id: str = ""
) -> Attachment | None:
    return session.execute(
        select(Attachment).where(
            Attachment.record_origin == origin,
            Attachment.record_id == record_id,
            Attachment.attachment_id == attachment_id,
            Attachment.grant_id == grant_id,
        )
    ).scalar_one_or_none()


def manifest_wire(row: Attachment) -> AttachmentManifestWire:
    return AttachmentManifestWire(
        id=row.attachment_id,
        filename=row.filename,
        content_type=row.content_type,
        size=row.size,
        sha256=row.sha256,
        version=row.record_version,
        chunk_size=row.chunk_size,
        chunk_count=row.chunk_count,
    )


def manifest(session: Session, record: Record) -> list[AttachmentManifestWire]:
    """What a full copy of ``record`` names of its attachments (its own copies only)."""
    return [manifest_wire(row) for row in copies_of(session, record)]


def take_manifest(
    session: Session,
    ctx: NodeContext,
    record: Record,
    entries: Sequence[AttachmentManifestWire],
    *,
    grant_id: str = "",
    now: datetime,
) -> int:
    """On receipt of a record version (or a release): a copy, still empty, for each attachment
    it names that is not held here yet, under a fresh data key. Returns how many were new."""
    held = {row.attachment_id for row in copies_of(session, record, grant_ids=(grant_id,))}
    added = 0
    for entry in entries:
        if entry.id in held:
            continue
        key = uuid7()
        _data_key, sealed_key = new_sealed_key(ctx, key)
        session.add(
            Attachment(
                key=key,
                record_origin=record.origin,
                record_id=record.id,
                attachment_id=entry.id,
                grant_id=grant_id,
                filename=entry.filename,
                content_type=entry.content_type,
                size=entry.size,
                sha256=entry.sha256,
                record_version=entry.version,
                chunk_size=entry.chunk_size,
                chunk_count=entry.chunk_count,
                complete=False,
                sealed_key=sealed_key,
                created_at=now,
            )
        )
        added += 1
    return added


def chunk_plaintexts(ctx: NodeContext, session: Session, row: Attachment) -> Iterator[bytes]:
    """The plaintext of ``row``'s chunks in order, one chunk in memory at a time."""
    data_key = open_data_key(ctx, row)
    for index in range(row.chunk_count):
        sealed = session.execute(
            select(AttachmentChunk.sealed).where(
                AttachmentChunk.attachment_key == row.key, AttachmentChunk.idx == index
            )
        ).scalar_one_or_none()
        if sealed is None:
            raise CryptoError("an attachment chunk is missing")
        yield open_chunk(data_key, row.key, index, sealed)


def _forget_sent(session: Session) -> None:
    """Flush, then let go of the envelopes and chunks this transaction has written (they are in
    the database now), so that a large attachment is not held in memory all at once."""
    session.flush()
    for obj in list(session.identity_map.values()):
        if isinstance(obj, OutboxMessage | SentSequence | AttachmentChunk):
            session.expunge(obj)


def send_chunks(
    session: Session,
    ctx: NodeContext,
    row: Attachment,
    *,
    dest: list[str],
    encrypt: bool,
    grant_id: str | None = None,
    plaintexts: Iterable[bytes] | None = None,
) -> int:
    """Queue one ``attachment-chunk`` envelope per chunk of ``row`` (a copy held here at the
    origin) for ``dest``, in the caller's transaction; returns how many. The chunks are read from
    the copy, or taken from ``plaintexts`` (in order) when the caller has them at hand."""
    if not dest:
        return 0
    sent = 0
    body_key = wire_key(open_data_key(ctx, row))
    source = chunk_plaintexts(ctx, session, row) if plaintexts is None else plaintexts
    for index, plaintext in enumerate(source):
        wire = AttachmentChunkWire(
            record_origin=row.record_origin,
            record_id=row.record_id,
            attachment_id=row.attachment_id,
            grant_id=grant_id,
            index=index,
            sha256=hashlib.sha256(plaintext).hexdigest(),
        )
        ctx.outbox.send(
            session,
            Kind.ATTACHMENT_CHUNK,
            wire,
            dest=dest,
            encrypt=encrypt,
            body=plaintext,
            body_key=body_key,
        )
        sent += 1
        _forget_sent(session)
    return sent


def keep_upload(
    session: Session,
    ctx: NodeContext,
    record: Record,
    row: Attachment,
    spool: UploadSpool,
    dest: list[str],
) -> int:
    """Store a spooled upload's sealed chunks under ``row`` (the origin's copy, flushed) and, in
    the same pass, queue their envelopes for ``dest`` as the record's class allows
    (``send_record_chunks``), each chunk read once from the spool. Returns how many were sent."""
    sending = bool(dest) and record.classification != "secret" and not record.is_stub

    def stored_plaintexts() -> Iterator[bytes]:
        for index, sealed in spool.sealed_chunks():
            session.add(AttachmentChunk(attachment_key=row.key, idx=index, sealed=sealed))
            if sending:
                yield open_chunk(spool.data_key(), row.key, index, sealed)
            else:
                _forget_sent(session)

    if not sending:
        for _ in stored_plaintexts():
            pass
        return 0
    return send_chunks(
        session,
        ctx,
        row,
        dest=dest,
        encrypt=record.classification != "general",
        plaintexts=stored_plaintexts(),
    )


def send_record_chunks(
    session: Session, ctx: NodeContext, record: Record, dest: list[str], *, only: str | None = None
) -> int:
    """Send the chunks of ``record``'s attachments (or of attachment ``only``) to ``dest``, as
    its class allows: general in clear, restricted sealed; case-secret never (only a release
    sends them, ``send_released``)."""
    if record.classification == "secret" or record.is_stub:
        return 0
    sent = 0
    for row in copies_of(session, record):
        if only is None or row.attachment_id == only:
            sent += send_chunks(
                session, ctx, row, dest=dest, encrypt=record.classification != "general"
            )
    return sent


def send_released(
    session: Session, ctx: NodeContext, record: Record, *, grant_id: str, grantee_node: str
) -> int:
    """With a release: every attachment of ``record`` to the grantee's node, sealed for it alone
    and filed under the grant there."""
    sent = 0
    for row in copies_of(session, record):
        sent += send_chunks(session, ctx, row, dest=[grantee_node], encrypt=True, grant_id=grant_id)
    return sent


def rebuild_chunk(session: Session, ctx: NodeContext, kept: bytes) -> bytes | None:
    """One of this node's chunk envelopes again, byte for byte, for a resend: its kept header
    (``envelope.kept_form``) and the chunk from the origin's own copy. None if the copy or the
    chunk is gone (purged: the resend becomes a void) or does not match what was signed."""
    document = kept_header(kept)
    ref = document.get("ref") if document is not None else None
    if not isinstance(ref, dict) or document is None or document.get("origin") != ctx.node_id:
        return None
    index = ref.get("chunk")
    if not isinstance(index, int) or not all(
        isinstance(ref.get(k), str) for k in ("record", "attachment")
    ):
        return None
    row = held_copy(session, ctx.node_id, ref["record"], ref["attachment"])
    if row is None:
        return None
    sealed = session.execute(
        select(AttachmentChunk.sealed).where(
            AttachmentChunk.attachment_key == row.key, AttachmentChunk.idx == index
        )
    ).scalar_one_or_none()
    if sealed is None:
        return None
    data_key = open_data_key(ctx, row)
    return rebuild_detached(kept, open_chunk(data_key, row.key, index, sealed), wire_key(data_key))


# -- receiving chunks ---------------------------------------------------------------------------


class ChunkRefused(Exception):
    """Why a chunk was refused: a stable reason for the dead-letter table (no content)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def store_chunk(
    ctx: NodeContext, session: Session, row: Attachment, wire: AttachmentChunkWire, plaintext: bytes
) -> bool:
    """Keep one received chunk of ``row``, sealed; mark the copy complete when the last one is in
    and the whole file matches the manifest. False if it was held already (a redelivery)."""
    if row.complete:
        return False
    if wire.index >= row.chunk_count:
        raise ChunkRefused("malformed")
    last = wire.index == row.chunk_count - 1
    expected = row.size - row.chunk_size * (row.chunk_count - 1) if last else row.chunk_size
    if len(plaintext) != expected or hashlib.sha256(plaintext).hexdigest() != wire.sha256:
        raise ChunkRefused("attachment_mismatch")
    held = session.execute(
        select(AttachmentChunk.idx).where(
            AttachmentChunk.attachment_key == row.key, AttachmentChunk.idx == wire.index
        )
    ).first()
    if held is not None:
        return False
    session.add(
        AttachmentChunk(
            attachment_key=row.key,
            idx=wire.index,
            sealed=seal_chunk(open_data_key(ctx, row), row.key, wire.index, plaintext),
        )
    )
    session.flush()
    count = session.scalar(
        select(func.count())
        .select_from(AttachmentChunk)
        .where(AttachmentChunk.attachment_key == row.key)
    )
    if count == row.chunk_count:
        digest = hashlib.sha256()
        for piece in chunk_plaintexts(ctx, session, row):
            digest.update(piece)
        if digest.hexdigest() != row.sha256:
            raise ChunkRefused("attachment_mismatch")
        row.complete = True
    return True


def chunks_held(session: Session, row: Attachment) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(AttachmentChunk)
            .where(AttachmentChunk.attachment_key == row.key)
        )
        or 0
    )


# -- purging ------------------------------------------------------------------------------------


def _delete_copies(session: Session, keys: list[str]) -> int:
    if not keys:
        return 0
    session.execute(delete(AttachmentChunk).where(AttachmentChunk.attachment_key.in_(keys)))
    session.execute(delete(Attachment).where(Attachment.key.in_(keys)))
    mark_purged(session)
    return len(keys)


def purge_record(session: Session, ctx: NodeContext, record: Record) -> int:
    """A tombstone: every copy of ``record``'s attachments held here goes (its own and those
    released under grants), with every chunk envelope of it still in the outbox or kept for
    resending. Returns how many copies went."""
    session.flush()
    keys = list(
        session.execute(
            select(Attachment.key).where(
                Attachment.record_origin == record.origin, Attachment.record_id == record.id
            )
        )
        .scalars()
        .all()
    )
    ctx.outbox.purge_object(session, Kind.ATTACHMENT_CHUNK, record.id)
    return _delete_copies(session, keys)


def purge_released(session: Session, grant_id: str) -> int:
    """A grant ended: the copies released under it here go. Returns how many."""
    session.flush()
    keys = list(
        session.execute(select(Attachment.key).where(Attachment.grant_id == grant_id))
        .scalars()
        .all()
    )
    return _delete_copies(session, keys)
