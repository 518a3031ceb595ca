"""Resync (DESIGN §11): a node that missed more than the streams keep asks its parent again for
everything it is entitled to, in pages, then streams on.

Protocol (``resync-request`` up, in clear: a cursor and a number of pages; ``resync-page`` down,
sealed to the requester):

1. The requester opens a session (``start``: CLI ``fedshare node resync``, ``POST
   /api/v1/federation/resync``, or by itself, ``resync_loop``) and asks its parent for a window of
   pages from the start.
2. The parent answers from what it kept as it sent or relayed envelopes down towards the
   requester (``node.replication.resync_store``): only the requester's own and its subtree's
   envelopes and broadcasts from outside that subtree, the origins' signed bytes unchanged, in
   the store's order (members, records, then the steps of orders, requests and grants), at most
   ``resync_window`` pages of at most ``resync_page_envelopes`` envelopes and
   ``resync_page_bytes`` bytes each. A request from anyone but a child is refused
   (``not_a_child``, dead-lettered and audited like every refused envelope).
3. The requester applies each page in order (a page must start where the last one ended, else
   it belongs to a window asked for twice and changes nothing); when it applies the first page
   of a window it asks for the next, so that a window is on its way while the last one applies.
   A session that hears nothing for ``resync_stall_s`` asks again from where it is.
4. Every envelope in a page is verified as if it had come directly (``open_envelope``: the
   origin's certified key, its chain, revocations) and must be addressed to the requester or
   its subtree; it is applied through the inbox (``inbox.process``, exactly once: its message id
   is the inbox key, and what is held already, the envelope itself or, for a record, that
   version or a later one, is skipped as held), its sequence numbers are marked received, and
   what is addressed further down is passed on to the children as if it had come from the
   parent. What fails is dead-lettered as ``resynced_<reason>``.
5. The last page completes the session: on each followed channel, the numbers missing below the
   highest one a page brought are closed as void (``sequence.note_voided``): what the parent
   kept holds the latest state of every object, so what is missing below it was superseded (an
   older version of a record) or is not kept (it is still applied if it comes). No gap alarm is
   left by a completed resync.

What a relay kept of restricted and case-secret content is ciphertext for its destinations: the
parent passes it on without being able to open it, and a requester opens only what was sealed to
it. The stream's copy of an envelope applied from a resync is a duplicate (``inbox.process``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import Field
from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from node.audit.chain import SYSTEM_ACTOR
from node.clock import as_aware, iso
from node.context import NodeContext
from node.db import pairs_in
from node.errors import Conflict, InvalidInput, PermissionDenied
from node.ids import CanonicalUuid, uuid7
from node.models import InboxMessage, Record, ResyncEnvelope, ResyncSession
from node.policy import Actor
from node.replication import inbox, resync_store, sequence
from node.replication.envelope import (
    BROADCAST,
    MAX_ENVELOPE_BYTES,
    Envelope,
    EnvelopeRejected,
    open_envelope,
)
from node.replication.kinds import Applied, Kind, KindSpec, WireModel
from node.replication.routing import next_hops

log = logging.getLogger("fedshare.replication")

CURSOR_PATTERN = r"^[0-9]{1,2}:[0-9]{1,19}$"
RESYNC_SUBJECT = "resync"
RESYNC_ACTION = "resync"
MAX_PAGE_ENVELOPES = 5000
# An envelope larger than this (base64) does not fit a page sealed under ``MAX_ENVELOPE_BYTES``
# (no kind that is kept comes near it: a record's text is at most a few hundred KiB).
MAX_ITEM_BYTES = 2 * 1024**2
# Released content is kept for resyncing no longer than a grant can run (``MAX_GRANT_S`` of
# ``node.release.schemas``, seven days) and a day more.
RELEASE_KEEP_S = 8 * 24 * 3600.0
# Clocks of a parent's server and of this node may differ this much (``auto_check``).
AUTO_MARGIN_S = 2.0
APPLIED_HERE = "fedshare_resync_applied"
"""``session.info`` key: message ids a transaction applied from resync pages (a node with two
children may get one envelope under each)."""


class ResyncRequestWire(WireModel):
    """``resync-request``: a window of ``pages`` pages after ``after`` (None: from the start);
    numbers only, in clear."""

    session: CanonicalUuid
    after: str | None = Field(default=None, pattern=CURSOR_PATTERN)
    pages: int = Field(ge=1, le=32)

    def envelope_ref(self) -> dict[str, Any]:
        return {"session": self.session}


class ResyncPageWire(WireModel):
    """``resync-page``: the envelopes after ``after`` up to ``upto`` (base64 of their bytes as
    their origins signed them), sealed to the requester. The first page of a window says where
    the window ends and whether more follows; the last page of the resync says ``done``."""

    session: CanonicalUuid
    after: str | None = Field(default=None, pattern=CURSOR_PATTERN)
    upto: str | None = Field(default=None, pattern=CURSOR_PATTERN)
    first: bool
    window_end: str | None = Field(default=None, pattern=CURSOR_PATTERN)
    more: bool
    done: bool
    total: int | None = Field(default=None, ge=0)
    envelopes: list[str] = Field(max_length=MAX_PAGE_ENVELOPES)

    def envelope_ref(self) -> dict[str, Any]:
        return {"session": self.session, "after": self.after}


def _cursor(rank: int, row_id: int) -> str:
    return f"{rank}:{row_id}"


def _parse_cursor(cursor: str) -> tuple[int, int]:
    rank, row_id = cursor.split(":")
    return int(rank), int(row_id)


# -- at the parent ----------------------------------------------------------------------------


def _visible(requester_subtree: list[str]) -> Any:
    """What a child may be resynced with: what was addressed into its subtree, and broadcasts
    that did not come from it."""
    return or_(
        ResyncEnvelope.dest.in_(requester_subtree),
        and_(
            ResyncEnvelope.dest == BROADCAST,
            ResyncEnvelope.origin.not_in(requester_subtree),
        ),
    )


def answer_resync_request(
    session: Session, ctx: NodeContext, envelope: Envelope, wire: ResyncRequestWire
) -> Applied:
    """Send a child the window of pages it asked for."""
    requester = envelope.origin
    me = ctx.node_id
    if ctx.topology.parent(requester) != me:
        raise envelope.reject("not_a_child")
    settings = ctx.settings
    per_page = settings.resync_page_envelopes
    page_bytes = settings.resync_page_bytes
    subtree = sorted(ctx.topology.subtree(requester))
    visible = _visible(subtree)
    query = select(ResyncEnvelope.rank, ResyncEnvelope.id, ResyncEnvelope.envelope).where(visible)
    if wire.after is not None:
        rank, row_id = _parse_cursor(wire.after)
        query = query.where(
            or_(
                ResyncEnvelope.rank > rank,
                and_(ResyncEnvelope.rank == rank, ResyncEnvelope.id > row_id),
            )
        )
    limit = wire.pages * per_page
    rows = session.execute(
        query.order_by(ResyncEnvelope.rank, ResyncEnvelope.id).limit(limit + 1)
    ).all()
    total = (
        int(session.scalar(select(func.count()).select_from(ResyncEnvelope).where(visible)) or 0)
        if wire.after is None
        else None
    )
    # Pages: by count and bytes, never across a change of rank (a member certificate is applied
    # before the page that needs it is opened).
    pages: list[list[tuple[int, int, bytes]]] = [[]]
    size = 0
    more = False
    for index, (rank, row_id, raw) in enumerate(rows):
        if index >= limit:
            more = True
            break
        current = pages[-1]
        encoded = (len(raw) + 2) // 3 * 4
        if encoded > MAX_ITEM_BYTES:
            log.warning("resync: an envelope of %d bytes is too large for a page", len(raw))
            continue
        if current and (
            len(current) >= per_page or size + encoded > page_bytes or current[-1][0] != rank
        ):
            if len(pages) >= wire.pages:
                more = True
                break
            pages.append([])
            current = pages[-1]
            size = 0
        current.append((rank, row_id, raw))
        size += encoded
    after = wire.after
    window_end = after
    for page in pages:
        if page:
            window_end = _cursor(page[-1][0], page[-1][1])
    for number, page in enumerate(pages):
        upto = _cursor(page[-1][0], page[-1][1]) if page else after
        last = number == len(pages) - 1
        ctx.outbox.send(
            session,
            Kind.RESYNC_PAGE,
            ResyncPageWire(
                session=wire.session,
                after=after,
                upto=upto,
                first=number == 0,
                window_end=window_end,
                more=more,
                done=last and not more,
                total=total if number == 0 else None,
                envelopes=[base64.b64encode(raw).decode("ascii") for _, _, raw in page],
            ),
            dest=[requester],
            encrypt=True,
        )
        after = upto
    # Pages are not kept for resending (``sequence.retain``): one lost on the way is asked for
    # again by the requester's stall check, and would be a second copy of the kept envelopes.
    session.flush()
    sequence.purge_object(session, Kind.RESYNC_PAGE, wire.session)
    sent = sum(len(page) for page in pages)
    ctx.audit.append(
        session,
        actor=SYSTEM_ACTOR,
        action="resync-serve",
        object_type="node",
        object_id=requester,
        reason=f"{sent} envelopes in {len(pages)} pages" + ("" if more else ", last"),
    )
    return wire.session, None


# -- at the requester -------------------------------------------------------------------------


def _request(session: Session, ctx: NodeContext, row: ResyncSession, after: str | None) -> None:
    ctx.outbox.send(
        session,
        Kind.RESYNC_REQUEST,
        ResyncRequestWire(session=row.id, after=after, pages=ctx.settings.resync_window),
        dest=[row.parent],
        encrypt=False,
    )
    row.requests += 1


def _held_versions(session: Session, envelopes: list[Envelope]) -> dict[tuple[str, str], int]:
    keys = {
        (e.origin, str(e.ref.get("record")))
        for e in envelopes
        if e.kind == Kind.RECORD and isinstance(e.ref.get("record"), str)
    }
    if not keys:
        return {}
    rows = session.execute(
        select(Record.origin, Record.id, Record.version).where(
            pairs_in(Record.origin, Record.id, keys)
        )
    )
    return {(origin, record_id): int(version) for origin, record_id, version in rows}


class _Counts:
    def __init__(self) -> None:
        self.applied = 0
        self.held = 0
        self.refused = 0
        self.channels: dict[str, int] = {}


def _open_all(
    session: Session, ctx: NodeContext, raws: list[bytes], counts: _Counts
) -> list[Envelope]:
    """Verify each envelope of a page as if it had come directly; dead-letter what fails."""
    me = ctx.node_id
    mine = ctx.topology.subtree(me)
    now = ctx.clock.now()
    opened: list[Envelope] = []
    for raw in raws:
        try:
            original = open_envelope(raw, ctx.topology, now=now)
            if not (original.addressed_to(me) or any(d in mine for d in original.dest)):
                raise original.reject("not_addressed")
        except EnvelopeRejected as exc:
            inbox.dead_letter(
                session,
                ctx,
                raw=raw,
                subject=RESYNC_SUBJECT,
                reason=f"resynced_{exc.reason}"[:40],
                msg_id=exc.msg_id,
                origin=exc.origin,
                kind=exc.kind,
            )
            counts.refused += 1
            continue
        opened.append(original)
    return opened


def _apply_all(
    session: Session,
    ctx: NodeContext,
    parent: str,
    originals: list[Envelope],
    counts: _Counts,
    *,
    careful: bool,
) -> None:
    me = ctx.node_id
    now = ctx.clock.now()
    applied_here: set[str] = session.info.setdefault(APPLIED_HERE, set())
    ids = [e.msg_id for e in originals]
    seen = (
        dict(
            session.execute(
                select(InboxMessage.msg_id, InboxMessage.stream_seq).where(
                    InboxMessage.msg_id.in_(ids)
                )
            ).all()
        )
        if ids
        else {}
    )
    versions = _held_versions(session, originals)
    inbox.extend_prefetch(session, ctx, originals)
    apply = inbox.apply_or_reject if careful else inbox.process
    for original in originals:
        for channel, number in sequence.channels_of(original, me):
            key = resync_store.channel_key(original.origin, channel)
            counts.channels[key] = max(counts.channels.get(key, 0), number)
        if original.origin == me:
            counts.held += 1  # this node's own envelope: nothing to apply
            continue
        version = original.ref.get("version")
        record = original.ref.get("record")
        if (
            original.msg_id in seen
            or original.msg_id in applied_here
            or (
                original.kind == Kind.RECORD
                and type(version) is int
                and isinstance(record, str)
                and versions.get((original.origin, record), 0) >= version
            )
        ):
            sequence.note_received(session, original, me, now)
            counts.held += 1
            continue
        outcome = apply(session, ctx, original, subject=RESYNC_SUBJECT, stream_seq=0, seen=seen)
        applied_here.add(original.msg_id)
        if outcome.status == "rejected":
            counts.refused += 1
            continue
        if outcome.status == "duplicate":
            counts.held += 1
            continue
        counts.applied += 1
        subjects = next_hops(ctx.topology, me, original.dest, parent)
        if subjects:
            ctx.outbox.forward(
                session,
                original.msg_id,
                original.raw,
                subjects,
                kind=original.kind,
                ref=original.ref,
                origin=original.origin,
                dest=original.dest,
            )


def _apply_page(session: Session, ctx: NodeContext, parent: str, raws: list[bytes]) -> _Counts:
    """Apply a page's envelopes: all at once in a savepoint; if any fails, again one by one,
    each in its own savepoint, the failures dead-lettered."""
    counts = _Counts()
    applied_here: set[str] = session.info.setdefault(APPLIED_HERE, set())
    before = set(applied_here)
    try:
        with session.begin_nested():
            originals = _open_all(session, ctx, raws, counts)
            _apply_all(session, ctx, parent, originals, counts, careful=False)
        return counts
    except (OperationalError, InterfaceError):
        raise
    except Exception as exc:  # noqa: BLE001 - applied again one by one below
        log.info("resync page: applying one by one (%s)", type(exc).__name__)
    session.info.pop(inbox.PREFETCHED, None)
    session.info.pop(sequence.CACHE, None)
    applied_here.intersection_update(before)
    counts = _Counts()
    originals = _open_all(session, ctx, raws, counts)
    _apply_all(session, ctx, parent, originals, counts, careful=True)
    return counts


def apply_resync_page(
    session: Session, ctx: NodeContext, envelope: Envelope, wire: ResyncPageWire
) -> Applied:
    """Apply one page of this node's resync, in order; ask for the next window early."""
    parent = ctx.topology.parent(ctx.node_id)
    if envelope.origin != parent:
        raise envelope.reject("not_from_parent")
    row = session.get(ResyncSession, wire.session)
    if row is None or row.parent != parent:
        raise envelope.reject("unknown_resync")
    if row.state not in resync_store.ACTIVE or wire.after != row.cursor:
        # A page of a window asked for twice, or of a resync that is over: nothing to do.
        return wire.session, None
    raws: list[bytes] = []
    for text in wire.envelopes:
        try:
            raws.append(base64.b64decode(text, validate=True))
        except (binascii.Error, ValueError) as exc:
            raise envelope.reject("malformed") from exc
    if any(len(raw) > MAX_ENVELOPE_BYTES for raw in raws):
        raise envelope.reject("oversized")
    counts = _apply_page(session, ctx, envelope.origin, raws)
    now = ctx.clock.now()
    row.state = "receiving"
    row.cursor = wire.upto
    row.pages += 1
    row.received += len(raws)
    row.applied += counts.applied
    row.held += counts.held
    row.refused += counts.refused
    row.updated_at = now
    if wire.total is not None:
        row.total = wire.total
    highest = resync_store.channels(row)
    for key, number in counts.channels.items():
        highest[key] = max(highest.get(key, 0), number)
    row.channels = json.dumps(highest, sort_keys=True)
    if wire.first and wire.more and wire.window_end is not None:
        _request(session, ctx, row, wire.window_end)
    if wire.done:
        _complete(session, ctx, row)
    return wire.session, None


