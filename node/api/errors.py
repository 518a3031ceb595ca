"""The one error handler: ``{"error": <stable code>, "detail": ...}``, never the input echoed."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from node.errors import NodeError

HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def _validation_code(errors: list[dict[str, Any]]) -> str:
    types = {str(e.get("type", "")) for e in errors}
    if "json_invalid" in types:
        return "malformed_json"
    if any("unicode" in t for t in types):
        return "invalid_unicode"
    if "missing" in types and types == {"missing"}:
        return "missing_field"
    return "invalid_input"


def _clean(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Drop "input" and "ctx": they would echo submitted content into the response.
    return [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in errors]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(NodeError)
    async def _node_error(_request: Request, exc: NodeError) -> JSONResponse:
        return JSONResponse(exc.to_dict(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        return JSONResponse(
            {"error": _validation_code(errors), "detail": _clean(errors)}, status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        return JSONResponse(
            {"error": code, "detail": str(exc.detail)}, status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )
