"""Certificates and revocations this node learned while running (DESIGN §11): kept so that a
restart starts from the newest certificate of each member, not from the older one the topology
file holds, and keeps refusing what was revoked."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from node.db import Base


class MemberCertificate(Base):
    __tablename__ = "member_certificates"

    node_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    parent: Mapped[str | None] = mapped_column(String(64), nullable=True)
    serial: Mapped[int] = mapped_column(BigInteger)
    digest: Mapped[str] = mapped_column(String(64))
    # The certificate's canonical JSON, exactly as signed (it is verified again when loaded).
    document: Mapped[str] = mapped_column(Text)
    learned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The node whose envelope carried it (this node's id if announced here).
    learned_from: Mapped[str] = mapped_column(String(64))


class MemberRevocation(Base):
    __tablename__ = "member_revocations"

    # SHA-256 of the signed document: the same revocation learned twice is one row.
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    node_id: Mapped[str] = mapped_column(String(64), index=True)
    up_to_serial: Mapped[int] = mapped_column(BigInteger)
    issuer: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(Text)
    # The revocation's canonical JSON, exactly as signed (verified again when loaded).
    document: Mapped[str] = mapped_column(Text)
    learned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    learned_from: Mapped[str] = mapped_column(String(64))
