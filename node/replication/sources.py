"""Keeps the inbound stream's sources flowing after any restart.

The ``IN`` stream *sources* the parent's and the children's ``OUT`` streams across the leafnode
links; the nats-server runs that sourcing, and when a source cannot be set up (the leaf link is
not connected yet, the peer's JetStream is still recovering, the peer's ``OUT`` does not exist
yet) it waits up to 30 s for an answer that cannot come and then backs off 10 s, 20 s, … up to
2 min between attempts. The server retries at once when a leaf link connects, but only for
sources that are not in the middle of such a wait. So after a node, its nats-server or the whole
federation restarts, the first record could take from tens of seconds to minutes to cross a link
that was healthy again within a second.

``SourceWatch`` closes that gap: twice a second it reads the ``IN`` stream's source info (local,
cheap); a source that reports an error or has been silent for longer than two heartbeats
(``active``; a healthy source heartbeats every second even when idle) is *stuck*. For a stuck
source it asks the peer's JetStream API, across the same leaf link, whether the peer's ``OUT``
stream answers; only then it resets the source by updating the stream without it and with it
again. The server then sets the source up at once and resumes from the last sequence it stored
from that source (nothing skipped; anything sent twice is dropped by the stream's duplicate
window and the inbox's idempotency). Resets of one source are spaced out (1 s, doubling to 5 s
while they do not help), so a peer that answers but cannot serve is not hammered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from nats.js import api

log = logging.getLogger("fedshare.replication")

WATCH_INTERVAL_S = 0.5
# Sources heartbeat every second; two missed heartbeats make a source suspect.
STALE_AFTER_NS = 2_000_000_000
# After a reset the source needs a moment (setup, then its first heartbeat within a second)
# before it can look healthy; resets of one source are spaced 1 s, 2 s, 4 s … apart.
FIRST_COOLDOWN_S = 1.0
MAX_COOLDOWN_S = 5.0
PROBE_TIMEOUT_S = 2.0


@dataclass
class _SourceState:
    cooldown_s: float = FIRST_COOLDOWN_S
    next_reset_at: float = 0.0
    resets: int = 0


def source_is_stuck(source: api.StreamSourceInfo) -> bool:
    """An error, never heard from (``active`` -1 or absent), or silent past a few heartbeats."""
    if source.error:
        return True
    active = source.active
    return active is None or active < 0 or active > STALE_AFTER_NS


def peer_of(source_name: str) -> str:
    return source_name.removeprefix("OUT_")


class SourceWatch:
    """Resets stuck sources of one ``IN`` stream; see the module docstring for the guarantee."""

    def __init__(
        self,
        js: Any,
        nc: Any,
        stream_config: Callable[[], api.StreamConfig],
        *,
        on_reset: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.js = js
        self.nc = nc
        self.stream_config = stream_config
        self.on_reset = on_reset
        self.clock = clock
        self.states: dict[str, _SourceState] = {}
        self.resets = 0

    async def run(self, stopping: Callable[[], bool]) -> None:
        while not stopping():
            with contextlib.suppress(Exception):
                await self.check_once()
            await asyncio.sleep(WATCH_INTERVAL_S)

    async def check_once(self) -> list[str]:
        """One pass; the names of the sources it reset."""
        config = self.stream_config()
        info = await self.js.stream_info(config.name)
        reset: list[str] = []
        for source in info.sources or []:
            state = self.states.setdefault(source.name, _SourceState())
            if not source_is_stuck(source):
                self.states[source.name] = _SourceState()
                continue
            now = self.clock()
            if now < state.next_reset_at:
                continue
            if not await self.peer_answers(peer_of(source.name), source.name):
                continue
            await self.reset_source(config, source.name)
            state.resets += 1
            state.next_reset_at = now + state.cooldown_s
            state.cooldown_s = min(state.cooldown_s * 2, MAX_COOLDOWN_S)
            self.resets += 1
            reset.append(source.name)
            if self.on_reset is not None:
                self.on_reset(peer_of(source.name))
        return reset

    async def peer_answers(self, peer: str, stream: str) -> bool:
        """Whether the peer's JetStream (its own domain, across the leaf link) knows ``stream``."""
        try:
            await asyncio.wait_for(
                self.nc.jetstream(domain=peer).stream_info(stream), timeout=PROBE_TIMEOUT_S
            )
        except Exception:  # noqa: BLE001 - unreachable or not there yet: nothing to reset to
            return False
        return True

    async def reset_source(self, config: api.StreamConfig, name: str) -> None:
        without = [s for s in config.sources or [] if s.name != name]
        log.warning("inbound source %s is stuck while its peer answers; resetting it", name)
        await self.js.update_stream(config.evolve(sources=without))
        await self.js.update_stream(config)


ResetHook = Callable[[str], Awaitable[None] | None]
