"""The inbox: apply verified envelopes idempotently, dead-letter everything else.

Guarantees:
- Applying is keyed by message id: an envelope delivered twice (a redelivery after a crash)
  changes nothing the second time. Each kind's handler (``node.replication.kinds``) keeps its own
  object's idempotence on top (records by (origin, record id, version), and so on).
- An envelope of a kind the node does not know, or whose content should have been sealed and was
  not, is refused before any handler runs; the handler sees only a validated wire model.
- Every verified envelope from another origin, applied, relayed or refused, has its sequence
  numbers marked received (``node.replication.sequence``) in the same transaction: it arrived, so
  its number is not missing; what failed to verify advances nothing.
- Every rejection is written to ``dead_letters`` (reason, digest, never the bytes), counted and
  audited, in the same transaction; nothing else changes. For an opened envelope (its origin
  verified) within its origin's budget of stored dead letters (``node.replication.quota``), and
  for anything that could not be opened, that is one row and one audit entry each; past the
  budget, and for every ``quota_exceeded`` refusal, the audit chain counts them in one entry
  with a count instead.
- An envelope whose origin has spent its inbound quota is refused (``quota_exceeded``) before
  any handler runs (``admit``, decided once per delivery by the batch applier).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from node.audit.chain import SYSTEM_ACTOR
from node.context import NodeContext
from node.ids import is_uuid
from node.models import DeadLetter, InboxMessage
from node.replication import sequence
from node.replication.envelope import Envelope, EnvelopeRejected
from node.replication.quota import QUOTA_EXCEEDED

SUBJECT_PATTERN = re.compile(r"^[a-z0-9_.>*-]{1,200}$")
log = logging.getLogger("fedshare.replication")


@dataclass
class Outcome:
    status: str  # applied | relayed | duplicate | rejected
    reason: str | None = None


def dead_letter(
    session: Session,
    ctx: NodeContext,
    *,
    raw: bytes,
    subject: str,
    reason: str,
    msg_id: str | None,
    origin: str | None,
    kind: str | None,
    sender: str | None = None,
) -> bool:
    """Record a refused message: its reason and digest, never its bytes. What the message claims
    about itself (id, origin, kind) is unverified and attacker-chosen: it is stored only when it
    has the shape such a field must have (a UUID, a known node, a kind name), so no byte sequence
    (NUL, invalid UTF-8, an overlong string) can make this insert fail and stall the inbox.

    ``sender`` is the verified origin, when the envelope was opened: the rows stored for it are
    budgeted per origin. Past the budget, and for ``quota_exceeded``, the refusal is counted into
    one aggregated audit entry instead of a row and an entry of its own. Returns whether a row
    was stored."""
    msg_id = msg_id if msg_id and is_uuid(msg_id) else None
    origin = origin if origin and origin in ctx.topology else None
    kind = kind if kind and KIND_PATTERN.fullmatch(kind) else None
    # What could not be opened has no origin to budget it by: it keeps one row each (a node's
    # credentials limit who can publish it at all, DESIGN §10).
    key = sender if sender is not None else f"via {_safe_subject(subject)}"
    quota = ctx.inbound_quota
    stored = sender is None or quota.store_dead_letter(key)
    if stored:
        session.add(
            DeadLetter(
                received_at=ctx.clock.now(),
                reason=reason,
                subject=_safe_subject(subject),
                msg_id=msg_id,
                origin=origin,
                kind=kind,
                digest=hashlib.sha256(raw).hexdigest(),
                size=len(raw),
            )
        )
    if quota.count_refusal is not None and (reason == QUOTA_EXCEEDED or not stored):
        quota.count_refusal(key, reason)
        return stored
    ctx.audit.append(
        session,
        actor=SYSTEM_ACTOR,
        action="reject-envelope",
        object_type="envelope",
        object_id=msg_id,
        decision="deny",
        reason=f"{reason} from {_known(ctx, origin)} via {_safe_subject(subject)}",
    )
    return stored


def admit(ctx: NodeContext, envelope: Envelope) -> bool:
    """Whether ``envelope`` (opened: its origin is verified) is within its origin's inbound
    quota; spends one unit of it. Every envelope this node applies or relays counts, so a flood
    stops at the first node it reaches; this node's own envelopes are not counted."""
    return envelope.origin == ctx.node_id or ctx.inbound_quota.admit(envelope.origin)


def refuse_over_quota(
    session: Session, ctx: NodeContext, envelope: Envelope, subject: str
) -> Outcome:
    """Dead-letter an envelope whose origin spent its quota (counted, aggregated in the audit)."""
    dead_letter(
        session,
        ctx,
        raw=envelope.raw,
        subject=subject,
        reason=QUOTA_EXCEEDED,
        msg_id=envelope.msg_id,
        origin=envelope.origin,
        kind=envelope.kind,
        sender=envelope.origin,
    )
    return Outcome("rejected", QUOTA_EXCEEDED)


PREFETCHED = "fedshare_prefetched"


def prefetch(session: Session, ctx: NodeContext, envelopes: list[Envelope]) -> dict[str, int]:
    """Load, in a few queries, what a batch will look up: the inbox keys already applied (id ->
    stream seq), and what each kind's ``prefetch`` hook loads for its envelopes (kept in the
    session for ``prefetched``)."""
    msg_ids = [e.msg_id for e in envelopes]
    seen = (
        dict(
            session.execute(
                select(InboxMessage.msg_id, InboxMessage.stream_seq).where(
                    InboxMessage.msg_id.in_(msg_ids)
                )
            ).all()
        )
        if msg_ids
        else {}
    )
    caches: dict[str, dict[str, Any]] = {}
    for spec in ctx.kinds:
        if spec.prefetch is not None:
            of_kind = [e for e in envelopes if e.kind == spec.kind]
            caches[spec.kind] = spec.prefetch(session, of_kind)
    session.info[PREFETCHED] = caches
    return seen


