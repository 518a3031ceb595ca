"""``/api/v1/stats``: statistics over this node's subtree."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from node.api.deps import ContextDep, CurrentActor, SessionDep
from node.stats import service
from node.stats.schemas import StatsOut

router = APIRouter(prefix="/api/v1/stats", tags=["stats 统计"])

Month = Annotated[
    str | None, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM, inclusive")
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
    months: Annotated[
        int,
        Query(
            ge=0,
            le=1200,
            description="without since: the last N months up to now (default 12; 0: all months)",
        ),
    ] = 12,
) -> StatsOut:
    return service.compute_stats(
        session, ctx, actor, group_by=group_by, since=since, until=until, months=months
    )
