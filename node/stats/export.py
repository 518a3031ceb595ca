"""The statistics as an Excel workbook (``GET /api/v1/stats/export.xlsx``): the same figures as
``/api/v1/stats`` (counts over the subtree, never a record's content), one sheet per table, with
Chinese headings. The figures come from ``service.compute_stats`` (one permission check, one
audit entry, action ``export``); the sheets only regroup its rows."""

from __future__ import annotations

from collections import defaultdict
from io import BytesIO

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy.orm import Session

from node.clock import iso
from node.context import NodeContext
from node.policy import Actor
from node.policy.categories import CLASS_LABELS
from node.stats.schemas import StatsOut
from node.stats.service import compute_stats

MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CLASSES = ("general", "restricted", "secret")
HEADING = Font(bold=True)
HEADING_FILL = PatternFill("solid", fgColor="F2DCDB")
TABLE_SHEETS = {
    "records.rows": "记录-明细",
    "orders.by_state": "交办-状态",
    "orders.by_month": "交办-月份",
    "ledger.by_node": "移交台账",
    "rectification.by_state": "整改-状态",
    "rectification.by_node": "整改-巡察机构",
    "rounds.coverage_by_node": "巡察-全覆盖",
    "rounds.by_kind": "巡察-轮次",
}
"""Every table of ``/api/v1/stats`` (a list of rows, by its path in the answer) and the sheet that
holds it row for row, with the same figures in the same order (tests hold every table to one)."""


def _table(
    sheet: Worksheet, headings: list[str], rows: list[list[str | int | float | None]]
) -> None:
    sheet.append(headings)
    for cell in sheet[1]:
        cell.font = HEADING
        cell.fill = HEADING_FILL
        cell.alignment = Alignment(horizontal="center")
    for row in rows:
        sheet.append(row)
    sheet.freeze_panes = "A2"
    for index, heading in enumerate(headings, start=1):
        width = max([len(heading) * 2 + 2, *(len(str(r[index - 1])) + 2 for r in rows)])
        sheet.column_dimensions[get_column_letter(index)].width = min(48, max(10, width))


def _records_by(stats: StatsOut, *dimensions: str) -> dict[tuple[str, ...], tuple[int, int]]:
    """(count, stubs) summed over the other dimensions, keyed by ``dimensions``' codes."""
    columns = stats.records.columns
    positions = [columns.index(d) for d in dimensions]
    sums: dict[tuple[str, ...], list[int]] = defaultdict(lambda: [0, 0])
    for row in stats.records.rows:
        entry = sums[tuple(str(row[p]) for p in positions)]
        entry[0] += int(row[-2])
        entry[1] += int(row[-1])
    return {key: (n, stubs) for key, (n, stubs) in sums.items()}


