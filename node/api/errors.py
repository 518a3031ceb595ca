"""The one error handler: ``{"error": <stable code>, "detail": ...}``, never the input echoed."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from node.errors import NodeError


class ErrorOut(BaseModel):
    """Every error body: a stable code for programs and a detail for people."""

    error: str = Field(description="stable machine-readable code, e.g. unknown_party")
    detail: Any = Field(
        default=None, description="explanation (text, or a list of field errors); never content"
    )


# Documented on every route, so /openapi.json describes the error bodies the handlers send.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": description}
    for status, description in (
        (400, "Body could not be decoded (malformed_body)"),
        (401, "Missing or bad bearer token (unauthenticated)"),
        (403, "Refused by the policy; the refusal is audited (forbidden)"),
        (404, "No such object"),
        (409, "Conflicts with stored state (e.g. not_origin, record_deleted, database_conflict)"),
        (413, "Request body over the cap (payload_too_large)"),
        (422, "Invalid input (e.g. malformed_json, invalid_unicode, unknown_category)"),
        (429, "Too many failed requests from this address; see Retry-After (rate_limited)"),
        (500, "The database refused a statement; nothing was stored (database_error)"),
        (
            503,
            "The audit log cannot be written, so access is refused (audit_unavailable), or the "
            "database is unavailable (database_unavailable); nothing was stored",
        ),
    )
}

HTTP_CODES = {
    # FastAPI answers 400 when the body cannot even be decoded (bad UTF-8, a number too long to
    # parse, nesting too deep): it is malformed, like bad JSON, but not a validation error.
    400: "malformed_body",
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
    if "invalid_text" in types:
        return "invalid_text"
    if "missing" in types and types == {"missing"}:
        return "missing_field"
    return "invalid_input"


MAX_LOC_CHARS = 64


def _loc_part(part: object) -> int | str:
    """A field name or index from the input, made safe to send back (keys are client-chosen)."""
    if isinstance(part, int):
        return part
    text = str(part)[:MAX_LOC_CHARS]
    return text.encode("utf-8", "replace").decode("utf-8")


def _clean(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Drop "input" and "ctx": they would echo submitted content into the response.
    return [
        {
            "loc": [_loc_part(part) for part in e.get("loc", ())],
            "msg": e.get("msg", ""),
            "type": e.get("type", ""),
        }
        for e in errors
    ]


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
            {"error": code, "detail": str(exc.detail)},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )
