"""The state machine of one addressee's part in an order (DESIGN §6)::

    issued -> received -> acknowledged -> in_progress -> reported -> accepted -> closed
                                             ^               |
                                             +-- returned <--+

``receive`` happens at the addressee when the order arrives; acknowledge, progress and report are
the addressee's; accept, return and close are the issuer's. The two ends never act in the same
state, so each target's version grows linearly whichever end moves it. Past its deadline, a
target in an open state is overdue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from node import common
from node.clock import as_aware
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
# The event that opens a target's history at the issuer (version 1).
ISSUE_EVENT = "issue"


class IllegalTransition(Conflict):
    code = "illegal_transition"


def is_overdue(state: str, deadline: datetime, now: datetime) -> bool:
    return common.is_overdue(state in OPEN_STATES, deadline, now)


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
