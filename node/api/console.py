"""The web console (Chinese labels): a Vue single-page app built into ``node/web/app`` (committed,
so installing the package needs no Node), served by every node.

``/`` and the app's client-side routes (``CLIENT_ROUTES``) answer with its index page; its hashed
assets are served from ``/assets/`` and may be cached for good (a new build has new names). The
page holds no inline script: the Content-Security-Policy allows scripts and styles from the node
itself and nothing else (no ``unsafe-eval``, no ``unsafe-inline``: Vue is built without its
template compiler, and Element Plus sets styles through the CSSOM, which CSP does not govern;
``tests/console`` asserts in a real browser that no screen triggers a violation). Images may
also be ``data:`` URLs: Element Plus's stylesheet draws its check marks as inline SVG masks, and
an image cannot run script.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import Response

from node.errors import NotFound

router = APIRouter(include_in_schema=False)
client_routes = APIRouter(include_in_schema=False)

APP = Path(__file__).resolve().parent.parent / "web" / "app"
ASSETS = APP / "assets"
ASSET_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".ttf": "font/ttf",
    ".png": "image/png",
}

CONSOLE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)

# The first path segment of every screen of the app (``console/src/router.js``): a reload or a
# bookmark of ``/records/…`` gets the index page, and the app's router shows the screen.
CLIENT_ROUTES = (
    "login",
    "records",
    "approvals",
    "orders",
    "ledger",
    "rectifications",
    "rounds",
    "launches",
    "stats",
    "security",
    "federation",
)


class ConsoleAssetNotFound(NotFound):
    code = "not_found"


def _index() -> Response:
    return Response(
        (APP / "index.html").read_bytes(),
        media_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": CONSOLE_CSP},
    )


@router.get("/")
def console() -> Response:
    return _index()


@router.get("/assets/{name}")
def console_asset(name: str) -> Response:
    path = ASSETS / name
    media_type = MEDIA_TYPES.get(path.suffix)
    if not ASSET_NAME.match(name) or media_type is None or not path.is_file():
        raise ConsoleAssetNotFound("no such console asset")
    return Response(
        path.read_bytes(),
        media_type=media_type,
        headers={
            "Content-Security-Policy": CONSOLE_CSP,
            # The name carries the content's hash: a new build is a new name.
            "Cache-Control": "public, max-age=31536000, immutable",
        },
    )


def _client_route() -> Response:
    return _index()


for _section in CLIENT_ROUTES:
    client_routes.add_api_route(f"/{_section}", _client_route, methods=["GET"])
    client_routes.add_api_route(f"/{_section}/{{rest:path}}", _client_route, methods=["GET"])
