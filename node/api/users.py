"""``/api/v1/users``: a node's admins list users, add them, disable or enable them, and rotate
their tokens. Every change is audited; a token is shown once, in the answer that made it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, status

from node.api.deps import ContextDep, CurrentActor, SessionDep
from node.clock import as_aware
from node.context import NodeContext
from node.errors import PermissionDenied
from node.models import User
from node.policy import Actor
from node.users import service
from node.users.schemas import TokenRotate, UserCreate, UserOut, UserWithToken

router = APIRouter(prefix="/api/v1/users", tags=["users 用户"])

UserId = Annotated[str, Path(max_length=36)]


def require_user_admin(ctx: ContextDep, actor: CurrentActor) -> Actor:
    if not ctx.policy.allows_on_node(actor, "manage-users", object_node=ctx.node_id):
        raise PermissionDenied(
            "not permitted to manage users", action="manage-users", object_type="user"
        )
    return actor


UserAdmin = Annotated[Actor, Depends(require_user_admin)]


def _out(user: User, now: datetime) -> UserOut:
    return UserOut(
        id=user.id,
        name=user.name,
        role=user.role,
        node=user.node,
        created_at=as_aware(user.created_at),
        token_expires_at=as_aware(user.token_expires_at) if user.token_expires_at else None,
        status=service.user_status(user, now),
    )


def _lifetime(ctx: NodeContext, body: UserCreate | TokenRotate | None) -> timedelta | None:
    if body is None or "expires_in" not in body.model_fields_set:
        return ctx.settings.token_lifetime
    return body.expires_in


@router.get("", response_model=list[UserOut], summary="用户 Users of this node (admins)")
def list_users(session: SessionDep, ctx: ContextDep, actor: UserAdmin) -> list[UserOut]:
    users = service.list_users(session, audit=ctx.audit, by=actor)
    now = ctx.clock.now()
    return [_out(user, now) for user in users]


@router.post(
    "",
    response_model=UserWithToken,
    status_code=status.HTTP_201_CREATED,
    summary="新增用户 Add a user (its token is shown once)",
)
def add_user(
    body: UserCreate, session: SessionDep, ctx: ContextDep, actor: UserAdmin
) -> UserWithToken:
    now = ctx.clock.now()
    user, token = service.add_user(
        session,
        audit=ctx.audit,
        by=actor,
        name=body.name,
        role=body.role,
        node=ctx.node_id,
        now=now,
        lifetime=_lifetime(ctx, body),
    )
    return UserWithToken(user=_out(user, now), token=token)


@router.post("/{user_id}/disable", response_model=UserOut, summary="停用 Disable a user")
def disable_user(
    user_id: UserId, session: SessionDep, ctx: ContextDep, actor: UserAdmin
) -> UserOut:
    user = service.get_user_or_raise(session, user_id)
    service.set_disabled(session, audit=ctx.audit, by=actor, user=user, disabled=True)
    return _out(user, ctx.clock.now())


@router.post("/{user_id}/enable", response_model=UserOut, summary="启用 Enable a user")
def enable_user(user_id: UserId, session: SessionDep, ctx: ContextDep, actor: UserAdmin) -> UserOut:
    user = service.get_user_or_raise(session, user_id)
    service.set_disabled(session, audit=ctx.audit, by=actor, user=user, disabled=False)
    return _out(user, ctx.clock.now())


@router.post(
    "/{user_id}/rotate-token",
    response_model=UserWithToken,
    summary="更换令牌 Replace a user's token (the old one stops working at once)",
)
def rotate_token(
    user_id: UserId,
    session: SessionDep,
    ctx: ContextDep,
    actor: UserAdmin,
    body: TokenRotate | None = None,
) -> UserWithToken:
    now = ctx.clock.now()
    user = service.get_user_or_raise(session, user_id)
    token = service.rotate_token(
        session, audit=ctx.audit, by=actor, user=user, now=now, lifetime=_lifetime(ctx, body)
    )
    return UserWithToken(user=_out(user, now), token=token)