def build_workbook(stats: StatsOut) -> Workbook:
    labels = stats.records.labels
    origin_label = labels.get("origin", {})
    category_label = labels.get("category", {})
    orders, ledger = stats.orders, stats.ledger
    book = Workbook()

    overview = book.active
    assert overview is not None
    overview.title = "概览"
    period = f"{stats.records.since or '最早'} 至 {stats.records.until or '当前'}"
    median = orders.median_ack_seconds
    _table(
        overview,
        ["项目", "数值"],
        [
            ["统计单位", stats.node_name],
            ["统计范围（本级及下级单位数）", len(stats.subtree)],
            ["生成时间（UTC）", iso(stats.generated_at)],
            ["记录月份范围", period],
            ["信息记录总数", stats.records.total],
            ["其中：保密摘要", stats.records.stubs],
            ["交办（承办单位）总数", orders.total],
            ["交办未办结", orders.open],
            ["交办逾期", orders.overdue],
            ["交办已确认接收", orders.acknowledged],
            ["确认接收用时中位数（小时）", None if median is None else round(median / 3600, 1)],
            ["移交台账总数", ledger.total],
            ["台账未销号", ledger.open],
            ["台账逾期未反馈", ledger.overdue],
            ["台账已销号", ledger.closed],
            ["整改意见总数", stats.rectification.total],
            ["整改未完成（待整改、退回、回头看）", stats.rectification.open],
            ["整改逾期", stats.rectification.overdue],
            ["整改已销号", stats.rectification.closed],
            ["本届任期", f"{stats.rounds.term_start} 至 {stats.rounds.term_end}"],
            ["巡察轮次（本届）", stats.rounds.total],
            ["发现问题（本届）", stats.rounds.problems_found],
            ["被巡察单位", stats.rounds.coverage.units_total],
            ["已巡察单位", stats.rounds.coverage.units_inspected],
            ["同步巡察下发", stats.rounds.launches.launched],
            ["同步巡察未按期启动", stats.rounds.launches.late],
        ],
    )

    by_origin_class = _records_by(stats, "origin", "classification")
    origins = sorted({origin for origin, _ in by_origin_class})
    rows: list[list[str | int | float | None]] = []
    for origin in origins:
        counts = [by_origin_class.get((origin, c), (0, 0))[0] for c in CLASSES]
        rows.append([origin_label.get(origin, origin), *counts, sum(counts)])
    _table(
        book.create_sheet("记录-来源与分级"),
        ["来源单位", *(CLASS_LABELS[c] for c in CLASSES), "合计"],
        rows,
    )

    by_category = _records_by(stats, "category", "classification")
    _table(
        book.create_sheet("记录-类别"),
        ["信息类别", "信息分级", "记录数", "其中保密摘要"],
        [
            [category_label.get(category, category), CLASS_LABELS.get(cls, cls), n, stubs]
            for (category, cls), (n, stubs) in sorted(by_category.items())
        ],
    )

    status_label = labels.get("status", {})
    class_label = labels.get("classification", {})
    readers = {
        "origin": origin_label,
        "classification": class_label,
        "category": category_label,
        "status": status_label,
    }
    headings = {
        "origin": "来源单位",
        "classification": "信息分级",
        "category": "信息类别",
        "status": "状态",
        "month": "月份",
    }
    dimensions = stats.records.dimensions
    _table(
        book.create_sheet(TABLE_SHEETS["records.rows"]),
        [*(headings[d] for d in dimensions), "记录数", "其中保密摘要"],
        [
            [
                *(
                    readers.get(d, {}).get(str(v), str(v))
                    for d, v in zip(dimensions, row[: len(dimensions)], strict=True)
                ),
                *row[len(dimensions) :],
            ]
            for row in stats.records.rows
        ],
    )

    by_month = _records_by(stats, "month")
    _table(
        book.create_sheet("记录-月份"),
        ["月份", "记录数", "其中保密摘要"],
        [[month, n, stubs] for (month,), (n, stubs) in sorted(by_month.items())],
    )

    _table(
        book.create_sheet(TABLE_SHEETS["orders.by_state"]),
        ["状态", "承办单位数", "其中逾期"],
        [[s.state_label, s.count, s.overdue] for s in orders.by_state],
    )
    _table(
        book.create_sheet(TABLE_SHEETS["orders.by_month"]),
        ["下发月份", "承办单位数", "已办结", "当前逾期"],
        [[m.month, m.issued, m.closed, m.overdue] for m in orders.by_month],
    )
    _table(
        book.create_sheet(TABLE_SHEETS["ledger.by_node"]),
        ["单位", "移交总数", "未销号", "逾期未反馈", "已销号"],
        [[n.node_name, n.total, n.open, n.overdue, n.closed] for n in ledger.by_node],
    )
    rectification = stats.rectification
    _table(
        book.create_sheet(TABLE_SHEETS["rectification.by_state"]),
        ["状态", "整改意见数", "其中逾期"],
        [[s.state_label, s.count, s.overdue] for s in rectification.by_state],
    )
    _table(
        book.create_sheet(TABLE_SHEETS["rectification.by_node"]),
        ["巡察机构", "整改意见总数", "未完成", "逾期", "已销号"],
        [[n.node_name, n.total, n.open, n.overdue, n.closed] for n in rectification.by_node],
    )
    _table(
        book.create_sheet(TABLE_SHEETS["rounds.coverage_by_node"]),
        [
            "单位",
            "被巡察单位",
            "已巡察",
            "已计划未巡察",
            "覆盖率",
            "轮次",
            "进行中",
            "已完成",
            "发现问题",
        ],
        [
            [
                n.node_name,
                n.units_total,
                n.units_inspected,
                n.units_planned,
                n.coverage,
                n.rounds,
                n.rounds_in_progress,
                n.rounds_completed,
                n.problems_found,
            ]
            for n in stats.rounds.coverage_by_node
        ],
    )
    _table(
        book.create_sheet(TABLE_SHEETS["rounds.by_kind"]),
        ["巡察方式", "状态", "轮次", "发现问题"],
        [[r.kind_label, r.state_label, r.count, r.problems_found] for r in stats.rounds.by_kind],
    )
    return book


def export_stats(
    session: Session,
    ctx: NodeContext,
    actor: Actor,
    *,
    since: str | None = None,
    until: str | None = None,
    months: int = 12,
) -> bytes:
    """The workbook's bytes: the statistics the actor may read, audited as ``export``."""
    stats = compute_stats(
        session, ctx, actor, since=since, until=until, months=months, audit_action="export"
    )
    buffer = BytesIO()
    build_workbook(stats).save(buffer)
    return buffer.getvalue()
