"""Operations endpoints: ``/healthz``, ``/metrics`` and the API docs (``/docs``, ``/redoc``,
``/openapi.json``).

``/metrics`` needs an admin's or security officer's token unless ``metrics_require_token`` is
off; the docs need any user's token unless ``docs_require_token`` is off. Both are decided by the
policy (actions ``read-metrics`` and ``read-api-docs``), and a refusal is audited like any other.
Reading them is not audited: a scraper every few seconds would fill the chain.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from node.api.deps import ContextDep, CurrentActor, SessionDep
from node.errors import PermissionDenied
from node.metrics import Metrics
from node.replication.service import sequence_totals
from node.settings import Settings

INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)
DOCS_CDN = "https://cdn.jsdelivr.net"


def _require(action: str, object_type: str) -> Callable[..., None]:
    def require(ctx: ContextDep, actor: CurrentActor) -> None:
        if not ctx.policy.allows_on_node(actor, action, object_node=ctx.node_id):
            raise PermissionDenied(
                f"not permitted to read {object_type}", action=action, object_type=object_type
            )

    return require


def _docs_csp(html: str) -> str:
    """The docs pages load Swagger UI / ReDoc from their CDN and start them with one inline
    script, allowed by its hash (nothing else inline runs)."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in INLINE_SCRIPT.findall(html)
    )
    return (
        f"default-src 'none'; script-src {DOCS_CDN} {hashes}; "
        f"style-src {DOCS_CDN} https://fonts.googleapis.com 'unsafe-inline'; "
        "font-src https://fonts.gstatic.com; img-src 'self' data: https:; connect-src 'self'; "
        "worker-src blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def _docs_page(response: Response) -> Response:
    html = bytes(response.body).decode()
    response.headers["Content-Security-Policy"] = _docs_csp(html)
    return response


def ops_router(app: FastAPI, settings: Settings) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    metrics_guard = (
        [Depends(_require("read-metrics", "metrics"))] if settings.metrics_require_token else []
    )
    docs_guard = (
        [Depends(_require("read-api-docs", "api_docs"))] if settings.docs_require_token else []
    )

    @router.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/metrics", dependencies=metrics_guard)
    def metrics(request: Request, session: SessionDep, ctx: ContextDep) -> Response:
        registry: Metrics = request.app.state.metrics
        registry.sequences.set(sequence_totals(session, ctx))
        return Response(generate_latest(registry.registry), media_type=CONTENT_TYPE_LATEST)

    @router.get("/openapi.json", dependencies=docs_guard)
    def openapi() -> JSONResponse:
        schema: dict[str, Any] = app.openapi()
        return JSONResponse(schema)

    @router.get("/docs", dependencies=docs_guard)
    def swagger() -> Response:
        return _docs_page(get_swagger_ui_html(openapi_url="/openapi.json", title=app.title))

    @router.get("/redoc", dependencies=docs_guard)
    def redoc() -> Response:
        return _docs_page(get_redoc_html(openapi_url="/openapi.json", title=app.title))

    return router
