"""One exception hierarchy for the node. Services raise these; one handler turns them into HTTP."""

from __future__ import annotations

from typing import Any


class NodeError(Exception):
    """Base error: a stable machine-readable ``code``, a message, and an HTTP status."""

    code = "node_error"
    status = 400

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.code, "detail": self.message}


class InvalidInput(NodeError):
    code = "invalid_input"
    status = 422


class NotFound(NodeError):
    code = "not_found"
    status = 404


class Conflict(NodeError):
    code = "conflict"
    status = 409


class Unauthenticated(NodeError):
    code = "unauthenticated"
    status = 401


class PermissionDenied(NodeError):
    """A refusal. Carries what the audit trail must record; the session layer writes it."""

    code = "forbidden"
    status = 403

    def __init__(
        self,
        message: str,
        *,
        action: str,
        object_type: str,
        object_id: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.action = action
        self.object_type = object_type
        self.object_id = object_id


class AuditUnavailable(NodeError):
    """The audit entry could not be written, so the access it records is refused."""

    code = "audit_unavailable"
    status = 503


class DatabaseUnavailable(NodeError):
    """The database is down, unreachable or busy; nothing was stored and a retry may succeed."""

    code = "database_unavailable"
    status = 503


class DatabaseConflict(NodeError):
    """A constraint refused the change, most likely a row another request stored meanwhile."""

    code = "database_conflict"
    status = 409


class DatabaseError(NodeError):
    """The database refused a statement for another reason: a fault of the node, logged."""

    code = "database_error"
    status = 500


class ConfigError(NodeError):
    code = "config_error"
    status = 500
