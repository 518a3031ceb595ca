"""Inbox handler for ``record`` envelopes.

Guarantees:
- A record is accepted only from its own origin, under its own reference, and only in the form
  its class allows here (general: full; restricted: full, only at a named party; case-secret: a
  stub only); its category must be known and allow its class.
- Applying is keyed by (origin, record id, version): a version older than or equal to what is
  stored never overwrites it, so a redelivery changes nothing.
- A record is identified by (origin, id): an envelope only ever touches the record of its own
  origin. An id already held for another origin takes nothing from that record: the two are
  different records (no node can squat, overwrite or merge into another origin's record).
- A tombstone leaves no copy of the content here (``service.purge_record_content``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from node.context import NodeContext
from node.models import Record, RecordParty
from node.records.service import purge_record_content
from node.records.wire import RecordWire
from node.replication.envelope import Envelope
from node.replication.inbox import prefetched
from node.replication.kinds import Applied, Kind, KindSpec


def _key(origin: str, record_id: str) -> str:
    """A record's (origin, id) as the batch cache's key."""
    return f"{origin}/{record_id}"


def prefetch_records(session: Session, envelopes: list[Envelope]) -> dict[str, Any]:
    """The stored records a batch of ``record`` envelopes touches, in one query, by (origin, id)
    (each envelope's own origin)."""
    keys = {(e.origin, str(e.ref.get("record"))) for e in envelopes}
    if not keys:
        return {}
    records = (
        session.execute(select(Record).where(tuple_(Record.origin, Record.id).in_(sorted(keys))))
        .scalars()
        .all()
    )
    return {_key(r.origin, r.id): r for r in records}


def existing_record(session: Session, origin: str, record_id: str) -> Record | None:
    """The stored record ``record_id`` of ``origin``, from the batch prefetch when there is one
    (no query per envelope)."""
    cache = prefetched(session, Kind.RECORD)
    if cache is not None:
        found: Record | None = cache.get(_key(origin, record_id))
        return found
    return session.get(Record, {"origin": origin, "id": record_id})


def apply_record(
    session: Session, ctx: NodeContext, envelope: Envelope, wire: RecordWire
) -> Applied:
    if wire.origin != envelope.origin or envelope.ref.get("version") != wire.version:
        raise envelope.reject("origin_mismatch")
    category = ctx.policy.categories.get(wire.category)
    if category is None:
        raise envelope.reject("unknown_category")
    if not ctx.policy.categories.allows(category.code, wire.classification):
        raise envelope.reject("classification_below_minimum")
    # The class decides what may be held here (the leak invariant, enforced on receipt too).
    if wire.classification != "general" and "payload" in envelope.document:
        raise envelope.reject("content_not_sealed")
    if wire.classification == "secret" and not wire.stub:
        raise envelope.reject("content_not_allowed")
    if wire.classification == "restricted" and ctx.node_id not in wire.parties:
        raise envelope.reject("not_a_party")
    existing = existing_record(session, wire.origin, wire.id)
    if existing is not None and existing.version >= wire.version:
        raise envelope.reject("stale_version")
    record = existing or Record(id=wire.id, origin=wire.origin)
    record.category = wire.category
    record.classification = wire.classification
    record.version = wire.version
    record.created_at = wire.created_at
    record.updated_at = wire.updated_at
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
        cache = prefetched(session, Kind.RECORD)
        if cache is not None:
            cache[_key(wire.origin, wire.id)] = record
    else:
        current = {p.node_id for p in record.parties}
        for party in parties:
            if party not in current:
                record.parties.append(RecordParty(node_id=party))
    if wire.deleted:
        purge_record_content(session, ctx, record)
    return wire.id, wire.version


KINDS: tuple[KindSpec[NodeContext, Any], ...] = (
    KindSpec(
        Kind.RECORD,
        wire=RecordWire,
        ref_key="record",
        handler=apply_record,
        clear=True,
        prefetch=prefetch_records,
    ),
)
