"""Per-channel sequence numbers: a relay that drops an envelope is noticed (DESIGN §10).

Routing sends an envelope only to some nodes, so numbers are kept per **channel**: for each
destination ``d`` of an envelope, origin → ``d``; for a broadcast, origin → ``*``. A receiver
follows the channels that reach it (its own id and ``*``) and sees every number on them, so a
number missing below the highest one received is an envelope lost on the way.

Guarantees:
- Sending (``assign``, ``retain``): the numbers are taken in the transaction that writes the
  envelope, from a counter row that the transaction holds locked until it commits (row lock on
  PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite); so each channel's numbers have no holes and follow
  commit order. The envelope is kept under each of its numbers (``sent_sequence``) until it is
  older than the retention window or its object is purged (``purge_object``).
- Receiving (``note_received``, ``note_voided``): in the transaction that applies (or
  dead-letters) a verified envelope, its numbers are marked received; a duplicate changes
  nothing. Only the highest contiguous number and the numbers above it are stored, and those go
  as the channel catches up.
- ``positions`` shows, per origin and channel, the missing ranges and since when each is known
  to be missing (when the first number above it arrived).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, inspect, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from node.clock import as_aware
from node.models import InboundSequence, InboundSequenceReceived, SentSequence, SequenceCounter
from node.replication.envelope import BROADCAST, Envelope, kept_form

# -- sending -------------------------------------------------------------------------------


def assign(session: Session, channels: Iterable[str]) -> dict[str, int]:
    """The next number on each of ``channels``, taken in the caller's transaction. Counters are
    locked in name order, so two transactions never wait for each other's counters crosswise
    within one call."""
    numbers: dict[str, int] = {}
    wanted = sorted(set(channels))
    if not wanted:
        return numbers
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(SequenceCounter)
        .values([{"channel": channel, "last": 0} for channel in wanted])
        .on_conflict_do_nothing(index_elements=["channel"])
    )
    for channel in wanted:
        number = session.execute(
            update(SequenceCounter)
            .where(SequenceCounter.channel == channel)
            .values(last=SequenceCounter.last + 1)
            .returning(SequenceCounter.last)
            .execution_options(synchronize_session=False)
        ).scalar_one()
        numbers[channel] = int(number)
    return numbers


def retain(
    session: Session,
    *,
    seq: dict[str, int],
    msg_id: str,
    kind: str,
    object_id: str | None,
    raw: bytes,
    now: datetime,
) -> None:
    """Keep this node's envelope ``raw`` under each of its numbers, for resending: whole, but for
    a detached body, which is not stored twice (``envelope.kept_form``; the kind's ``rebuild``
    makes it again from the object it carries)."""
    kept = kept_form(raw)
    for channel, number in seq.items():
        session.add(
            SentSequence(
                channel=channel,
                seq=number,
                msg_id=msg_id,
                kind=kind,
                object_id=object_id,
                envelope=kept,
                created_at=now,
            )
        )


def last_assigned(session: Session, channel: str) -> int:
    last = session.scalar(select(SequenceCounter.last).where(SequenceCounter.channel == channel))
    return int(last or 0)


def held(session: Session, channel: str, numbers: list[int]) -> dict[int, SentSequence]:
    """The envelopes still kept for ``numbers`` on ``channel``."""
    if not numbers:
        return {}
    rows = session.scalars(
        select(SentSequence).where(SentSequence.channel == channel, SentSequence.seq.in_(numbers))
    ).all()
    return {row.seq: row for row in rows}


def purge_object(session: Session, kind: str, object_id: str) -> int:
    """Forget every kept envelope about one object (its content must not outlive a purge); a
    receiver that asks for one of them later is told its number is void. Returns how many."""
    result = session.execute(
        delete(SentSequence).where(SentSequence.kind == kind, SentSequence.object_id == object_id)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def prune(session: Session, before: datetime) -> int:
    """Forget kept envelopes written before ``before`` (the retention window)."""
    result = session.execute(delete(SentSequence).where(SentSequence.created_at < before))
    return int(getattr(result, "rowcount", 0) or 0)


# -- receiving -----------------------------------------------------------------------------

CACHE = "fedshare_inbound_sequences"
"""``session.info`` key of the channels a batch has touched (dropped when a savepoint rolls
back, since the rows it held may be gone)."""


@dataclass
class _Channel:
    row: InboundSequence
    above: dict[int, InboundSequenceReceived] | None = None


def channels_of(envelope: Envelope, node_id: str) -> list[tuple[str, int]]:
    """The (channel, number) pairs of ``envelope`` that ``node_id`` follows."""
    if envelope.seq is None:
        return []
    return [(c, n) for c, n in envelope.seq.items() if c in (node_id, BROADCAST)]


def _channel(session: Session, origin: str, channel: str) -> _Channel:
    cache: dict[tuple[str, str], _Channel] = session.info.setdefault(CACHE, {})
    found = cache.get((origin, channel))
    if found is None:
        row = session.get(InboundSequence, (origin, channel))
        if row is None:
            row = InboundSequence(
                origin=origin, channel=channel, contiguous=0, highest=0, filled=0, voided=0
            )
            session.add(row)
        found = cache[(origin, channel)] = _Channel(row)
    return found


def _above(session: Session, state: _Channel) -> dict[int, InboundSequenceReceived]:
    if state.above is None:
        row = state.row
        state.above = (
            {
                r.seq: r
                for r in session.scalars(
                    select(InboundSequenceReceived).where(
                        InboundSequenceReceived.origin == row.origin,
                        InboundSequenceReceived.channel == row.channel,
                    )
                )
            }
            if row.highest > row.contiguous
            else {}
        )
    return state.above


def _forget(session: Session, received: InboundSequenceReceived) -> None:
    if inspect(received).pending:
        session.expunge(received)
    else:
        session.delete(received)


def _mark(session: Session, state: _Channel, number: int, now: datetime) -> str | None:
    """Mark ``number`` received; None if it was already, ``filled`` if it was missing below the
    highest, else ``next``."""
    row = state.row
    if number <= row.contiguous:
        return None
    above = _above(session, state)
    if number in above:
        return None
    outcome = "filled" if number < row.highest else "next"
    if number == row.contiguous + 1:
        row.contiguous = number
        while row.contiguous + 1 in above:
            _forget(session, above.pop(row.contiguous + 1))
            row.contiguous += 1
    else:
        received = InboundSequenceReceived(
            origin=row.origin, channel=row.channel, seq=number, received_at=now
        )
        session.add(received)
        above[number] = received
    row.highest = max(row.highest, number)
    if row.contiguous >= row.highest:
        row.resend_requested_at = None
    return outcome


def note_received(session: Session, envelope: Envelope, node_id: str, now: datetime) -> None:
    """Mark the numbers of a verified envelope from another origin received here."""
    if envelope.origin == node_id:
        return
    for channel, number in channels_of(envelope, node_id):
        state = _channel(session, envelope.origin, channel)
        if _mark(session, state, number, now) == "filled":
            state.row.filled += 1


def note_voided(
    session: Session, origin: str, channel: str, numbers: Iterable[int], now: datetime
) -> int:
    """Close the missing ``numbers`` the origin says it no longer holds; how many were missing
    (numbers above the highest received are not known to be missing, and are left alone)."""
    state = _channel(session, origin, channel)
    closed = 0
    for number in sorted(set(numbers)):
        if number < state.row.highest and _mark(session, state, number, now) == "filled":
            closed += 1
    state.row.voided += closed
    return closed


def mark_requested(session: Session, origin: str, channel: str, now: datetime) -> None:
    session.execute(
        update(InboundSequence)
        .where(InboundSequence.origin == origin, InboundSequence.channel == channel)
        .values(resend_requested_at=now)
        .execution_options(synchronize_session=False)
    )


# -- views ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Gap:
    first: int
    last: int
    since: datetime

    @property
    def count(self) -> int:
        return self.last - self.first + 1


@dataclass
class Position:
    """How far one origin's channel has arrived here, and what is missing."""

    origin: str
    channel: str
    contiguous: int
    highest: int
    filled: int
    voided: int
    resend_requested_at: datetime | None
    gaps: list[Gap] = field(default_factory=list)

    def overdue(self, now: datetime, grace: timedelta) -> list[Gap]:
        """The gaps missing for longer than ``grace`` (shorter ones may still be on their way)."""
        return [gap for gap in self.gaps if gap.since + grace <= now]


