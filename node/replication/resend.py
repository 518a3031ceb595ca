"""Filling gaps from the origin: ``resend-request``, ``resend`` and ``sequence-void``.

A receiver that has missed numbers on a channel for longer than the grace period asks the origin
(``request_missing``, at most one outstanding request per channel, asked again after another
grace period). The origin answers each number it still keeps with a ``resend`` addressed to the
requester, carrying the original envelope's bytes unchanged (a detached body, kept without
its bytes, is made again byte for byte from the object it carries: ``KindSpec.rebuild``), and
the numbers it no longer keeps with one ``sequence-void``.

Guarantees:
- The original envelope travels inside a new one (sealed to the requester) instead of being
  published again: every tier on the way has applied or relayed its message id already and
  would refuse it as a replay, and a broadcast would go to every node again. The requester
  verifies the inner envelope against its origin's key as if it had come directly (signature,
  numbers and all), checks that it is the origin's own and addressed here, and applies it through
  the inbox (``inbox.apply_or_reject``): exactly once, since its message id is the inbox key.
- A node may ask only for its own channel or the broadcast one: it cannot pull what was
  addressed to others. One request is answered for at most ``MAX_RESEND`` numbers.
- A void closes only numbers that were missing below the highest received; it is counted apart
  from filled gaps, since what it names never arrives.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
from datetime import timedelta
from typing import Any

from pydantic import Field, field_validator
from sqlalchemy.orm import Session

from node.clock import iso
from node.context import NodeContext
from node.ids import CanonicalUuid
from node.replication import inbox, resync_store, sequence
from node.replication.envelope import (
    BROADCAST,
    MAX_ENVELOPE_BYTES,
    MAX_SEQ,
    Envelope,
    EnvelopeRejected,
    kept_header,
    open_envelope,
)
from node.replication.kinds import Applied, Kind, KindSpec, WireModel

log = logging.getLogger("fedshare.replication")

MAX_RANGES = 64
MAX_RESEND = 500
CHANNEL_PATTERN = r"^(\*|[a-z0-9-]{1,64})$"
# What a resend adds around the original bytes, beyond base64 twice (inside the payload, then
# the sealed payload): 16/9 of them.
RESEND_OVERHEAD = 16 * 1024
RESEND_SUBJECT = "resend"


def _check_ranges(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    if any(first > last for first, last in ranges):
        raise ValueError("a range ends before it starts")
    return ranges


class ResendRequestWire(WireModel):
    """``resend-request``: the numbers of ``channel`` the sender is missing (in clear: numbers
    only)."""

    channel: str = Field(pattern=CHANNEL_PATTERN)
    ranges: list[tuple[int, int]] = Field(min_length=1, max_length=MAX_RANGES)

    _ranges = field_validator("ranges")(_check_ranges)

    def envelope_ref(self) -> dict[str, Any]:
        return {"channel": self.channel}


class SequenceVoidWire(WireModel):
    """``sequence-void``: numbers of ``channel`` the origin no longer holds (in clear)."""

    channel: str = Field(pattern=CHANNEL_PATTERN)
    ranges: list[tuple[int, int]] = Field(min_length=1, max_length=MAX_RANGES * 8)

    _ranges = field_validator("ranges")(_check_ranges)

    def envelope_ref(self) -> dict[str, Any]:
        return {"channel": self.channel}


class ResendWire(WireModel):
    """``resend``: the origin's envelope numbered ``seq`` on ``channel``, its bytes unchanged
    (base64), sealed to the requester."""

    channel: str = Field(pattern=CHANNEL_PATTERN)
    seq: int = Field(ge=1)
    msg_id: CanonicalUuid
    envelope: str = Field(max_length=MAX_ENVELOPE_BYTES)

    def envelope_ref(self) -> dict[str, Any]:
        return {"msg": self.msg_id}


def _in_ranges(ranges: list[tuple[int, int]], upto: int, limit: int) -> list[int]:
    """The numbers the ranges name up to ``upto``, at most ``limit`` of them, in order."""
    numbers: set[int] = set()
    for first, last in sorted(ranges):
        for number in range(max(first, 1), min(last, upto) + 1):
            numbers.add(number)
            if len(numbers) >= limit:
                return sorted(numbers)
    return sorted(numbers)


def as_ranges(numbers: list[int]) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    for number in sorted(set(numbers)):
        if ranges and ranges[-1][1] == number - 1:
            ranges[-1] = (ranges[-1][0], number)
        else:
            ranges.append((number, number))
    return ranges


def _followed_channel(envelope: Envelope, channel: str, node_id: str) -> None:
    if channel not in (node_id, BROADCAST):
        raise envelope.reject("not_your_channel")


# -- at the origin ----------------------------------------------------------------------------


def _original(session: Session, ctx: NodeContext, kept: bytes) -> bytes | None:
    """The envelope as it was sent, from what was kept of it: itself, or, for a detached body
    kept without it, the envelope made again by its kind (None if what it carried is gone)."""
    header = kept_header(kept)
    if header is None:
        return kept
    spec = ctx.kinds.get(str(header.get("kind")))
    if spec is None or spec.rebuild is None:
        return None
    return spec.rebuild(session, ctx, kept)


def answer_resend_request(
    session: Session, ctx: NodeContext, envelope: Envelope, wire: ResendRequestWire
) -> Applied:
    """Resend what is still kept of the numbers asked for; void the rest."""
    requester = envelope.origin
    _followed_channel(envelope, wire.channel, requester)
    wanted = _in_ranges(wire.ranges, sequence.last_assigned(session, wire.channel), MAX_RESEND)
    kept = sequence.held(session, wire.channel, wanted)
    void: list[int] = []
    for number in wanted:
        row = kept.get(number)
        raw = None if row is None else _original(session, ctx, row.envelope)
        if row is None or raw is None or len(raw) * 16 // 9 + RESEND_OVERHEAD > MAX_ENVELOPE_BYTES:
            void.append(number)
            continue
        ctx.outbox.send(
            session,
            Kind.RESEND,
            ResendWire(
                channel=wire.channel,
                seq=number,
                msg_id=row.msg_id,
                envelope=base64.b64encode(raw).decode("ascii"),
            ),
            dest=[requester],
            encrypt=True,
            about=(row.kind, row.object_id),
        )
    if void:
        ctx.outbox.send(
            session,
            Kind.SEQUENCE_VOID,
            SequenceVoidWire(channel=wire.channel, ranges=as_ranges(void)),
            dest=[requester],
            encrypt=False,
        )
    log.info(
        "resend to %s on %s: %d resent, %d void",
        requester,
        wire.channel,
        len(wanted) - len(void),
        len(void),
    )
    return None, None


# -- at the requester -------------------------------------------------------------------------


def apply_resend(
    session: Session, ctx: NodeContext, envelope: Envelope, wire: ResendWire
) -> Applied:
    """Open the original envelope and apply it here as if it had come directly."""
    me = ctx.node_id
    _followed_channel(envelope, wire.channel, me)
    try:
        raw = base64.b64decode(wire.envelope, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise envelope.reject("malformed") from exc
    try:
        original = open_envelope(raw, ctx.topology, now=ctx.clock.now())
    except EnvelopeRejected as exc:
        raise envelope.reject(f"resent_{exc.reason}"[:40]) from exc
    if (
        original.origin != envelope.origin
        or original.msg_id != wire.msg_id
        or not original.addressed_to(me)
        or original.seq is None
        or original.seq.get(wire.channel) != wire.seq
    ):
        raise envelope.reject("resend_mismatch")
    if resync_store.held(session, original):
        # Here already (applied, or a later version of its record from a resync): its numbers
        # arrived all the same.
        sequence.note_received(session, original, me, ctx.clock.now())
    else:
        inbox.extend_prefetch(session, ctx, [original])
        # Stream position 0: the original has none here; should it still come the usual way
        # later, the inbox refuses it as a replay.
        inbox.apply_or_reject(session, ctx, original, subject=RESEND_SUBJECT, stream_seq=0)
    return original.msg_id, None


def apply_void(
    session: Session, ctx: NodeContext, envelope: Envelope, wire: SequenceVoidWire
) -> Applied:
    _followed_channel(envelope, wire.channel, ctx.node_id)
    numbers = _in_ranges(wire.ranges, MAX_SEQ, MAX_RESEND)
    closed = sequence.note_voided(session, envelope.origin, wire.channel, numbers, ctx.clock.now())
    if closed:
        log.warning(
            "%d envelopes from %s on %s are void: their origin no longer holds them",
            closed,
            envelope.origin,
            wire.channel,
        )
    return None, None


KINDS: tuple[KindSpec[NodeContext, Any], ...] = (
    KindSpec(
        Kind.RESEND_REQUEST,
        wire=ResendRequestWire,
        ref_key="channel",
        handler=answer_resend_request,
        clear=True,
    ),
    KindSpec(Kind.RESEND, wire=ResendWire, ref_key="msg", handler=apply_resend),
    KindSpec(
        Kind.SEQUENCE_VOID, wire=SequenceVoidWire, ref_key="channel", handler=apply_void, clear=True
    ),
)


# -- the periodic task ------------------------------------------------------------------------


def grace(ctx: NodeContext) -> timedelta:
    return timedelta(seconds=ctx.settings.sequence_gap_grace_s)


def request_missing(ctx: NodeContext) -> int:
    """Ask origins again for the numbers missing here for longer than the grace period: one
    request per channel, unless one went less than a grace period ago. Returns how many."""
    now = ctx.clock.now()
    wait = grace(ctx)
    sent = 0
    with ctx.sessions() as session, session.begin():
        if resync_store.active(session) is not None:
            return 0  # the resync brings what is missing, and reconciles the numbers at its end
        for position in sequence.positions(session):
            overdue = position.overdue(now, wait)
            asked = position.resend_requested_at
            if not overdue or position.origin not in ctx.topology:
                continue
            if asked is not None and asked + wait > now:
                continue
            ctx.outbox.send(
                session,
                Kind.RESEND_REQUEST,
                ResendRequestWire(
                    channel=position.channel,
                    ranges=[(gap.first, gap.last) for gap in overdue[:MAX_RANGES]],
                ),
                dest=[position.origin],
                encrypt=False,
            )
            sequence.mark_requested(session, position.origin, position.channel, now)
            sent += 1
    return sent


def prune_kept(ctx: NodeContext) -> int:
    """Forget this node's own envelopes older than the retention window."""
    before = ctx.clock.now() - timedelta(seconds=ctx.settings.sequence_retention_s)
    with ctx.sessions() as session, session.begin():
        return sequence.prune(session, before)


