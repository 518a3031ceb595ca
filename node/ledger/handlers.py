"""Inbox handler for ``ledger-summary``: metadata of a ledger item of a node below."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from node.context import NodeContext
from node.ledger import service
from node.replication.envelope import Envelope, EnvelopeRejected
from node.replication.inbox import handles


@handles("ledger-summary")
def apply_ledger_summary(
    session: Session, ctx: NodeContext, envelope: Envelope, payload: dict[str, Any]
) -> tuple[str | None, int | None]:
    try:
        if envelope.ref.get("ledger") != payload.get("id"):
            raise service.ApplyRefused("origin_mismatch")
        version = service.apply_summary(session, ctx, envelope.origin, payload)
    except service.ApplyRefused as exc:
        raise EnvelopeRejected(
            exc.reason, msg_id=envelope.msg_id, origin=envelope.origin, kind=envelope.kind
        ) from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise EnvelopeRejected(
            "malformed", msg_id=envelope.msg_id, origin=envelope.origin, kind=envelope.kind
        ) from exc
    return str(payload["id"]), version
