"""The node's FastAPI application. Long-lived resources are made in the lifespan and handed down."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from node import __version__
from node.api import access, audit, records
from node.api.errors import ERROR_RESPONSES, install_error_handlers
from node.audit.checkpoints import checkpoint_loop
from node.context import NodeContext
from node.metrics import Metrics
from node.release.tasks import expiry_loop
from node.settings import Settings
from node.wiring import build_context

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
        if scope["type"] != "http":
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

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        context = ctx or build_context(settings or Settings())
        app.state.ctx = context
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
        ]
        try:
            yield
        finally:
            stop_background.set()
            await asyncio.gather(*background, return_exceptions=True)
            if replication is not None:
                await replication.stop()
            if ctx is None:
                context.engine.dispose()

    app = FastAPI(
        title="fedshare 巡视巡察上下联动信息共享平台",
        version=__version__,
        lifespan=lifespan,
        description="Federated information sharing for the inspection linkage network.",
        responses=ERROR_RESPONSES,
    )
    app.state.metrics = Metrics()
    install_error_handlers(app)
    app.include_router(records.router)
    app.include_router(access.router)
    app.include_router(access.grants_router)
    app.include_router(audit.router)
    from node.api import console, federation, ledger, meta, orders, stats

    app.include_router(console.router)
    app.include_router(meta.router)
    app.include_router(federation.router)
    app.include_router(orders.router)
    app.include_router(ledger.router)
    app.include_router(stats.router)

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

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
    def metrics_endpoint(request: Request) -> Response:
        metrics: Metrics = request.app.state.metrics
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(BodyLimit, limit=MAX_REQUEST_BYTES)
    return app
