"""``/api/v1/inspected-units`` and ``/api/v1/inspection-rounds``: thin endpoints over
node.rounds (units to cover, rounds, coverage of the term, synchronised launches)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from node.api.deps import ContextDep, CurrentActor, SessionDep
from node.rounds import service, views
from node.rounds.schemas import (
    CoverageOut,
    LaunchCreate,
    LaunchOut,
    LaunchPage,
    RoundComplete,
    RoundCreate,
    RoundKind,
    RoundLink,
    RoundOut,
    RoundPage,
    RoundProgress,
    RoundState,
    UnitCreate,
    UnitKind,
    UnitOut,
    UnitPage,
    UnitUpdate,
)

units_router = APIRouter(prefix="/api/v1/inspected-units", tags=["rounds 巡察轮次与全覆盖"])
router = APIRouter(prefix="/api/v1/inspection-rounds", tags=["rounds 巡察轮次与全覆盖"])

NodeQuery = Annotated[str | None, Query(pattern=r"^[a-z0-9-]+$", max_length=64)]
Scope = Literal["own", "subtree"] | None
Cursor = Annotated[str | None, Query(max_length=64)]
Limit = Annotated[int, Query(ge=1, le=200)]


# -- units --------------------------------------------------------------------------------------


@units_router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=UnitOut,
    summary="登记被巡察单位 List a unit to inspect",
)
def create_unit(
    data: UnitCreate, session: SessionDep, ctx: ContextDep, actor: CurrentActor
) -> UnitOut:
    return views.unit_view(session, ctx, service.create_unit(session, ctx, actor, data))


@units_router.get(
    "", response_model=UnitPage, summary="被巡察单位 Own units and summaries from below"
)
def list_units(
    session: SessionDep,
    ctx: ContextDep,
    actor: CurrentActor,
    scope: Scope = None,
    node: NodeQuery = None,
    kind: UnitKind | None = None,
    active: bool | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> UnitPage:
    filters = views.UnitFilters(scope=scope, node=node, kind=kind, active=active)
    return views.list_units(session, ctx, actor, filters, cursor=cursor, limit=limit)


@units_router.get("/{unit_id}", response_model=UnitOut, summary="查看被巡察单位 Read a unit")
def read_unit(unit_id: str, session: SessionDep, ctx: ContextDep, actor: CurrentActor) -> UnitOut:
    return views.get_unit(session, ctx, actor, unit_id)


@units_router.patch(
    "/{unit_id}", response_model=UnitOut, summary="修改被巡察单位 Change a unit (or take it off)"
)
def update_unit(
    unit_id: str, data: UnitUpdate, session: SessionDep, ctx: ContextDep, actor: CurrentActor
) -> UnitOut:
    return views.unit_view(session, ctx, service.update_unit(session, ctx, actor, unit_id, data))


# -- rounds, coverage, launches -----------------------------------------------------------------


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=RoundOut,
    summary="计划巡察轮次 Plan a round",
)
def plan_round(
    data: RoundCreate, session: SessionDep, ctx: ContextDep, actor: CurrentActor
) -> RoundOut:
    return views.round_view(session, ctx, service.plan_round(session, ctx, actor, data))


@router.get("", response_model=RoundPage, summary="巡察轮次 Own rounds and summaries from below")
def list_rounds(
    session: SessionDep,
    ctx: ContextDep,
    actor: CurrentActor,
    scope: Scope = None,
    node: NodeQuery = None,
    kind: RoundKind | None = None,
    state: RoundState | None = None,
    launch_id: Cursor = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> RoundPage:
    filters = views.RoundFilters(
        scope=scope, node=node, kind=kind, state=state, launch_id=launch_id
    )
    return views.list_rounds(session, ctx, actor, filters, cursor=cursor, limit=limit)


@router.get(
    "/coverage",
    response_model=CoverageOut,
    summary="全覆盖 Coverage of the term, per node of the subtree and in total",
)
def coverage(
    session: SessionDep,
    ctx: ContextDep,
    actor: CurrentActor,
    term_start: date | None = None,
    term_end: date | None = None,
) -> CoverageOut:
    return views.get_coverage(session, ctx, actor, term_start=term_start, term_end=term_end)


@router.post(
    "/launches",
    status_code=status.HTTP_201_CREATED,
    response_model=LaunchOut,
    summary="同步展开 Launch a synchronised round for nodes below",
)
def launch_round(
    data: LaunchCreate, session: SessionDep, ctx: ContextDep, actor: CurrentActor
) -> LaunchOut:
    return views.launch_view(session, ctx, service.launch_round(session, ctx, actor, data))


@router.get(
    "/launches", response_model=LaunchPage, summary="同步巡察 Launches made or received here"
)
def list_launches(
    session: SessionDep,
    ctx: ContextDep,
    actor: CurrentActor,
    box: Literal["launched", "received"] | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> LaunchPage:
    return views.list_launches(session, ctx, actor, box=box, cursor=cursor, limit=limit)


@router.get(
    "/launches/{launch_id}",
    response_model=LaunchOut,
    summary="查看同步巡察 Read a launch: who started, who is late, problems found",
)
def read_launch(
    launch_id: str, session: SessionDep, ctx: ContextDep, actor: CurrentActor
) -> LaunchOut:
    return views.get_launch(session, ctx, actor, launch_id)


@router.get("/{round_id}", response_model=RoundOut, summary="查看巡察轮次 Read a round")
def read_round(
    round_id: str, session: SessionDep, ctx: ContextDep, actor: CurrentActor
) -> RoundOut:
    return views.get_round(session, ctx, actor, round_id)


@router.post("/{round_id}/start", response_model=RoundOut, summary="启动（进驻） Start a round")
def start_round(
    round_id: str, session: SessionDep, ctx: ContextDep, actor: CurrentActor
) -> RoundOut:
    row = service.round_step(session, ctx, actor, round_id, "start")
    return views.round_view(session, ctx, row)


@router.post(
    "/{round_id}/progress",
    response_model=RoundOut,
    summary="报送进展 Report the problems found so far",
)
def round_progress(
    round_id: str, data: RoundProgress, session: SessionDep, ctx: ContextDep, actor: CurrentActor
) -> RoundOut:
    row = service.round_step(session, ctx, actor, round_id, "progress", data)
    return views.round_view(session, ctx, row)


@router.post("/{round_id}/complete", response_model=RoundOut, summary="完成 Complete a round")
def complete_round(
    round_id: str, data: RoundComplete, session: SessionDep, ctx: ContextDep, actor: CurrentActor
) -> RoundOut:
    row = service.round_step(session, ctx, actor, round_id, "complete", data)
    return views.round_view(session, ctx, row)


@router.post(
    "/{round_id}/link",
    response_model=RoundOut,
    summary="关联同步巡察 Link the round to a synchronised round received here",
)
def link_round(
    round_id: str, data: RoundLink, session: SessionDep, ctx: ContextDep, actor: CurrentActor
) -> RoundOut:
    row = service.link_round(session, ctx, actor, round_id, data.launch_id)
    return views.round_view(session, ctx, row)