def _complete(session: Session, ctx: NodeContext, row: ResyncSession) -> None:
    """Close the numbers missing below the highest a page brought, on each followed channel."""
    now = ctx.clock.now()
    session.flush()
    highest = resync_store.channels(row)
    voided = 0
    for position in sequence.positions(session):
        top = highest.get(resync_store.channel_key(position.origin, position.channel), 0)
        numbers = [
            number
            for gap in position.gaps
            for number in range(gap.first, min(gap.last, top - 1) + 1)
        ]
        if numbers:
            voided += sequence.note_voided(session, position.origin, position.channel, numbers, now)
    row.voided = voided
    row.state = "complete"
    row.completed_at = now
    ctx.audit.append(
        session,
        actor=SYSTEM_ACTOR,
        action="resync-complete",
        object_type="node",
        object_id=row.parent,
        reason=(
            f"{row.received} envelopes in {row.pages} pages: {row.applied} applied, "
            f"{row.held} held, {row.refused} refused, {voided} numbers void"
        ),
    )
    log.warning(
        "resync from %s complete: %d envelopes, %d applied, %d held, %d refused",
        row.parent,
        row.received,
        row.applied,
        row.held,
        row.refused,
    )


# -- starting, status, the periodic task ------------------------------------------------------


def authorize(ctx: NodeContext, actor: Actor) -> None:
    if not ctx.policy.allows_on_node(actor, RESYNC_ACTION, object_node=ctx.node_id):
        raise PermissionDenied(
            "not permitted to resync this node", action=RESYNC_ACTION, object_type="federation"
        )


