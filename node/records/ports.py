"""What the records domain needs from the domains above it, as protocols they implement.

Records sit at the bottom of the domain layers and import none above them. Reading a case-secret
stub shows the content released to the reader under an active grant, which is the release
domain's: records declares what it needs here (``GrantedContent``) and the release domain's
implementation is provided in the context by ``node.wiring``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import Select
from sqlalchemy.orm import Session

from node.context import NodeContext, Port
from node.models import Record
from node.policy import Actor
from node.records.search import SearchQuery


@dataclass(frozen=True)
class ReleasedText:
    """Content released to a reader for a stub, under ``grant_id``."""

    grant_id: str
    title: str
    body: str


class GrantedContent(Protocol):
    def purge_ended(
        self, session: Session, ctx: NodeContext, now: datetime, *, record: Record
    ) -> int:
        """Delete released content of ``record`` whose grant has ended (before a read)."""
        ...

    def read_released(
        self,
        session: Session,
        ctx: NodeContext,
        actor: Actor,
        records: Sequence[Record],
        now: datetime,
    ) -> Mapping[tuple[str, str], ReleasedText]:
        """(origin, record id) -> content released to ``actor`` under an active grant; each one
        returned is a read, recorded and reported (the caller audits it with the grant id)."""
        ...

    def released_matching(
        self, ctx: NodeContext, actor: Actor, query: SearchQuery, now: datetime
    ) -> Select[str, str]:
        """(origin, record id) of the records whose content released to ``actor`` under an
        active grant matches ``query`` (a search; reading what it finds is ``read_released``)."""
        ...


GRANTED_CONTENT: Port[GrantedContent] = Port("records.granted_content")


@dataclass(frozen=True)
class ReleasedReporterText:
    """A record's reporter block released to a reader under ``grant_id`` (plaintext JSON bytes,
    opened for this one read; never logged, audited or kept)."""

    grant_id: str
    plaintext: bytes


class GrantedReporter(Protocol):
    def read_released_reporter(
        self, session: Session, ctx: NodeContext, actor: Actor, record: Record, now: datetime
    ) -> ReleasedReporterText | None:
        """The reporter of ``record`` released to ``actor`` under an active grant (None if no
        active grant of theirs released it); one returned is a read, recorded and reported to the
        origin (the caller audits it with the grant id)."""
        ...


GRANTED_REPORTER: Port[GrantedReporter] = Port("records.granted_reporter")
