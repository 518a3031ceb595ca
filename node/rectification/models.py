"""Rectification demands (整改意见), their history and the evidence they were closed off with.

The inspecting node holds its demands in full (``held_as = 'own'``): the finding they came from,
the demand's text, the person responsible, the unit's report (a restricted record), the history
and the evidence. Every ancestor holds a *summary* (``held_as = 'summary'``): ids, the inspected
unit, state, deadline, counts and times, never the finding, the text, the person, the report or
the evidence. That is what the tiers above list as overdue and count in their statistics.

The inspected unit (被巡察单位) is named by ``unit_name`` and, where the node keeps a list of
inspected units, its id there (``unit_id``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from node.db import Base


class Rectification(Base):
    __tablename__ = "rectifications"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    node: Mapped[str] = mapped_column(String(64))
    held_as: Mapped[str] = mapped_column(String(16))
    unit_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    unit_name: Mapped[str] = mapped_column(String(200))
    finding_record_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    finding_record_origin: Mapped[str | None] = mapped_column(String(64), nullable=True)
    content: Mapped[str | None] = mapped_column(Text, nullable=True)
    responsible: Mapped[str | None] = mapped_column(String(100), nullable=True)
    issued_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    state: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    deadline: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reported_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    reopened_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    returns: Mapped[int] = mapped_column(Integer, default=0)
    lookbacks: Mapped[int] = mapped_column(Integer, default=0)
    report_record_id: Mapped[str | None] = mapped_column(String(36), nullable=True)

    __table_args__ = (
        Index("ix_rectifications_node_state", "node", "state", "deadline"),
        Index("ix_rectifications_unit", "node", "unit_name"),
    )


class RectificationEvent(Base):
    """One step of a demand's history at the inspecting node (``seq`` = the version it made)."""

    __tablename__ = "rectification_events"

    rectification_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    action: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    record_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    deadline: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RectificationEvidence(Base):
    """What a demand was closed off (销号) with: a record held here and, optionally, one of its
    attachments. ``seq`` is the closing event's."""

    __tablename__ = "rectification_evidence"

    rectification_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_id: Mapped[str] = mapped_column(String(36))
    record_origin: Mapped[str] = mapped_column(String(64))
    attachment_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