def start(
    session: Session, ctx: NodeContext, *, requested_by: str, trigger: str = "manual"
) -> ResyncSession:
    """Open a resync from this node's parent and ask for its first window (in the caller's
    transaction). ``409 resync_under_way`` if one is."""
    parent = ctx.topology.parent(ctx.node_id)
    if parent is None:
        raise InvalidInput("the root node has no parent to resync from", code="resync_no_parent")
    if resync_store.active(session) is not None:
        raise Conflict("a resync is under way", code="resync_under_way")
    now = ctx.clock.now()
    row = ResyncSession(
        id=uuid7(),
        parent=parent,
        state="requested",
        trigger=trigger,
        requested_by=requested_by[:100],
        started_at=now,
        updated_at=now,
        pages=0,
        received=0,
        applied=0,
        held=0,
        refused=0,
        voided=0,
        requests=0,
        channels="{}",
    )
    session.add(row)
    _request(session, ctx, row, None)
    ctx.audit.append(
        session,
        actor=SYSTEM_ACTOR,
        action="resync-start",
        object_type="node",
        object_id=parent,
        reason=f"{trigger} by {requested_by}"[:200],
    )
    return row


def start_by(session: Session, ctx: NodeContext, actor: Actor) -> dict[str, Any]:
    """An admin starts a resync (audited); its status."""
    authorize(ctx, actor)
    row = start(session, ctx, requested_by=actor.name)
    ctx.audit.append(
        session, actor=actor, action=RESYNC_ACTION, object_type="federation", object_id=row.id
    )
    return describe(row)