def extend_prefetch(session: Session, ctx: NodeContext, envelopes: list[Envelope]) -> None:
    """Add to the batch prefetch what each kind's hook loads for ``envelopes`` that were not in
    the batch (an envelope resent inside another), so their handlers find the stored rows."""
    caches: dict[str, dict[str, Any]] | None = session.info.get(PREFETCHED)
    if caches is None:
        return
    for spec in ctx.kinds:
        of_kind = [e for e in envelopes if e.kind == spec.kind]
        if spec.prefetch is not None and of_kind:
            caches.setdefault(spec.kind, {}).update(spec.prefetch(session, of_kind))


def prefetched(session: Session, kind: str) -> dict[str, Any] | None:
    """The objects the batch prefetch loaded for ``kind`` (id -> row), or None outside a batch."""
    caches: dict[str, dict[str, Any]] | None = session.info.get(PREFETCHED)
    return None if caches is None else caches.get(kind)


def _known(ctx: NodeContext, node: str | None) -> str:
    """An unverified claimed origin goes into the audit chain only if the topology knows it."""
    return node if node is not None and node in ctx.topology else "?"


KIND_PATTERN = re.compile(r"[a-z][a-z0-9_.-]{0,39}")


def _safe_subject(subject: str) -> str:
    return subject[:100] if SUBJECT_PATTERN.match(subject) else "?"


def process(
    session: Session,
    ctx: NodeContext,
    envelope: Envelope,
    *,
    subject: str,
    stream_seq: int,
    seen: dict[str, int] | None = None,
) -> Outcome:
    """Apply (or only note the relay of) one verified envelope, inside the caller's transaction.

    ``seen`` (from ``prefetch``) maps already-applied message ids to their stream sequence;
    without it the inbox is queried."""
    if seen is not None:
        seen_seq = seen.get(envelope.msg_id)
    else:
        row = session.get(InboxMessage, envelope.msg_id)
        seen_seq = row.stream_seq if row is not None else None
    if seen_seq is not None:
        if seen_seq == stream_seq or seen_seq == 0:
            # A redelivery of the same stream message, or the stream's copy of one applied
            # already from a resend or a resync (position 0): nothing to do either way.
            return Outcome("duplicate")
        raise EnvelopeRejected(
            "replay", msg_id=envelope.msg_id, origin=envelope.origin, kind=envelope.kind
        )
    sequence.note_received(session, envelope, ctx.node_id, ctx.clock.now())
    object_id: str | None = None
    version: int | None = None
    status = "relayed"
    if envelope.addressed_to(ctx.node_id) and envelope.origin != ctx.node_id:
        spec = ctx.kinds.get(envelope.kind)
        if spec is None:
            raise envelope.reject("unknown_kind")
        if "payload" in envelope.document and not spec.clear:
            raise envelope.reject("content_not_sealed")
        payload = envelope.payload(ctx.node_id, ctx.keys)
        object_id, version = spec.apply(session, ctx, envelope, payload)
        status = "applied"
    if seen is not None:
        seen[envelope.msg_id] = stream_seq
    session.add(
        InboxMessage(
            msg_id=envelope.msg_id,
            origin=envelope.origin,
            kind=envelope.kind,
            object_id=object_id,
            version=version,
            stream_seq=stream_seq,
            applied_at=ctx.clock.now(),
        )
    )
    return Outcome(status)


def apply_or_reject(
    session: Session,
    ctx: NodeContext,
    envelope: Envelope,
    *,
    subject: str,
    stream_seq: int,
    seen: dict[str, int] | None = None,
) -> Outcome:
    """Apply one verified envelope atomically, or dead-letter it; never leave half of it applied.

    Guarantee: each envelope runs in its own savepoint. If its handler refuses it, or fails on a
    payload it cannot take (a missing field, a wrong type, a constraint), everything the
    handler wrote is rolled back and the envelope is dead-lettered, so one bad envelope can
    neither half-apply nor stall the inbox. Transient database faults propagate: the batch is
    retried and redelivery is idempotent.
    """
    try:
        with session.begin_nested():
            return process(
                session, ctx, envelope, subject=subject, stream_seq=stream_seq, seen=seen
            )
    except EnvelopeRejected as exc:
        rejection = exc
    except (OperationalError, InterfaceError):
        raise
    except Exception as exc:  # noqa: BLE001 - a payload the handler cannot take is dead-lettered
        log.warning(
            "envelope %s of kind %s failed in its handler: %s",
            envelope.msg_id,
            envelope.kind,
            type(exc).__name__,
        )
        rejection = envelope.reject("handler_error")
    # The savepoint's rollback may have discarded rows the batch prefetch still holds.
    session.info.pop(PREFETCHED, None)
    session.info.pop(sequence.CACHE, None)
    dead_letter(
        session,
        ctx,
        raw=envelope.raw,
        subject=subject,
        reason=rejection.reason,
        msg_id=rejection.msg_id,
        origin=rejection.origin,
        kind=rejection.kind,
        sender=envelope.origin,
    )
    # Refused, but it did arrive, signed by its origin: the relay did not drop it.
    sequence.note_received(session, envelope, ctx.node_id, ctx.clock.now())
    return Outcome("rejected", rejection.reason)
