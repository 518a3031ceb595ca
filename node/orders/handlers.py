"""Inbox handlers for order envelopes: ``order`` (issuer -> addressees), ``order-update``
(either end -> the other) and ``order-summary`` (-> every other node above the addressee).

Each handler checks that the sender is entitled to say what it says (the issuer issues and
accepts, the addressee acknowledges and reports, only along the tree) before anything is written;
a refusal becomes a dead letter with a stable reason.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from node.context import NodeContext
from node.orders import service
from node.replication.envelope import Envelope, EnvelopeRejected
from node.replication.inbox import handles


def _refused(envelope: Envelope, reason: str) -> EnvelopeRejected:
    return EnvelopeRejected(
        reason, msg_id=envelope.msg_id, origin=envelope.origin, kind=envelope.kind
    )


@handles("order")
def apply_order(
    session: Session, ctx: NodeContext, envelope: Envelope, payload: dict[str, Any]
) -> tuple[str | None, int | None]:
    if envelope.ref.get("order") != payload.get("id"):
        raise _refused(envelope, "origin_mismatch")
    try:
        order_id = service.receive_order(session, ctx, envelope.origin, payload)
    except service.ApplyRefused as exc:
        raise _refused(envelope, exc.reason) from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise _refused(envelope, "malformed") from exc
    return order_id, 1


@handles("order-update")
def apply_order_update(
    session: Session, ctx: NodeContext, envelope: Envelope, payload: dict[str, Any]
) -> tuple[str | None, int | None]:
    if envelope.ref.get("order") != payload.get("order_id"):
        raise _refused(envelope, "origin_mismatch")
    try:
        version = service.apply_update(session, ctx, envelope.origin, payload)
    except service.ApplyRefused as exc:
        raise _refused(envelope, exc.reason) from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise _refused(envelope, "malformed") from exc
    return str(payload["order_id"]), version


@handles("order-summary")
def apply_order_summary(
    session: Session, ctx: NodeContext, envelope: Envelope, payload: dict[str, Any]
) -> tuple[str | None, int | None]:
    if envelope.ref.get("order") != payload.get("order_id"):
        raise _refused(envelope, "origin_mismatch")
    try:
        version = service.apply_summary(session, ctx, envelope.origin, payload)
    except service.ApplyRefused as exc:
        raise _refused(envelope, exc.reason) from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise _refused(envelope, "malformed") from exc
    return str(payload["order_id"]), version