def describe(row: ResyncSession) -> dict[str, Any]:
    total = row.total
    return {
        "id": row.id,
        "parent": row.parent,
        "state": row.state,
        "trigger": row.trigger,
        "requested_by": row.requested_by,
        "started_at": iso(as_aware(row.started_at)),
        "updated_at": iso(as_aware(row.updated_at)),
        "completed_at": None if row.completed_at is None else iso(as_aware(row.completed_at)),
        "pages": row.pages,
        "received": row.received,
        "total": total,
        "progress": None if not total else round(min(1.0, row.received / total), 4),
        "applied": row.applied,
        "held": row.held,
        "refused": row.refused,
        "voided": row.voided,
        "requests": row.requests,
    }


def status(session: Session) -> dict[str, Any] | None:
    """The latest resync asked for here (under way or over), or None."""
    row = session.scalars(
        select(ResyncSession).order_by(ResyncSession.started_at.desc()).limit(1)
    ).first()
    return None if row is None else describe(row)


def check(ctx: NodeContext) -> str | None:
    """One round of the periodic task: a stalled resync asks again from where it is; released
    content kept past any grant is dropped. Returns what was done, if anything."""
    now = ctx.clock.now()
    done = None
    with ctx.sessions() as session, session.begin():
        row = resync_store.active(session)
        stall = timedelta(seconds=ctx.settings.resync_stall_s)
        if row is not None and as_aware(row.updated_at) + stall <= now:
            _request(session, ctx, row, row.cursor)
            row.updated_at = now
            done = "asked again"
        if ctx.topology.children(ctx.node_id):
            resync_store.prune(session, releases_before=now - timedelta(seconds=RELEASE_KEEP_S))
    return done


