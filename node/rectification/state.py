"""The state machine of one rectification demand (整改意见)::

    issued -> reported -> accepted -> closed -> reopened
      ^          |  ^                              |
      |          v  |                              |
      |       returned                             |
      +------- (report again) <--------------------+

``report`` records the inspected unit's rectification report (整改情况报告); the inspecting office
evaluates it (``accept`` or ``return`` for more work), closes the demand (``close``, 销号) only with
evidence, and a look-back (回头看, ``reopen``) reopens a closed demand for re-checking with a new
deadline. While the unit owes its report (issued, returned, reopened) a demand past its deadline
is overdue (``node.deadlines``).

Every step is taken at the inspecting node and bumps the demand's version by one; the nodes above
hold a summary that moves only along these transitions, one version per step (``check_run``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from node.deadlines import DeadlineModel
from node.errors import Conflict

STATE_LABELS = {
    "issued": "待整改",
    "reported": "已报送整改情况",
    "accepted": "评估通过",
    "returned": "退回整改",
    "closed": "已销号",
    "reopened": "回头看复查",
}
ACTION_LABELS = {
    "issue": "提出整改意见",
    "report": "报送整改情况",
    "accept": "评估通过",
    "return": "退回整改",
    "close": "销号",
    "reopen": "回头看",
}
# The unit owes its report in these states: past the deadline, overdue.
OPEN_STATES = ("issued", "returned", "reopened")
DEADLINES = DeadlineModel.owed_in(OPEN_STATES)

OWN = "own"
SUMMARY = "summary"
ISSUE_STATE = "issued"
ISSUE_VERSION = 1


@dataclass(frozen=True)
class Transition:
    sources: frozenset[str]
    target: str
    policy_action: str


TRANSITIONS: dict[str, Transition] = {
    "report": Transition(
        frozenset({"issued", "returned", "reopened"}), "reported", "report-rectification"
    ),
    "accept": Transition(frozenset({"reported"}), "accepted", "evaluate-rectification"),
    "return": Transition(frozenset({"reported"}), "returned", "evaluate-rectification"),
    "close": Transition(frozenset({"accepted"}), "closed", "close-rectification"),
    "reopen": Transition(frozenset({"closed"}), "reopened", "create-rectification"),
}


class IllegalTransition(Conflict):
    code = "illegal_transition"


def is_overdue(state: str, deadline: datetime, now: datetime) -> bool:
    return DEADLINES.is_overdue(state, deadline, now)


def _one_step(states: frozenset[str]) -> frozenset[str]:
    return frozenset(
        rule.target for rule in TRANSITIONS.values() if not rule.sources.isdisjoint(states)
    )


def states_after(start: str, steps: int) -> frozenset[str]:
    """The states a demand in ``start`` can be in after exactly ``steps`` transitions. The sets
    repeat with a short period (report/return and reopen loop), so any ``steps``, however large
    a sender claims, costs a few iterations."""
    current = frozenset({start})
    seen: dict[frozenset[str], int] = {}
    taken = 0
    while taken < steps:
        if current in seen:
            period = taken - seen[current]
            for _ in range((steps - taken) % period):
                current = _one_step(current)
            return current
        seen[current] = taken
        current = _one_step(current)
        taken += 1
    return current


def check_run(held: str, held_version: int, claimed: str, version: int) -> str | None:
    """Why a summary may not move a demand held in ``held`` (at ``held_version``) to ``claimed``
    at ``version``, or None if it may: some run of exactly ``version - held_version`` legal steps
    must lead there (a holder that missed steps takes them at once, never a jump the state
    machine does not allow, such as issued -> closed in one step)."""
    steps = version - held_version
    if steps <= 0:
        return "stale_version"
    if claimed in states_after(held, steps):
        return None
    return "illegal_transition"
