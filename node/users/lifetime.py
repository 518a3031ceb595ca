"""Token lifetimes as operators write them: ``90d``, ``12h``, ``30m``, ``3600s`` or ``never``."""

from __future__ import annotations

import re
from datetime import timedelta

LIFETIME_PATTERN = re.compile(r"^\s*(\d{1,7})\s*([smhd])\s*$")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_LIFETIME = timedelta(days=3650)


def parse_lifetime(text: str) -> timedelta | None:
    """``text`` as a lifetime (None for ``never``); ValueError with the accepted forms if not."""
    if text.strip().lower() == "never":
        return None
    match = LIFETIME_PATTERN.match(text)
    if match is None:
        raise ValueError(f"lifetime {text[:40]!r} is not like 90d, 12h, 30m, 3600s or never")
    lifetime = timedelta(seconds=int(match.group(1)) * UNITS[match.group(2)])
    if not timedelta(0) < lifetime <= MAX_LIFETIME:
        raise ValueError("a lifetime must be more than 0 and at most 3650d (or never)")
    return lifetime


def format_lifetime(lifetime: timedelta | None) -> str:
    if lifetime is None:
        return "never"
    seconds = int(lifetime.total_seconds())
    for unit in ("d", "h", "m"):
        if seconds % UNITS[unit] == 0:
            return f"{seconds // UNITS[unit]}{unit}"
    return f"{seconds}s"
