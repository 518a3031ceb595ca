"""Codes and Chinese labels of units, rounds and launches, the round's and the launch target's
states, and when a launch target is late or overdue.

A round: ``planned`` (已计划) -> ``in_progress`` (巡察中, the group has started: 进驻) ->
``completed`` (已完成). Problems found are reported while in progress and when completing.

A launch target (one addressee's part in a synchronised round): ``issued`` (已下发, at the
launcher until the addressee's receipt arrives) -> ``received`` (已接收) -> ``linked`` (已关联:
the addressee linked a round of its own) -> ``started`` (已启动) -> ``completed`` (已完成).
Only the addressee moves it, forward only. It is *late* while not started past the launch's
``start_by`` and *overdue* while not completed past its ``deadline``.

Coverage (全覆盖) of a term: of the active units of a node, those covered by a round of a
covering kind (常规, 专项, 机动; not 回头看, which re-checks a unit already inspected) that has
started and whose period begins within the term.
"""

from __future__ import annotations

from datetime import datetime

from node.deadlines import DeadlineModel

UNIT_KIND_LABELS = {
    "party_organ": "党政机关部门",
    "institution": "事业单位",
    "state_enterprise": "国有企业",
    "township": "乡镇（街道）",
    "village": "村（社区）",
    "other": "其他",
}
ROUND_KIND_LABELS = {
    "regular": "常规巡察",
    "special": "专项巡察",
    "mobile": "机动巡察",
    "lookback": "巡察“回头看”",
}
# Kinds whose rounds count towards coverage of a term.
COVERING_KINDS = ("regular", "special", "mobile")
ROUND_STATE_LABELS = {"planned": "已计划", "in_progress": "巡察中", "completed": "已完成"}
STARTED_STATES = ("in_progress", "completed")
ROUND_ACTIONS = {"start": "in_progress", "complete": "completed"}
ROUND_SOURCES = {"start": ("planned",), "progress": ("in_progress",), "complete": ("in_progress",)}

TARGET_STATE_LABELS = {
    "issued": "已下发",
    "received": "已接收",
    "linked": "已关联",
    "started": "已启动",
    "completed": "已完成",
}
TARGET_ORDER = tuple(TARGET_STATE_LABELS)
# Not started yet: past ``start_by`` these are late. Not completed: past the deadline, overdue.
NOT_STARTED = ("issued", "received", "linked")
NOT_COMPLETED = (*NOT_STARTED, "started")
# The one deadline model (``node.deadlines``), twice: a part owes its start by ``start_by`` and its
# completion by the deadline.
START_DEADLINES = DeadlineModel.owed_in(NOT_STARTED)
DEADLINES = DeadlineModel.owed_in(NOT_COMPLETED)

OWN = "own"
SUMMARY = "summary"
LAUNCHER = "launcher"
ADDRESSEE = "addressee"


def target_rank(state: str) -> int:
    return TARGET_ORDER.index(state)


def target_state_for(round_state: str) -> str:
    """The launch target's state that a linked round in ``round_state`` stands for."""
    return {"planned": "linked", "in_progress": "started", "completed": "completed"}[round_state]


def is_late(state: str, start_by: datetime, now: datetime) -> bool:
    """Not started past the launch's start date."""
    return START_DEADLINES.is_overdue(state, start_by, now)


def is_overdue(state: str, deadline: datetime, now: datetime) -> bool:
    """Not completed past the launch's deadline."""
    return DEADLINES.is_overdue(state, deadline, now)