class ParentWatch(Protocol):
    """What the transport knows of the parent link (``ReplicationService``)."""

    async def parent_horizon(self) -> datetime | None: ...

    def peek_heard_before_silence(self) -> datetime | None: ...

    def settle_heard_before_silence(self, checked: datetime) -> None: ...


def last_heard_from_above(ctx: NodeContext) -> datetime | None:
    """When this node last applied an envelope from outside its subtree (all of which comes
    through its parent)."""
    with ctx.sessions() as session:
        heard = session.scalar(
            select(func.max(InboxMessage.applied_at)).where(
                InboxMessage.origin.not_in(sorted(ctx.topology.subtree(ctx.node_id)))
            )
        )
        session.rollback()
    return None if heard is None else as_aware(heard)


def auto_check(ctx: NodeContext, horizon: datetime, heard: datetime | None = None) -> bool:
    """Start a resync if this node may have missed what its parent's stream no longer holds:
    the last envelope it received from above (from outside its subtree, all of which comes
    through the parent) was applied before ``horizon`` (``ReplicationService.parent_horizon``),
    and no resync started since then. Conservative: a node that heard nothing from above for
    as long as the stream keeps messages resyncs too (and finds everything held). A node that
    never received anything from above (a new member) is left alone. Returns whether it
    started one."""
    me = ctx.node_id
    if ctx.topology.parent(me) is None:
        return False
    margin = timedelta(seconds=AUTO_MARGIN_S)
    if heard is None:
        heard = last_heard_from_above(ctx)
    if heard is None or heard + margin >= horizon:
        return False
    with ctx.sessions() as session, session.begin():
        if resync_store.active(session) is not None:
            return False
        started = session.scalar(select(func.max(ResyncSession.started_at)))
        if started is not None and as_aware(started) >= horizon:
            return False
        start(session, ctx, requested_by="system", trigger="auto")
    return True


