"""Repeated identical denials in the audit chain as one entry with a count, not one row each.

Guarantees:
- Every denial handed to ``DenialAudit`` is counted in this node's audit chain. The first of a
  kind (actor, action, object, reason) in a window is appended at once, in the refused request's
  own transaction, so a chain that cannot be written still refuses with 503 (fail closed).
  Identical repeats within the window are counted in memory and appended as one entry whose
  ``occurrences`` is their number, at the next ``flush`` (every ``audit_flush_interval_s`` from
  the app's lifespan, and once more at shutdown).
- Requests refused by the rate limiter, which never reach the database, are counted the same way
  (``count``), with no entry at once.
- A flush that fails keeps its counts for the next one. Only a process killed outright loses the
  repeats counted since the last flush, never the first entry of a kind.
- Memory is bounded: past ``max_kinds`` kinds in open windows, new kinds are counted under one
  overflow kind per action, with object ``*``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from node.audit.chain import SYSTEM_ACTOR, AuditLog
from node.clock import Clock
from node.policy import Actor

log = logging.getLogger("fedshare.audit")

OVERFLOW_OBJECT = "*"


@dataclass(frozen=True)
class Denial:
    """One kind of denial: identical denials are those with equal fields."""

    actor: Actor
    action: str
    object_type: str
    object_id: str | None
    reason: str


@dataclass
class _Window:
    ends: datetime
    pending: int = 0


class DenialAudit:
    def __init__(
        self,
        audit: AuditLog,
        sessions: sessionmaker[Session],
        clock: Clock,
        *,
        window_s: float,
        max_kinds: int = 10_000,
    ) -> None:
        self.audit = audit
        self.sessions = sessions
        self.clock = clock
        self.window = timedelta(seconds=window_s)
        self.max_kinds = max_kinds
        self._lock = threading.Lock()
        self._windows: dict[Denial, _Window] = {}

    def record(self, session: Session, denial: Denial) -> None:
        """Audit one denial of a refused request. The first of its kind in a window is appended
        and committed in ``session`` (whatever that raises propagates: the caller refuses with
        503); a repeat is counted for the next flush."""
        now = self.clock.now()
        with self._lock:
            kind = self._kind(denial)
            window = self._windows.get(kind)
            if kind != denial or (window is not None and now < window.ends):
                self._pending(kind, now).pending += 1
                return
            # Counts of an ended window not yet flushed stay pending in the new one.
            self._windows[kind] = _Window(
                ends=now + self.window, pending=window.pending if window else 0
            )
        try:
            self._append(session, denial, occurrences=1)
            session.commit()
        except BaseException:
            session.rollback()
            with self._lock:
                # Not written: count it for the next flush, and try the next one at once again.
                retry = self._pending(kind, now)
                retry.pending += 1
                retry.ends = now
            raise

    def count(self, denial: Denial) -> None:
        """Count one denial for the next flush, without touching the database."""
        now = self.clock.now()
        with self._lock:
            self._pending(self._kind(denial), now).pending += 1

    def pending(self) -> int:
        """Denials counted and not yet in the chain."""
        with self._lock:
            return sum(window.pending for window in self._windows.values())

    def flush(self) -> int:
        """Append one entry per kind with counted repeats; return how many denials they hold.
        On failure the counts stay for the next flush and the error propagates."""
        now = self.clock.now()
        with self._lock:
            due = [
                (kind, window.pending) for kind, window in self._windows.items() if window.pending
            ]
            for kind, window in list(self._windows.items()):
                window.pending = 0
                if window.ends <= now:
                    del self._windows[kind]
        if not due:
            return 0
        try:
            with self.sessions() as session, session.begin():
                for kind, occurrences in due:
                    self._append(session, kind, occurrences=occurrences)
        except BaseException:
            with self._lock:
                for kind, occurrences in due:
                    self._pending(kind, now).pending += occurrences
            raise
        return sum(occurrences for _kind, occurrences in due)

    def _kind(self, denial: Denial) -> Denial:
        if denial in self._windows or len(self._windows) < self.max_kinds:
            return denial
        return replace(denial, actor=SYSTEM_ACTOR, object_id=OVERFLOW_OBJECT)

    def _pending(self, kind: Denial, now: datetime) -> _Window:
        window = self._windows.get(kind)
        if window is None:
            window = self._windows[kind] = _Window(ends=now + self.window)
        return window

    def _append(self, session: Session, denial: Denial, *, occurrences: int) -> None:
        self.audit.append(
            session,
            actor=denial.actor,
            action=denial.action,
            object_type=denial.object_type,
            object_id=denial.object_id,
            decision="deny",
            reason=denial.reason,
            occurrences=occurrences,
        )


async def denial_flush_loop(denials: DenialAudit, interval_s: float, stop: asyncio.Event) -> None:
    """Flush counted denials every ``interval_s`` until ``stop``; the lifespan flushes once more
    after this returns, so nothing counted before shutdown is lost."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_s)
        if stop.is_set():
            return
        try:
            await asyncio.to_thread(denials.flush)
        except Exception as exc:  # noqa: BLE001 - counts are kept and retried; the type is logged
            log.error("flushing counted denials to the audit chain failed: %s", type(exc).__name__)
