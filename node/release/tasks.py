"""The expiry sweep: ends grants and undecided requests on time, deletes released content.

Reads sweep the record they touch (``node.records.service.read_record``); this loop covers content
nobody reads. It runs every ``SWEEP_PERIOD_S``: a grant's content outlives it by at most that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from node.context import NodeContext
from node.db import retry_owed_checkpoint
from node.records.search import merge_purged
from node.release.service import sweep

log = logging.getLogger("fedshare.release")

SWEEP_PERIOD_S = 1.0


def sweep_once(ctx: NodeContext) -> int:
    with ctx.sessions() as session, session.begin():
        changed = sweep(session, ctx, ctx.clock.now())
    # A purge whose WAL checkpoint readers blocked gets it now (purges themselves trigger one).
    retry_owed_checkpoint(ctx.engine)
    # A purge's search-index merge, a step each period (its own short transaction), so that
    # writers waiting on SQLite's busy handler find the lock free between steps.
    merge_purged(ctx.engine)
    return changed


async def expiry_loop(ctx: NodeContext, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            changed = await asyncio.to_thread(sweep_once, ctx)
            if changed:
                log.info("release sweep: %d requests or grants ended", changed)
        except Exception as exc:  # noqa: BLE001 - retried next period; the type is logged
            log.error("release sweep failed: %s", type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=SWEEP_PERIOD_S)
