"""Console login: argon2 passwords, login sessions, per-user lock-out, CSRF tokens.

Guarantees:
- A password is stored only as an argon2 hash; a session id only as its SHA-256 digest. Neither
  the password nor the session id ever reaches the audit chain, a log or an error message.
- A session ends ``idle`` after its last use and at the latest ``lifetime`` after login; logout
  and a password change end it at once (a password change ends every other session of the user).
- ``failures`` failed logins of one user within ``window`` lock that user's login for
  ``lockout`` (on top of the per-address failure budget of ``node/api/ratelimit.py``); the lock
  is audited. While locked, even the right password is refused.
- The CSRF token of a session is derived from its id (a digest under a separate label), so it is
  bound to that session and reveals nothing of the id; a write authenticated by the session
  cookie must carry it in ``X-CSRF-Token``.
- Every change (password set or changed, lock) is audited in the caller's transaction; logins
  and logouts are audited too.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from node.audit.chain import SYSTEM_ACTOR, AuditLog
from node.clock import as_aware, iso
from node.errors import InvalidInput, PermissionDenied, Unauthenticated
from node.models import LoginSession, User
from node.policy import Actor
from node.users.service import user_status

SESSION_COOKIE = "fs_session"
CSRF_COOKIE = "fs_csrf"
CSRF_HEADER = "X-CSRF-Token"
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 200
MAX_SESSION_ID_CHARS = 100
# A session's last use is written at most this often (a request is not a write each).
TOUCH_INTERVAL = timedelta(seconds=60)

_hasher = PasswordHasher()
_dummy_hash: str | None = None


@dataclass(frozen=True)
class LoginPolicy:
    idle: timedelta
    lifetime: timedelta
    failures: int
    window: timedelta
    lockout: timedelta


class LoginRefused(Unauthenticated):
    """Wrong user name or password (the same answer for both: names are not confirmed)."""

    code = "invalid_credentials"

    def __init__(self, message: str, *, user_id: str | None, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.user_id = user_id


class AccountLocked(LoginRefused):
    code = "account_locked"


def _digest(label: bytes, secret: str) -> str:
    return hashlib.sha256(label + secret.encode("utf-8")).hexdigest()


def session_digest(session_id: str) -> str:
    return _digest(b"fedshare-session:", session_id)


def csrf_token(session_id: str) -> str:
    """The CSRF token bound to a session."""
    return _digest(b"fedshare-csrf:", session_id)


def check_csrf(actor: Actor, session_id: str, header: str | None) -> None:
    """Refuse (403 ``csrf_failed``, audited) a cookie-authenticated write without the token."""
    if header is None or not hmac.compare_digest(header.encode(), csrf_token(session_id).encode()):
        raise PermissionDenied(
            "a change made with the session cookie needs its X-CSRF-Token header",
            action="csrf",
            object_type="session",
            code="csrf_failed",
        )


def check_password_strength(password: str) -> str:
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise InvalidInput(
            f"a password needs {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters",
            code="weak_password",
        )
    if len(set(password)) < 4:
        raise InvalidInput("a password needs at least 4 different characters", code="weak_password")
    return password


def hash_password(password: str) -> str:
    return _hasher.hash(check_password_strength(password))


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if ``password`` matches; with no hash, a dummy check of the same cost (a missing
    user or password is not told apart by timing)."""
    global _dummy_hash
    if len(password) > MAX_PASSWORD_CHARS:
        return False
    if password_hash is None:
        if _dummy_hash is None:
            _dummy_hash = _hasher.hash(secrets.token_urlsafe(16))
        password_hash = _dummy_hash
        password = ""
    try:
        return _hasher.verify(password_hash, password) and password != ""
    except (VerificationError, InvalidHashError):
        return False


def actor_of(user: User) -> Actor:
    return Actor(user_id=user.id, name=user.name, role=user.role, node=user.node)


def set_password(
    session: Session, *, audit: AuditLog, by: Actor, user: User, password: str
) -> None:
    """Set ``user``'s password (CLI, demo); every session of the user ends."""
    user.password_hash = hash_password(password)
    user.login_failures = 0
    user.login_failures_since = None
    user.locked_until = None
    session.execute(delete(LoginSession).where(LoginSession.user_id == user.id))
    session.flush()
    audit.append(
        session,
        actor=by,
        action="user-password",
        object_type="user",
        object_id=user.id,
        reason=f"{user.name}: password set",
    )


