"""The transactional outbox: a change and its outbound envelopes commit together.

Guarantee: ``send`` only adds rows to the caller's session, so an envelope exists if and only if
the change it describes committed ("never publish before commit"). After the commit the relay is
woken at once (no polling delay); it publishes each row with ``Nats-Msg-Id`` and marks it sent only
on the server's PubAck, so a crash anywhere re-publishes rather than loses, and the stream's
duplicate window drops the repeat. Every envelope is built from its kind's wire model
(``node.replication.kinds``): no payload is put together by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from node.clock import Clock
from node.crypto import NodeKeys
from node.models import OutboxMessage
from node.replication.envelope import BROADCAST, seal_envelope
from node.replication.kinds import KindRegistry, WireModel
from node.replication.routing import next_hops
from node.topology import Topology

PENDING_FLAG = "fedshare_outbox_pending"


class Outbox:
    def __init__(
        self,
        *,
        node_id: str,
        topology: Topology,
        keys: NodeKeys,
        clock: Clock,
        sessions: sessionmaker[Session],
        kinds: KindRegistry[Any],
    ) -> None:
        self.node_id = node_id
        self.topology = topology
        self.keys = keys
        self.clock = clock
        self.kinds = kinds
        self._wakeup: Callable[[], None] | None = None
        event.listen(sessions, "after_commit", self._after_commit)

    def set_wakeup(self, wakeup: Callable[[], None] | None) -> None:
        self._wakeup = wakeup

    def _after_commit(self, session: Session) -> None:
        if session.info.pop(PENDING_FLAG, False) and self._wakeup is not None:
            self._wakeup()

    def send(
        self, session: Session, kind: str, wire: WireModel, *, dest: list[str], encrypt: bool
    ) -> str | None:
        """Sign an envelope of ``kind`` carrying ``wire`` for ``dest`` and add its first-hop rows
        to the session; its ``ref`` and payload come from the wire model. Returns the message id
        (None if nobody else is addressed)."""
        spec = self.kinds.require(kind)
        if not isinstance(wire, spec.wire):
            raise TypeError(f"a {kind!r} envelope carries {spec.wire.__name__}")
        if not encrypt and not spec.clear:
            raise ValueError(f"{kind!r} payloads travel sealed")
        dest = [BROADCAST] if dest == [BROADCAST] else sorted(set(dest) - {self.node_id})
        if not dest:
            return None
        subjects = next_hops(self.topology, self.node_id, dest, None)
        if not subjects:
            return None
        now = self.clock.now()
        msg_id, raw = seal_envelope(
            keys=self.keys,
            topology=self.topology,
            origin=self.node_id,
            kind=kind,
            dest=dest,
            ref=wire.envelope_ref(),
            payload=wire.payload(),
            encrypt=encrypt,
            now=now,
        )
        for subject in subjects:
            session.add(OutboxMessage(msg_id=msg_id, subject=subject, envelope=raw, created_at=now))
        session.info[PENDING_FLAG] = True
        return msg_id

    def forward(self, session: Session, msg_id: str, raw: bytes, subjects: list[str]) -> None:
        """Add rows relaying another node's envelope, unchanged, to ``subjects``."""
        now = self.clock.now()
        for subject in subjects:
            session.add(OutboxMessage(msg_id=msg_id, subject=subject, envelope=raw, created_at=now))
        session.info[PENDING_FLAG] = True
