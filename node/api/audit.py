"""``/api/v1/audit``: security officers query this node's audit chain and its checkpoints."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from node.api.deps import ContextDep, CurrentActor, SessionDep
from node.audit import report, service
from node.audit.schemas import AuditPage, CheckpointOut, VerifyOut
from node.clock import UtcDateTime

router = APIRouter(prefix="/api/v1/audit", tags=["audit 审计"])

Text64 = Annotated[str | None, Query(max_length=64)]


@router.get("", response_model=AuditPage, summary="审计日志 Audit log (security officers)")
def list_audit(
    session: SessionDep,
    ctx: ContextDep,
    actor: CurrentActor,
    actor_name: Annotated[str | None, Query(alias="actor", max_length=100)] = None,
    action: Annotated[str | None, Query(max_length=40)] = None,
    object_id: Text64 = None,
    grant_id: Text64 = None,
    decision: Annotated[str | None, Query(pattern=r"^(allow|deny)$")] = None,
    since: UtcDateTime | None = None,
    until: UtcDateTime | None = None,
    after_seq: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditPage:
    filters = service.AuditFilters(
        actor=actor_name,
        action=action,
        object_id=object_id,
        grant_id=grant_id,
        decision=decision,
        since=since,
        until=until,
    )
    return service.list_entries(session, ctx, actor, filters, after_seq=after_seq, limit=limit)


@router.get(
    "/checkpoints", response_model=list[CheckpointOut], summary="审计检查点 Checkpoints held here"
)
def list_checkpoints(
    session: SessionDep,
    ctx: ContextDep,
    actor: CurrentActor,
    node: Annotated[str | None, Query(pattern=r"^[a-z0-9-]+$", max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[CheckpointOut]:
    return service.list_checkpoints(session, ctx, actor, node=node, limit=limit)


@router.post(
    "/checkpoints",
    response_model=CheckpointOut,
    status_code=status.HTTP_201_CREATED,
    summary="签署检查点 Sign a checkpoint now and send it upward",
)
def sign_checkpoint(session: SessionDep, ctx: ContextDep, actor: CurrentActor) -> CheckpointOut:
    return service.sign_checkpoint(session, ctx, actor)


@router.get(
    "/verify",
    response_model=VerifyOut,
    summary="审计链校验 Run `fedshare audit verify --federation` now (security officers)",
)
def verify(session: SessionDep, ctx: ContextDep, actor: CurrentActor) -> VerifyOut:
    return report.verify_now(session, ctx, actor)
