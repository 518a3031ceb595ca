"""Shapes for ``/api/v1/users``. A token appears once, in the answer that created it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from node.settings import parse_lifetime
from node.users.service import UserStatus


def _lifetime(value: object) -> object:
    return parse_lifetime(value) if isinstance(value, str) else value


# "90d", "12h", "30m", "3600s" or "never"; left out: the node's token_lifetime setting.
Lifetime = Annotated[
    timedelta | None,
    BeforeValidator(_lifetime),
    Field(description='token lifetime: "90d", "12h", "30m", "3600s" or "never"'),
]


class UserOut(BaseModel):
    id: str
    name: str
    role: str
    node: str
    created_at: datetime
    token_expires_at: datetime | None
    status: UserStatus


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    role: str = Field(max_length=32)
    expires_in: Lifetime = Field(default=None)


class TokenRotate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expires_in: Lifetime = Field(default=None)


class UserWithToken(BaseModel):
    user: UserOut
    token: str = Field(description="the bearer token: shown this once, stored only hashed")
