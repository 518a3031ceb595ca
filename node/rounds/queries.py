"""Unit, round and launch queries: loading what a step acts on, the term, coverage over a set of
nodes, and the figures statistics read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, case, distinct, func, select
from sqlalchemy.orm import Session

from node import common
from node.errors import NotFound
from node.rounds.models import InspectedUnit, InspectionRound, LaunchTarget, RoundLaunch, RoundUnit
from node.rounds.state import COVERING_KINDS, DEADLINES, START_DEADLINES, STARTED_STATES
from node.settings import Settings

TERM_YEARS = 5


class UnitNotFound(NotFound):
    code = "unit_not_found"


class RoundNotFound(NotFound):
    code = "round_not_found"


class LaunchNotFound(NotFound):
    code = "launch_not_found"


def load_unit(session: Session, unit_id: str, *, lock: bool = False) -> InspectedUnit:
    return common.get_or_404(
        session,
        InspectedUnit,
        unit_id,
        what="unit",
        missing=UnitNotFound("no such inspected unit here"),
        lock=lock,
    )


def load_round(session: Session, round_id: str, *, lock: bool = False) -> InspectionRound:
    return common.get_or_404(
        session,
        InspectionRound,
        round_id,
        what="round",
        missing=RoundNotFound("no such inspection round here"),
        lock=lock,
    )


def load_launch(session: Session, launch_id: str) -> RoundLaunch:
    return common.get_or_404(
        session,
        RoundLaunch,
        launch_id,
        what="launch",
        missing=LaunchNotFound("no such synchronised round here"),
    )


def lock_target(session: Session, launch_id: str, addressee: str) -> LaunchTarget | None:
    return session.execute(
        select(LaunchTarget)
        .where(LaunchTarget.launch_id == launch_id, LaunchTarget.addressee == addressee)
        .with_for_update()
    ).scalar_one_or_none()


def round_unit_ids(session: Session, round_ids: list[str]) -> dict[str, list[str]]:
    rows = session.execute(
        select(RoundUnit.round_id, RoundUnit.unit_id)
        .where(RoundUnit.round_id.in_(round_ids))
        .order_by(RoundUnit.round_id, RoundUnit.unit_id)
    ).all()
    found: dict[str, list[str]] = {}
    for round_id, unit_id in rows:
        found.setdefault(round_id, []).append(unit_id)
    return found


def unit_names(session: Session, unit_ids: list[str]) -> dict[str, tuple[str, str]]:
    """id -> (node, name) of the units held here among ``unit_ids``."""
    if not unit_ids:
        return {}
    rows = session.execute(
        select(InspectedUnit.id, InspectedUnit.node, InspectedUnit.name).where(
            InspectedUnit.id.in_(unit_ids)
        )
    ).all()
    return {r[0]: (r[1], r[2]) for r in rows}


def targets_of(session: Session, launch_ids: list[str]) -> dict[str, list[LaunchTarget]]:
    rows = (
        session.execute(
            select(LaunchTarget)
            .where(LaunchTarget.launch_id.in_(launch_ids))
            .order_by(LaunchTarget.launch_id, LaunchTarget.addressee)
        )
        .scalars()
        .all()
    )
    found: dict[str, list[LaunchTarget]] = {}
    for target in rows:
        found.setdefault(target.launch_id, []).append(target)
    return found


# -- the term and coverage ----------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    start: date
    end: date


def current_term(settings: Settings, today: date) -> Term:
    """The term whose coverage is reported: the configured one, else the five-year term
    containing ``today`` (terms counted from ``term_anchor_year``: 2021-2025, 2026-2030, ...)."""
    if settings.term_start is not None and settings.term_end is not None:
        return Term(settings.term_start, settings.term_end)
    first = settings.term_anchor_year
    start_year = first + (today.year - first) // TERM_YEARS * TERM_YEARS
    return Term(date(start_year, 1, 1), date(start_year + TERM_YEARS - 1, 12, 31))


def in_term(term: Term) -> list[ColumnElement[bool]]:
    return [InspectionRound.period_start >= term.start, InspectionRound.period_start <= term.end]


def inspected_clause(term: Term) -> list[ColumnElement[bool]]:
    """A round that makes the units it covers inspected in ``term``."""
    return [
        InspectionRound.kind.in_(COVERING_KINDS),
        InspectionRound.state.in_(STARTED_STATES),
        *in_term(term),
    ]


def inspected_units(session: Session, unit_ids: list[str], term: Term) -> set[str]:
    """Which of ``unit_ids`` a round of their own node made inspected in ``term``."""
    if not unit_ids:
        return set()
    rows = session.execute(
        select(RoundUnit.unit_id)
        .distinct()
        .join(InspectionRound, InspectionRound.id == RoundUnit.round_id)
        .join(InspectedUnit, InspectedUnit.id == RoundUnit.unit_id)
        .where(
            RoundUnit.unit_id.in_(unit_ids),
            InspectedUnit.node == InspectionRound.node,
            *inspected_clause(term),
        )
    ).all()
    return {r[0] for r in rows}


@dataclass
class CoverageRow:
    units_total: int = 0
    units_inspected: int = 0
    units_in_rounds: int = 0
    rounds: int = 0
    rounds_in_progress: int = 0
    rounds_completed: int = 0
    problems_found: int = 0


def coverage_by_node(
    session: Session, nodes: list[str] | None, term: Term
) -> dict[str, CoverageRow]:
    """Per node in ``nodes`` (None: every node held): its active units, those inspected in
    ``term``, those in any covering round of the term, and its rounds of the term (four
    ``GROUP BY`` queries, whatever the number of nodes)."""
    found: dict[str, CoverageRow] = {}
    for node, count in session.execute(
        select(InspectedUnit.node, func.count())
        .where(InspectedUnit.active.is_(True), *common.within(InspectedUnit.node, nodes))
        .group_by(InspectedUnit.node)
    ).all():
        found.setdefault(node, CoverageRow()).units_total = int(count)

    def covered(conditions: list[ColumnElement[bool]]) -> list[tuple[str, int]]:
        rows = session.execute(
            select(InspectedUnit.node, func.count(distinct(InspectedUnit.id)))
            .join(RoundUnit, RoundUnit.unit_id == InspectedUnit.id)
            .join(InspectionRound, InspectionRound.id == RoundUnit.round_id)
            .where(
                InspectedUnit.active.is_(True),
                InspectedUnit.node == InspectionRound.node,
                *common.within(InspectedUnit.node, nodes),
                *conditions,
            )
            .group_by(InspectedUnit.node)
        ).all()
        return [(r[0], int(r[1])) for r in rows]

    for node, count in covered(inspected_clause(term)):
        found.setdefault(node, CoverageRow()).units_inspected = count
    planned = [InspectionRound.kind.in_(COVERING_KINDS), *in_term(term)]
    for node, count in covered(planned):
        found.setdefault(node, CoverageRow()).units_in_rounds = count
    for node, count, running, done, problems in session.execute(
        select(
            InspectionRound.node,
            func.count(),
            func.sum(case((InspectionRound.state == "in_progress", 1), else_=0)),
            func.sum(case((InspectionRound.state == "completed", 1), else_=0)),
            func.sum(InspectionRound.problems_found),
        )
        .where(*in_term(term), *common.within(InspectionRound.node, nodes))
        .group_by(InspectionRound.node)
    ).all():
        row = found.setdefault(node, CoverageRow())
        row.rounds = int(count)
        row.rounds_in_progress = int(running or 0)
        row.rounds_completed = int(done or 0)
        row.problems_found = int(problems or 0)
    return found


# -- statistics ---------------------------------------------------------------------------------


def round_counts(
    session: Session, nodes: list[str] | None, term: Term
) -> list[tuple[str, str, int, int]]:
    """(kind, state, rounds, problems found) of the rounds of ``term`` held for ``nodes``."""
    rows = session.execute(
        select(
            InspectionRound.kind,
            InspectionRound.state,
            func.count(),
            func.sum(InspectionRound.problems_found),
        )
        .where(*in_term(term), *common.within(InspectionRound.node, nodes))
        .group_by(InspectionRound.kind, InspectionRound.state)
    ).all()
    return [(r[0], r[1], int(r[2]), int(r[3] or 0)) for r in rows]


def late_clause(now: datetime) -> ColumnElement[bool]:
    """SQL twin of ``state.is_late``."""
    return START_DEADLINES.overdue_clause(LaunchTarget.state, LaunchTarget.start_by, now)


def overdue_clause(now: datetime) -> ColumnElement[bool]:
    """SQL twin of ``state.is_overdue``."""
    return DEADLINES.overdue_clause(LaunchTarget.state, LaunchTarget.deadline, now)


def launch_target_counts(
    session: Session, launcher: str, now: datetime
) -> list[tuple[str, int, int, int, int]]:
    """(state, targets, late, overdue, problems found) of the launches ``launcher`` made."""
    rows = session.execute(
        select(
            LaunchTarget.state,
            func.count(),
            START_DEADLINES.overdue_count(LaunchTarget.state, LaunchTarget.start_by, now),
            DEADLINES.overdue_count(LaunchTarget.state, LaunchTarget.deadline, now),
            func.sum(LaunchTarget.problems_found),
        )
        .where(LaunchTarget.launcher == launcher, LaunchTarget.held_as == "launcher")
        .group_by(LaunchTarget.state)
    ).all()
    return [(r[0], int(r[1]), int(r[2] or 0), int(r[3] or 0), int(r[4] or 0)) for r in rows]


def launch_count(session: Session, launcher: str) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(RoundLaunch)
            .where(RoundLaunch.launcher == launcher, RoundLaunch.held_as == "launcher")
        )
        or 0
    )
