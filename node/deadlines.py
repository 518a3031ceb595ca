"""The one deadline and overdue model of orders, the ledger and rectification.

A piece of work has a deadline and a state; in some states (its ``open`` states) the work is
still owed, and past its deadline such work is *overdue*. Each domain names its open states once
in a ``DeadlineModel``; the model answers the question in Python (a row in hand) and in SQL (a
listing filter, a count), and the two answers agree by construction: both are "open and
``deadline < now``", with times stored in UTC.

A deadline is set (``check_deadline``) in the future and within ``MAX_HORIZON``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func

from node.clock import as_aware, to_utc
from node.errors import InvalidInput

MAX_HORIZON = timedelta(days=3 * 366)
"""How far ahead a deadline may lie."""


def check_deadline(deadline: datetime, now: datetime, *, what: str = "deadline") -> datetime:
    """A deadline set now: in the future, within ``MAX_HORIZON``, returned as UTC (stored times
    are UTC: SQLite keeps no offset and compares times as text). 422 ``deadline_past`` or
    ``deadline_too_far`` otherwise."""
    deadline = to_utc(deadline)
    if deadline <= now:
        raise InvalidInput(f"the {what} has passed", code="deadline_past")
    if deadline > now + MAX_HORIZON:
        raise InvalidInput(f"the {what} is too far ahead", code="deadline_too_far")
    return deadline


@dataclass(frozen=True)
class DeadlineModel:
    """When a domain's work is overdue: in one of ``open_states`` past its deadline."""

    open_states: frozenset[str]

    @classmethod
    def owed_in(cls, states: Iterable[str]) -> DeadlineModel:
        return cls(frozenset(states))

    def is_open(self, state: str) -> bool:
        return state in self.open_states

    def is_overdue(self, state: str, deadline: datetime, now: datetime) -> bool:
        """Work still owed past its deadline."""
        return self.is_open(state) and as_aware(deadline) < now

    def overdue_clause(self, state: Any, deadline: Any, now: datetime) -> ColumnElement[bool]:
        """SQL twin of ``is_overdue`` over a state and a deadline column."""
        return and_(state.in_(sorted(self.open_states)), deadline < now)

    def overdue_count(self, state: Any, deadline: Any, now: datetime) -> ColumnElement[Any]:
        """How many rows of a ``GROUP BY`` group are overdue (SQL ``SUM``: NULL over no rows)."""
        return func.sum(case((self.overdue_clause(state, deadline, now), 1), else_=0))
