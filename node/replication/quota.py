"""Per-origin quotas on what a node takes in (DESIGN §10: a node holding a valid key still cannot
flood the others).

Guarantees:
- Each origin (the envelope's signed origin, not the neighbour it came through: a relay passes
  others' envelopes on unchanged) has a token bucket of ``inbound_quota_per_hour`` envelopes,
  holding at most ``inbound_quota_burst``. An envelope this node applies or relays spends one
  token; past it, the envelope is refused (``quota_exceeded``) before any handler runs, so one
  origin's flood costs the others nothing but the refusals. Its own envelopes are never counted.
- Stored dead letters of opened envelopes are bounded the same way, per origin: at most
  ``dead_letters_per_origin_per_hour`` rows, so a flood of refusals does not fill the table
  (what cannot be opened has no origin to budget by and keeps a row each). What is not stored
  is still counted in the metrics and in the audit chain (one entry with a count).
- Buckets run on the node's clock (``ctx.clock``): tests move time, they do not sleep. State is in
  memory and per process: a restart starts every bucket full.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from node.clock import Clock
from node.settings import Settings

QUOTA_EXCEEDED = "quota_exceeded"


@dataclass
class _Bucket:
    tokens: float
    at: datetime


class TokenBuckets:
    """One token bucket per key: ``per_hour`` tokens an hour, at most ``burst`` held; at most
    ``max_keys`` keys (the least recently used are forgotten, i.e. start full again)."""

    def __init__(self, clock: Clock, *, per_hour: int, burst: int, max_keys: int = 10_000) -> None:
        self.clock = clock
        self.rate_per_s = per_hour / 3600.0
        self.burst = float(burst)
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str) -> bool:
        """Spend one token of ``key``'s bucket; False (nothing spent) if it holds none."""
        now = self.clock.now()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(tokens=self.burst, at=now)
            else:
                elapsed = max(0.0, (now - bucket.at).total_seconds())
                bucket.tokens = min(self.burst, bucket.tokens + elapsed * self.rate_per_s)
                bucket.at = max(bucket.at, now)
            self._buckets.move_to_end(key)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
            if bucket.tokens < 1.0:
                return False
            bucket.tokens -= 1.0
            return True


# (origin or arrival subject, reason): count one refusal for the audit chain without a row of its
# own. The app's lifespan points it at its aggregated denials (``node.audit.denials``).
RefusalCounter = Callable[[str, str], None]


class InboundQuota:
    """The node's inbound quotas: envelopes per origin, stored dead letters per origin."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.envelopes = TokenBuckets(
            clock, per_hour=settings.inbound_quota_per_hour, burst=settings.inbound_quota_burst
        )
        self.dead_letters = TokenBuckets(
            clock,
            per_hour=settings.dead_letters_per_origin_per_hour,
            burst=settings.dead_letters_per_origin_per_hour,
        )
        self.count_refusal: RefusalCounter | None = None

    def admit(self, origin: str) -> bool:
        """Whether an envelope of ``origin`` (verified) may be applied or relayed now."""
        return self.envelopes.take(origin)

    def store_dead_letter(self, key: str) -> bool:
        """Whether a dead letter of ``key`` gets a row (and an audit entry of its own)."""
        return self.dead_letters.take(key)
