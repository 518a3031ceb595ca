"""The web console (Chinese labels): one static page, its script and its style, over the REST API.

The page holds no inline script or style, so its Content-Security-Policy can allow the node's own
origin and nothing else: an injected ``<script>`` or ``style=`` never runs.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import Response

router = APIRouter(include_in_schema=False)
WEB = Path(__file__).resolve().parent.parent / "web"

CONSOLE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _asset(name: str, media_type: str) -> Response:
    return Response(
        (WEB / name).read_bytes(),
        media_type=media_type,
        headers={"Content-Security-Policy": CONSOLE_CSP},
    )


@router.get("/")
def console() -> Response:
    return _asset("index.html", "text/html; charset=utf-8")


@router.get("/console.js")
def console_script() -> Response:
    return _asset("console.js", "text/javascript; charset=utf-8")


@router.get("/console.css")
def console_style() -> Response:
    return _asset("console.css", "text/css; charset=utf-8")
