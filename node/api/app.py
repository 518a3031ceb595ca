"""The node's FastAPI application. Long-lived resources are made in the lifespan and handed down."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from node import __version__
from node.api import access, audit, records
from node.api.errors import ERROR_RESPONSES, install_error_handlers
from node.api.ratelimit import FailureLimiter, FailureRateLimit
from node.api.security import SecurityHeaders
from node.audit.chain import SYSTEM_ACTOR
from node.audit.checkpoints import checkpoint_loop
from node.audit.denials import Denial, DenialAudit, denial_flush_loop
from node.context import NodeContext
from node.members.service import restore_learned, restore_revocations
from node.metrics import Metrics
from node.records.search import owe_merge
from node.release.tasks import expiry_loop
from node.replication.resend import sequence_loop
from node.replication.resync import resync_loop
from node.settings import Settings
from node.wiring import build_context

log = logging.getLogger("fedshare.api")

MAX_REQUEST_BYTES = 1024 * 1024

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, before they are parsed.

    The body is read (up to the limit) before the app sees it: a chunked upload with no
    Content-Length is caught here too, instead of failing halfway through FastAPI's body parsing
    (which would turn it into a generic 400).
    """

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _streamed_upload(scope):
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.limit
                except ValueError:
                    too_big = True
                if too_big:
                    await _reject_too_large(send, self.limit)
                    return
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # The client went away: let the app see the disconnect as usual.
                await self.app(scope, _replay([message], receive), send)
                return
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.limit:
                await _reject_too_large(send, self.limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([body], receive), send)


ATTACHMENT_UPLOAD = re.compile(r"^/api/v1/records/[^/]+/attachments/?$")


def _streamed_upload(scope: Scope) -> bool:
    """An attachment upload streams its body to its endpoint, which enforces its own cap
    (``attachment_max_bytes``) as the bytes arrive."""
    return scope.get("method") == "POST" and bool(ATTACHMENT_UPLOAD.match(scope.get("path", "")))


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that hands out ``messages`` first, then defers to the real one."""
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


async def _reject_too_large(send: Send, limit: int) -> None:
    response = JSONResponse(
        {"error": "payload_too_large", "detail": f"request body over {limit} bytes"},
        status_code=413,
    )
    await send({"type": "http.response.start", "status": 413, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})


KNOWN_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


def _method_label(method: str) -> str:
    """Metric labels take a bounded set of values: a client-chosen method is not one."""
    return method if method in KNOWN_METHODS else "OTHER"


def create_app(settings: Settings | None = None, *, ctx: NodeContext | None = None) -> FastAPI:
    """Build the app. ``ctx`` may be supplied (tests, the demo); else it is built at start-up."""
    settings = ctx.settings if ctx is not None else settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        context = ctx or build_context(settings)
        app.state.ctx = context
        # Certificates learned while running, newer than the topology file's (DESIGN §11).
        restore_learned(context)
        restore_revocations(context)
        # A purge's search-index merge may not have finished before the node last stopped.
        owe_merge(context.engine)
        metrics: Metrics = app.state.metrics
        denials = DenialAudit(
            context.audit,
            context.sessions,
            context.clock,
            window_s=context.settings.audit_denial_window_s,
        )
        app.state.denials = denials

        def refused(address: str) -> None:
            metrics.rate_limited.inc()
            denials.count(Denial(SYSTEM_ACTOR, "rate-limit", "client", address, "rate_limited"))

        def refused_envelope(sender: str, reason: str) -> None:
            denials.count(Denial(SYSTEM_ACTOR, "reject-envelope", "envelope", sender, reason))

        # Refused envelopes past their origin's budgets are counted, not copied, in the chain.
        context.inbound_quota.count_refusal = refused_envelope
        app.state.failure_limiter = FailureLimiter(
            context.settings.auth_failure_limit,
            context.clock,
            max_addresses=context.settings.rate_limit_max_addresses,
            on_refused=refused,
        )
        replication = None
        if context.settings.nats_url:
            from node.replication.service import ReplicationService

            replication = ReplicationService(context, app.state.metrics)
            await replication.start()
        app.state.replication = replication
        stop_background = asyncio.Event()
        background = [
            asyncio.create_task(checkpoint_loop(context, stop_background), name="checkpoints"),
            asyncio.create_task(expiry_loop(context, stop_background), name="release-expiry"),
            asyncio.create_task(sequence_loop(context, stop_background), name="sequences"),
            asyncio.create_task(
                resync_loop(
                    context,
                    stop_background,
                    watch=replication,
                ),
                name="resync",
            ),
            asyncio.create_task(
                denial_flush_loop(
                    denials, context.settings.audit_flush_interval_s, stop_background
                ),
                name="denial-flush",
            ),
        ]
        try:
            yield
        finally:
            stop_background.set()
            await asyncio.gather(*background, return_exceptions=True)
            # Requests are over: what the loop has not flushed yet goes into the chain now.
            try:
                denials.flush()
            except Exception as exc:  # noqa: BLE001 - shutdown goes on; the loss is logged
                log.error(
                    "%d counted denials could not be written to the audit chain at shutdown: %s",
                    denials.pending(),
                    type(exc).__name__,
                )
            if replication is not None:
                await replication.stop()
                # Refusals counted while the inbox stopped: into the chain too.
                with contextlib.suppress(Exception):
                    denials.flush()
            context.inbound_quota.count_refusal = None
            if ctx is None:
                context.engine.dispose()

    app = FastAPI(
        title="fedshare 巡视巡察上下联动信息共享平台",
        version=__version__,
        lifespan=lifespan,
        description="Federated information sharing for the inspection linkage network.",
        responses=ERROR_RESPONSES,
        # Served by node/api/ops.py, behind a token when the settings ask for one.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.metrics = Metrics()
    install_error_handlers(app)
    app.include_router(records.router)
    app.include_router(access.router)
    app.include_router(access.grants_router)
    app.include_router(audit.router)
    from node.api import (
        bulletins,
        console,
        federation,
        ledger,
        meta,
        onboarding,
        ops,
        orders,
        rectifications,
        rounds,
        session,
        stats,
        users,
    )

    app.include_router(session.router)
    app.include_router(console.router)
    app.include_router(meta.router)
    app.include_router(federation.router)
    app.include_router(onboarding.router)
    app.include_router(orders.router)
    app.include_router(ledger.router)
    app.include_router(rectifications.router)
    app.include_router(rounds.units_router)
    app.include_router(rounds.router)
    app.include_router(stats.router)
    app.include_router(bulletins.router)
    # Last: FastAPI builds a route's dependencies when a request first walks past it, so routes
    # placed early make every other route's first request slower.
    app.include_router(users.router)
    app.include_router(ops.ops_router(app, settings))
    # After every other route: the console's client-side routes answer with its index page.
    app.include_router(console.client_routes)

    @app.middleware("http")
    async def _measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics: Metrics = request.app.state.metrics
        metrics.requests.labels(
            _method_label(request.method), path, str(response.status_code)
        ).inc()
        metrics.latency.labels(path).observe(time.perf_counter() - started)
        return response

    # Outermost last: security headers on everything, then the failure budget (a refusal costs
    # no body read, no routing, no database), then the body cap.
    app.add_middleware(BodyLimit, limit=MAX_REQUEST_BYTES)
    app.add_middleware(FailureRateLimit)
    app.add_middleware(SecurityHeaders)
    return app
