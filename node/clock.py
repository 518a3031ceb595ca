"""Time source and the helpers for aware UTC datetimes.

The node reads the time only from its context's clock (``ctx.clock.now()``), never from the
system directly: the clock is a true external edge, so tests move it instead of sleeping.
``SystemClock`` is the production clock; ``ControlledClock`` is the in-process test clock;
``OffsetFileClock`` lets a test drive the time of a node running in another process (the setting
``FEDSHARE_TEST_CLOCK_FILE``).
"""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Protocol

from pydantic import AfterValidator, PlainSerializer


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, aware UTC."""
        ...


class SystemClock:
    """The real time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ControlledClock:
    """Real time plus an offset a test moves: ``advance(seconds)`` or ``set(moment)``.

    Time keeps flowing between moves (so things ordered by time stay ordered), but never goes
    backwards unless a test sets it back on purpose."""

    def __init__(self, offset_s: float = 0.0) -> None:
        self._offset = timedelta(seconds=offset_s)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self._offset

    def advance(self, seconds: float) -> datetime:
        """Move the clock ``seconds`` forward; return the new now."""
        with self._lock:
            self._offset += timedelta(seconds=seconds)
        return self.now()

    def set(self, moment: datetime) -> None:
        """Make ``now()`` return ``moment`` (then flow on from there)."""
        with self._lock:
            self._offset = to_utc(moment) - datetime.now(UTC)

    @property
    def offset_s(self) -> float:
        with self._lock:
            return self._offset.total_seconds()


class OffsetFileClock:
    """Real time plus an offset (float seconds) read from a file another process writes.

    Test-only: the file is re-read when its mtime, size or inode change, so ``now()`` costs one
    ``stat``. A missing file means offset 0; unreadable content keeps the last offset. Write the
    file with ``write_clock_offset`` (atomic), so a reader never sees half a number."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int, int] | None = None
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def _current_offset(self) -> timedelta:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            self._stamp, self._offset = None, timedelta(0)
            return self._offset
        stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if stamp != self._stamp:
            try:
                self._offset = timedelta(seconds=float(self.path.read_text().strip() or 0))
            except (OSError, ValueError, OverflowError):
                return self._offset
            self._stamp = stamp
        return self._offset

    def now(self) -> datetime:
        with self._lock:
            offset = self._current_offset()
        return datetime.now(UTC) + offset


def write_clock_offset(path: Path, offset_s: float) -> None:
    """Set the offset an ``OffsetFileClock`` on ``path`` reads (written atomically)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(repr(float(offset_s)))
    os.replace(tmp, path)


def make_clock(test_clock_file: Path | None) -> Clock:
    """The clock a node runs on: the real one, or the file-driven test clock when configured."""
    return OffsetFileClock(test_clock_file) if test_clock_file is not None else SystemClock()


def iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """An ISO 8601 time from the wire, as aware UTC (ValueError if it is not one)."""
    return to_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))


def as_aware(moment: datetime) -> datetime:
    """SQLite hands datetimes back naive; everything stored is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def to_utc(moment: datetime) -> datetime:
    """``moment`` as aware UTC (naive is taken as UTC). Stored times are UTC and SQLite compares
    them as text, so every time from outside is brought here first. A time with no UTC
    equivalent (``9999-12-31T23:59:59-23:59``) is a ValueError, so bad input is a 422 or a
    ``malformed`` envelope, never an OverflowError."""
    try:
        return as_aware(moment).astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("time out of range") from exc


# The type of every datetime a request or an envelope carries in.
UtcDateTime = Annotated[datetime, AfterValidator(to_utc)]

# The type of a datetime in an envelope payload: aware UTC in, ``iso`` out (always microseconds and
# ``Z``, the form the payloads have always had).
WireDateTime = Annotated[
    datetime, AfterValidator(to_utc), PlainSerializer(lambda moment: iso(moment), return_type=str)
]


def as_aware_or_none(moment: datetime | None) -> datetime | None:
    return None if moment is None else as_aware(moment)
