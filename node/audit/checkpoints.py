"""Signed audit checkpoints: made here periodically, sent to every ancestor, checked on receipt.

A checkpoint is a node's signed statement (node, seq, head hash, time) about its own audit chain,
signed with its Ed25519 key over ``checkpoint_message``. It travels upward (kind
``audit-checkpoint``, unencrypted: it holds no content) with a link: the sequence of the node's
previous checkpoint and the hash its chain holds *now* at that sequence (the envelope's signature
covers the link). A receiver verifies the signature against the topology, then compares the new
checkpoint with those it already holds from that node:

- same sequence, different hash: the node has signed two different histories;
- a sequence lower than one already held: the chain went backwards (truncated);
- a link whose hash differs from the checkpoint held at that sequence: history rewritten since;
- no link, or a link that skips the latest held checkpoint: the node discarded its checkpoints.

A conflicting checkpoint is not stored. The conflict goes into the receiver's own hash-chained
audit log (action ``checkpoint-conflict``, object = the node), where ``fedshare audit verify
--federation`` names it; the envelope is still relayed, so every ancestor sees it.

Making a checkpoint writes no audit entry (else each checkpoint would call for the next one).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from node.audit.chain import SYSTEM_ACTOR
from node.clock import as_aware, iso, parse_iso
from node.context import NodeContext
from node.crypto import CryptoError, canonical_json, verify_signature
from node.models import AuditCheckpoint, AuditEntry, AuditHead
from node.replication.envelope import Envelope
from node.replication.kinds import Applied, Kind, KindSpec, WireModel
from node.topology import Topology

log = logging.getLogger("fedshare.audit")

CONFLICT_ACTION = "checkpoint-conflict"


def checkpoint_message(node: str, seq: int, head_hash: str, at: str) -> bytes:
    """The bytes a checkpoint's signature covers."""
    return canonical_json({"node": node, "seq": seq, "hash": head_hash, "at": at})


def checkpoint_verifies(topology: Topology, checkpoint: AuditCheckpoint) -> bool:
    """True if ``checkpoint`` carries its node's valid signature (per the topology)."""
    if checkpoint.node not in topology:
        return False
    message = checkpoint_message(
        checkpoint.node, checkpoint.seq, checkpoint.head_hash, iso(as_aware(checkpoint.at))
    )
    try:
        verify_signature(topology.get(checkpoint.node).signing_key, message, checkpoint.signature)
    except CryptoError:
        return False
    return True


def _latest(session: Session, node: str) -> AuditCheckpoint | None:
    return session.execute(
        select(AuditCheckpoint)
        .where(AuditCheckpoint.node == node)
        .order_by(AuditCheckpoint.seq.desc())
        .limit(1)
    ).scalar_one_or_none()


def make_checkpoint(session: Session, ctx: NodeContext) -> AuditCheckpoint | None:
    """Sign the chain's head if it moved since the last checkpoint; store it; send it upward."""
    me = ctx.node_id
    head = session.execute(
        select(AuditHead).where(AuditHead.id == 1).with_for_update()
    ).scalar_one()
    if head.seq == 0 or session.get(AuditCheckpoint, (me, head.seq)) is not None:
        return None
    previous = _latest(session, me)
    prev_hash = None
    if previous is not None:
        prev_hash = session.execute(
            select(AuditEntry.hash).where(AuditEntry.seq == previous.seq)
        ).scalar_one_or_none()
    at = ctx.clock.now()
    checkpoint = AuditCheckpoint(
        node=me,
        seq=head.seq,
        head_hash=head.hash,
        at=at,
        signature=ctx.keys.sign(checkpoint_message(me, head.seq, head.hash, iso(at))),
    )
    session.add(checkpoint)
    session.flush()
    wire = CheckpointWire(
        node=me,
        seq=head.seq,
        hash=head.hash,
        at=iso(at),
        signature=checkpoint.signature,
        prev_seq=previous.seq if previous is not None else None,
        prev_hash=prev_hash,
    )
    ctx.outbox.send(
        session, Kind.AUDIT_CHECKPOINT, wire, dest=ctx.topology.ancestors(me), encrypt=False
    )
    return checkpoint


def checkpoint_now(ctx: NodeContext) -> AuditCheckpoint | None:
    with ctx.sessions() as session, session.begin():
        return make_checkpoint(session, ctx)


