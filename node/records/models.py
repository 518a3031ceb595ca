"""The records domain's own table beyond ``node.models.Record`` (migration 0011)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String, Text
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
