"""The bulletin (检查通报) as a Word document (python-docx): a title, the issuing node, the period,
summary paragraphs and tables. Body text in 宋体 (SimSun), headings and the title in 黑体 (SimHei),
set on the East Asian font slot (``w:eastAsia``) that Word uses for Chinese characters, so the
text renders in those fonts rather than a Latin fallback.

The document only lays out what ``node.stats.bulletin`` gathered; it reads nothing itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from io import BytesIO

from docx import Document
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt
from docx.styles.style import ParagraphStyle
from docx.table import Table

from node.policy.categories import CLASS_LABELS
from node.stats.bulletin import (
    Bulletin,
    OverdueItem,
    RectificationFigures,
    RoundFigures,
    StateCount,
    UnitCount,
    WorkFigures,
)

MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
BODY_FONT = ("SimSun", "宋体")
HEADING_FONT = ("SimHei", "黑体")
NUMERALS = "一二三四五六七八九十"
Cell = str | int | float | None


def _fonts(style: ParagraphStyle, fonts: tuple[str, str], size: float, *, bold: bool) -> None:
    latin, east_asian = fonts
    style.font.name = latin
    style.font.size = Pt(size)
    style.font.bold = bold
    r_pr = style.element.get_or_add_rPr()
    r_fonts = r_pr.find(qn("w:rFonts"))
    if r_fonts is None:
        r_fonts = OxmlElement("w:rFonts")
        r_pr.insert(0, r_fonts)
    for slot in ("w:ascii", "w:hAnsi", "w:cs"):
        r_fonts.set(qn(slot), latin)
    r_fonts.set(qn("w:eastAsia"), east_asian)
    # A theme font would override the names set here.
    for theme in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        if r_fonts.get(qn(theme)) is not None:
            del r_fonts.attrib[qn(theme)]


def _date(moment: datetime) -> str:
    return f"{moment.year}年{moment.month}月{moment.day}日"


def _day(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d")


class _Writer:
    def __init__(self) -> None:
        self.doc = Document()
        section = self.doc.sections[0]
        section.page_width, section.page_height = Cm(21), Cm(29.7)
        section.top_margin = section.bottom_margin = Cm(3.7 - 1.2)
        section.left_margin, section.right_margin = Cm(2.8), Cm(2.6)
        styles = self.doc.styles
        _fonts(styles["Normal"], BODY_FONT, 12, bold=False)
        _fonts(styles["Title"], HEADING_FONT, 22, bold=False)
        for level, size in ((1, 16), (2, 14)):
            _fonts(styles[f"Heading {level}"], HEADING_FONT, size, bold=False)
        _fonts(styles["Table Grid"], BODY_FONT, 10.5, bold=False)
        self.sections = 0
        self.tables = 0

    def title(self, text: str, subtitle: str) -> None:
        title = self.doc.add_paragraph(text, style="Title")
        title.alignment = WD_ALIGN_PARAGRAPH.CENTER
        sub = self.doc.add_paragraph(subtitle)
        sub.alignment = WD_ALIGN_PARAGRAPH.CENTER

    def heading(self, text: str) -> None:
        self.doc.add_heading(f"{NUMERALS[self.sections]}、{text}", level=1)
        self.sections += 1

    def paragraph(self, text: str) -> None:
        paragraph = self.doc.add_paragraph(text)
        paragraph.paragraph_format.first_line_indent = Pt(24)

    def table(self, caption: str, headings: Sequence[str], rows: Sequence[Sequence[Cell]]) -> None:
        self.tables += 1
        label = self.doc.add_paragraph()
        label.alignment = WD_ALIGN_PARAGRAPH.CENTER
        run = label.add_run(f"表{self.tables}　{caption}")
        run.bold = True
        if not rows:
            self.paragraph("（本期无。）")
            return
        table: Table = self.doc.add_table(rows=1, cols=len(headings), style="Table Grid")
        table.alignment = WD_TABLE_ALIGNMENT.CENTER
        for cell, heading in zip(table.rows[0].cells, headings, strict=True):
            cell.text = ""
            cell.paragraphs[0].add_run(heading).bold = True
            cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.CENTER
            shading = OxmlElement("w:shd")
            shading.set(qn("w:val"), "clear")
            shading.set(qn("w:fill"), "F2DCDB")
            cell._tc.get_or_add_tcPr().append(shading)
        for row in rows:
            cells = table.add_row().cells  # type: ignore[no-untyped-call]
            for cell, value in zip(cells, row, strict=True):
                cell.text = "" if value is None else str(value)
                if isinstance(value, int | float):
                    cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.RIGHT

    def save(self) -> bytes:
        buffer = BytesIO()
        self.doc.save(buffer)
        return buffer.getvalue()


STATE_HEADINGS = ["状态", "件数", "其中逾期"]
UNIT_HEADINGS = ["单位", "总数", "未完成", "逾期", "已完成"]


def _states(states: list[StateCount]) -> list[list[Cell]]:
    return [[s.label, s.count, s.overdue] for s in states]


def _units(units: list[UnitCount]) -> list[list[Cell]]:
    return [[u.name, u.total, u.open, u.overdue, u.closed] for u in units]


def _overdue(items: list[OverdueItem]) -> list[list[Cell]]:
    return [
        [i.unit, i.counterpart, i.state_label, _day(i.issued_at), _day(i.deadline), i.days_overdue]
        for i in items
    ]


def _listed(total: int, shown: int) -> str:
    return "" if shown >= total else f"（共{total}项，列出期限最早的{shown}项。）"


def _work_section(
    writer: _Writer, work: WorkFigures, *, noun: str, counterpart: str, issued: str
) -> None:
    writer.table(f"{noun}按状态统计", STATE_HEADINGS, _states(work.by_state))
    writer.table(f"{noun}按单位统计", UNIT_HEADINGS, _units(work.by_unit))
    writer.table(
        f"逾期{noun}清单",
        ["单位", counterpart, "状态", issued, "期限", "逾期天数"],
        _overdue(work.overdue_items),
    )
    note = _listed(work.overdue, len(work.overdue_items))
    if note:
        writer.paragraph(note)


def _rectification_section(writer: _Writer, work: RectificationFigures) -> None:
    writer.table("整改意见按状态统计", STATE_HEADINGS, _states(work.by_state))
    writer.table(
        "整改意见按巡察机构统计",
        ["巡察机构", "整改意见数", "未完成", "逾期", "已销号"],
        _units(work.by_unit),
    )
    writer.table(
        "整改意见按被巡察单位统计",
        ["被巡察单位", "巡察机构", "整改意见数", "未完成", "逾期", "已销号"],
        [
            [u.unit, u.inspecting, u.total, u.open, u.overdue, u.closed]
            for u in work.by_inspected_unit
        ],
    )
    writer.table(
        "逾期未报送整改情况清单（按被巡察单位）",
        ["被巡察单位", "巡察机构", "状态", "提出日期", "整改期限", "逾期天数"],
        _overdue(work.overdue_items),
    )
    note = _listed(work.overdue, len(work.overdue_items))
    if note:
        writer.paragraph(note)
    writer.table(
        "本期销号的整改意见",
        ["被巡察单位", "巡察机构", "提出日期", "销号日期"],
        [[c.unit, c.inspecting, _day(c.issued_at), _day(c.closed_at)] for c in work.closures],
    )
    note = _listed(work.closures_total, len(work.closures))
    if note:
        writer.paragraph(note)


def _percent(share: float | None) -> str:
    return "—" if share is None else f"{share * 100:.1f}%"


def _rounds_section(writer: _Writer, rounds: RoundFigures) -> None:
    writer.table(
        "本期开展巡察轮次（按方式和状态）",
        ["巡察方式", "状态", "轮次", "发现问题"],
        [[k.kind_label, k.state_label, k.count, k.problems_found] for k in rounds.by_kind],
    )
    writer.table(
        f"本届任期巡察全覆盖情况（{_date_only(rounds.term_start)}至{_date_only(rounds.term_end)}）",
        ["单位", "被巡察单位", "已巡察", "已计划未巡察", "覆盖率", "本期轮次", "本期发现问题"],
        [
            [
                n.name,
                n.units_total,
                n.units_inspected,
                n.units_planned,
                _percent(n.coverage),
                n.rounds,
                n.problems_found,
            ]
            for n in rounds.by_node
        ],
    )


def _launches(writer: _Writer, rounds: RoundFigures) -> None:
    parts = rounds.launch_parts
    if not parts:
        return
    late = sum(1 for p in parts if p.late)
    started = sum(1 for p in parts if p.started_at is not None)
    writer.paragraph(
        f"同步巡察方面，期间本级部署同步巡察涉及{len(parts)}个单位次，已启动{started}个，"
        f"逾期未启动{late}个，已发现问题{sum(p.problems_found for p in parts)}个。"
    )
    writer.table(
        "本级部署的同步巡察落实情况",
        ["同步巡察", "单位", "状态", "应启动日期", "启动日期", "逾期未启动", "发现问题"],
        [
            [
                p.launch,
                p.unit,
                p.state_label,
                _day(p.start_by),
                "" if p.started_at is None else _day(p.started_at),
                "是" if p.late else "否",
                p.problems_found,
            ]
            for p in parts
        ],
    )


def _date_only(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def render_bulletin(bulletin: Bulletin) -> bytes:
    """The bulletin as DOCX bytes."""
    b = bulletin
    writer = _Writer()
    writer.title(f"{b.subtree_name}巡视巡察整改落实情况通报", f"（{b.period_label}）")
    scope = (
        b.subtree_name
        if b.subtree_size == 1
        else f"{b.subtree_name}及所辖{b.subtree_size - 1}个下级单位"
    )
    writer.paragraph(f"发布单位：{b.node_name}")
    writer.paragraph(f"统计范围：{scope}")
    writer.paragraph(f"统计期间：{b.period_label}（按事项下发、移交或登记的月份计）")
    writer.paragraph(f"状态截至：{_date(b.generated_at)}（UTC {b.generated_at:%H:%M}）")

    writer.heading("总体情况")
    records, orders, ledger, rectification = b.records, b.orders, b.ledger, b.rectification
    by_class = "，".join(
        f"{CLASS_LABELS.get(cls, cls)}{n}条" for cls, n in records.by_class.items()
    )
    writer.paragraph(
        f"{b.period_label}，{scope}共登记信息记录{records.total}条（{by_class}"
        + (f"；其中以摘要掌握的涉案类保密信息{records.stubs}条" if records.stubs else "")
        + f"），其中巡视巡察发现问题记录{records.findings}条。"
    )
    rounds = b.rounds
    writer.paragraph(
        f"巡察全覆盖方面，本届任期（{_date_only(rounds.term_start)}至{_date_only(rounds.term_end)}）"
        f"{scope}共有被巡察单位{rounds.units_total}个，已巡察{rounds.units_inspected}个，"
        f"覆盖率{_percent(rounds.coverage)}，另有{rounds.units_planned}个已列入巡察计划；"
        f"期间开展巡察{rounds.rounds}轮次，发现问题{rounds.problems_found}个。"
    )
    awaiting = sum(s.count for s in rectification.by_state if s.state in ("reported", "accepted"))
    writer.paragraph(
        f"整改落实方面，期间{scope}提出整改意见{rectification.total}条，涉及被巡察单位"
        f"{rectification.units}个；已销号{rectification.closed}条，已报送整改情况待评估或待销号"
        f"{awaiting}条，尚待整改{rectification.open}条，其中逾期未报送整改情况"
        f"{rectification.overdue}条。本期共销号整改意见{rectification.closures_total}条。"
    )
    writer.paragraph(
        f"交办督办方面，期间下发至{scope}的交办事项共{orders.total}件次（按承办单位计），"
        f"已办结{orders.closed}件次，尚在办理{orders.open}件次，其中逾期未办结{orders.overdue}件次。"
    )
    writer.paragraph(
        f"问题线索移交方面，期间移交纪检监察、组织人事等部门的问题线索共{ledger.total}件，"
        f"已销号{ledger.closed}件，待反馈或办理中{ledger.open}件，其中逾期未反馈{ledger.overdue}件。"
    )
    if orders.overdue or ledger.overdue or rectification.overdue:
        writer.paragraph(
            "对逾期未整改、逾期未办结、逾期未反馈的事项，请相关单位抓紧办理，按期报送整改和"
            "办理情况；逾期事项清单见下文各表。"
        )

    writer.heading("整改落实情况")
    _rectification_section(writer, rectification)

    writer.heading("巡察开展和全覆盖情况")
    _rounds_section(writer, rounds)
    _launches(writer, rounds)

    writer.heading("交办督办落实情况")
    _work_section(writer, orders, noun="交办事项", counterpart="交办单位", issued="下发日期")

    writer.heading("问题线索移交办理情况")
    _work_section(writer, ledger, noun="移交线索", counterpart="承办部门", issued="移交日期")

    writer.heading("巡视巡察发现问题")
    writer.paragraph(
        f"期间{scope}登记巡视巡察发现问题记录{records.findings}条，下表列出生成人有权阅读的"
        f"一般和限定知悉范围记录{b.findings_readable}条的标题；其余仅计入数量。"
    )
    writer.table(
        "巡视巡察发现问题（标题）",
        ["来源单位", "信息分级", "登记日期", "标题"],
        [[f.origin_name, f.classification_label, _day(f.created_at), f.title] for f in b.findings],
    )
    note = _listed(b.findings_readable, len(b.findings))
    if note:
        writer.paragraph(note)

    writer.heading("说明")
    writer.paragraph(
        "本通报依据本级掌握的统计汇总（含下级单位报送的摘要）和生成人有权阅读的记录生成。"
        "涉案类保密信息只计数量，不列标题、内容；任何记录均不含正文和举报人信息。"
    )
    return writer.save()
