"""Orders, their per-addressee state, their history and their attachments.

Who holds what:
- the issuer holds the order (``orders``), every addressee's state (``order_targets``) and the
  full history (``order_events``);
- an addressee holds the order, its own target and its own history;
- every other node whose subtree contains the addressee holds a *summary* target row
  (``held_as = 'summary'``): ids, nodes, state, deadline and times, never the title, focus issues,
  notes or attachments. That is what statistics over a subtree count.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from node.db import Base


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    issuer: Mapped[str] = mapped_column(String(64))
    issued_by: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(Text)
    inspected_units: Mapped[list[str]] = mapped_column(JSON)
    focus_issues: Mapped[list[str]] = mapped_column(JSON)
    addressees: Mapped[list[str]] = mapped_column(JSON)
    deadline: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    held_as: Mapped[str] = mapped_column(String(16))

    attachments: Mapped[list[OrderAttachment]] = relationship(
        back_populates="order",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="OrderAttachment.record_id",
    )

    __table_args__ = (Index("ix_orders_issuer_id", "issuer", "id"),)


class OrderAttachment(Base):
    """A record referred to by an order. ``granted`` (a name kept from the withdrawn shortcut): a
    case-secret record of the issuer for which the order filed access requests for its
    addressees; the origin's approvers decide them (DESIGN §6)."""

    __tablename__ = "order_attachments"

    order_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True
    )
    record_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    record_origin: Mapped[str] = mapped_column(String(64), primary_key=True)
    classification: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(40))
    granted: Mapped[bool] = mapped_column(Boolean, default=False)

    order: Mapped[Order] = relationship(back_populates="attachments")


class OrderTarget(Base):
    """One addressee's state of one order. ``version`` grows by one with every state change,
    whichever end made it; the two ends never act in the same state, so versions stay linear."""

    __tablename__ = "order_targets"

    order_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    addressee: Mapped[str] = mapped_column(String(64), primary_key=True)
    issuer: Mapped[str] = mapped_column(String(64))
    held_as: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    deadline: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    reported_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    returns: Mapped[int] = mapped_column(Integer, default=0)
    ack_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    report_record_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    handler_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    handler_name: Mapped[str | None] = mapped_column(String(100), nullable=True)

    __table_args__ = (
        Index("ix_order_targets_addressee_state", "addressee", "state", "deadline"),
        Index("ix_order_targets_ack", "ack_seconds"),
    )


class OrderEvent(Base):
    """One step of one addressee's history (``seq`` = the target version it produced)."""

    __tablename__ = "order_events"

    order_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    addressee: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    action: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    node: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(100))
    actor_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    role: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
