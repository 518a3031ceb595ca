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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.audit.chain import SYSTEM_ACTOR
from node.clock import parse_iso, utcnow
from node.context import NodeContext
from node.models import DeadLetter, InboxMessage, Record, RecordParty
from node.replication.envelope import Envelope, EnvelopeRejected

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
    session.add(
        DeadLetter(
            received_at=utcnow(),
            reason=reason,
            subject=subject[:200],
            msg_id=(msg_id or None) and msg_id[:64],
            origin=(origin or None) and origin[:64],
            kind=(kind or None) and kind[:40],
            digest=hashlib.sha256(raw).hexdigest(),
            size=len(raw),
        )
    )
    ctx.audit.append(
        session,
        actor=SYSTEM_ACTOR,
        action="reject-envelope",
        object_type="envelope",
        object_id=(msg_id or None) and msg_id[:64],
        decision="deny",
        reason=f"{reason} from {origin or '?'} via {subject[:100]}",
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
            applied_at=utcnow(),
        )
    )
    return Outcome(status)


def _reject(envelope: Envelope, reason: str) -> EnvelopeRejected:
    return EnvelopeRejected(
        reason, msg_id=envelope.msg_id, origin=envelope.origin, kind=envelope.kind
    )


@handles("record")
def apply_record(
    session: Session, ctx: NodeContext, envelope: Envelope, payload: dict[str, Any]
) -> tuple[str | None, int | None]:
    try:
        record_id = str(payload["id"])
        version = int(payload["version"])
        classification = str(payload["classification"])
        stub = bool(payload["stub"])
        origin = str(payload["origin"])
    except (KeyError, TypeError, ValueError) as exc:
        raise _reject(envelope, "malformed") from exc
    if (
        origin != envelope.origin
        or envelope.ref.get("record") != record_id
        or envelope.ref.get("version") != version
    ):
        raise _reject(envelope, "origin_mismatch")
    if ctx.policy.categories.get(str(payload.get("category"))) is None:
        raise _reject(envelope, "unknown_category")
    # The class decides what may be held here (the leak invariant, enforced on receipt too).
    if classification == "secret" and not stub:
        raise _reject(envelope, "content_not_allowed")
    if classification == "restricted" and ctx.node_id not in payload.get("parties", []):
        raise _reject(envelope, "not_a_party")
    if classification not in ("general", "restricted", "secret"):
        raise _reject(envelope, "malformed")
    existing = existing_record(session, record_id)
    if existing is not None:
        if existing.origin != origin:
            raise _reject(envelope, "origin_mismatch")
        if existing.version >= version:
            raise _reject(envelope, "stale_version")
    record = existing or Record(id=record_id, origin=origin)
    record.category = str(payload["category"])
    record.classification = classification
    record.version = version
    record.created_at = parse_iso(str(payload["created_at"]))
    record.updated_at = parse_iso(str(payload["updated_at"]))
    record.deleted = bool(payload["deleted"])
    record.is_stub = stub
    if stub:
        record.author = ""
        record.title = None
        record.body = None
    else:
        record.author = str(payload.get("author", ""))
        record.title = str(payload.get("title", ""))
        record.body = str(payload.get("body", ""))
    parties = sorted({str(p) for p in payload.get("parties", [])}) if not stub else []
    if existing is None:
        record.parties = [RecordParty(node_id=p) for p in parties]
        session.add(record)
        prefetched: dict[str, Record] | None = session.info.get(PREFETCHED_RECORDS)
        if prefetched is not None:
            prefetched[record_id] = record
    else:
        current = {p.node_id for p in record.parties}
        for party in parties:
            if party not in current:
                record.parties.append(RecordParty(node_id=party))
    return record_id, version
