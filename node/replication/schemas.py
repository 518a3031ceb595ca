"""Response shapes of the federation endpoints that have one."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class DeadLetterOut(BaseModel):
    """A rejected envelope as stored: why, where from, a digest; never its bytes."""

    id: int
    received_at: datetime
    reason: str
    subject: str
    msg_id: str | None
    origin: str | None
    kind: str | None
    digest: str
    size: int


class DeadLetterPage(BaseModel):
    items: list[DeadLetterOut]
    next_cursor: str | None
