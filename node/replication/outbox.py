"""The transactional outbox: a change and its outbound envelopes commit together.

Guarantee: ``enqueue`` only adds rows to the caller's session, so an envelope exists if and only if
the change it describes committed ("never publish before commit"). After the commit the relay is
woken at once (no polling delay); it publishes each row with ``Nats-Msg-Id`` and marks it sent only
on the server's PubAck, so a crash anywhere re-publishes rather than loses, and the stream's
duplicate window drops the repeat.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from node.clock import iso
from node.models import OutboxMessage, Record
from node.replication.envelope import BROADCAST, seal_envelope
from node.replication.routing import next_hops

if TYPE_CHECKING:
    from node.context import NodeContext

PENDING_FLAG = "fedshare_outbox_pending"


def record_payload(record: Record, *, full: bool) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": record.id,
        "origin": record.origin,
        "category": record.category,
        "classification": record.classification,
        "version": record.version,
        "created_at": iso(record.created_at),
        "updated_at": iso(record.updated_at),
        "deleted": record.deleted,
        "stub": not full,
    }
    if full:
        payload.update(
            author=record.author,
            title=record.title or "",
            body=record.body or "",
            parties=record.party_ids,
        )
    return payload


def record_destinations(ctx: NodeContext, record: Record) -> tuple[list[str], bool]:
    """(destinations, full content?) for a record by class: DESIGN §3 routing."""
    if record.classification == "general":
        return [BROADCAST], True
    if record.classification == "restricted":
        return record.party_ids, True
    stub_to = set(ctx.topology.ancestors(record.origin)) | set(record.party_ids)
    stub_to.discard(record.origin)
    return sorted(stub_to), False


class Outbox:
    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx
        self._wakeup: Callable[[], None] | None = None
        event.listen(ctx.sessions, "after_commit", self._after_commit)

    def set_wakeup(self, wakeup: Callable[[], None] | None) -> None:
        self._wakeup = wakeup

    def _after_commit(self, session: Session) -> None:
        if session.info.pop(PENDING_FLAG, False) and self._wakeup is not None:
            self._wakeup()

    def enqueue(
        self,
        session: Session,
        *,
        kind: str,
        dest: list[str],
        ref: dict[str, Any],
        payload: dict[str, Any],
        encrypt: bool,
    ) -> str | None:
        """Sign an envelope for ``dest`` and add its first-hop rows to the session."""
        ctx = self.ctx
        dest = [BROADCAST] if dest == [BROADCAST] else sorted(set(dest) - {ctx.node_id})
        if not dest:
            return None
        subjects = next_hops(ctx.topology, ctx.node_id, dest, None)
        if not subjects:
            return None
        now = ctx.clock.now()
        msg_id, raw = seal_envelope(
            keys=ctx.keys,
            topology=ctx.topology,
            origin=ctx.node_id,
            kind=kind,
            dest=dest,
            ref=ref,
            payload=payload,
            encrypt=encrypt,
            now=now,
        )
        for subject in subjects:
            session.add(OutboxMessage(msg_id=msg_id, subject=subject, envelope=raw, created_at=now))
        session.info[PENDING_FLAG] = True
        return msg_id

    def record_changed(self, session: Session, record: Record) -> str | None:
        dest, full = record_destinations(self.ctx, record)
        return self.enqueue(
            session,
            kind="record",
            dest=dest,
            ref={"record": record.id, "version": record.version},
            payload=record_payload(record, full=full),
            encrypt=record.classification != "general",
        )
