"""Users belong to one node; tokens are random, shown once, stored as SHA-256 digests.

Every change to a user (add, disable, enable, token rotation) is appended to the node's audit
chain in the same transaction as the change, naming who made it; the token itself never reaches
the chain, a log or an error. A token may expire (``token_expires_at``); an expired token or a
disabled user is refused with its own stable code (``token_expired``, ``user_disabled``).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.audit.chain import AuditLog
from node.clock import as_aware, iso
from node.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from node.ids import uuid7
from node.models import User
from node.policy import ROLES, Actor

TOKEN_PREFIX = "fs_"
UserStatus = Literal["active", "disabled", "expired"]
MAX_TOKEN_CHARS = 200


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _expiry(now: datetime, lifetime: timedelta | None) -> datetime | None:
    return None if lifetime is None else now + lifetime


def _expiry_text(expires_at: datetime | None) -> str:
    return "token never expires" if expires_at is None else f"token expires {iso(expires_at)}"


def user_status(user: User, now: datetime) -> UserStatus:
    """``active``, ``disabled`` or ``expired`` (a disabled user is ``disabled`` either way)."""
    if user.disabled:
        return "disabled"
    if user.token_expires_at is not None and as_aware(user.token_expires_at) <= now:
        return "expired"
    return "active"


def add_user(
    session: Session,
    *,
    audit: AuditLog,
    by: Actor,
    name: str,
    role: str,
    node: str,
    now: datetime,
    lifetime: timedelta | None = None,
    password_hash: str | None = None,
) -> tuple[User, str]:
    """Create a user and return it with its bearer token (the only time the token exists).
    ``lifetime`` None: the token never expires. ``password_hash`` (argon2, from
    ``node.users.sessions.hash_password``) None: no console login until a password is set."""
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}; one of {', '.join(ROLES)}", code="unknown_role")
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("user name must be 1 to 100 characters", code="invalid_name")
    if session.execute(select(User.id).where(User.name == name)).first() is not None:
        raise Conflict(f"user {name!r} already exists", code="user_exists")
    token = new_token()
    user = User(
        id=uuid7(),
        name=name,
        role=role,
        node=node,
        token_hash=hash_token(token),
        created_at=now,
        disabled=False,
        token_expires_at=_expiry(now, lifetime),
        password_hash=password_hash,
        login_failures=0,
    )
    session.add(user)
    session.flush()
    audit.append(
        session,
        actor=by,
        action="user-add",
        object_type="user",
        object_id=user.id,
        reason=(
            f"{name}: role {role}; {_expiry_text(user.token_expires_at)}"
            f"{'; password set' if password_hash else ''}"
        ),
    )
    return user, token


def list_users(session: Session, *, audit: AuditLog, by: Actor) -> list[User]:
    users = list(session.execute(select(User).order_by(User.name)).scalars())
    audit.append(session, actor=by, action="list", object_type="user", reason=f"{len(users)} items")
    return users


def get_user_or_raise(session: Session, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("no such user", code="unknown_user")
    return user


def get_user_by_name_or_raise(session: Session, name: str) -> User:
    user = session.execute(select(User).where(User.name == name.strip())).scalar_one_or_none()
    if user is None:
        raise NotFound(f"no user named {name.strip()[:100]!r}", code="unknown_user")
    return user


def set_disabled(
    session: Session, *, audit: AuditLog, by: Actor, user: User, disabled: bool
) -> bool:
    """Disable or enable ``user``; False (and nothing audited) if it already was. A user cannot
    disable themselves (the last admin would lock the node's API out)."""
    if disabled and by.user_id == user.id:
        raise Conflict("a user cannot disable themselves", code="cannot_disable_self")
    if user.disabled == disabled:
        return False
    user.disabled = disabled
    session.flush()
    audit.append(
        session,
        actor=by,
        action="user-disable" if disabled else "user-enable",
        object_type="user",
        object_id=user.id,
        reason=user.name,
    )
    return True


def rotate_token(
    session: Session,
    *,
    audit: AuditLog,
    by: Actor,
    user: User,
    now: datetime,
    lifetime: timedelta | None,
) -> str:
    """Replace ``user``'s token (the old one is refused from the commit on); return the new one."""
    token = new_token()
    user.token_hash = hash_token(token)
    user.token_expires_at = _expiry(now, lifetime)
    session.flush()
    audit.append(
        session,
        actor=by,
        action="user-rotate-token",
        object_type="user",
        object_id=user.id,
        reason=f"{user.name}: {_expiry_text(user.token_expires_at)}",
    )
    return token


def authenticate(session: Session, token: str | None, *, now: datetime) -> Actor:
    if not token:
        raise Unauthenticated("missing bearer token")
    if len(token) > MAX_TOKEN_CHARS:
        raise Unauthenticated("invalid bearer token")
    user = session.execute(
        select(User).where(User.token_hash == hash_token(token))
    ).scalar_one_or_none()
    if user is None:
        raise Unauthenticated("invalid bearer token")
    status = user_status(user, now)
    if status == "disabled":
        raise Unauthenticated("user disabled", code="user_disabled")
    if status == "expired":
        raise Unauthenticated("token expired", code="token_expired")
    return Actor(user_id=user.id, name=user.name, role=user.role, node=user.node)
