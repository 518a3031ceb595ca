"""Ledger items (移交台账) and their feedback entries.

The node that transferred a clue holds the item in full (``held_as = 'own'``) with its feedback;
its ancestors hold a summary (``held_as = 'summary'``): department, deadline, status, counts and
times, never the title, the clue reference or the feedback text.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from node.db import Base


class LedgerItem(Base):
    __tablename__ = "ledger_items"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    node: Mapped[str] = mapped_column(String(64))
    held_as: Mapped[str] = mapped_column(String(16))
    title: Mapped[str | None] = mapped_column(Text, nullable=True)
    clue_record_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    clue_record_origin: Mapped[str | None] = mapped_column(String(64), nullable=True)
    order_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    department: Mapped[str] = mapped_column(String(200))
    responsible: Mapped[str | None] = mapped_column(String(100), nullable=True)
    transferred_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    feedback_deadline: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16))
    feedback_count: Mapped[int] = mapped_column(Integer, default=0)
    last_feedback_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    closed_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    version: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_ledger_items_node_status", "node", "status", "feedback_deadline"),)


class LedgerFeedback(Base):
    __tablename__ = "ledger_feedback"

    item_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("ledger_items.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    author: Mapped[str] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(Text)
