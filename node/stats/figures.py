"""The tallies statistics and the bulletin share: per-unit totals (open, overdue, closed) and
per-state counts, in the order a domain's labels list its states.

Overdue counts come from the SQL of each domain's deadline model (``node.deadlines``); what
counts as *open* here is the domain's open states, except the ledger's: an item is open until it
is closed (a responded item is still open), while it is overdue only while no feedback has come.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Protocol, TypeVar

from node.ledger.state import STATUS_LABELS as LEDGER_LABELS

V = TypeVar("V")

CLOSED = "closed"
LEDGER_OPEN = tuple(s for s in LEDGER_LABELS if s != CLOSED)
"""A ledger item is open until closed (``DEADLINES`` owes feedback only while transferred)."""


class Tally(Protocol):
    """Work counted per unit or per node."""

    total: int
    open: int
    overdue: int
    closed: int


def tally(counted: Tally, state: str, n: int, late: int, *, open_states: Collection[str]) -> None:
    """Add ``n`` pieces of work in ``state``, ``late`` of them overdue, to ``counted``."""
    counted.total += n
    counted.overdue += late
    if state == CLOSED:
        counted.closed += n
    elif state in open_states:
        counted.open += n


def add_state(states: dict[str, list[int]], state: str, n: int, late: int) -> None:
    """Add ``n`` pieces of work in ``state``, ``late`` of them overdue, to ``states``'s
    ``[count, overdue]``."""
    figures = states.setdefault(state, [0, 0])
    figures[0] += n
    figures[1] += late


def position(order: list[str], key: str) -> int:
    """Where ``key`` stands in ``order`` (a domain's labels); unknown keys last."""
    return order.index(key) if key in order else len(order)


def in_label_order(
    items: Iterable[tuple[str, V]], labels: Mapping[str, str]
) -> list[tuple[str, V]]:
    """``items`` (state, value) sorted by their state's place in ``labels``, unknown ones last."""
    order = list(labels)
    return sorted(items, key=lambda item: position(order, item[0]))
