"""Validation shared by every free-text field: valid UTF-8, no NUL or other control characters."""

from __future__ import annotations

import unicodedata

from pydantic_core import PydanticCustomError

ALLOWED_CONTROLS = {"\n", "\r", "\t"}


def clean_text(value: str) -> str:
    """Reject text that a database or a reader would mangle. Messages never echo the text."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("text is not valid Unicode (lone surrogate)") from exc
    for char in value:
        if char in ALLOWED_CONTROLS:
            continue
        if unicodedata.category(char) == "Cc":
            raise ValueError("text contains a control character")
    return value


def validated_text(value: str) -> str:
    """``clean_text`` as a pydantic validator: refusals carry the stable type ``invalid_text``."""
    try:
        return clean_text(value)
    except ValueError as exc:
        raise PydanticCustomError("invalid_text", str(exc)) from None
