"""The inbox: apply verified envelopes idempotently, dead-letter everything else.

Guarantees:
- Applying is keyed by message id and, for records, by (origin, record id, version): an envelope
  delivered twice (a redelivery after a crash) changes nothing the second time; a version older
  than or equal to what is stored never overwrites it.
- A record is accepted only from its own origin, and only in the form its class allows here
  (general: full; restricted: full, only at a named party; case-secret: a stub only).
- Every rejection is written to ``dead_letters`` (reason, digest, never the bytes), counted and
  audited, in the same transaction; nothing else changes.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    ValidationError,
)
from sqlalchemy import select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from node.audit.chain import SYSTEM_ACTOR
from node.clock import as_aware
from node.context import NodeContext
from node.ids import is_uuid
from node.models import DeadLetter, InboxMessage, Record, RecordParty
from node.replication.envelope import Envelope, EnvelopeRejected
from node.text import clean_text

UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
SUBJECT_PATTERN = re.compile(r"^[a-z0-9_.>*-]{1,200}$")
# Kinds whose payload may travel in clear: general records (checked per record) and checkpoints.
CLEAR_KINDS = {"record", "audit-checkpoint"}
log = logging.getLogger("fedshare.replication")

# kind -> handler(session, ctx, envelope, payload) -> (object id, version)
Handler = Callable[[Session, NodeContext, Envelope, dict[str, Any]], tuple[str | None, int | None]]
HANDLERS: dict[str, Handler] = {}


def handles(kind: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        HANDLERS[kind] = handler
        return handler

    return register


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
) -> None:
    """Record a refused message: its reason and digest, never its bytes. What the message claims
    about itself (id, origin, kind) is unverified and attacker-chosen: it is stored only when it
    has the shape such a field must have (a UUID, a known node, a kind name), so no byte sequence
    (NUL, invalid UTF-8, an overlong string) can make this insert fail and stall the inbox."""
    msg_id = msg_id if msg_id and is_uuid(msg_id) else None
    origin = origin if origin and origin in ctx.topology else None
    kind = kind if kind and KIND_PATTERN.fullmatch(kind) else None
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
    ctx.audit.append(
        session,
        actor=SYSTEM_ACTOR,
        action="reject-envelope",
        object_type="envelope",
        object_id=msg_id,
        decision="deny",
        reason=f"{reason} from {_known(ctx, origin)} via {_safe_subject(subject)}",
    )


PREFETCHED_RECORDS = "fedshare_prefetched_records"


def prefetch(session: Session, envelopes: list[Envelope]) -> dict[str, int]:
    """Load, in two queries, what a batch will look up: the inbox keys already applied (id ->
    stream seq) and the records the batch touches (kept in the session for ``existing_record``)."""
    msg_ids = [e.msg_id for e in envelopes]
    seen = (
        dict(
            session.execute(
                select(InboxMessage.msg_id, InboxMessage.stream_seq).where(
                    InboxMessage.msg_id.in_(msg_ids)
                )
            )
            .tuples()
            .all()
        )
        if msg_ids
        else {}
    )
    record_ids = [str(e.ref.get("record")) for e in envelopes if e.kind == "record"]
    records = (
        session.execute(select(Record).where(Record.id.in_(record_ids))).scalars().all()
        if record_ids
        else []
    )
    session.info[PREFETCHED_RECORDS] = {r.id: r for r in records}
    return seen


def existing_record(session: Session, record_id: str) -> Record | None:
    """The stored record, from the batch prefetch when there is one (no query per envelope)."""
    prefetched: dict[str, Record] | None = session.info.get(PREFETCHED_RECORDS)
    if prefetched is not None:
        return prefetched.get(record_id)
    return session.get(Record, record_id)


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
        if seen_seq == stream_seq:
            return Outcome("duplicate")  # a redelivery of the same stream message
        raise EnvelopeRejected(
            "replay", msg_id=envelope.msg_id, origin=envelope.origin, kind=envelope.kind
        )
    object_id: str | None = None
    version: int | None = None
    status = "relayed"
    if envelope.addressed_to(ctx.node_id) and envelope.origin != ctx.node_id:
        handler = HANDLERS.get(envelope.kind)
        if handler is None:
            raise EnvelopeRejected(
                "unknown_kind", msg_id=envelope.msg_id, origin=envelope.origin, kind=envelope.kind
            )
        if "payload" in envelope.document and envelope.kind not in CLEAR_KINDS:
            raise _reject(envelope, "content_not_sealed")
        payload = envelope.payload(ctx.node_id, ctx.keys)
        object_id, version = handler(session, ctx, envelope, payload)
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
        rejection = _reject(envelope, "handler_error")
    # The savepoint's rollback may have discarded records the batch prefetch still holds.
    session.info.pop(PREFETCHED_RECORDS, None)
    dead_letter(
        session,
        ctx,
        raw=envelope.raw,
        subject=subject,
        reason=rejection.reason,
        msg_id=rejection.msg_id,
        origin=rejection.origin,
        kind=rejection.kind,
    )
    return Outcome("rejected", rejection.reason)


def _reject(envelope: Envelope, reason: str) -> EnvelopeRejected:
    return EnvelopeRejected(
        reason, msg_id=envelope.msg_id, origin=envelope.origin, kind=envelope.kind
    )


class RecordWire(BaseModel):
    """A record as it travels: validated whole before anything is written."""

    model_config = ConfigDict(extra="ignore", strict=False)

    id: Annotated[str, StringConstraints(pattern=UUID_PATTERN)]
    origin: Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]{1,64}$")]
    category: Annotated[str, StringConstraints(max_length=40)]
    classification: Literal["general", "restricted", "secret"]
    version: Annotated[int, Field(ge=1, le=2**31 - 1)]
    created_at: datetime
    updated_at: datetime
    deleted: StrictBool
    stub: StrictBool
    author: Annotated[str, StringConstraints(max_length=100)] = ""
    title: Annotated[str, StringConstraints(max_length=500)] = ""
    body: Annotated[str, StringConstraints(max_length=100_000)] = ""
    parties: list[Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]{1,64}$")]] = []


@handles("record")
def apply_record(
    session: Session, ctx: NodeContext, envelope: Envelope, payload: dict[str, Any]
) -> tuple[str | None, int | None]:
    try:
        wire = RecordWire.model_validate(payload)
        for text in (wire.author, wire.title, wire.body):
            clean_text(text)
    except (ValidationError, ValueError) as exc:
        raise _reject(envelope, "malformed") from exc
    if (
        wire.origin != envelope.origin
        or envelope.ref.get("record") != wire.id
        or envelope.ref.get("version") != wire.version
    ):
        raise _reject(envelope, "origin_mismatch")
    category = ctx.policy.categories.get(wire.category)
    if category is None:
        raise _reject(envelope, "unknown_category")
    if not ctx.policy.categories.allows(category.code, wire.classification):
        raise _reject(envelope, "classification_below_minimum")
    # The class decides what may be held here (the leak invariant, enforced on receipt too).
    if wire.classification != "general" and "payload" in envelope.document:
        raise _reject(envelope, "content_not_sealed")
    if wire.classification == "secret" and not wire.stub:
        raise _reject(envelope, "content_not_allowed")
    if wire.classification == "restricted" and ctx.node_id not in wire.parties:
        raise _reject(envelope, "not_a_party")
    existing = existing_record(session, wire.id)
    if existing is not None:
        if existing.origin != wire.origin:
            raise _reject(envelope, "origin_mismatch")
        if existing.version >= wire.version:
            raise _reject(envelope, "stale_version")
    record = existing or Record(id=wire.id, origin=wire.origin)
    record.category = wire.category
    record.classification = wire.classification
    record.version = wire.version
    record.created_at = as_aware(wire.created_at)
    record.updated_at = as_aware(wire.updated_at)
    record.deleted = wire.deleted
    record.is_stub = wire.stub
    if wire.stub:
        record.author = ""
        record.title = None
        record.body = None
    else:
        record.author = wire.author
        record.title = wire.title
        record.body = wire.body
    parties = sorted(set(wire.parties)) if not wire.stub else []
    if existing is None:
        record.parties = [RecordParty(node_id=p) for p in parties]
        session.add(record)
        prefetched: dict[str, Record] | None = session.info.get(PREFETCHED_RECORDS)
        if prefetched is not None:
            prefetched[wire.id] = record
    else:
        current = {p.node_id for p in record.parties}
        for party in parties:
            if party not in current:
                record.parties.append(RecordParty(node_id=party))
    return wire.id, wire.version