async def resync_loop(
    ctx: NodeContext,
    stop: asyncio.Event,
    watch: ParentWatch | None = None,
) -> None:
    """Every ``sequence_check_interval_s``: ``check``; with ``resync_auto`` and the parent
    link's ``watch``, ``auto_check`` against the parent's horizon and what was last heard from
    above before the latest long silence of the link (or, if none, at all)."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=ctx.settings.sequence_check_interval_s)
        if stop.is_set():
            return
        try:
            done = await asyncio.to_thread(check, ctx)
            if done:
                log.warning("resync: %s", done)
            if ctx.settings.resync_auto and watch is not None:
                oldest = await watch.parent_horizon()
                if oldest is not None:
                    # Kept until the check completes: one that fails (a locked database) must
                    # not lose what was heard before the silence, or the next check would
                    # compare the horizon with what arrived after it and start nothing.
                    heard = watch.peek_heard_before_silence()
                    if await asyncio.to_thread(auto_check, ctx, oldest, heard):
                        log.warning(
                            "resync: started by itself (the parent's stream no longer holds "
                            "what came after the last envelope from above)"
                        )
                    if heard is not None:
                        watch.settle_heard_before_silence(heard)
        except Exception as exc:  # noqa: BLE001 - retried next interval; the type is logged
            log.error("resync check failed: %s", type(exc).__name__)


KINDS: tuple[KindSpec[NodeContext, Any], ...] = (
    KindSpec(
        Kind.RESYNC_REQUEST,
        wire=ResyncRequestWire,
        ref_key="session",
        handler=answer_resync_request,
        clear=True,
    ),
    KindSpec(Kind.RESYNC_PAGE, wire=ResyncPageWire, ref_key="session", handler=apply_resync_page),
)
