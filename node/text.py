"""Validation shared by every free-text field: valid UTF-8, no NUL or other control characters."""

from __future__ import annotations

import re

from pydantic_core import PydanticCustomError

# Unicode's control characters (category Cc: C0, DEL and C1) but tab, newline and carriage return.
FORBIDDEN_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def clean_text(value: str) -> str:
    """Reject text that a database or a reader would mangle. Messages never echo the text."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("text is not valid Unicode (lone surrogate)") from exc
    if FORBIDDEN_CONTROL.search(value):
        raise ValueError("text contains a control character")
    return value


def validated_text(value: str) -> str:
    """``clean_text`` as a pydantic validator: refusals carry the stable type ``invalid_text``."""
    try:
        return clean_text(value)
    except ValueError as exc:
        raise PydanticCustomError("invalid_text", str(exc)) from None
