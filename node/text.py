"""Validation shared by every free-text field: valid UTF-8, no NUL or other control characters."""

from __future__ import annotations

import unicodedata

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