async def checkpoint_loop(ctx: NodeContext, stop: asyncio.Event) -> None:
    """Every ``checkpoint_interval_s``, sign a checkpoint if the chain moved."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=ctx.settings.checkpoint_interval_s)
        if stop.is_set():
            return
        try:
            await asyncio.to_thread(checkpoint_now, ctx)
        except Exception as exc:  # noqa: BLE001 - retried next interval; the type is logged
            log.error("audit checkpoint failed: %s", type(exc).__name__)


# -- receiving ------------------------------------------------------------------------------


class CheckpointWire(WireModel):
    """``audit-checkpoint``: travels in clear (it holds no content); ``at`` stays the exact string
    the signature covers."""

    node: str = Field(max_length=64)
    seq: int = Field(ge=1)
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    at: str = Field(max_length=40)
    signature: str = Field(max_length=128)
    prev_seq: int | None = None
    prev_hash: str | None = None

    def envelope_ref(self) -> dict[str, Any]:
        return {"node": self.node, "seq": self.seq}


def conflict(session: Session, wire: CheckpointWire) -> str | None:
    """Why ``wire`` contradicts the checkpoints held here from its node (None if it does not)."""
    held = session.get(AuditCheckpoint, (wire.node, wire.seq))
    if held is not None:
        if held.head_hash == wire.hash:
            return None
        return f"signed two different heads for seq {wire.seq} (history rewritten)"
    latest = _latest(session, wire.node)
    if latest is None:
        return None
    if latest.seq > wire.seq:
        return (
            f"checkpoint at seq {wire.seq} after one at seq {latest.seq} "
            "(history truncated after a checkpoint)"
        )
    if wire.prev_seq is None or wire.prev_seq < latest.seq:
        return (
            f"checkpoint at seq {wire.seq} does not link to the checkpoint at seq "
            f"{latest.seq} (own checkpoints discarded)"
        )
    linked = session.get(AuditCheckpoint, (wire.node, wire.prev_seq))
    if linked is not None and linked.head_hash != wire.prev_hash:
        return (
            f"chain at seq {wire.prev_seq} no longer matches its checkpoint "
            "(history rewritten after a checkpoint)"
        )
    return None


def apply_checkpoint(
    session: Session, ctx: NodeContext, envelope: Envelope, wire: CheckpointWire
) -> Applied:
    try:
        at = parse_iso(wire.at)
    except ValueError as exc:
        raise envelope.reject("malformed") from exc
    if wire.node != envelope.origin or ctx.node_id not in ctx.topology.ancestors(wire.node):
        raise envelope.reject("origin_mismatch")
    try:
        verify_signature(
            ctx.topology.get(wire.node).signing_key,
            checkpoint_message(wire.node, wire.seq, wire.hash, wire.at),
            wire.signature,
        )
    except CryptoError as exc:
        raise envelope.reject("bad_signature") from exc
    problem = conflict(session, wire)
    if problem is not None:
        log.warning("audit checkpoint conflict from %s at seq %d", wire.node, wire.seq)
        ctx.audit.append(
            session,
            actor=SYSTEM_ACTOR,
            action=CONFLICT_ACTION,
            object_type="audit_chain",
            object_id=wire.node,
            decision="deny",
            reason=problem,
        )
    elif session.get(AuditCheckpoint, (wire.node, wire.seq)) is None:
        session.add(
            AuditCheckpoint(
                node=wire.node, seq=wire.seq, head_hash=wire.hash, at=at, signature=wire.signature
            )
        )
    session.flush()
    return wire.node, None


# The checkpoint's ``ref`` is informative: the signed statement itself is checked above.
KINDS: tuple[KindSpec[NodeContext, Any], ...] = (
    KindSpec(
        Kind.AUDIT_CHECKPOINT,
        wire=CheckpointWire,
        ref_key=None,
        handler=apply_checkpoint,
        clear=True,
    ),
)


def held_checkpoints(session: Session, node: str) -> list[AuditCheckpoint]:
    return list(
        session.execute(
            select(AuditCheckpoint)
            .where(AuditCheckpoint.node == node)
            .order_by(AuditCheckpoint.seq)
        ).scalars()
    )


def conflicts_for(session: Session, node: str) -> list[AuditEntry]:
    """The conflicts this node's audit chain recorded against ``node``'s checkpoints."""
    return list(
        session.execute(
            select(AuditEntry)
            .where(AuditEntry.action == CONFLICT_ACTION, AuditEntry.object_id == node)
            .order_by(AuditEntry.seq)
        ).scalars()
    )
