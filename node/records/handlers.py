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
- A full copy's attachment manifest makes an empty, sealed copy of each attachment it names
  (``attachment_store.take_manifest``).

``attachment-chunk``: only from the record's origin, for a record held here in full in a class
that sends its content here (general; restricted at a named party), or under a grant to a user of
this node (sealed, for a stub held here). A chunk is stored once, checked against its own digest
and, with the last one, the whole file against the signed manifest; a chunk for a record deleted
here or a grant that has ended is dropped (its copy is gone or never to be shown).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.clock import as_aware
from node.context import NodeContext
from node.db import pairs_in
from node.models import Grant, Record, RecordParty
from node.records import attachment_store
from node.records.attachment_store import ChunkRefused
from node.records.service import purge_record_content
from node.records.wire import AttachmentChunkWire, RecordWire
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
        session.execute(select(Record).where(pairs_in(Record.origin, Record.id, keys)))
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
    elif not wire.stub and wire.attachments:
        session.flush()
        attachment_store.take_manifest(session, ctx, record, wire.attachments, now=ctx.clock.now())
    return wire.id, wire.version


def _grant_open_here(ctx: NodeContext, grant: Grant) -> bool:
    now = ctx.clock.now()
    return (
        grant.ended_at is None
        and grant.revoked_at is None
        and as_aware(grant.granted_at) <= now < as_aware(grant.expires_at)
    )


def apply_attachment_chunk(
    session: Session, ctx: NodeContext, envelope: Envelope, wire: AttachmentChunkWire
) -> Applied:
    if wire.record_origin != envelope.origin:
        raise envelope.reject("origin_mismatch")
    sealed = "payload" not in envelope.document
    record = session.get(Record, {"origin": wire.record_origin, "id": wire.record_id})
    if record is None:
        raise envelope.reject("unknown_record")
    grant_key = ""
    if wire.grant_id is None:
        if record.is_stub or record.classification == "secret":
            raise envelope.reject("content_not_allowed")
        if record.classification != "general" and not sealed:
            raise envelope.reject("content_not_sealed")
        if record.classification == "restricted" and ctx.node_id not in record.party_ids:
            raise envelope.reject("not_a_party")
    else:
        grant = session.get(Grant, wire.grant_id)
        if (
            grant is None
            or grant.grantee_node != ctx.node_id
            or (grant.record_origin, grant.record_id) != (record.origin, record.id)
        ):
            raise envelope.reject("unknown_grant")
        if not sealed:
            raise envelope.reject("content_not_sealed")
        if not _grant_open_here(ctx, grant):
            return wire.attachment_id, None  # the grant has ended: its copy is gone
        grant_key = grant.id
    if record.deleted:
        return wire.attachment_id, None  # tombstoned here: nothing of it is kept
    row = attachment_store.held_copy(
        session, record.origin, record.id, wire.attachment_id, grant_key
    )
    if row is None:
        raise envelope.reject("unknown_attachment")
    try:
        attachment_store.store_chunk(ctx, session, row, wire, envelope.body(ctx.node_id, ctx.keys))
    except ChunkRefused as exc:
        raise envelope.reject(exc.reason) from exc
    return wire.attachment_id, None


KINDS: tuple[KindSpec[NodeContext, Any], ...] = (
    KindSpec(
        Kind.RECORD,
        wire=RecordWire,
        ref_key="record",
        handler=apply_record,
        clear=True,
        prefetch=prefetch_records,
    ),
    KindSpec(
        Kind.ATTACHMENT_CHUNK,
        wire=AttachmentChunkWire,
        ref_key="record",
        handler=apply_attachment_chunk,
        # General records' chunks travel in clear (the handler refuses any other class so).
        clear=True,
        detached=True,
        # Kept for resending without its bytes: made again from the origin's copy.
        rebuild=attachment_store.rebuild_chunk,
    ),
)
