"""Release tables (migration 0002). Grants themselves live in ``node.models.Grant``.

Where each row exists:
- ``AccessRequest`` and ``AccessDecision``: at the requester's node, at the record's origin, and (as
  metadata: no reason, no comments) at the ancestors of both, for their security officers.
- ``ReleasedContent``: only at the grantee's node, only while the grant lasts.
- ``ReleasedReporter``: the reporter block (still sealed, for the grantee's node), at the grantee's
  node only, only when the request asked for it and it was granted, only while the grant lasts.
- ``GrantRead``: each read of released content, at the grantee's node, the origin and the ancestors.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from node.db import Base


class AccessRequest(Base):
    """A request for one case-secret record by one user; decided only at the record's origin."""

    __tablename__ = "access_requests"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(36))
    record_origin: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(40))
    requester_id: Mapped[str] = mapped_column(String(36))
    requester_name: Mapped[str] = mapped_column(String(100))
    requester_role: Mapped[str] = mapped_column(String(32))
    requester_node: Mapped[str] = mapped_column(String(64))
    # The stated reason: held at the requester's node and the origin only.
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    wanted_s: Mapped[int] = mapped_column(Integer)
    approvals_needed: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # pending | approved | denied | expired
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    grant_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    # Bumped by the origin on every change; a copy elsewhere applies only newer snapshots.
    revision: Mapped[int] = mapped_column(Integer)
    # A request an order's issuer filed on an addressee's behalf (DESIGN §6): the order, and the
    # addressee node whose handler becomes the grantee. None: an ordinary request, for the
    # requester.
    order_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    for_node: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The request asks for the record's reporter too (migration 0011): it then needs one more
    # approval, by a security officer of the origin. Never set on an order's request.
    include_reporter: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    @property
    def grantee_node(self) -> str:
        """The node whose user the grant is for."""
        return self.for_node or self.requester_node

    decisions: Mapped[list[AccessDecision]] = relationship(
        back_populates="request",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="AccessDecision.at",
    )

    __table_args__ = (
        Index("ix_access_requests_origin_status", "record_origin", "status"),
        Index("ix_access_requests_requester", "requester_id"),
        Index("ix_access_requests_record", "record_id"),
        Index("ix_access_requests_created", "created_at"),
        Index("ix_access_requests_order", "order_id", "for_node"),
    )


class AccessDecision(Base):
    """One approver's approve or deny; an approver decides a request at most once."""

    __tablename__ = "access_decisions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    request_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("access_requests.id", ondelete="CASCADE")
    )
    approver_id: Mapped[str] = mapped_column(String(36))
    approver_name: Mapped[str] = mapped_column(String(100))
    approver_node: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(8))  # approve | deny
    # The approver's comment: held at the origin only.
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    duration_s: Mapped[int | None] = mapped_column(Integer, nullable=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # What an approval counts toward: the category's number (``category``; NULL on rows made
    # before migration 0011) or the security officer's extra one for the reporter (``reporter``).
    counts_for: Mapped[str | None] = mapped_column(String(16), nullable=True)

    request: Mapped[AccessRequest] = relationship(back_populates="decisions")

    __table_args__ = (
        UniqueConstraint("request_id", "approver_id", name="ux_access_decisions_approver"),
    )


class ReleasedContent(Base):
    """Plaintext of a case-secret record at the grantee's node; deleted when the grant ends."""

    __tablename__ = "released_content"

    grant_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("grants.id", ondelete="CASCADE"), primary_key=True
    )
    record_id: Mapped[str] = mapped_column(String(36))
    record_origin: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_released_content_record", "record_id"),)


class ReleasedReporter(Base):
    """A record's reporter released to the grantee's node: kept sealed for this node's key and
    opened for each read under the active grant; deleted when the grant ends."""

    __tablename__ = "released_reporters"

    grant_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("grants.id", ondelete="CASCADE"), primary_key=True
    )
    record_origin: Mapped[str] = mapped_column(String(64))
    record_id: Mapped[str] = mapped_column(String(36))
    sealed: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_released_reporters_record", "record_origin", "record_id"),)


class GrantRead(Base):
    """One read of released content by its grantee."""

    __tablename__ = "grant_reads"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    grant_id: Mapped[str] = mapped_column(String(36))
    record_id: Mapped[str] = mapped_column(String(36))
    record_origin: Mapped[str] = mapped_column(String(64))
    reader_name: Mapped[str] = mapped_column(String(100))
    reader_node: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # What was read: the content (NULL on rows made before migration 0011) or ``reporter``.
    what: Mapped[str | None] = mapped_column(String(16), nullable=True)

    __table_args__ = (Index("ix_grant_reads_grant", "grant_id", "at"),)
