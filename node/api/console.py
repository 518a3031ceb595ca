"""The web console (Chinese labels): one static page over the same REST API."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)
CONSOLE = Path(__file__).resolve().parent.parent / "web" / "index.html"


@router.get("/", response_class=HTMLResponse)
def console() -> HTMLResponse:
    return HTMLResponse(CONSOLE.read_text(encoding="utf-8"))
