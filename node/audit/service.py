"""Security officers' queries over this node's audit chain and the checkpoints held here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.audit.checkpoints import checkpoint_verifies, make_checkpoint
from node.audit.schemas import AuditEntryOut, AuditPage, CheckpointOut
from node.clock import as_aware, to_utc
from node.context import NodeContext
from node.errors import Conflict, PermissionDenied
from node.models import AuditCheckpoint, AuditEntry
from node.policy import Actor


@dataclass(frozen=True)
class AuditFilters:
    actor: str | None = None
    action: str | None = None
    object_id: str | None = None
    grant_id: str | None = None
    decision: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def check_auditor(ctx: NodeContext, actor: Actor, object_type: str) -> None:
    if not ctx.policy.allows_on_node(actor, "audit", object_node=ctx.node_id):
        raise PermissionDenied("not permitted to audit", action="audit", object_type=object_type)


def list_entries(
    session: Session,
    ctx: NodeContext,
    actor: Actor,
    filters: AuditFilters,
    *,
    after_seq: int,
    limit: int,
) -> AuditPage:
    """One page of entries in chain order, after ``after_seq``."""
    check_auditor(ctx, actor, "audit_log")
    query = select(AuditEntry).where(AuditEntry.seq > after_seq)
    for column, value in (
        (AuditEntry.actor, filters.actor),
        (AuditEntry.action, filters.action),
        (AuditEntry.object_id, filters.object_id),
        (AuditEntry.grant_id, filters.grant_id),
        (AuditEntry.decision, filters.decision),
    ):
        if value is not None:
            query = query.where(column == value)
    # Stored times are UTC, compared as text on SQLite: bring any offset to UTC first.
    if filters.since is not None:
        query = query.where(AuditEntry.at >= to_utc(filters.since))
    if filters.until is not None:
        query = query.where(AuditEntry.at < to_utc(filters.until))
    rows = session.execute(query.order_by(AuditEntry.seq).limit(limit + 1)).scalars().all()
    items = [
        AuditEntryOut(
            seq=e.seq,
            at=as_aware(e.at),
            node=e.node,
            actor=e.actor,
            role=e.role,
            action=e.action,
            object_type=e.object_type,
            object_id=e.object_id,
            decision=e.decision,
            reason=e.reason,
            grant_id=e.grant_id,
            hash=e.hash,
        )
        for e in rows[:limit]
    ]
    next_after = items[-1].seq if len(rows) > limit else None
    ctx.audit.append(
        session, actor=actor, action="list", object_type="audit_log", reason=f"{len(items)} items"
    )
    return AuditPage(items=items, next_after_seq=next_after)


def _out(ctx: NodeContext, checkpoint: AuditCheckpoint) -> CheckpointOut:
    return CheckpointOut(
        node=checkpoint.node,
        seq=checkpoint.seq,
        head_hash=checkpoint.head_hash,
        at=as_aware(checkpoint.at),
        verified=checkpoint_verifies(ctx.topology, checkpoint),
    )


def list_checkpoints(
    session: Session, ctx: NodeContext, actor: Actor, *, node: str | None, limit: int
) -> list[CheckpointOut]:
    """Checkpoints held here (this node's own and its subordinates'), newest first."""
    check_auditor(ctx, actor, "audit_checkpoint")
    query = select(AuditCheckpoint)
    if node is not None:
        query = query.where(AuditCheckpoint.node == node)
    rows = (
        session.execute(
            query.order_by(AuditCheckpoint.at.desc(), AuditCheckpoint.seq.desc()).limit(limit)
        )
        .scalars()
        .all()
    )
    ctx.audit.append(
        session,
        actor=actor,
        action="list",
        object_type="audit_checkpoint",
        reason=f"{len(rows)} items",
    )
    return [_out(ctx, c) for c in rows]


def sign_checkpoint(session: Session, ctx: NodeContext, actor: Actor) -> CheckpointOut:
    """Sign a checkpoint of the chain now and send it upward."""
    check_auditor(ctx, actor, "audit_checkpoint")
    checkpoint = make_checkpoint(session, ctx)
    if checkpoint is None:
        raise Conflict(
            "the chain has not moved since the last checkpoint", code="nothing_to_checkpoint"
        )
    ctx.audit.append(
        session,
        actor=actor,
        action="checkpoint",
        object_type="audit_checkpoint",
        object_id=str(checkpoint.seq),
    )
    return _out(ctx, checkpoint)
