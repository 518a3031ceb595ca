"""The state machine of one addressee's part in an order (DESIGN §6)::

    issued -> received -> acknowledged -> in_progress -> reported -> accepted -> closed
                                             ^               |
                                             +-- returned <--+

``receive`` happens at the addressee when the order arrives; acknowledge, progress and report are
the addressee's; accept, return and close are the issuer's. The two ends never act in the same
state, so each target's version grows linearly whichever end moves it. Past its deadline, a
target in an open state is overdue.

Each end also owns the times its steps stamp (``OWNED_FIELDS``); the deadline and the issue time
are the issuer's, fixed when it issues. What one end says about the other's steps or times is
never taken (``node.orders.handlers``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from node.clock import as_aware
from node.deadlines import DeadlineModel
from node.errors import Conflict
from node.orders.models import OrderTarget

STATE_LABELS = {
    "issued": "已下发",
    "received": "已接收",
    "acknowledged": "已确认",
    "in_progress": "办理中",
    "reported": "已报告",
    "accepted": "已验收",
    "returned": "退回重办",
    "closed": "已办结",
}
ACTION_LABELS = {
    "issue": "下发",
    "receive": "接收",
    "acknowledge": "确认",
    "progress": "办理进展",
    "report": "报告",
    "accept": "验收",
    "return": "退回重办",
    "close": "办结",
}
# States in which the addressee still owes work: past the deadline, these are overdue.
OPEN_STATES = ("issued", "received", "acknowledged", "in_progress", "returned")
DEADLINES = DeadlineModel.owed_in(OPEN_STATES)

ISSUER = "issuer"
ADDRESSEE = "addressee"
SUMMARY = "summary"


@dataclass(frozen=True)
class Transition:
    side: str
    sources: frozenset[str]
    target: str
    note_required: bool = False


TRANSITIONS: dict[str, Transition] = {
    "receive": Transition(ADDRESSEE, frozenset({"issued"}), "received"),
    "acknowledge": Transition(ADDRESSEE, frozenset({"received"}), "acknowledged"),
    "progress": Transition(
        ADDRESSEE,
        frozenset({"acknowledged", "in_progress", "returned"}),
        "in_progress",
        note_required=True,
    ),
    "report": Transition(ADDRESSEE, frozenset({"in_progress", "returned"}), "reported"),
    "accept": Transition(ISSUER, frozenset({"reported"}), "accepted"),
    "return": Transition(ISSUER, frozenset({"reported"}), "returned", note_required=True),
    "close": Transition(ISSUER, frozenset({"accepted"}), "closed"),
}
POLICY_ACTIONS = {ISSUER: "review-order", ADDRESSEE: "handle-order"}
# The event that opens a target's history at the issuer, and the state and version it makes.
ISSUE_EVENT = "issue"
ISSUE_STATE = "issued"
ISSUE_VERSION = 1


# The fields of a target each end sets by its own steps; state, version and updated_at move with
# whichever end took the step.
OWNED_FIELDS: dict[str, tuple[str, ...]] = {
    ISSUER: ("accepted_at", "closed_at", "returns"),
    ADDRESSEE: ("received_at", "acknowledged_at", "reported_at", "ack_seconds"),
}
# Fixed by the issuer when it issues.
ISSUE_FIELDS = ("deadline", "issued_at")


def _one_step(states: frozenset[str], sides: frozenset[str]) -> frozenset[str]:
    return frozenset(
        rule.target
        for rule in TRANSITIONS.values()
        if rule.side in sides and not rule.sources.isdisjoint(states)
    )


def states_after(start: str, steps: int, sides: frozenset[str]) -> frozenset[str]:
    """The states a target in ``start`` can be in after exactly ``steps`` transitions taken by
    ``sides`` (each step bumps the version by one, so ``steps`` is a version difference).

    The sets repeat with a short period (progress notes loop on ``in_progress``), so any
    ``steps``, however large a sender claims, costs a few iterations."""
    current = frozenset({start})
    seen: dict[frozenset[str], int] = {}
    taken = 0
    while taken < steps:
        if current in seen:
            period = taken - seen[current]
            for _ in range((steps - taken) % period):
                current = _one_step(current, sides)
            return current
        seen[current] = taken
        current = _one_step(current, sides)
        taken += 1
    return current


def check_run(side: str, held: str, held_version: int, claimed: str, version: int) -> str | None:
    """Why ``side`` may not move a target from ``held`` (at ``held_version``) to ``claimed`` at
    ``version``, or None if it may: every step between must be one of ``side``'s own transitions
    (a holder that missed some of that end's steps takes them at once; it never takes the other
    end's steps on the sender's word). ``not_permitted``: only the other end's steps lead there;
    ``illegal_transition``: no run of steps of either end does."""
    steps = version - held_version
    if steps <= 0:
        return "stale_version"
    if claimed in states_after(held, steps, frozenset({side})):
        return None
    if claimed in states_after(held, steps, frozenset({ISSUER, ADDRESSEE})):
        return "not_permitted"
    return "illegal_transition"


class IllegalTransition(Conflict):
    code = "illegal_transition"


def is_overdue(state: str, deadline: datetime, now: datetime) -> bool:
    return DEADLINES.is_overdue(state, deadline, now)


def advance(target: OrderTarget, action: str, now: datetime) -> None:
    """Move ``target`` by ``action`` (already checked legal) and stamp the times."""
    target.state = TRANSITIONS[action].target
    target.version += 1
    target.updated_at = now
    if action == "receive":
        target.received_at = now
    elif action == "acknowledge":
        target.acknowledged_at = now
        target.ack_seconds = max(0, int((now - as_aware(target.issued_at)).total_seconds()))
    elif action == "report":
        target.reported_at = now
    elif action == "accept":
        target.accepted_at = now
    elif action == "return":
        target.returns += 1
    elif action == "close":
        target.closed_at = now
