"""The node's replication service: outbox relay, inbox consumer, streams over its local NATS.

Streams (JetStream domain = node id, all on the node's own nats-server):
- ``OUT`` holds subjects ``fs.<node>.>``: what this node sends up (``fs.<node>.up``) and down to
  each child (``fs.<node>.down.<child>``). Limits retention, a one-hour duplicate window.
- ``IN`` holds no subjects of its own; it *sources* the parent's ``OUT`` filtered to
  ``fs.<parent>.down.<node>`` and each child's ``OUT`` filtered to ``fs.<child>.up``, across the
  leafnode links. When a link is down the source stalls and catches up once it heals.

Guarantees:
- Outbox rows are published in commit order with ``Nats-Msg-Id`` and deleted on PubAck
  (``Outbox.prune_delivered``): a delivered envelope lives on in the stream, not in the database.
- The consumer verifies each envelope, applies it (idempotently) and, in the same transaction,
  queues it unchanged in the outbox for its next hops, commits, then acks. Forwards and this
  node's own envelopes leave in one commit order, so nothing overtakes what it depends on. A
  crash at any point leads to a redelivery that applies nothing twice (inbox) and forwards
  nothing twice (the forward rows commit with the apply; ``Nats-Msg-Id`` drops a re-publish).
- The relay is woken by commits and the consumer by the server: a quiet system does not poll.
- Membership changes while the node runs (onboarding, revocation; issue 12 item 2): when the
  membership changes, the node renders its nats-server config again (a joined child gets its
  account and leaf user, a revoked one loses them), signals the server to reload it, and updates
  ``IN`` to source exactly the live children's ``OUT``; no process restarts. Checked again
  every few seconds, so a change whose reload failed is retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import UTC, datetime
from typing import Any

import nats
from nats.errors import TimeoutError as NatsTimeout
from nats.js import api
from nats.js.errors import BadRequestError, NotFoundError
from sqlalchemy import func, select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from node.clock import as_aware, iso
from node.context import NodeContext
from node.errors import InvalidInput, PermissionDenied
from node.metrics import Metrics
from node.models import DeadLetter, InboxMessage, OutboxMessage, OutboxStats
from node.policy import Actor
from node.replication import resend, resync
from node.replication.apply import BatchApplier, Delivery
from node.replication.envelope import EnvelopeRejected
from node.replication.natsconf import reload_server, rerender
from node.replication.routing import (
    down_subject,
    inbox_prefix,
    out_subjects,
    source_deliver_prefix,
    up_subject,
)
from node.replication.schemas import DeadLetterOut, DeadLetterPage
from node.replication.sources import SourceWatch

log = logging.getLogger("fedshare.replication")


def out_stream(node: str) -> str:
    return f"OUT_{node}"


def in_stream(node: str) -> str:
    return f"IN_{node}"


def consumer_name(node: str) -> str:
    # Names are per node on purpose: JetStream ack subjects ($JS.ACK.<stream>.<consumer>...) are
    # not scoped by domain, and the leaf links share one account, so equal names would let one
    # node's acks reach another node's consumer.
    return f"apply_{node}"


# How long the streams keep a message by default (``Settings.stream_retention_s``); a node
# offline for longer asks its parent for a resync (``node.replication.resync``).
RETENTION_S = 7 * 24 * 3600.0
DUPLICATE_WINDOW_S = 3600.0
BATCH = 256
# Envelopes published in one pipelined batch, at most (past the first): one attachment chunk or
# a few; under the server's max_payload for any single one (``natsconf``).
BATCH_BYTES = 8 * 1024**2
# A fetched batch is applied (and committed, and its forwards published) in groups of at most
# this many bytes (past the first message): a relay starts passing large envelopes on while it
# still applies the rest, instead of holding a whole file for one transaction.
APPLY_BATCH_BYTES = 4 * 1024**2
# A delivery lost on the way (a pull answered as the connection dropped) comes back after this
# long; a batch that takes longer to apply is kept alive with progress notices.
ACK_WAIT_S = 5.0
# A PubAck lost when the connection drops never comes; give up on it after this long and publish
# again (the duplicate window drops what did land). Acks normally take milliseconds.
PUBACK_WAIT_S = 5.0
FETCH_WAIT_S = 1.0
# A silence of the parent link longer than this is remembered for the resync check (nothing can
# expire unseen in a shorter one: streams keep messages far longer).
SILENCE_S = 5.0
# A message is delivered at most this often; one that still fails is dead-lettered.
MAX_DELIVER = 10
# The membership is checked this often even when no change was announced (a failed reload is
# retried; a change learned in another process is noticed).
MEMBERSHIP_CHECK_S = 5.0
MEMBERSHIP_RETRY_S = 0.5
# Faults of the node's own database or server: the batch is kept and retried in place.
TRANSIENT: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    ConnectionError,
    TimeoutError,
    NatsTimeout,
)


def _server_time(stamp: object) -> datetime | None:
    """A nats-server timestamp (RFC 3339, nanoseconds) as an aware datetime."""
    if not isinstance(stamp, str) or not stamp or stamp.startswith("0001-"):
        return None
    head, _, fraction = stamp.rstrip("Z").partition(".")
    try:
        moment = datetime.fromisoformat(head + ("." + fraction[:6] if fraction else ""))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _by_size(deliveries: list[Delivery[Any]], max_bytes: int) -> list[list[Delivery[Any]]]:
    """``deliveries`` in order, in consecutive groups of at most ``max_bytes`` of messages (past
    the first of each group)."""
    groups: list[list[Delivery[Any]]] = []
    size = 0
    for delivery in deliveries:
        length = len(delivery.msg.data or b"")
        if not groups or size + length > max_bytes:
            groups.append([])
            size = 0
        groups[-1].append(delivery)
        size += length
    return groups


class ReplicationService:
    def __init__(self, ctx: NodeContext, metrics: Metrics) -> None:
        self.ctx = ctx
        self.metrics = metrics
        self.me = ctx.node_id
        self.applier = BatchApplier(ctx, metrics)
        self.nc: Any = None
        self.js: Any = None
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self.last_error: str | None = None
        self.source_watch: SourceWatch | None = None
        # When this node last applied something from above, and, after a silence of the parent
        # link longer than ``SILENCE_S``, when it had last done so before it (``resync``).
        self.heard_from_parent: datetime | None = None
        self.heard_before_silence: datetime | None = None
        self._membership_event = asyncio.Event()
        self._unsubscribe: Any = None
        # The children the server config and ``IN`` were last made for (None: not yet).
        self.applied_children: frozenset[str] | None = None
        # The children the server config was last rendered for (None: not yet).
        self.rendered_children: frozenset[str] | None = None
        self.reloads = 0

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.nc = await nats.connect(
            servers=[self.ctx.settings.nats_url or ""],
            name=f"fedshare-{self.me}",
            # The only user the local server admits (DESIGN §10); replies on our own prefix.
            nkeys_seed=str(self.ctx.settings.nats_nkey_seed_file),
            inbox_prefix=inbox_prefix(self.me),
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            connect_timeout=2,
        )
        self.js = self.nc.jetstream(timeout=5)
        await self.ensure_streams()
        self.heard_from_parent = await asyncio.to_thread(resync.last_heard_from_above, self.ctx)
        self.ctx.outbox.set_wakeup(self.wakeup)
        self.applied_children = self.live_children()
        self._tasks = [
            asyncio.create_task(self._relay_loop(), name="outbox-relay"),
            asyncio.create_task(self._consume_loop(), name="inbox-consumer"),
        ]
        if self.in_sources():
            self._start_source_tasks()
        self._unsubscribe = self.ctx.membership.subscribe(self._membership_changed)
        # A first pass at once: a change learned before this start (stored and restored) whose
        # config was not rendered yet.
        self._membership_event.set()
        self._tasks.append(asyncio.create_task(self._membership_loop(), name="membership"))

    def _start_source_tasks(self) -> None:
        self._tasks.append(asyncio.create_task(self._watch_max_deliveries(), name="max-deliveries"))
        self.source_watch = SourceWatch(
            self.js, self.nc, self.in_stream_config, on_reset=self._source_reset
        )
        self._tasks.append(
            asyncio.create_task(self.source_watch.run(lambda: self._stopping), name="source-watch")
        )

    # -- membership changes while running --------------------------------------------------

    def live_children(self) -> frozenset[str]:
        topology = self.ctx.topology
        return frozenset(c for c in topology.children(self.me) if not topology.is_revoked(c))

    def _membership_changed(self) -> None:
        """Called from any thread after the membership changed."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._membership_event.set)

    async def _membership_loop(self) -> None:
        while not self._stopping:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._membership_event.wait(), timeout=MEMBERSHIP_CHECK_S)
            self._membership_event.clear()
            try:
                await self.reconfigure()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - retried soon
                # E.g. the stream update refused while the server still reloads its config.
                self.last_error = f"reconfigure: {type(exc).__name__}"
                log.warning("membership change not applied yet: %s", type(exc).__name__)
                await asyncio.sleep(MEMBERSHIP_RETRY_S)
                self._membership_event.set()

    async def reconfigure(self) -> bool:
        """Make the server config and ``IN`` follow the membership: render the config again and
        have the server reload it if it changed; add (or drop) the sources of children that
        joined (or were revoked). Returns whether anything changed."""
        children = self.live_children()
        settings = self.ctx.settings
        changed = False
        # The config depends on the membership only through the live children (their accounts
        # and users): rendered once at start (a change learned before it) and when they change.
        if children != self.rendered_children:
            pid_file = await asyncio.to_thread(
                rerender,
                self.ctx.topology,
                self.me,
                settings.nats_config_path,
                tls_dir=(settings.data_dir / "tls").resolve(),
                service_nkey=self._service_nkey(),
            )
            if pid_file is not None:
                changed = True
                if await asyncio.to_thread(reload_server, pid_file):
                    self.reloads += 1
                    log.info("nats-server reloads its config: children %s", sorted(children))
            self.rendered_children = children
        if children != self.applied_children:
            changed = True
            if self.in_sources():
                await self._upsert_stream(self.in_stream_config())
                if self.source_watch is None:
                    self._start_source_tasks()
            log.info("inbound sources now: %s", sorted(children))
            self.applied_children = children
        return changed

    def _service_nkey(self) -> str:
        from node.replication.natsconf import ensure_service_nkey

        return ensure_service_nkey(self.ctx.settings.nats_nkey_seed_file)

    def _source_reset(self, peer: str) -> None:
        self.metrics.source_resets.labels(peer).inc()

    async def stop(self) -> None:
        self._stopping = True
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.ctx.outbox.set_wakeup(None)
        self._wake.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.nc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.nc.close(), timeout=2)

    def wakeup(self) -> None:
        """Called from any thread after a commit that added outbox rows."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    # -- streams ---------------------------------------------------------------------------

    def in_sources(self) -> list[api.StreamSource]:
        topology = self.ctx.topology
        sources = []
        parent = topology.parent(self.me)
        if parent is not None:
            sources.append(
                api.StreamSource(
                    name=out_stream(parent),
                    filter_subject=down_subject(parent, self.me),
                    external=api.ExternalStream(
                        api=f"$JS.{parent}.API", deliver=source_deliver_prefix(self.me, parent)
                    ),
                )
            )
        # A revoked child's stream is not sourced: nothing of it arrives here any more.
        for child in sorted(self.live_children(), key=topology.children(self.me).index):
            sources.append(
                api.StreamSource(
                    name=out_stream(child),
                    filter_subject=up_subject(child),
                    external=api.ExternalStream(
                        api=f"$JS.{child}.API", deliver=source_deliver_prefix(self.me, child)
                    ),
                )
            )
        return sources

    async def _upsert_stream(self, config: api.StreamConfig) -> None:
        try:
            await self.js.add_stream(config)
        except BadRequestError:
            await self.js.update_stream(config)

    async def ensure_streams(self) -> None:
        limits = self.ctx.settings
        await self._upsert_stream(
            api.StreamConfig(
                name=out_stream(self.me),
                subjects=[out_subjects(self.me)],
                retention=api.RetentionPolicy.LIMITS,
                storage=api.StorageType.FILE,
                max_age=limits.stream_retention_s,
                duplicate_window=min(DUPLICATE_WINDOW_S, limits.stream_retention_s),
                # Full: the publish is refused and the outbox row stays unsent and is retried,
                # so nothing is dropped silently (discard old would drop what a peer has not
                # sourced yet).
                max_msgs=limits.nats_out_max_msgs,
                max_bytes=limits.nats_out_max_bytes,
                max_msg_size=limits.nats_max_msg_size,
                discard=api.DiscardPolicy.NEW,
            )
        )
        if self.in_sources():
            await self._upsert_stream(self.in_stream_config())

    def in_stream_config(self) -> api.StreamConfig:
        limits = self.ctx.settings
        sources = self.in_sources()
        return api.StreamConfig(
            name=in_stream(self.me),
            retention=api.RetentionPolicy.LIMITS,
            storage=api.StorageType.FILE,
            max_age=limits.stream_retention_s,
            duplicate_window=min(DUPLICATE_WINDOW_S, limits.stream_retention_s),
            sources=sources,
            # Discard old: what goes first is normally long applied (discard new would stop
            # every source once a week's traffic filled it). Each neighbour has exactly one
            # subject here, and the per-subject cap keeps one neighbour's flood from pushing
            # out another's messages.
            max_msgs=limits.nats_in_max_msgs,
            max_bytes=limits.nats_in_max_bytes,
            max_msg_size=limits.nats_max_msg_size,
            max_msgs_per_subject=max(1, limits.nats_in_max_msgs // max(1, len(sources))),
            discard=api.DiscardPolicy.OLD,
        )

    # -- outbox relay ----------------------------------------------------------------------

    def _pending(self, limit: int, max_bytes: int) -> list[tuple[int, str, str, bytes]]:
        """The oldest unsent rows, in order: at most ``limit`` of them and, past the first, no more
        than ``max_bytes`` of envelopes (attachment chunks are large: a batch stays bounded in
        memory and in one pipelined publish)."""
        with self.ctx.sessions() as session:
            sizes = session.execute(
                select(OutboxMessage.id, func.length(OutboxMessage.envelope))
                .where(OutboxMessage.sent_at.is_(None))
                .order_by(OutboxMessage.id)
                .limit(limit)
            ).all()
            ids: list[int] = []
            total = 0
            for row_id, size in sizes:
                total += int(size or 0)
                if ids and total > max_bytes:
                    break
                ids.append(int(row_id))
            rows = (
                session.execute(
                    select(
                        OutboxMessage.id,
                        OutboxMessage.msg_id,
                        OutboxMessage.subject,
                        OutboxMessage.envelope,
                    )
                    .where(OutboxMessage.id.in_(ids), OutboxMessage.sent_at.is_(None))
                    .order_by(OutboxMessage.id)
                ).all()
                if ids
                else []
            )
            session.rollback()
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    def _mark_sent(self, rows: list[tuple[int, str]]) -> None:
        with self.ctx.sessions() as session, session.begin():
            self.ctx.outbox.prune_delivered(session, rows, self.ctx.clock.now())

    async def publish_in_order(self, items: list[tuple[str, str, bytes]]) -> int:
        """Publish (msg id, subject, bytes) in order, pipelined on one connection; return how
        many of the leading items the server acknowledged (the rest are retried, and the
        duplicate window drops any that did land)."""
        futures = [
            await self.js.publish_async(
                subject, raw, headers={"Nats-Msg-Id": f"{msg_id}|{subject}"}
            )
            for msg_id, subject, raw in items
        ]
        results = await asyncio.wait_for(
            asyncio.gather(*futures, return_exceptions=True), timeout=PUBACK_WAIT_S
        )
        for index, result in enumerate(results):
            if isinstance(result, BaseException):
                self.last_error = f"publish: {type(result).__name__}"
                return index
        return len(results)

    async def publish_pending(self) -> int:
        rows = await asyncio.to_thread(self._pending, BATCH, BATCH_BYTES)
        if not rows:
            return 0
        acked = await self.publish_in_order(
            [(msg_id, subject, raw) for _, msg_id, subject, raw in rows]
        )
        if acked:
            acked_rows = [(row_id, msg_id) for row_id, msg_id, _, _ in rows[:acked]]
            await asyncio.to_thread(self._mark_sent, acked_rows)
            self.metrics.published.inc(acked)
        if acked < len(rows):
            raise ConnectionError("the server did not acknowledge every envelope")
        return len(rows)

    async def _relay_loop(self) -> None:
        backoff = 0.2
        while not self._stopping:
            self._wake.clear()
            try:
                count = await self.publish_pending()
                backoff = 0.2
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - transport faults are retried, not fatal
                self.last_error = f"relay: {type(exc).__name__}"
                log.warning("outbox relay: %s; retrying in %.1fs", type(exc).__name__, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if count:
                continue  # there may be more behind a batch cut short by its size
            with contextlib.suppress(asyncio.TimeoutError):
                # Commits wake us at once; the timeout only bounds retries after a fault.
                await asyncio.wait_for(self._wake.wait(), timeout=10.0)

    # -- inbox consumer --------------------------------------------------------------------

    def _apply_batch(self, deliveries: list[Delivery[Any]]) -> None:
        self.applier.apply(deliveries)

    def _decode(self, msg: Any) -> Delivery[Any]:
        """Open one message; whatever it holds, the result is a delivery (opened or refused):
        no exception of any type escapes to stall the batch."""
        try:
            return self.applier.decode(msg, msg.metadata.sequence.stream)
        except Exception as exc:  # noqa: BLE001 - a hostile message is refused, never raised
            log.warning("inbox: message refused while decoding (%s)", type(exc).__name__)
            stream_seq = 0
            with contextlib.suppress(Exception):
                stream_seq = int(msg.metadata.sequence.stream)
            return Delivery(
                msg=msg,
                subject=str(getattr(msg, "subject", "")),
                stream_seq=stream_seq,
                rejection=EnvelopeRejected("malformed"),
            )

    async def _consume_loop(self) -> None:
        if not self.in_sources():
            return
        config = api.ConsumerConfig(
            durable_name=consumer_name(self.me),
            ack_policy=api.AckPolicy.EXPLICIT,
            ack_wait=ACK_WAIT_S,
            max_ack_pending=4 * BATCH,
            max_deliver=MAX_DELIVER,
            deliver_policy=api.DeliverPolicy.ALL,
        )
        sub = None
        while not self._stopping:
            try:
                if sub is None:
                    sub = await self.js.pull_subscribe(
                        "fs.>",
                        durable=consumer_name(self.me),
                        stream=in_stream(self.me),
                        config=config,
                    )
                    try:
                        await self._ensure_consumer_limits(config)
                    except (NotFoundError, BadRequestError):
                        raise
                    except Exception as exc:  # noqa: BLE001 - best effort; retried on resubscribe
                        log.warning("inbox consumer limits: %s", type(exc).__name__)
                try:
                    # A short long-poll: a pull request lost in a server restart costs at most
                    # this long, not the first record after the restart.
                    msgs = await sub.fetch(BATCH, timeout=FETCH_WAIT_S)
                except (TimeoutError, NatsTimeout):
                    continue
                await self._settle([self._decode(m) for m in msgs])
            except asyncio.CancelledError:
                raise
            except (NotFoundError, BadRequestError) as exc:
                self.last_error = f"consumer: {type(exc).__name__}"
                sub = None
                await asyncio.sleep(0.5)
            except Exception as exc:  # noqa: BLE001 - retried; redelivery keeps effects exact
                self.last_error = f"consumer: {type(exc).__name__}"
                log.warning("inbox consumer: %s; retrying", type(exc).__name__)
                await asyncio.sleep(0.5)

    async def _ensure_consumer_limits(self, config: api.ConsumerConfig) -> None:
        """A consumer made by an older version has other limits: bring it up to date."""
        info = await self.js.consumer_info(in_stream(self.me), consumer_name(self.me))
        current = (info.config.max_deliver, info.config.ack_wait)
        if current != (config.max_deliver, config.ack_wait):
            await self.js.add_consumer(in_stream(self.me), config)

    async def _settle(self, deliveries: list[Delivery[Any]]) -> None:
        """Apply a fetched batch (its forwards queued in the same transaction), then ack it; a
        batch of large messages goes in groups of ``APPLY_BATCH_BYTES``, each committed and acked
        before the next.

        Transient faults (the database or the local server unavailable) keep the batch: it is
        retried in place while the server is told the work is in progress, so no delivery
        attempt is spent and nothing is redelivered behind our back. Any other failure of the
        batch as a whole is narrowed down message by message: those that apply are acked, a
        message that still fails alone is nak'ed, and the consumer's delivery limit
        (``MAX_DELIVER``) ends its redeliveries; the limit's advisory dead-letters it.
        """
        keep_alive = asyncio.create_task(self._keep_in_progress(deliveries))
        try:
            for group in _by_size(deliveries, APPLY_BATCH_BYTES):
                await self._settle_batch(group)
        finally:
            keep_alive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keep_alive
        self._note_heard(deliveries)

    def _note_heard(self, deliveries: list[Delivery[Any]]) -> None:
        """Note when something came from the parent, and what was heard before a long silence."""
        parent = self.ctx.topology.parent(self.me)
        if parent is None or not any(
            d.subject == down_subject(parent, self.me) for d in deliveries
        ):
            return
        now = self.ctx.clock.now()
        last = self.heard_from_parent
        if last is not None and (now - last).total_seconds() > SILENCE_S:
            if self.heard_before_silence is None:
                self.heard_before_silence = last
        self.heard_from_parent = now

    def peek_heard_before_silence(self) -> datetime | None:
        """What was last heard from above before the latest long silence (kept until
        ``settle_heard_before_silence``: a check that fails half way sees it again)."""
        return self.heard_before_silence

    def settle_heard_before_silence(self, checked: datetime) -> None:
        """``checked`` was compared with the parent's horizon: forget it (unless a later
        silence replaced it meanwhile)."""
        if self.heard_before_silence == checked:
            self.heard_before_silence = None

    async def _keep_in_progress(self, deliveries: list[Delivery[Any]]) -> None:
        """Tell the server, every third of the ack wait, that the batch is still being worked
        on, so a slow apply is not redelivered behind our back."""
        while True:
            await asyncio.sleep(ACK_WAIT_S / 3)
            for delivery in deliveries:
                with contextlib.suppress(Exception):
                    await delivery.msg.in_progress()

    async def _settle_batch(self, deliveries: list[Delivery[Any]]) -> None:
        backoff = 0.5
        while True:
            try:
                await asyncio.to_thread(self._apply_batch, deliveries)
                break
            except asyncio.CancelledError:
                raise
            except TRANSIENT as exc:
                if self._stopping:
                    raise
                self.last_error = f"consumer: {type(exc).__name__}"
                log.warning("inbox: %s; batch kept, retrying", type(exc).__name__)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            except Exception as exc:  # noqa: BLE001 - narrowed down one message at a time
                self.last_error = f"consumer: {type(exc).__name__}"
                log.warning("inbox: batch failed (%s); one by one", type(exc).__name__)
                await self._settle_one_by_one(deliveries)
                return
        for delivery in deliveries:
            await delivery.msg.ack()

    async def _settle_one_by_one(self, deliveries: list[Delivery[Any]]) -> None:
        for delivery in deliveries:
            try:
                await asyncio.to_thread(self._apply_batch, [delivery])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - redelivered until the delivery limit
                self.last_error = f"consumer: {type(exc).__name__}"
                with contextlib.suppress(Exception):
                    await delivery.msg.nak(delay=1.0)
                continue
            await delivery.msg.ack()

    async def _watch_max_deliveries(self) -> None:
        """Dead-letter what the consumer gave up on after ``MAX_DELIVER`` attempts."""
        subject = (
            f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{in_stream(self.me)}."
            f"{consumer_name(self.me)}"
        )
        queue: asyncio.Queue[Any] = asyncio.Queue()

        async def enqueue(msg: Any) -> None:
            await queue.put(msg)

        sub = await self.nc.subscribe(subject, cb=enqueue)
        try:
            while not self._stopping:
                advisory = await queue.get()
                with contextlib.suppress(Exception):
                    await self._dead_letter_given_up(advisory.data)
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _dead_letter_given_up(self, advisory: bytes) -> None:
        stream_seq = int(json.loads(advisory)["stream_seq"])
        stored = await self.js.get_msg(in_stream(self.me), seq=stream_seq)
        raw: bytes = stored.data or b""
        subject = str(stored.subject or "")

        def write() -> None:
            from node.replication import inbox

            with self.ctx.sessions() as session, session.begin():
                inbox.dead_letter(
                    session,
                    self.ctx,
                    raw=raw,
                    subject=subject,
                    reason="max_deliveries",
                    msg_id=None,
                    origin=None,
                    kind=None,
                )

        await asyncio.to_thread(write)
        self.metrics.dead_letters.labels("max_deliveries").inc()

    # -- the parent's horizon ---------------------------------------------------------------

    async def parent_horizon(self) -> datetime | None:
        """When the oldest message the parent's outbound stream still holds was stored (if it
        holds none: its last one, expired): what this node did not receive from above before
        then is gone from the stream (``resync.auto_check``). None if the parent cannot be
        asked now (no parent, link down) or its stream never held anything."""
        parent = self.ctx.topology.parent(self.me)
        if parent is None or self.nc is None or not self.nc.is_connected:
            return None
        try:
            reply = await self.nc.request(
                f"$JS.{parent}.API.STREAM.INFO.{out_stream(parent)}", b"", timeout=2.0
            )
            state = json.loads(reply.data)["state"]
        except Exception:  # noqa: BLE001 - no answer is no horizon
            return None
        if int(state.get("last_seq") or 0) == 0:
            return None
        stamp = state.get("first_ts") if int(state.get("messages") or 0) else state.get("last_ts")
        return _server_time(stamp)

    # -- status ----------------------------------------------------------------------------

    async def status(self) -> dict[str, Any]:
        peers: list[dict[str, Any]] = []
        try:
            info = await self.js.stream_info(in_stream(self.me))
            parent = self.ctx.topology.parent(self.me)
            for source in info.sources or []:
                peer = str(source.name).removeprefix("OUT_")
                # -1 (or nothing): not heard from since the server (re)set the source up.
                active_ns = (
                    source.active if source.active is not None and source.active >= 0 else None
                )
                peers.append(
                    {
                        "node": peer,
                        "relation": "parent" if peer == parent else "child",
                        "lag": source.lag,
                        "active_ms_ago": None if active_ns is None else int(active_ns / 1e6),
                        # Sources heartbeat while linked; silence means the leaf link is down.
                        "link": "up" if active_ns is not None and active_ns < 30e9 else "down",
                    }
                )
        except Exception as exc:  # noqa: BLE001 - status reports, never fails
            peers.append({"error": type(exc).__name__})
        return {
            "connected": bool(self.nc and self.nc.is_connected),
            "peers": peers,
            "last_error": self.last_error,
        }


def authorize_status(session: Session, ctx: NodeContext, actor: Actor) -> None:
    """Federation status is operational metadata: for admins and security officers, audited."""
    if not ctx.policy.allows_on_node(actor, "federation-status", object_node=ctx.node_id):
        raise PermissionDenied(
            "not permitted to read the federation status",
            action="federation-status",
            object_type="federation",
        )
    ctx.audit.append(session, actor=actor, action="federation-status", object_type="federation")


def list_dead_letters(
    session: Session,
    ctx: NodeContext,
    actor: Actor,
    *,
    reason: str | None = None,
    origin: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> DeadLetterPage:
    """Stored dead letters, newest first, one page after ``cursor``; for those who may read the
    federation status (admins, security officers); the listing is audited."""
    if not ctx.policy.allows_on_node(actor, "federation-status", object_node=ctx.node_id):
        raise PermissionDenied(
            "not permitted to read dead letters",
            action="federation-status",
            object_type="dead_letter",
        )
    query = select(DeadLetter)
    if cursor is not None:
        if not cursor.isdigit():
            raise InvalidInput("cursor: not one this list gave", code="invalid_cursor")
        query = query.where(DeadLetter.id < int(cursor))
    if reason is not None:
        query = query.where(DeadLetter.reason == reason)
    if origin is not None:
        query = query.where(DeadLetter.origin == origin)
    rows = session.execute(query.order_by(DeadLetter.id.desc()).limit(limit + 1)).scalars().all()
    items = [
        DeadLetterOut(
            id=row.id,
            received_at=as_aware(row.received_at),
            reason=row.reason,
            subject=row.subject,
            msg_id=row.msg_id,
            origin=row.origin,
            kind=row.kind,
            digest=row.digest,
            size=row.size,
        )
        for row in rows[:limit]
    ]
    ctx.audit.append(
        session, actor=actor, action="list", object_type="dead_letter", reason=f"{len(items)} items"
    )
    return DeadLetterPage(items=items, next_cursor=str(items[-1].id) if len(rows) > limit else None)


def sequence_status(session: Session, ctx: NodeContext) -> dict[str, Any]:
    """Per-origin sequence positions and overdue gaps (``node.replication.resend.status``)."""
    return resend.status(session, ctx)


def sequence_totals(session: Session, ctx: NodeContext) -> dict[str, tuple[int, int, int]]:
    """Per origin (missing overdue, filled, voided), for ``/metrics``."""
    return resend.totals(session, ctx)


def database_status(session: Session) -> dict[str, Any]:
    backlog = (
        session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.sent_at.is_(None))
        )
        or 0
    )
    delivered = session.scalar(select(OutboxStats.delivered).where(OutboxStats.id == 1)) or 0
    dead = dict(
        session.execute(select(DeadLetter.reason, func.count()).group_by(DeadLetter.reason)).all()
    )
    last = session.execute(
        select(
            InboxMessage.origin,
            func.max(InboxMessage.applied_at),
            func.max(InboxMessage.stream_seq),
            func.count(),
        ).group_by(InboxMessage.origin)
    ).all()
    return {
        "outbox_backlog": int(backlog),
        "outbox_delivered": int(delivered),
        "dead_letters": {str(k): int(v) for k, v in dead.items()},
        "applied_by_origin": {
            str(origin): {
                "last_applied_at": iso(at) if at else None,
                "last_stream_seq": int(seq or 0),
                "count": int(n),
            }
            for origin, at, seq, n in last
        },
    }
