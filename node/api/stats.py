"""``/api/v1/stats``: statistics over this node's subtree."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from node.api.deps import ContextDep, CurrentActor, SessionDep
from node.stats import export, service
from node.stats.schemas import StatsOut

router = APIRouter(prefix="/api/v1/stats", tags=["stats 统计"])

Month = Annotated[
    str | None, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM, inclusive")
]
Months = Annotated[
    int,
    Query(
        ge=0,
        le=1200,
        description="without since: the last N months up to now (default 12; 0: all months)",
    ),
]


@router.get("", response_model=StatsOut, summary="辖区统计 Statistics over this node's subtree")
def stats(
    session: SessionDep,
    ctx: ContextDep,
    actor: CurrentActor,
    group_by: Annotated[
        str | None,
        Query(
            max_length=100,
            description="record dimensions, comma-separated: origin, classification, category, "
            "status, month (default: all five)",
        ),
    ] = None,
    since: Month = None,
    until: Month = None,
    months: Months = 12,
) -> StatsOut:
    return service.compute_stats(
        session, ctx, actor, group_by=group_by, since=since, until=until, months=months
    )


@router.get(
    "/export.xlsx",
    response_class=Response,
    responses={200: {"content": {export.MEDIA_TYPE: {}}}},
    summary="导出统计 The statistics as an Excel workbook",
)
def export_stats(
    session: SessionDep,
    ctx: ContextDep,
    actor: CurrentActor,
    since: Month = None,
    until: Month = None,
    months: Months = 12,
) -> Response:
    content = export.export_stats(session, ctx, actor, since=since, until=until, months=months)
    day = ctx.clock.now().strftime("%Y%m%d")
    return Response(
        content,
        media_type=export.MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="stats-{ctx.node_id}-{day}.xlsx"'},
    )
