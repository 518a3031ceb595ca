"""``/api/v1/session``: console login (cookie), who am I, logout, password change.

The session cookie is HttpOnly, SameSite=Strict, Path=/ and Secure when the request came over
https; its CSRF token goes in a second, script-readable cookie and in the answer, and must come
back in ``X-CSRF-Token`` with every write made with the cookie. Bearer tokens keep working for
the API and scripts, and need no CSRF token.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from node.api.deps import ContextDep, CurrentActor, SessionDep, login_policy, session_cookie
from node.common import TIER_LABELS, node_name, node_tier
from node.context import NodeContext
from node.policy import Actor
from node.users import sessions

router = APIRouter(prefix="/api/v1/session", tags=["session 登录"])

ROLE_LABELS = {
    "inspector": "巡视巡察干部",
    "approver": "审批领导",
    "security_officer": "安全保密员",
    "admin": "系统管理员",
}


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=sessions.MAX_PASSWORD_CHARS)


class PasswordChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    old_password: str = Field(min_length=1, max_length=sessions.MAX_PASSWORD_CHARS)
    new_password: str = Field(min_length=1, max_length=sessions.MAX_PASSWORD_CHARS)


class SessionOut(BaseModel):
    name: str
    role: str
    role_label: str
    node: str
    node_name: str
    tier: str
    tier_label: str
    via: str = Field(description='"cookie" (console session) or "token" (bearer)')
    csrf_token: str | None = Field(
        default=None, description="send as X-CSRF-Token with every write made with the cookie"
    )
    expires_at: datetime | None = Field(default=None, description="when the session ends if idle")


def _out(
    ctx: NodeContext, actor: Actor, session_id: str | None, ends: datetime | None
) -> SessionOut:
    tier = node_tier(ctx, ctx.node_id)
    return SessionOut(
        name=actor.name,
        role=actor.role,
        role_label=ROLE_LABELS.get(actor.role, actor.role),
        node=ctx.node_id,
        node_name=node_name(ctx, ctx.node_id),
        tier=tier,
        tier_label=TIER_LABELS[tier],
        via="token" if session_id is None else "cookie",
        csrf_token=sessions.csrf_token(session_id) if session_id else None,
        expires_at=ends,
    )


def _set_cookies(request: Request, response: Response, session_id: str, max_age: int) -> None:
    secure = request.url.scheme == "https"
    response.set_cookie(
        sessions.SESSION_COOKIE,
        session_id,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=secure,
    )
    response.set_cookie(
        sessions.CSRF_COOKIE,
        sessions.csrf_token(session_id),
        max_age=max_age,
        path="/",
        httponly=False,
        samesite="strict",
        secure=secure,
    )


def _clear_cookies(request: Request, response: Response) -> None:
    secure = request.url.scheme == "https"
    for name in (sessions.SESSION_COOKIE, sessions.CSRF_COOKIE):
        response.delete_cookie(name, path="/", samesite="strict", secure=secure)


SessionId = Annotated[str | None, Depends(session_cookie)]


@router.post("", response_model=SessionOut, summary="登录 Log in (sets the session cookie)")
def login(
    body: LoginIn, request: Request, response: Response, session: SessionDep, ctx: ContextDep
) -> SessionOut:
    policy = login_policy(ctx)
    now = ctx.clock.now()
    user, session_id = sessions.login(
        session, audit=ctx.audit, name=body.name, password=body.password, now=now, policy=policy
    )
    _set_cookies(request, response, session_id, int(policy.lifetime.total_seconds()))
    return _out(ctx, sessions.actor_of(user), session_id, now + policy.idle)


@router.get("", response_model=SessionOut, summary="当前用户 Who am I")
def who_am_i(
    session: SessionDep, ctx: ContextDep, actor: CurrentActor, session_id: SessionId
) -> SessionOut:
    ends = sessions.session_expiry(session, session_id, login_policy(ctx)) if session_id else None
    return _out(ctx, actor, session_id, ends)


@router.delete(
    "", status_code=status.HTTP_204_NO_CONTENT, summary="退出 Log out (ends the session)"
)
def logout(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    actor: CurrentActor,
    session_id: SessionId,
) -> Response:
    if session_id is not None:
        sessions.logout(session, audit=ctx.audit, actor=actor, session_id=session_id)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    _clear_cookies(request, response)
    return response


@router.post(
    "/password",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="修改密码 Change my password (the current one is required)",
)
def change_password(
    body: PasswordChangeIn,
    session: SessionDep,
    ctx: ContextDep,
    actor: CurrentActor,
    session_id: SessionId,
) -> Response:
    sessions.change_password(
        session,
        audit=ctx.audit,
        actor=actor,
        old_password=body.old_password,
        new_password=body.new_password,
        keep_session_id=session_id,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
