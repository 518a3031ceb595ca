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


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def get_actor(request: Request, session: SessionDep, ctx: ContextDep) -> Actor:
    actor = authenticate(session, bearer_token(request), now=ctx.clock.now())
    request.state.actor = actor
    return actor


CurrentActor = Annotated[Actor, Depends(get_actor)]