def login(
    session: Session,
    *,
    audit: AuditLog,
    name: str,
    password: str,
    now: datetime,
    policy: LoginPolicy,
) -> tuple[User, str]:
    """Check the password and open a session; return the user and the new session id (shown
    once, to be set as the cookie). Refusals raise ``LoginRefused``: the caller counts the
    failure against the user (``register_login_failure``) after rolling back."""
    user = session.execute(select(User).where(User.name == name.strip())).scalar_one_or_none()
    if user is None:
        verify_password(None, password)
        raise LoginRefused("wrong user name or password", user_id=None)
    if user.locked_until is not None and as_aware(user.locked_until) > now:
        raise AccountLocked(
            f"too many failed logins; locked until {iso(as_aware(user.locked_until))}",
            user_id=user.id,
        )
    if not verify_password(user.password_hash, password):
        raise LoginRefused("wrong user name or password", user_id=user.id)
    if user_status(user, now) == "disabled":
        raise Unauthenticated("user disabled", code="user_disabled")
    user.login_failures = 0
    user.login_failures_since = None
    user.locked_until = None
    # Sessions of this user that ended are dropped here, so the table does not grow.
    session.execute(
        delete(LoginSession).where(
            LoginSession.user_id == user.id,
            (LoginSession.expires_at <= now) | (LoginSession.last_seen_at <= now - policy.idle),
        )
    )
    session_id = secrets.token_urlsafe(32)
    session.add(
        LoginSession(
            id_hash=session_digest(session_id),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + policy.lifetime,
        )
    )
    session.flush()
    audit.append(
        session, actor=actor_of(user), action="login", object_type="user", object_id=user.id
    )
    return user, session_id


def register_login_failure(
    session: Session, *, audit: AuditLog, user_id: str, now: datetime, policy: LoginPolicy
) -> bool:
    """Count one failed login of ``user_id``; lock it (audited) when the count reaches the limit
    within the window. True if this failure locked it. The caller commits."""
    user = session.get(User, user_id)
    if user is None or (user.locked_until is not None and as_aware(user.locked_until) > now):
        return False
    since = user.login_failures_since
    if since is None or as_aware(since) <= now - policy.window:
        user.login_failures = 1
        user.login_failures_since = now
    else:
        user.login_failures += 1
    if user.login_failures < policy.failures:
        session.flush()
        return False
    user.locked_until = now + policy.lockout
    user.login_failures = 0
    user.login_failures_since = None
    session.flush()
    audit.append(
        session,
        actor=SYSTEM_ACTOR,
        action="user-lock",
        object_type="user",
        object_id=user.id,
        reason=f"{policy.failures} failed logins; login locked until {iso(user.locked_until)}",
    )
    return True


def authenticate_session(
    session: Session, session_id: str, *, now: datetime, policy: LoginPolicy
) -> Actor:
    """The user of a live session, or 401 (``session_expired``, ``user_disabled``)."""
    row = None
    if len(session_id) <= MAX_SESSION_ID_CHARS:
        row = session.get(LoginSession, session_digest(session_id))
    if row is None:
        raise Unauthenticated("no such session; log in again", code="session_expired")
    if as_aware(row.expires_at) <= now or as_aware(row.last_seen_at) <= now - policy.idle:
        raise Unauthenticated("the session has ended; log in again", code="session_expired")
    user = session.get(User, row.user_id)
    if user is None or user_status(user, now) == "disabled":
        raise Unauthenticated("user disabled", code="user_disabled")
    if now - as_aware(row.last_seen_at) >= TOUCH_INTERVAL:
        row.last_seen_at = now
    return actor_of(user)


def session_expiry(session: Session, session_id: str, policy: LoginPolicy) -> datetime | None:
    """When the session ends if left unused from now on (idle or absolute, the earlier)."""
    row = session.get(LoginSession, session_digest(session_id))
    if row is None:
        return None
    return min(as_aware(row.expires_at), as_aware(row.last_seen_at) + policy.idle)


def logout(session: Session, *, audit: AuditLog, actor: Actor, session_id: str) -> None:
    session.execute(delete(LoginSession).where(LoginSession.id_hash == session_digest(session_id)))
    audit.append(session, actor=actor, action="logout", object_type="user", object_id=actor.user_id)


def change_password(
    session: Session,
    *,
    audit: AuditLog,
    actor: Actor,
    old_password: str,
    new_password: str,
    keep_session_id: str | None,
) -> None:
    """Change the actor's own password (the old one is required); every other session of the
    user ends, the current one (if any) stays."""
    user = session.get(User, actor.user_id)
    if user is None or not verify_password(user.password_hash, old_password):
        raise PermissionDenied(
            "the current password is wrong",
            action="change-password",
            object_type="user",
            object_id=actor.user_id,
            code="wrong_password",
        )
    if new_password == old_password:
        raise InvalidInput(
            "the new password must differ from the old one", code="password_unchanged"
        )
    user.password_hash = hash_password(new_password)
    others = delete(LoginSession).where(LoginSession.user_id == user.id)
    if keep_session_id is not None:
        others = others.where(LoginSession.id_hash != session_digest(keep_session_id))
    session.execute(others)
    session.flush()
    audit.append(
        session,
        actor=actor,
        action="user-password",
        object_type="user",
        object_id=user.id,
        reason=f"{user.name}: password changed",
    )
