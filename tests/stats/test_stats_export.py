"""Orders by month of issue in ``/api/v1/stats``, and the statistics as an Excel workbook
(``/api/v1/stats/export.xlsx``): the same figures, Chinese headings, audited as an export, for
those who may read statistics only."""

from __future__ import annotations

from collections.abc import Callable
from io import BytesIO

from openpyxl import load_workbook

from tests.helpers import call, error, ok, order_body
from tests.inprocess import MiniFederation

MakeFederation = Callable[..., MiniFederation]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_orders_by_month_of_issue_with_closed_and_overdue(mini_federation: MakeFederation) -> None:
    fed = mini_federation("shaanxi", "yanan")
    province = fed["shaanxi"]
    body = order_body("yanan", deadline_s=86400, now=province.clock.now())
    issued = ok(call(province, "POST", "/api/v1/orders", json=body), 201)
    month = issued["issued_at"][:7]
    fed.pump()
    by_month = ok(call(province, "GET", "/api/v1/stats"))["orders"]["by_month"]
    assert by_month == [{"month": month, "issued": 1, "closed": 0, "overdue": 0}]
    province.clock.advance(2 * 86400)
    by_month = ok(call(province, "GET", "/api/v1/stats"))["orders"]["by_month"]
    assert by_month == [{"month": month, "issued": 1, "closed": 0, "overdue": 1}]
    # The county's own subtree holds the same target, as addressee.
    at_county = ok(call(fed["yanan"], "GET", "/api/v1/stats"))["orders"]["by_month"]
    assert at_county == [{"month": month, "issued": 1, "closed": 0, "overdue": 1}]


def test_the_excel_export_holds_the_statistics(mini_federation: MakeFederation) -> None:
    fed = mini_federation("shaanxi")
    node = fed["shaanxi"]
    for category, title in (("policy", "制度一"), ("policy", "制度二"), ("problem_clue", "线索")):
        ok(call(node, "POST", "/api/v1/records", json={"category": category, "title": title}), 201)
    stats = ok(call(node, "GET", "/api/v1/stats"))
    response = call(node, "GET", "/api/v1/stats/export.xlsx")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == XLSX
    assert "attachment" in response.headers["content-disposition"]
    book = load_workbook(BytesIO(response.content))
    assert book.sheetnames == [
        "概览",
        "记录-来源与分级",
        "记录-类别",
        "记录-明细",
        "记录-月份",
        "交办-状态",
        "交办-月份",
        "移交台账",
        "整改-状态",
        "整改-巡察机构",
        "巡察-全覆盖",
        "巡察-轮次",
    ]
    overview = {row[0]: row[1] for row in book["概览"].iter_rows(min_row=2, values_only=True)}
    assert overview["统计单位"] == "陕西省"
    assert overview["信息记录总数"] == stats["records"]["total"] == 3
    by_origin = list(book["记录-来源与分级"].iter_rows(values_only=True))
    assert by_origin[0] == (
        "来源单位",
        "一般基础性信息",
        "限定知悉范围信息",
        "涉案类保密信息",
        "合计",
    )
    assert by_origin[1] == ("陕西省", 2, 0, 1, 3)
    categories = {
        row[0]: row[2] for row in book["记录-类别"].iter_rows(min_row=2, values_only=True)
    }
    assert categories == {"政策制度": 2, "问题线索": 1}
    assert fed.rows(
        "shaanxi", "SELECT action FROM audit_log WHERE object_type = 'stats' ORDER BY seq"
    ) == [("read",), ("export",)]


def test_an_admin_may_not_export_statistics(mini_federation: MakeFederation) -> None:
    fed = mini_federation("shaanxi")
    error(call(fed["shaanxi"], "GET", "/api/v1/stats/export.xlsx", role="admin"), 403, "forbidden")