def positions(session: Session) -> list[Position]:
    """Every channel followed here, with its missing ranges."""
    found: dict[tuple[str, str], Position] = {}
    for row in session.scalars(
        select(InboundSequence).order_by(InboundSequence.origin, InboundSequence.channel)
    ):
        found[(row.origin, row.channel)] = Position(
            origin=row.origin,
            channel=row.channel,
            contiguous=row.contiguous,
            highest=row.highest,
            filled=row.filled,
            voided=row.voided,
            resend_requested_at=None
            if row.resend_requested_at is None
            else as_aware(row.resend_requested_at),
        )
    received: dict[tuple[str, str], list[tuple[int, datetime]]] = {}
    if any(p.highest > p.contiguous for p in found.values()):
        for origin, channel, number, at in session.execute(
            select(
                InboundSequenceReceived.origin,
                InboundSequenceReceived.channel,
                InboundSequenceReceived.seq,
                InboundSequenceReceived.received_at,
            )
        ):
            received.setdefault((origin, channel), []).append((int(number), as_aware(at)))
    for key, numbers in received.items():
        position = found.get(key)
        if position is None:
            continue
        numbers.sort()
        # Since when a range is missing: when the first number above it arrived.
        earliest: list[datetime] = []
        for _number, at in reversed(numbers):
            earliest.append(min(at, earliest[-1]) if earliest else at)
        earliest.reverse()
        previous = position.contiguous
        for (number, _at), since in zip(numbers, earliest, strict=True):
            if number > previous + 1:
                position.gaps.append(Gap(previous + 1, number - 1, since))
            previous = max(previous, number)
    return list(found.values())
