"""Inspected units (被巡察单位), inspection rounds (巡察轮次) and synchronised launches (同步展开).

Who holds what:
- a node holds its own units and rounds in full (``held_as = 'own'``) and a summary of every unit
  and round of the nodes below it (``held_as = 'summary'``): the same columns, general-class
  metadata only (names, kinds, themes, periods, states, counts), from which coverage over the
  subtree is computed;
- a launch (a superior's synchronised round on a theme) is held by its launcher
  (``held_as = 'launcher'``), with one target row per addressee, and by each addressee
  (``held_as = 'addressee'``) with its own target row.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from node.db import Base


class InspectedUnit(Base):
    """A unit a node's inspection office must cover within a term; ``active`` units count."""

    __tablename__ = "inspected_units"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    node: Mapped[str] = mapped_column(String(64))
    held_as: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    sector: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        UniqueConstraint("node", "name", name="uq_inspected_units_node_name"),
        Index("ix_inspected_units_node_active", "node", "active"),
    )


class InspectionRound(Base):
    """One round: kind, theme, planned period, the units it covers, the group that inspects,
    its state (planned -> in_progress -> completed) and the problems found so far."""

    __tablename__ = "inspection_rounds"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    node: Mapped[str] = mapped_column(String(64))
    held_as: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(500))
    theme: Mapped[str] = mapped_column(String(500))
    inspection_group: Mapped[str] = mapped_column(String(200))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(16))
    problems_found: Mapped[int] = mapped_column(Integer, default=0)
    launch_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    launch_origin: Mapped[str | None] = mapped_column(String(64), nullable=True)
    planned_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    version: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_inspection_rounds_node_state", "node", "state", "period_start"),
        Index("ix_inspection_rounds_launch", "launch_id"),
    )


class RoundUnit(Base):
    """A unit a round covers (the unit's id; both are of the same node)."""

    __tablename__ = "inspection_round_units"

    round_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("inspection_rounds.id", ondelete="CASCADE"), primary_key=True
    )
    unit_id: Mapped[str] = mapped_column(String(36), primary_key=True)

    __table_args__ = (Index("ix_inspection_round_units_unit", "unit_id"),)


class RoundLaunch(Base):
    """A synchronised round launched by a superior on a theme for nodes of its subtree: they are
    to start their own linked rounds by ``start_by`` and finish by ``deadline``."""

    __tablename__ = "round_launches"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    launcher: Mapped[str] = mapped_column(String(64))
    held_as: Mapped[str] = mapped_column(String(16))
    launched_by: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(500))
    theme: Mapped[str] = mapped_column(String(500))
    requirements: Mapped[str] = mapped_column(Text)
    addressees: Mapped[list[str]] = mapped_column(JSON)
    start_by: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    deadline: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    launched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_round_launches_launcher_id", "launcher", "id"),)


class LaunchTarget(Base):
    """One addressee's part in a launch: received -> linked (its own round is linked) ->
    started -> completed, with the linked round and the problems it found. Only the addressee
    moves it; ``version`` grows by one with each change it reports."""

    __tablename__ = "round_launch_targets"

    launch_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    addressee: Mapped[str] = mapped_column(String(64), primary_key=True)
    launcher: Mapped[str] = mapped_column(String(64))
    held_as: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    start_by: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    deadline: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    round_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    round_title: Mapped[str | None] = mapped_column(String(500), nullable=True)
    problems_found: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    linked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_round_launch_targets_addressee_state", "addressee", "state", "start_by"),
    )
