"""Dependencies: the request's session (it owns the transaction), the current user, the context.

The session commits after the endpoint returns and before the response is sent. A refusal rolls
the work back and then writes the denial to the audit chain in its own transaction; if even that
cannot be written the request fails with 503 ``audit_unavailable`` (access that cannot be audited
is refused). Any other database failure rolls everything back and gets a code of its own
(``database_unavailable``, ``database_conflict``, ``database_error``) that never carries SQL.
Identical repeats of a denial are counted into one entry (``node/audit/denials.py``); a bad
token's denial names the client address it came from.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from node.api.ratelimit import client_address
from node.audit.chain import SYSTEM_ACTOR
from node.audit.denials import Denial, DenialAudit
from node.context import NodeContext
from node.db import DATABASE_UNAVAILABLE
from node.errors import (
    AuditUnavailable,
    DatabaseConflict,
    DatabaseError,
    DatabaseUnavailable,
    NodeError,
    PermissionDenied,
    Unauthenticated,
)
from node.policy import Actor
from node.users.service import authenticate
from node.users.sessions import (
    CSRF_HEADER,
    SESSION_COOKIE,
    LoginPolicy,
    LoginRefused,
    authenticate_session,
    check_csrf,
    register_login_failure,
)

log = logging.getLogger("fedshare.api")


def get_context(request: Request) -> NodeContext:
    ctx: NodeContext = request.app.state.ctx
    return ctx


ContextDep = Annotated[NodeContext, Depends(get_context)]


def _record_denial(request: Request, session: Session, denial: Denial) -> None:
    session.rollback()
    denials: DenialAudit = request.app.state.denials
    try:
        denials.record(session, denial)
    except DATABASE_UNAVAILABLE as exc:
        raise database_failure(exc) from exc
    except SQLAlchemyError as exc:
        # The transaction holds the audit entry alone: a commit refused is the audit's failure.
        log.error("audit write failed for a denial (%s); refusing", type(exc).__name__)
        raise AuditUnavailable("the audit log cannot be written; access refused") from exc


def database_failure(exc: SQLAlchemyError) -> NodeError:
    """The stable error for a database failure outside the audit write (``AuditLog.append``
    raises ``AuditUnavailable`` itself). Its message never carries SQL, parameters or content."""
    if isinstance(exc, DATABASE_UNAVAILABLE):
        log.warning("database unavailable (%s); nothing was stored", type(exc).__name__)
        return DatabaseUnavailable("the database is unavailable; nothing was stored")
    if isinstance(exc, IntegrityError):
        log.warning("database constraint refused a change; nothing was stored")
        return DatabaseConflict("the change conflicts with stored data; nothing was stored")
    log.error("database refused a statement (%s); nothing was stored", type(exc).__name__)
    return DatabaseError("the database refused the request; nothing was stored")


def get_session(request: Request) -> Iterator[Session]:
    ctx = get_context(request)
    session = ctx.sessions()
    try:
        yield session
        session.commit()
    except PermissionDenied as denial:
        actor = getattr(request.state, "actor", SYSTEM_ACTOR)
        request.app.state.metrics.denials.labels(denial.action).inc()
        _record_denial(
            request,
            session,
            Denial(actor, denial.action, denial.object_type, denial.object_id, denial.code),
        )
        raise
    except LoginRefused as refusal:
        request.app.state.metrics.denials.labels("login").inc()
        session.rollback()
        if refusal.user_id is not None:
            _count_login_failure(ctx, session, refusal.user_id)
        # The user when known, else the client address; never the name typed (it may be a
        # password typed into the wrong field).
        target = (
            ("user", refusal.user_id)
            if refusal.user_id
            else ("client", client_address(request.scope))
        )
        _record_denial(request, session, Denial(SYSTEM_ACTOR, "login", *target, refusal.message))
        raise
    except Unauthenticated as refusal:
        request.app.state.metrics.denials.labels("authenticate").inc()
        address = client_address(request.scope)
        _record_denial(
            request,
            session,
            Denial(SYSTEM_ACTOR, "authenticate", "client", address, refusal.message),
        )
        raise
    except SQLAlchemyError as exc:
        session.rollback()
        raise database_failure(exc) from exc
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session, scope="function")]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def login_policy(ctx: NodeContext) -> LoginPolicy:
    settings = ctx.settings
    return LoginPolicy(
        idle=timedelta(seconds=settings.session_idle_timeout_s),
        lifetime=timedelta(seconds=settings.session_lifetime_s),
        failures=settings.login_failure_limit,
        window=timedelta(seconds=settings.login_failure_window_s),
        lockout=timedelta(seconds=settings.login_lockout_s),
    )


def _count_login_failure(ctx: NodeContext, session: Session, user_id: str) -> None:
    """Count a failed login against its user, committed on its own (the refused request's work
    was rolled back); the lock it may set is audited in the same commit."""
    try:
        register_login_failure(
            session, audit=ctx.audit, user_id=user_id, now=ctx.clock.now(), policy=login_policy(ctx)
        )
        session.commit()
    except SQLAlchemyError as exc:
        session.rollback()
        raise database_failure(exc) from exc


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def session_cookie(request: Request) -> str | None:
    """The console session id, when the request has no bearer token (a token always wins)."""
    if bearer_token(request) is not None:
        return None
    return request.cookies.get(SESSION_COOKIE) or None


def get_actor(request: Request, session: SessionDep, ctx: ContextDep) -> Actor:
    """The user of a bearer token (API, scripts) or of a console session cookie; a write made
    with the cookie must carry the session's CSRF token (bearer requests need none: a browser
    never adds the header on its own)."""
    session_id = session_cookie(request)
    if session_id is None:
        actor = authenticate(session, bearer_token(request), now=ctx.clock.now())
        request.state.actor = actor
        return actor
    actor = authenticate_session(session, session_id, now=ctx.clock.now(), policy=login_policy(ctx))
    request.state.actor = actor
    if request.method not in SAFE_METHODS:
        check_csrf(actor, session_id, request.headers.get(CSRF_HEADER))
    return actor


CurrentActor = Annotated[Actor, Depends(get_actor)]
