"""Inbox handlers for order envelopes: ``order`` (issuer -> addressees), ``order-update``
(either end -> the other) and ``order-summary`` (-> every other node above the addressee).

Each handler checks that the sender is entitled to say what it says (the issuer issues and
accepts, the addressee acknowledges and reports, only along the tree, only from the state the
target is in, one step at a time) before anything is written; a refusal becomes a dead letter
with a stable reason. Applying is idempotent: an event is keyed by (order, addressee, seq) and a
snapshot only replaces an older version.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from node.audit.chain import SYSTEM_ACTOR
from node.clock import as_aware
from node.common import audited
from node.context import NodeContext
from node.orders.models import Order, OrderAttachment, OrderEvent, OrderTarget
from node.orders.queries import lock_target
from node.orders.service import grant_attachments, new_event, new_target, send_change
from node.orders.state import (
    ADDRESSEE,
    ISSUE_EVENT,
    ISSUE_FIELDS,
    ISSUE_STATE,
    ISSUE_VERSION,
    ISSUER,
    OWNED_FIELDS,
    SUMMARY,
    TRANSITIONS,
    advance,
    check_run,
)
from node.orders.wire import (
    OrderSummaryWire,
    OrderUpdateWire,
    OrderWire,
    TargetSummaryWire,
    TargetWire,
)
from node.policy import Actor
from node.replication.envelope import Envelope, EnvelopeRejected
from node.replication.kinds import Applied, Kind, KindSpec


def apply_snapshot(target: OrderTarget, wire: TargetSummaryWire, side: str) -> None:
    """Take what the ``side`` end of a target owns from its snapshot: the step it took (state,
    version, time) and the times of its own steps; the report and handler from the addressee.
    The other end's times, the deadline and the issue time are left as held."""
    target.state = wire.state
    target.version = wire.version
    target.updated_at = wire.updated_at
    for name in OWNED_FIELDS[side]:
        setattr(target, name, getattr(wire, name))
    if side == ADDRESSEE and isinstance(wire, TargetWire) and target.held_as != SUMMARY:
        target.report_record_id = wire.report_record_id
        target.handler_id = wire.handler_id
        target.handler_name = wire.handler_name


def receive_order(
    session: Session, ctx: NodeContext, envelope: Envelope, wire: OrderWire
) -> Applied:
    """An order arrives at an addressee: hold it, mark it received, tell the issuer and above."""
    origin = envelope.origin
    if wire.issuer != origin:
        raise EnvelopeRejected("origin_mismatch")
    if ctx.node_id not in wire.addressees:
        raise EnvelopeRejected("not_addressed")
    if origin not in ctx.topology.ancestors(ctx.node_id):
        raise EnvelopeRejected("not_in_subtree")  # the subtree rule, enforced on receipt too
    if session.get(Order, wire.id) is not None:
        return wire.id, 1
    order = Order(
        id=wire.id,
        issuer=origin,
        issued_by=wire.issued_by,
        title=wire.title,
        inspected_units=wire.inspected_units,
        focus_issues=wire.focus_issues,
        addressees=sorted(wire.addressees),
        deadline=wire.deadline,
        issued_at=wire.issued_at,
        held_as=ADDRESSEE,
        attachments=[
            OrderAttachment(
                record_id=a.record_id,
                record_origin=a.origin,
                classification=a.classification,
                category=a.category,
                granted=a.granted,
            )
            for a in wire.attachments
        ],
    )
    session.add(order)
    now = max(ctx.clock.now(), as_aware(order.issued_at))
    target = new_target(order, ctx.node_id, ADDRESSEE, now)
    session.add(target)
    issuer = Actor(user_id="", name=order.issued_by, role="inspector", node=origin)
    session.add(new_event(target, ISSUE_EVENT, issuer, origin, None, as_aware(order.issued_at)))
    advance(target, "receive", now)
    event = new_event(target, "receive", SYSTEM_ACTOR, ctx.node_id, None, now)
    session.add(event)
    audited(
        session,
        ctx,
        SYSTEM_ACTOR,
        "order-receive",
        object_type="order",
        object_id=wire.id,
        reason=f"from {origin}",
    )
    send_change(session, ctx, target, event)
    return wire.id, 1


