"""A budget of failed requests per client address; past it, 429 before the app is reached.

A request answered 401 or 403 spends one unit of its address's budget (``auth_failure_limit``,
in the notation of the ``limits`` library, e.g. ``20/minute``; a moving window, so no burst of
twice the limit across a window edge). While the budget is spent, every request from that
address is answered ``429 rate_limited`` with ``Retry-After``, by the middleware, before routing,
authentication or any database work. Successful requests spend nothing and cost one in-memory
lookup.

The window runs on the node's clock (``ctx.clock``), so tests move time instead of sleeping:
``limits``' own memory storage reads ``time.time()``, hence the small storage here. State is per
process and in memory: a restart forgets spent budgets.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

from limits import RateLimitItem, parse_many
from limits.storage import MovingWindowSupport, Storage
from limits.strategies import MovingWindowRateLimiter
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from node.clock import Clock

FAILURE_STATUSES = frozenset({401, 403})
UNKNOWN_ADDRESS = "unknown"


def client_address(scope: Scope) -> str:
    """The client's address as the server saw it (after a trusted proxy's X-Forwarded-For, when
    ``forwarded_allow_ips`` names that proxy)."""
    client = scope.get("client")
    return str(client[0])[:64] if client else UNKNOWN_ADDRESS


class ClockedMemoryStorage(Storage, MovingWindowSupport):
    """Moving-window entries in memory, timed by the node's clock; at most ``max_keys`` keys
    (the least recently hit are forgotten first). Used from the event loop only."""

    STORAGE_SCHEME = None

    def __init__(self, clock: Clock, *, max_keys: int) -> None:
        super().__init__()
        self.clock = clock
        self.max_keys = max_keys
        self._events: OrderedDict[str, deque[float]] = OrderedDict()

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return ValueError

    def _now(self) -> float:
        return self.clock.now().timestamp()

    def _live(self, key: str, now: float, expiry: float) -> deque[float]:
        events = self._events.get(key)
        if events is None:
            return deque()
        while events and events[0] <= now - expiry:
            events.popleft()
        if not events:
            del self._events[key]
        return events

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        now = self._now()
        events = self._live(key, now, expiry)
        if len(events) + amount > limit:
            return False
        events.extend([now] * amount)
        self._events[key] = events
        self._events.move_to_end(key)
        while len(self._events) > self.max_keys:
            self._events.popitem(last=False)
        return True

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        now = self._now()
        events = self._live(key, now, expiry)
        return (events[0], len(events)) if events else (now, 0)

    # The fixed-window part of the storage interface; the moving window never calls it.
    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        raise NotImplementedError("moving window only")

    def get(self, key: str) -> int:
        raise NotImplementedError("moving window only")

    def get_expiry(self, key: str) -> float:
        raise NotImplementedError("moving window only")

    def check(self) -> bool:
        return True

    def reset(self) -> int | None:
        count = len(self._events)
        self._events.clear()
        return count

    def clear(self, key: str) -> None:
        self._events.pop(key, None)


class FailureLimiter:
    """Per-address budgets of failed requests (one or more ``limits`` items)."""

    def __init__(
        self,
        notation: str,
        clock: Clock,
        *,
        max_addresses: int,
        on_refused: Callable[[str], None] = lambda _address: None,
    ) -> None:
        self.items: list[RateLimitItem] = parse_many(notation)
        self.clock = clock
        self.storage = ClockedMemoryStorage(clock, max_keys=max_addresses * len(self.items))
        self.strategy = MovingWindowRateLimiter(self.storage)
        self.on_refused = on_refused

    def retry_after(self, address: str) -> int | None:
        """Seconds until ``address`` may try again, or None if its budget is not spent."""
        spent = [item for item in self.items if not self.strategy.test(item, address)]
        if not spent:
            return None
        reset = max(self.strategy.get_window_stats(item, address).reset_time for item in spent)
        return max(1, math.ceil(reset - self.clock.now().timestamp()))

    def record_failure(self, address: str) -> None:
        for item in self.items:
            self.strategy.hit(item, address)


class FailureRateLimit:
    """ASGI middleware over ``app.state.failure_limiter`` (made in the lifespan)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limiter: FailureLimiter | None = None
        if scope["type"] == "http" and "app" in scope:
            limiter = getattr(scope["app"].state, "failure_limiter", None)
        if limiter is None:
            await self.app(scope, receive, send)
            return
        address = client_address(scope)
        wait = limiter.retry_after(address)
        if wait is not None:
            limiter.on_refused(address)
            await _refuse(scope, receive, send, wait)
            return

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in FAILURE_STATUSES:
                limiter.record_failure(address)
            await send(message)

        await self.app(scope, receive, watch)


async def _refuse(scope: Scope, receive: Receive, send: Send, wait: int) -> None:
    body: dict[str, Any] = {
        "error": "rate_limited",
        "detail": f"too many failed requests from this address; retry after {wait} s",
    }
    response = JSONResponse(body, status_code=429, headers={"Retry-After": str(wait)})
    await response(scope, receive, send)
