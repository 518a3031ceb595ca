"""The records domain's own tables beyond ``node.models.Record``: the reporter (migration 0011) and
attachments (migration 0014)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from node.db import Base


class RecordReporter(Base):
    """The reporter (举报人) of a petition or problem clue, at the record's origin only: the block
    sealed under its own data key for this node's own encryption key (``node.records.reporter``).
    Never a plaintext column; keyed by (origin, id) as a record is identified."""

    __tablename__ = "record_reporters"

    record_origin: Mapped[str] = mapped_column(String(64), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # ``crypto.seal`` output as canonical JSON (ciphertext, nonce, wrapped key).
    sealed: Mapped[str] = mapped_column(Text)
    revision: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Attachment(Base):
    """A file on a record (DESIGN §2): one copy held here, keyed by the record's (origin, id), the
    attachment id and the grant it was released under (``""``: the record's own copy, at its
    origin or at a node its class sends it to). Metadata in clear (the filename of a restricted
    or case-secret record exists only where its content may); the bytes only in
    ``attachment_chunks``, sealed under ``sealed_key`` (``node.records.attachments``)."""

    __tablename__ = "attachments"

    key: Mapped[str] = mapped_column(String(36), primary_key=True)
    record_origin: Mapped[str] = mapped_column(String(64))
    record_id: Mapped[str] = mapped_column(String(36))
    attachment_id: Mapped[str] = mapped_column(String(36))
    grant_id: Mapped[str] = mapped_column(String(36), default="")
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(120))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    record_version: Mapped[int] = mapped_column(Integer)
    chunk_size: Mapped[int] = mapped_column(Integer)
    chunk_count: Mapped[int] = mapped_column(Integer)
    complete: Mapped[bool] = mapped_column(Boolean, default=False)
    # ``crypto.seal`` of the attachment's AES-256-GCM data key, for this node's own key (JSON).
    sealed_key: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint(
            "record_origin", "record_id", "attachment_id", "grant_id", name="ux_attachments_copy"
        ),
        Index("ix_attachments_grant", "grant_id"),
    )


class AttachmentChunk(Base):
    """One chunk of an attachment's bytes, sealed (nonce + AES-GCM ciphertext) under its data
    key, bound to the attachment copy and the chunk's index."""

    __tablename__ = "attachment_chunks"

    attachment_key: Mapped[str] = mapped_column(
        String(36), ForeignKey("attachments.key", ondelete="CASCADE"), primary_key=True
    )
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
