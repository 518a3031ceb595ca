"""The transactional outbox: a change and its outbound envelopes commit together.

Guarantee: ``send`` only adds rows to the caller's session, so an envelope exists if and only if
the change it describes committed ("never publish before commit"). After the commit the relay is
woken at once (no polling delay); it publishes each row with ``Nats-Msg-Id`` and deletes it only
on the server's PubAck (``prune_delivered``), so a crash anywhere re-publishes rather than loses,
and the stream's duplicate window drops the repeat. Every envelope is built from its kind's wire
model (``node.replication.kinds``): no payload is put together by hand. Each of this node's own
envelopes is numbered on its channels and kept for resending in the same transaction
(``node.replication.sequence``).

What is deleted is gone: a delivered envelope is not kept here (its count is, in
``outbox_stats``), and ``purge_object`` deletes every row still carrying an object whose content
is being purged (a tombstoned record, released content whose grant ended), in the purge's own
transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, event, func, update
from sqlalchemy.orm import Session, sessionmaker

from node.clock import Clock
from node.crypto import NodeKeys
from node.db import mark_purged, pairs_in
from node.membership import Membership
from node.models import OutboxMessage, OutboxStats
from node.replication import resync_store, sequence
from node.replication.envelope import BROADCAST, VERSION, BodyKey, seal_envelope
from node.replication.kinds import KindRegistry, WireModel
from node.replication.routing import next_hops
from node.topology import Topology

PENDING_FLAG = "fedshare_outbox_pending"


class Outbox:
    def __init__(
        self,
        *,
        node_id: str,
        membership: Membership,
        keys: NodeKeys,
        clock: Clock,
        sessions: sessionmaker[Session],
        kinds: KindRegistry[Any],
        envelope_version: int = VERSION,
    ) -> None:
        self.node_id = node_id
        self.envelope_version = envelope_version
        self.membership = membership
        self.keys = keys
        self.clock = clock
        self.kinds = kinds
        self._wakeup: Callable[[], None] | None = None
        event.listen(sessions, "after_commit", self._after_commit)

    @property
    def topology(self) -> Topology:
        """The current membership snapshot: envelopes are routed and sealed to who is certified
        when they are sent."""
        return self.membership.topology

    def set_wakeup(self, wakeup: Callable[[], None] | None) -> None:
        self._wakeup = wakeup

    def _after_commit(self, session: Session) -> None:
        if session.info.pop(PENDING_FLAG, False) and self._wakeup is not None:
            self._wakeup()

    def send(
        self,
        session: Session,
        kind: str,
        wire: WireModel,
        *,
        dest: list[str],
        encrypt: bool,
        about: tuple[str, str | None] | None = None,
        body: bytes | None = None,
        body_key: BodyKey | None = None,
    ) -> str | None:
        """Sign an envelope of ``kind`` carrying ``wire`` (and ``body``, for a detached kind) for
        ``dest`` and add its first-hop rows to the session; its ``ref`` and payload come from the
        wire model; a sealed body's key comes from ``body_key`` (see ``envelope.BodyKey``). It is
        numbered on each of its channels and kept for resending (a body not: ``KindSpec.rebuild``
        makes it again), filed under the object it is about: ``about`` (kind, id), else its own
        kind and its ``ref`` key's value. Returns the message id (None if nobody else is
        addressed)."""
        spec = self.kinds.require(kind)
        if not isinstance(wire, spec.wire):
            raise TypeError(f"a {kind!r} envelope carries {spec.wire.__name__}")
        if (body is not None) != spec.detached:
            raise ValueError(f"{kind!r} envelopes {'carry' if spec.detached else 'have no'} body")
        if not encrypt and not spec.clear:
            raise ValueError(f"{kind!r} payloads travel sealed")
        topology = self.topology
        dest = (
            [BROADCAST]
            if dest == [BROADCAST]
            # Nothing is addressed (or sealed) to a revoked node from the revocation on.
            else sorted(d for d in set(dest) - {self.node_id} if not topology.is_revoked(d))
        )
        if not dest:
            return None
        subjects = next_hops(topology, self.node_id, dest, None)
        if not subjects:
            return None
        now = self.clock.now()
        ref = wire.envelope_ref()
        numbers = sequence.assign(session, dest)
        msg_id, raw = seal_envelope(
            keys=self.keys,
            topology=topology,
            origin=self.node_id,
            kind=kind,
            dest=dest,
            ref=ref,
            payload=wire.payload(),
            encrypt=encrypt,
            now=now,
            seq=numbers,
            body=body,
            body_key=body_key,
            version=self.envelope_version,
        )
        if about is None:
            object_id = ref.get(spec.ref_key) if spec.ref_key is not None else None
            about = (kind, None if object_id is None else str(object_id)[:64])
        sequence.retain(
            session,
            seq=numbers,
            msg_id=msg_id,
            kind=about[0],
            object_id=about[1],
            raw=raw,
            now=now,
        )
        self._add_rows(
            session, msg_id, raw, subjects, kind, self.object_of(kind, wire.envelope_ref())
        )
        resync_store.keep(
            session,
            topology,
            self.node_id,
            origin=self.node_id,
            kind=kind,
            dest=dest,
            ref=ref,
            msg_id=msg_id,
            raw=raw,
            subjects=subjects,
            now=now,
        )
        return msg_id

    def forward(
        self,
        session: Session,
        msg_id: str,
        raw: bytes,
        subjects: list[str],
        *,
        kind: str | None = None,
        ref: Mapping[str, Any] | None = None,
        origin: str | None = None,
        dest: list[str] | None = None,
    ) -> None:
        """Add rows relaying another node's envelope (of ``kind``, reference ``ref``), unchanged,
        to ``subjects``; given its ``origin`` and ``dest``, what goes down to a child is also kept
        for resyncing it (``resync_store.keep``)."""
        object_id = self.object_of(kind, ref or {}) if kind is not None else None
        self._add_rows(session, msg_id, raw, subjects, kind, object_id)
        if kind is not None and origin is not None and dest is not None:
            resync_store.keep(
                session,
                self.topology,
                self.node_id,
                origin=origin,
                kind=kind,
                dest=dest,
                ref=dict(ref or {}),
                msg_id=msg_id,
                raw=raw,
                subjects=subjects,
                now=self.clock.now(),
            )

    def _add_rows(
        self,
        session: Session,
        msg_id: str,
        raw: bytes,
        subjects: list[str],
        kind: str | None,
        object_id: str | None,
    ) -> None:
        now = self.clock.now()
        for subject in subjects:
            session.add(
                OutboxMessage(
                    msg_id=msg_id,
                    subject=subject,
                    envelope=raw,
                    created_at=now,
                    kind=kind,
                    object_id=object_id,
                )
            )
        session.info[PENDING_FLAG] = True

    def object_of(self, kind: str | None, ref: Mapping[str, Any]) -> str | None:
        """The id of the object an envelope of ``kind`` with reference ``ref`` carries."""
        spec = self.kinds.get(kind) if kind is not None else None
        if spec is None or spec.ref_key is None:
            return None
        value = ref.get(spec.ref_key)
        return None if value is None else str(value)[:64]

    def prune_delivered(
        self, session: Session, rows: Sequence[tuple[int, str]], now: datetime
    ) -> None:
        """Rows the local server acknowledged, as (row id, message id): delivered, so deleted
        (their envelopes are in the stream now), and counted in ``outbox_stats``. The one place
        that decides what happens to a delivered row.

        Matched by (id, message id), not id alone: on SQLite the key has no AUTOINCREMENT, so a
        row purged while it was being published (``purge_object``) can pass its id to the row
        queued next (a tombstone), which the first row's PubAck must not delete unsent."""
        if not rows:
            return
        keys = pairs_in(OutboxMessage.id, OutboxMessage.msg_id, [(r[0], r[1]) for r in rows])
        deleted = session.execute(delete(OutboxMessage).where(keys))
        count = int(getattr(deleted, "rowcount", 0) or 0)
        session.execute(
            update(OutboxStats)
            .where(OutboxStats.id == 1)
            .values(
                delivered=OutboxStats.delivered + count,
                first_delivered_at=func.coalesce(OutboxStats.first_delivered_at, now),
                last_delivered_at=now,
            )
        )

    def purge_object(self, session: Session, kind: str, object_id: str) -> int:
        """Delete every row still carrying ``kind`` envelopes about ``object_id`` (pending ones
        included: what they carry is being purged, and a later envelope supersedes them), in the
        caller's transaction; its commit truncates the WAL (``node.db.mark_purged``). Returns
        how many rows went."""
        # Rows added earlier in this transaction must be in the table for the delete to see.
        session.flush()
        deleted = session.execute(
            delete(OutboxMessage).where(
                OutboxMessage.kind == kind, OutboxMessage.object_id == object_id
            )
        )
        # Kept for resending: gone too (a later request for its number is answered with a void).
        sequence.purge_object(session, kind, object_id)
        resync_store.purge_object(session, kind, object_id)
        mark_purged(session)
        return int(getattr(deleted, "rowcount", 0) or 0)
