"""Users belong to one node; tokens are random, shown once, stored as SHA-256 digests."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.errors import Conflict, InvalidInput, Unauthenticated
from node.ids import uuid7
from node.models import User
from node.policy import ROLES, Actor

TOKEN_PREFIX = "fs_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def add_user(
    session: Session, *, name: str, role: str, node: str, now: datetime
) -> tuple[User, str]:
    """Create a user and return it with its bearer token (the only time the token exists)."""
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}; one of {', '.join(ROLES)}", code="unknown_role")
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("user name must be 1 to 100 characters", code="invalid_name")
    if session.execute(select(User.id).where(User.name == name)).first() is not None:
        raise Conflict(f"user {name!r} already exists", code="user_exists")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    user = User(
        id=uuid7(),
        name=name,
        role=role,
        node=node,
        token_hash=hash_token(token),
        created_at=now,
        disabled=False,
    )
    session.add(user)
    session.flush()
    return user, token


def authenticate(session: Session, token: str | None) -> Actor:
    if not token:
        raise Unauthenticated("missing bearer token")
    user = session.execute(
        select(User).where(User.token_hash == hash_token(token))
    ).scalar_one_or_none()
    if user is None or user.disabled:
        raise Unauthenticated("invalid bearer token")
    return Actor(user_id=user.id, name=user.name, role=user.role, node=user.node)
