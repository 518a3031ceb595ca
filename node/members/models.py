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


class JoinCode(Base):
    """A one-time code an admin of this node gave a new child out of band (issue 12 item 2).
    Only its SHA-256 is stored; it admits one join request before ``expires_at``."""

    __tablename__ = "join_codes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The node id it was given for, if the admin named one (any id otherwise).
    node_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


class JoinRequest(Base):
    """A new node's signed join request, received with a valid code, and its fate."""

    __tablename__ = "join_requests"

    # Random and unguessable: the new node polls its answer with it.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    node_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(200))
    # SHA-256 of the signed request: the same request is never taken twice.
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    document: Mapped[str] = mapped_column(Text)
    code_id: Mapped[str] = mapped_column(String(32))
    client_address: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The parent's signed answer (certificate, members, TLS client certificate, CAs).
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)
