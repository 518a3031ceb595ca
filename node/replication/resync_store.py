"""What a node keeps to resync its children (DESIGN §11, resync): the signed envelopes it sent or
relayed down towards them, unchanged.

A relay keeps no copy of what it passes on (a delivered envelope lives on only in the stream,
for the stream's retention), and it cannot make one: restricted and case-secret content travels
sealed for its destinations, and only the origin can sign. So a node keeps, as they go down, the
origin's own envelopes, as bytes it cannot alter without breaking their signature, and resyncs a
child with exactly those: what it would have streamed to it.

Guarantees:
- ``keep`` runs in the transaction that queues an envelope for a child (``Outbox.send`` and
  ``Outbox.forward``), for the kinds in ``RANKS`` only. Each envelope is filed under every
  destination it has below this node (``*`` for a broadcast), so a child's resync serves only
  what was addressed to it or to its subtree: what it is entitled to, as the origin decided when
  it addressed and sealed the envelope.
- A record is kept in its latest version only (an older version never replaces a newer one; a
  tombstone replaces the content's last version); every other kind's envelopes are kept each
  (order events, grant events and member certificates are steps, not states). A released
  record's content is kept as its latest release per grant, and dropped once no grant can still
  run (``prune``); a purge of an object's content (``Outbox.purge_object``) drops its rows.
- Attachment chunks, resends and the resync kinds themselves are not kept (chunks are refilled
  from their origin, ``node.replication.resend``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from node.models import InboxMessage, Record, ResyncEnvelope, ResyncSession
from node.replication.envelope import BROADCAST, Envelope
from node.topology import Topology

# The order a resync delivers kinds in: members first (later envelopes may come from a node
# that joined meanwhile), then records and stubs (orders, requests and grants refer to them),
# then the steps of orders, requests and grants in the order this node passed them on.
RANKS: dict[str, int] = {
    "member-certificate": 0,
    "member-revocation": 0,
    "record": 1,
    "order": 2,
    "order-update": 2,
    "order-summary": 2,
    "ledger-summary": 2,
    "round-launch": 2,
    "access-request": 2,
    "grant-event": 2,
    "release": 3,
}
# Kinds kept in their latest state per object (the ``ref`` key naming it), not each envelope.
LATEST: dict[str, str] = {"record": "record", "release": "grant"}
ACTIVE = ("requested", "receiving")


def _down_children(here: str, subjects: Iterable[str]) -> set[str]:
    prefix = f"fs.{here}.down."
    return {s[len(prefix) :] for s in subjects if s.startswith(prefix)}


def keep(
    session: Session,
    topology: Topology,
    here: str,
    *,
    origin: str,
    kind: str,
    dest: list[str],
    ref: dict[str, Any],
    msg_id: str,
    raw: bytes,
    subjects: Iterable[str],
    now: datetime,
) -> int:
    """File an envelope queued on ``subjects`` for resyncing the children it goes down to;
    returns how many rows were written."""
    rank = RANKS.get(kind)
    if rank is None:
        return 0
    children = _down_children(here, subjects)
    if not children:
        return 0
    if dest == [BROADCAST]:
        dests = [BROADCAST]
    else:
        dests = sorted(
            d for d in set(dest) if d in topology and topology.child_towards(here, d) in children
        )
    if not dests:
        return 0
    latest_key = LATEST.get(kind)
    if latest_key is not None:
        object_key = str(ref.get(latest_key))[:64]
        version = ref.get("version")
        version = version if type(version) is int else None
    else:
        object_key, version = msg_id, None
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    rows = [
        {
            "dest": d,
            "origin": origin,
            "kind": kind,
            "object_key": object_key,
            "version": version,
            "rank": rank,
            "msg_id": msg_id,
            "envelope": raw,
            "stored_at": now,
        }
        for d in dests
    ]
    statement = insert(ResyncEnvelope).values(rows)
    index = ["dest", "origin", "kind", "object_key"]
    if latest_key is None:
        statement = statement.on_conflict_do_nothing(index_elements=index)
    else:
        excluded = statement.excluded
        newer = (
            ResyncEnvelope.version.is_(None)
            | excluded.version.is_(None)
            | (ResyncEnvelope.version < excluded.version)
        )
        statement = statement.on_conflict_do_update(
            index_elements=index,
            set_={
                "version": excluded.version,
                "msg_id": excluded.msg_id,
                "envelope": excluded.envelope,
                "stored_at": excluded.stored_at,
            },
            where=newer,
        )
    session.execute(statement)
    return len(rows)


def purge_object(session: Session, kind: str, object_id: str) -> int:
    """Forget the kept envelopes of an object whose content is being purged (its tombstone, kept
    afterwards, takes its place)."""
    if kind not in LATEST:
        return 0
    result = session.execute(
        delete(ResyncEnvelope).where(
            ResyncEnvelope.kind == kind, ResyncEnvelope.object_key == object_id
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


def prune(session: Session, *, releases_before: datetime) -> int:
    """Forget released content kept since before ``releases_before`` (no grant runs longer)."""
    result = session.execute(
        delete(ResyncEnvelope).where(
            ResyncEnvelope.kind == "release", ResyncEnvelope.stored_at < releases_before
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


def held(session: Session, envelope: Envelope) -> bool:
    """Whether what ``envelope`` carries is here already: the envelope itself (the inbox), or,
    for a record, this version or a later one. Such an envelope, arriving again by a resync or a
    resend, changes nothing and is not an error."""
    if session.get(InboxMessage, envelope.msg_id) is not None:
        return True
    if envelope.kind != "record":
        return False
    version = envelope.ref.get("version")
    record_id = envelope.ref.get("record")
    if type(version) is not int or not isinstance(record_id, str):
        return False
    stored = session.get(Record, {"origin": envelope.origin, "id": record_id})
    return stored is not None and stored.version >= version


def active(session: Session) -> ResyncSession | None:
    """The resync under way here, if any."""
    return session.scalars(
        select(ResyncSession)
        .where(ResyncSession.state.in_(ACTIVE))
        .order_by(ResyncSession.started_at.desc())
        .limit(1)
    ).first()


def channel_key(origin: str, channel: str) -> str:
    return f"{origin} {channel}"


def channels(row: ResyncSession) -> dict[str, int]:
    try:
        value = json.loads(row.channels or "{}")
    except ValueError:
        return {}
    return {str(k): int(v) for k, v in value.items()} if isinstance(value, dict) else {}
