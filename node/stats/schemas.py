"""Response shape of ``/api/v1/stats``: codes with Chinese labels alongside."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel

from node.rounds.schemas import CoverageFigures, NodeCoverageOut


class RecordStatsOut(BaseModel):
    """Counts of records held here whose origin is in the subtree, as a table: one row per
    combination of ``dimensions`` (``columns`` names each cell; the last two are ``count`` and
    ``stubs``); ``labels`` gives the Chinese label of every code that appears."""

    total: int
    stubs: int
    dimensions: list[str]
    since: str | None
    until: str | None
    columns: list[str]
    rows: list[list[str | int]]
    labels: dict[str, dict[str, str]]


class OrderStateOut(BaseModel):
    state: str
    state_label: str
    count: int
    overdue: int


class OrderMonthOut(BaseModel):
    """Addressees' parts of orders issued in ``month`` (UTC): how many, closed, overdue now."""

    month: str
    issued: int
    closed: int
    overdue: int


class OrderStatsOut(BaseModel):
    total: int
    open: int
    overdue: int
    acknowledged: int
    median_ack_seconds: float | None
    by_state: list[OrderStateOut]
    by_month: list[OrderMonthOut]


class LedgerNodeOut(BaseModel):
    node: str
    node_name: str
    total: int
    open: int
    overdue: int
    closed: int


class LedgerStatsOut(BaseModel):
    total: int
    open: int
    overdue: int
    closed: int
    by_node: list[LedgerNodeOut]


class RectificationStateOut(BaseModel):
    state: str
    state_label: str
    count: int
    overdue: int


class RectificationNodeOut(BaseModel):
    """Demands made by one inspecting node."""

    node: str
    node_name: str
    total: int
    open: int
    overdue: int
    closed: int


class RectificationStatsOut(BaseModel):
    """Rectification demands (整改意见) of inspecting nodes in the subtree: ``open`` are those the
    unit still owes a report on (待整改, 退回整改, 回头看复查), ``overdue`` those of them past the
    deadline."""

    total: int
    open: int
    overdue: int
    closed: int
    by_state: list[RectificationStateOut]
    by_node: list[RectificationNodeOut]


class RoundKindStateOut(BaseModel):
    kind: str
    kind_label: str
    state: str
    state_label: str
    count: int
    problems_found: int


class LaunchStatsOut(BaseModel):
    """Synchronised rounds launched here: addressees' parts by state, late and overdue."""

    launched: int
    targets: int
    started: int
    late: int
    overdue: int
    problems_found: int


class RoundStatsOut(BaseModel):
    """Inspection rounds of the term over the subtree, and coverage (全覆盖) of the term."""

    term_start: date
    term_end: date
    total: int
    planned: int
    in_progress: int
    completed: int
    problems_found: int
    by_kind: list[RoundKindStateOut]
    coverage: CoverageFigures
    coverage_by_node: list[NodeCoverageOut]
    launches: LaunchStatsOut


class StatsOut(BaseModel):
    node: str
    node_name: str
    subtree: list[str]
    generated_at: datetime
    records: RecordStatsOut
    orders: OrderStatsOut
    ledger: LedgerStatsOut
    rectification: RectificationStatsOut
    rounds: RoundStatsOut