async def sequence_loop(ctx: NodeContext, stop: asyncio.Event) -> None:
    """Every ``sequence_check_interval_s``: ask for overdue gaps, prune kept envelopes."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=ctx.settings.sequence_check_interval_s)
        if stop.is_set():
            return
        try:
            asked = await asyncio.to_thread(request_missing, ctx)
            if asked:
                log.warning("sequence gaps: asked %d origins to resend", asked)
            await asyncio.to_thread(prune_kept, ctx)
        except Exception as exc:  # noqa: BLE001 - retried next interval; the type is logged
            log.error("sequence check failed: %s", type(exc).__name__)


def status(session: Session, ctx: NodeContext) -> dict[str, Any]:
    """Per origin, each channel followed here: how far it arrived, the gaps overdue (range and
    since when), the numbers still within the grace period, and what was filled or voided."""
    now = ctx.clock.now()
    wait = grace(ctx)
    by_origin: dict[str, list[dict[str, Any]]] = {}
    overdue_total = 0
    for position in sequence.positions(session):
        overdue = position.overdue(now, wait)
        overdue_total += sum(gap.count for gap in overdue)
        by_origin.setdefault(position.origin, []).append(
            {
                "channel": position.channel,
                "received_through": position.contiguous,
                "highest": position.highest,
                "gaps": [
                    {"from": gap.first, "to": gap.last, "since": iso(gap.since)} for gap in overdue
                ],
                "pending": sum(gap.count for gap in position.gaps) - sum(g.count for g in overdue),
                "resend_requested_at": None
                if position.resend_requested_at is None
                else iso(position.resend_requested_at),
                "filled": position.filled,
                "voided": position.voided,
            }
        )
    return {"sequence_gaps": overdue_total, "sequences": by_origin}


def totals(session: Session, ctx: NodeContext) -> dict[str, tuple[int, int, int]]:
    """Per origin: (numbers missing for longer than the grace period, filled, voided)."""
    now = ctx.clock.now()
    wait = grace(ctx)
    found: dict[str, tuple[int, int, int]] = {}
    for position in sequence.positions(session):
        missing, filled, voided = found.get(position.origin, (0, 0, 0))
        found[position.origin] = (
            missing + sum(gap.count for gap in position.overdue(now, wait)),
            filled + position.filled,
            voided + position.voided,
        )
    return found
