"""The ledger item's states: transferred (已移交) -> responded (已反馈, at least one feedback) ->
closed (已销号). An item is overdue while no feedback has come and its feedback deadline has
passed. ``own`` items are this node's; ``summary`` items are metadata of a node below."""

from __future__ import annotations

from datetime import datetime

from node.deadlines import DeadlineModel

STATUS_LABELS = {"transferred": "已移交", "responded": "已反馈", "closed": "已销号"}
# Owed while no feedback has come: past the feedback deadline, overdue.
DEADLINES = DeadlineModel.owed_in(("transferred",))
OWN = "own"
SUMMARY = "summary"


def is_overdue(status: str, deadline: datetime, now: datetime) -> bool:
    return DEADLINES.is_overdue(status, deadline, now)
