"""Release queries: the effective status of requests and grants in SQL (one definition for
listings, filters and single reads), and loading what a step acts on."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, or_, select
from sqlalchemy.orm import Session

from node.common import get_or_404
from node.errors import NotFound
from node.models import Grant
from node.release.models import AccessRequest


def request_status(now: datetime) -> ColumnElement[str]:
    """Effective status of an ``AccessRequest`` outer-joined with its ``Grant``."""
    return case(
        (Grant.revoked_at.is_not(None), "revoked"),
        (Grant.expires_at <= now, "expired"),
        (Grant.id.is_not(None), "active"),
        (AccessRequest.status == "denied", "denied"),
        (
            or_(
                AccessRequest.status == "expired",
                and_(AccessRequest.status == "pending", AccessRequest.expires_at <= now),
            ),
            "request_expired",
        ),
        else_=AccessRequest.status,
    )


def grant_status(now: datetime) -> ColumnElement[str]:
    """Effective status of a ``Grant`` that no request led to (e.g. one made by an order)."""
    return case(
        (Grant.revoked_at.is_not(None), "revoked"),
        (Grant.expires_at <= now, "expired"),
        else_="active",
    )


def load_request(session: Session, request_id: str, *, lock: bool = False) -> AccessRequest:
    return get_or_404(
        session,
        AccessRequest,
        request_id,
        what="request",
        missing=NotFound("no such access request", code="request_not_found"),
        lock=lock,
    )


def load_grant(session: Session, grant_id: str, *, lock: bool = False) -> Grant:
    return get_or_404(
        session,
        Grant,
        grant_id,
        what="grant",
        missing=NotFound("no such grant", code="grant_not_found"),
        lock=lock,
    )


def held_grant(session: Session, grant_id: str) -> Grant | None:
    """This node's copy of a grant, locked for update (None if it holds none)."""
    return session.execute(
        select(Grant).where(Grant.id == grant_id).with_for_update()
    ).scalar_one_or_none()
