"""Applying a batch of delivered envelopes: the inbox consumer's transaction, free of NATS.

The replication service feeds it the messages it fetched from JetStream; the in-process test
federation feeds it messages held in memory. Both go through the same code, so what the tests
apply is what production applies.

Guarantees:
- A batch is applied in one transaction, after one prefetch of the inbox keys and records it
  touches. If any envelope in it fails, the batch is rolled back and applied again envelope by
  envelope, each in a savepoint (``inbox.apply_or_reject``): one bad envelope is dead-lettered and
  the rest apply. Transient database faults propagate instead, so the transport redelivers the
  whole batch (applying is idempotent).
- Everything that fails to open (bad subject, malformed, bad signature) is dead-lettered in the
  same transaction, so the batch is committed, dead letters included, or nothing is.
- Every applied or relayed envelope gets the subjects of its next hops (never back the way it
  came); the caller forwards it only after the commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from node.context import NodeContext
from node.metrics import Metrics
from node.replication import inbox
from node.replication.envelope import Envelope, EnvelopeRejected, open_envelope
from node.replication.routing import arrival_source, next_hops


class InboundMessage(Protocol):
    """What applying needs of a transport's message: its bytes and the subject it came on."""

    @property
    def data(self) -> bytes: ...

    @property
    def subject(self) -> str: ...


MessageT = TypeVar("MessageT", bound=InboundMessage)


@dataclass
class Delivery(Generic[MessageT]):
    """One message of a batch: opened (``envelope``) or refused (``rejection``); after applying,
    the subjects to forward it on."""

    msg: MessageT
    subject: str
    stream_seq: int
    envelope: Envelope | None = None
    rejection: EnvelopeRejected | None = None
    forward_to: list[str] | None = None
    # Its origin had spent its inbound quota (decided once, before the transaction, so that a
    # batch applied again envelope by envelope does not spend it twice).
    over_quota: bool = False


class BatchApplier:
    """Opens and applies the envelopes delivered to ``ctx``'s node, counting them in ``metrics``."""

    def __init__(self, ctx: NodeContext, metrics: Metrics) -> None:
        self.ctx = ctx
        self.metrics = metrics

    def decode(self, msg: MessageT, stream_seq: int) -> Delivery[MessageT]:
        """Open one message (subject, shape, signature); a refusal is kept for dead-lettering."""
        delivery = Delivery(msg=msg, subject=msg.subject, stream_seq=stream_seq)
        if arrival_source(msg.subject, self.ctx.node_id) is None:
            delivery.rejection = EnvelopeRejected("bad_subject")
            return delivery
        try:
            delivery.envelope = open_envelope(msg.data, self.ctx.topology, now=self.ctx.clock.now())
        except EnvelopeRejected as exc:
            delivery.rejection = exc
        return delivery

    def apply(self, deliveries: Sequence[Delivery[MessageT]]) -> list[inbox.Outcome]:
        """Apply a batch in one transaction; if any envelope in it fails, roll the batch back and
        apply it again envelope by envelope, each in a savepoint (``inbox.apply_or_reject``).
        Failures are rare, so the common path pays no per-envelope savepoint. Returns each
        delivery's outcome and sets ``forward_to`` (the next hops, queued in the outbox by the
        same transaction) on those that were not rejected. Envelopes past their origin's
        inbound quota are refused before the transaction (``inbox.admit``)."""
        for delivery in deliveries:
            if delivery.envelope is not None and not delivery.over_quota:
                delivery.over_quota = not inbox.admit(self.ctx, delivery.envelope)
        try:
            outcomes = self._apply_all(deliveries, careful=False)
        except (OperationalError, InterfaceError):
            raise
        except Exception:  # noqa: BLE001 - replayed below, one savepoint per envelope
            outcomes = self._apply_all(deliveries, careful=True)
        me = self.ctx.node_id
        for delivery, outcome in zip(deliveries, outcomes, strict=True):
            envelope = delivery.envelope
            if outcome.status == "rejected":
                self.metrics.dead_letters.labels(outcome.reason or "rejected").inc()
                if delivery.over_quota and envelope is not None:
                    self.metrics.quota_rejections.labels(envelope.origin).inc()
                continue
            assert envelope is not None
            if outcome.status == "applied":
                self.metrics.applied.labels(envelope.kind).inc()
            came_from = arrival_source(delivery.subject, me)
            delivery.forward_to = next_hops(self.ctx.topology, me, envelope.dest, came_from)
        return outcomes

    def _apply_all(
        self, deliveries: Sequence[Delivery[MessageT]], *, careful: bool
    ) -> list[inbox.Outcome]:
        ctx = self.ctx
        outcomes: list[inbox.Outcome] = []
        with ctx.sessions() as session, session.begin(), session.no_autoflush:
            seen = inbox.prefetch(
                session, ctx, [d.envelope for d in deliveries if d.envelope is not None]
            )
            for delivery in deliveries:
                envelope = delivery.envelope
                if envelope is None:
                    rejection = delivery.rejection
                    assert rejection is not None
                    inbox.dead_letter(
                        session,
                        ctx,
                        raw=delivery.msg.data,
                        subject=delivery.subject,
                        reason=rejection.reason,
                        msg_id=rejection.msg_id,
                        origin=rejection.origin,
                        kind=rejection.kind,
                    )
                    outcomes.append(inbox.Outcome("rejected", rejection.reason))
                    continue
                if delivery.over_quota:
                    outcomes.append(
                        inbox.refuse_over_quota(session, ctx, envelope, delivery.subject)
                    )
                    continue
                apply = inbox.apply_or_reject if careful else inbox.process
                outcome = apply(
                    session,
                    ctx,
                    envelope,
                    subject=delivery.subject,
                    stream_seq=delivery.stream_seq,
                    seen=seen,
                )
                outcomes.append(outcome)
                if outcome.status in ("applied", "relayed"):
                    self._enqueue_forwards(session, delivery, envelope)
        return outcomes

    def _enqueue_forwards(
        self, session: Session, delivery: Delivery[MessageT], envelope: Envelope
    ) -> None:
        """Queue the unchanged envelope for its next hops in the outbox, in the transaction that
        applies it. The relay then publishes forwards and this node's own envelopes in one commit
        order, so nothing this node sends after applying an envelope can overtake it on the way
        up or down (a read report never reaches the root before the grant it reports on). A
        duplicate was queued when it was first applied; this node's own envelopes are never
        sent back."""
        me = self.ctx.node_id
        if envelope.origin == me:
            return
        subjects = next_hops(
            self.ctx.topology, me, envelope.dest, arrival_source(delivery.subject, me)
        )
        if subjects:
            self.ctx.outbox.forward(
                session,
                envelope.msg_id,
                envelope.raw,
                subjects,
                kind=envelope.kind,
                ref=envelope.ref,
                origin=envelope.origin,
                dest=envelope.dest,
            )
            self.metrics.relayed.inc(len(subjects))