def apply_update(
    session: Session, ctx: NodeContext, envelope: Envelope, wire: OrderUpdateWire
) -> Applied:
    """The other end moved a target: record its event, take its snapshot if newer."""
    origin = envelope.origin
    order_id, addressee, change, snap = wire.order_id, wire.addressee, wire.event, wire.target
    order = session.get(Order, order_id)
    target = lock_target(session, order_id, addressee)
    if order is None or target is None or target.held_as == SUMMARY:
        raise EnvelopeRejected("unknown_order")
    if target.held_as == ISSUER:
        sender, side = addressee, ADDRESSEE
    else:
        sender, side = order.issuer, ISSUER
        if addressee != ctx.node_id:
            raise EnvelopeRejected("not_addressed")
    rule = TRANSITIONS.get(change.action)
    if origin != sender or rule is None or rule.side != side:
        raise EnvelopeRejected("not_permitted")
    seq, version = change.seq, snap.version
    if change.state != rule.target or snap.state != rule.target or seq != version:
        raise EnvelopeRejected("malformed")
    known = session.get(OrderEvent, (order_id, addressee, seq))
    if known is not None and known.action == change.action and known.node == origin:
        return order_id, version  # delivered again: applied already
    # Each end moves a target only from its current state, one step at a time: an old or skipped
    # step, or one the state does not allow (acknowledging a closed order), is refused.
    if seq != target.version + 1:
        raise EnvelopeRejected("stale_version" if seq <= target.version else "out_of_order")
    if target.state not in rule.sources:
        raise EnvelopeRejected("illegal_transition")
    first_acknowledgement = change.action == "acknowledge" and target.acknowledged_at is None
    event = OrderEvent(
        order_id=order_id,
        addressee=addressee,
        seq=seq,
        action=change.action,
        state=rule.target,
        node=origin,
        actor=change.actor[:100],
        actor_id=change.actor_id[:36] if change.actor_id else None,
        role=change.role[:32],
        note=change.note or None,
        at=change.at,
    )
    session.add(event)
    # The deadline and issue time stay as issued; the sender's snapshot gives only its own part.
    apply_snapshot(target, snap, side)
    if first_acknowledgement and target.held_as == ISSUER:
        grant_attachments(session, ctx, order, target, event, ctx.clock.now())
    audited(
        session,
        ctx,
        SYSTEM_ACTOR,
        f"order-{change.action}",
        object_type="order",
        object_id=order_id,
        reason=f"by {origin} for {addressee}",
    )
    return order_id, version


def apply_summary(
    session: Session, ctx: NodeContext, envelope: Envelope, wire: OrderSummaryWire
) -> Applied:
    """Metadata of a target in our subtree, from its issuer or its addressee, taken only as far
    as the sender may move it: from the state held here (``issued`` at version 1 if none), every
    step up to the claimed state and version must be one of the sender's own
    (``state.check_run``); a holder that missed some of them takes them at once. Only the
    sender's own times are taken; the deadline and issue time only from the issuer (or, until
    the issuer's own summary arrives, from the addressee's first one). An older or equal version
    changes nothing."""
    origin, issuer, addressee = envelope.origin, wire.issuer, wire.addressee
    topology = ctx.topology
    if issuer not in topology or addressee not in topology:
        raise EnvelopeRejected("unknown_node")
    holders = topology.ancestors(addressee)
    if (
        origin not in (issuer, addressee)
        or issuer not in holders
        or ctx.node_id not in holders
        or ctx.node_id == issuer
    ):
        raise EnvelopeRejected("not_in_subtree")
    side = ISSUER if origin == issuer else ADDRESSEE
    target = lock_target(session, wire.order_id, addressee)
    if target is not None and target.issuer != issuer:
        # The issuer is fixed when the order is first known here; an addressee's summary cannot
        # move the order to another of its ancestors.
        raise EnvelopeRejected("origin_mismatch")
    snap = wire.target
    version = snap.version
    if target is not None and target.held_as != SUMMARY:
        return wire.order_id, version  # an end of the order: it learns by ``order-update``
    if target is not None and version <= target.version:
        if side == ISSUER:
            _take_issue_fields(target, snap)  # settles what an addressee's summary assumed
        return wire.order_id, version
    held, held_version = (
        (ISSUE_STATE, ISSUE_VERSION) if target is None else (target.state, target.version)
    )
    if version == ISSUE_VERSION and target is None:
        refusal = None if side == ISSUER and snap.state == ISSUE_STATE else "not_permitted"
    else:
        refusal = check_run(side, held, held_version, snap.state, version)
    if refusal is not None:
        raise envelope.reject(refusal)
    if target is None:
        target = OrderTarget(
            order_id=wire.order_id,
            addressee=addressee,
            issuer=issuer,
            held_as=SUMMARY,
            version=0,
            returns=0,
        )
        _take_issue_fields(target, snap)
        session.add(target)
    elif side == ISSUER:
        _take_issue_fields(target, snap)
    apply_snapshot(target, snap, side)
    session.flush()
    return wire.order_id, version


def _take_issue_fields(target: OrderTarget, snap: TargetSummaryWire) -> None:
    for name in ISSUE_FIELDS:
        setattr(target, name, getattr(snap, name))


KINDS: tuple[KindSpec[NodeContext, Any], ...] = (
    KindSpec(Kind.ORDER, wire=OrderWire, ref_key="order", handler=receive_order),
    KindSpec(Kind.ORDER_UPDATE, wire=OrderUpdateWire, ref_key="order", handler=apply_update),
    KindSpec(Kind.ORDER_SUMMARY, wire=OrderSummaryWire, ref_key="order", handler=apply_summary),
)
