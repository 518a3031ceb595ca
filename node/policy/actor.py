"""Who acts: the subject of every policy decision (no policy logic here, so that the enforcer and
the scopes both build on it without importing each other)."""

from __future__ import annotations

from dataclasses import dataclass

ROLES = ("inspector", "approver", "security_officer", "admin")


@dataclass(frozen=True)
class Actor:
    """Who is acting: a user of this node (or the node itself, role ``system``)."""

    user_id: str
    name: str
    role: str
    node: str
