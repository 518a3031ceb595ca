"""Time source. The one place tests may substitute (the clock is a true external edge)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator


def utcnow() -> datetime:
    return datetime.now(UTC)


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
