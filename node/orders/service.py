"""Relay-inspection orders: issuing, the user actions on each addressee's state
(``node.orders.state``), access requests for attached case-secret records (decided by the
origin's approvers like any other: DESIGN §6), and sending every change.

Every change is written with its audit entry and its outbound envelopes in one transaction: an
``order-update`` to the other end (notes and report id: encrypted for that node) and an
``order-summary`` (metadata only: nodes, state, deadline, times) to every other node whose subtree
holds the addressee, so statistics at any tier above count it (``node.orders.wire``). What
arrives is applied by ``node.orders.handlers``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.clock import as_aware
from node.common import audited, require
from node.context import NodeContext
from node.deadlines import check_deadline
from node.errors import InvalidInput, PermissionDenied
from node.ids import is_uuid, uuid7
from node.models import Grant
from node.orders.models import Order, OrderAttachment, OrderEvent, OrderTarget
from node.orders.queries import load_order, lock_target
from node.orders.schemas import AttachmentRef, OrderCreate, OrderReport, attachment_ref
from node.orders.state import (
    ADDRESSEE,
    ISSUE_EVENT,
    ISSUER,
    POLICY_ACTIONS,
    STATE_LABELS,
    SUMMARY,
    TRANSITIONS,
    IllegalTransition,
    advance,
)
from node.orders.wire import (
    OrderSummaryWire,
    OrderUpdateWire,
    event_wire,
    order_wire,
    target_summary_wire,
    target_wire,
)
from node.policy import Actor
from node.records.schemas import RecordCreate
from node.records.service import RecordNotFound, create_record, find_record, get_record
from node.records.wire import record_wire
from node.release import service as release
from node.replication.kinds import Kind


def summary_destinations(ctx: NodeContext, issuer: str, addressee: str) -> list[str]:
    """Every node whose subtree holds the addressee, but the issuer (which holds it in full)."""
    return sorted(set(ctx.topology.ancestors(addressee)) - {issuer})


def _deny(
    message: str, action: str, object_id: str | None, code: str | None = None
) -> PermissionDenied:
    return PermissionDenied(
        message, action=action, object_type="order", object_id=object_id, code=code
    )


# -- issuing ------------------------------------------------------------------------------------


def check_addressee(ctx: NodeContext, addressee: str) -> None:
    """Only a superior addresses a node, and only within its own subtree (not itself, not a peer,
    not above). A refusal is a 403 and is audited."""
    if addressee not in ctx.topology:
        raise InvalidInput(f"unknown node {addressee!r}", code="unknown_addressee")
    if addressee == ctx.node_id or ctx.node_id not in ctx.topology.ancestors(addressee):
        raise _deny(
            f"{ctx.node_id} may address only nodes below it; {addressee} is not",
            "issue-order",
            None,
            code="addressee_not_in_subtree",
        )


def _attachment(
    session: Session,
    ctx: NodeContext,
    actor: Actor,
    ref: AttachmentRef,
    addressees: list[str],
    *,
    request_access: bool,
) -> OrderAttachment:
    if not is_uuid(ref.record_id):
        raise InvalidInput("attachment ids must be record UUIDs", code="invalid_id")
    try:
        record = find_record(session, ctx, actor, ref.record_id, ref.record_origin)
    except RecordNotFound:
        record = None
    if record is None or record.deleted:
        raise InvalidInput("an attached record is not held here", code="attachment_not_found")

    policy = ctx.policy
    if not (
        policy.allows_on_record(actor, "read", record)
        or policy.allows_on_record(actor, "read-stub", record)
    ):
        raise PermissionDenied(
            "not permitted to attach this record",
            action="attach",
            object_type="record",
            object_id=record.id,
        )
    if record.classification == "restricted":
        # The order carries the attachment's metadata to every addressee: a restricted record is
        # known only to its origin and named parties, so each addressee must be one of them.
        entitled = {record.origin, *record.party_ids}
        if any(addressee not in entitled for addressee in addressees):
            raise InvalidInput(
                "a restricted record may only be attached to an order addressed to its origin "
                "or its named parties",
                code="attachment_not_shareable",
            )
    requested = False
    if record.classification == "secret":
        for addressee in addressees:
            if record.origin == addressee:
                continue  # the addressee holds its own record already
            if record.origin != ctx.node_id or record.is_stub:
                raise InvalidInput(
                    "a case-secret record of another node may only be attached to an order "
                    "addressed to its origin",
                    code="attachment_not_grantable",
                )
            if not request_access:
                raise InvalidInput(
                    "the addressees may read an attached case-secret record only once the "
                    "origin's approvers approve: confirm with request_secret_access to file "
                    "those access requests",
                    code="access_request_not_confirmed",
                )
            requested = True
    return OrderAttachment(
        record_id=record.id,
        record_origin=record.origin,
        classification=record.classification,
        category=record.category,
        granted=requested,
    )


def issue_order(session: Session, ctx: NodeContext, actor: Actor, data: OrderCreate) -> Order:
    require(ctx, actor, "issue-order", object_type="order")
    addressees = sorted(set(data.addressees))
    for addressee in addressees:
        check_addressee(ctx, addressee)
    now = ctx.clock.now()
    deadline = check_deadline(data.deadline, now)
    attachments = [
        _attachment(session, ctx, actor, ref, addressees, request_access=data.request_secret_access)
        for ref in dict.fromkeys(attachment_ref(a) for a in data.attachments)
    ]
    order = Order(
        id=uuid7(),
        issuer=ctx.node_id,
        issued_by=actor.name,
        title=data.title,
        inspected_units=list(data.inspected_units),
        focus_issues=list(data.focus_issues),
        addressees=addressees,
        deadline=deadline,
        issued_at=now,
        held_as=ISSUER,
        attachments=attachments,
    )
    session.add(order)
    targets = [new_target(order, addressee, ISSUER, now) for addressee in addressees]
    session.add_all(targets)
    for target in targets:
        session.add(new_event(target, ISSUE_EVENT, actor, ctx.node_id, None, now))
    audited(
        session,
        ctx,
        actor,
        "issue-order",
        object_type="order",
        object_id=order.id,
        reason=f"to {', '.join(addressees)}",
    )
    # The stubs first: an addressee takes a request's snapshot only for a record it holds.
    _send_stubs(session, ctx, order)
    _request_access(session, ctx, actor, order, now)
    ctx.outbox.send(session, Kind.ORDER, order_wire(order), dest=addressees, encrypt=True)
    for target in targets:
        send_summary(session, ctx, target)
    return order


def new_target(order: Order, addressee: str, held_as: str, now: datetime) -> OrderTarget:
    return OrderTarget(
        order_id=order.id,
        addressee=addressee,
        issuer=order.issuer,
        held_as=held_as,
        state="issued",
        version=1,
        deadline=order.deadline,
        issued_at=order.issued_at,
        updated_at=now,
        returns=0,
    )


def new_event(
    target: OrderTarget, action: str, actor: Actor, node: str, note: str | None, at: datetime
) -> OrderEvent:
    return OrderEvent(
        order_id=target.order_id,
        addressee=target.addressee,
        seq=target.version,
        action=action,
        state=target.state,
        node=node,
        actor=actor.name,
        actor_id=actor.user_id or None,
        role=actor.role,
        note=note or None,
        at=at,
    )


def send_change(session: Session, ctx: NodeContext, target: OrderTarget, event: OrderEvent) -> None:
    """Tell every summary holder (metadata) and the other end (in full, encrypted for it).

    The summary goes first: a holder between the two ends then applies it before it relays the
    update, so the other end's next step (whose summary needs this one, ``state.check_run``)
    cannot reach the holder ahead of it."""
    other = target.addressee if ctx.node_id == target.issuer else target.issuer
    send_summary(session, ctx, target)
    update = OrderUpdateWire(
        order_id=target.order_id,
        addressee=target.addressee,
        target=target_wire(target),
        event=event_wire(event),
    )
    ctx.outbox.send(session, Kind.ORDER_UPDATE, update, dest=[other], encrypt=True)


def send_summary(session: Session, ctx: NodeContext, target: OrderTarget) -> None:
    summary = OrderSummaryWire(
        order_id=target.order_id,
        issuer=target.issuer,
        addressee=target.addressee,
        target=target_summary_wire(target),
    )
    dest = summary_destinations(ctx, target.issuer, target.addressee)
    ctx.outbox.send(session, Kind.ORDER_SUMMARY, summary, dest=dest, encrypt=True)


# -- state changes ------------------------------------------------------------------------------


def transition(
    session: Session,
    ctx: NodeContext,
    actor: Actor,
    order_id: str,
    action: str,
    *,
    addressee: str | None = None,
    note: str = "",
    report: OrderReport | None = None,
) -> Order:
    """One user action on one addressee's state. Wrong end: 403; wrong state: 409."""
    rule = TRANSITIONS[action]
    order = load_order(session, order_id)
    require(ctx, actor, POLICY_ACTIONS[rule.side], object_type="order", object_id=order.id)
    if order.held_as != rule.side:
        code = "not_issuer" if rule.side == ISSUER else "not_addressee"
        raise _deny(f"only the {rule.side} of an order may {action} it", action, order.id, code)
    if rule.side == ADDRESSEE:
        addressee = ctx.node_id
    elif addressee is None:
        if len(order.addressees) != 1:
            raise InvalidInput("name the addressee", code="addressee_required")
        addressee = order.addressees[0]
    target = lock_target(session, order.id, addressee)
    if target is None or target.held_as == SUMMARY:
        raise InvalidInput(
            f"{addressee} is not an addressee of this order", code="unknown_addressee"
        )
    if target.state not in rule.sources:
        raise IllegalTransition(
            f"cannot {action} an order that is {target.state} ({STATE_LABELS[target.state]})"
        )
    if rule.note_required and not note.strip():
        raise InvalidInput(f"{action} needs a note", code="note_required")
    now = max(ctx.clock.now(), as_aware(target.updated_at))
    if report is not None:
        record = create_record(
            session,
            ctx,
            actor,
            RecordCreate(
                category=report.category,
                classification="restricted",
                title=report.title,
                body=report.body,
                parties=[order.issuer],
            ),
        )
        target.report_record_id = record.id
    advance(target, action, now)
    if action == "acknowledge":
        target.handler_id = actor.user_id
        target.handler_name = actor.name
    event = new_event(target, action, actor, ctx.node_id, note, now)
    session.add(event)
    audited(
        session,
        ctx,
        actor,
        f"order-{action}",
        object_type="order",
        object_id=order.id,
        reason=f"{addressee}: {target.state}",
    )
    if action == "close":
        _end_access(session, ctx, actor, order, addressee, now)
    send_change(session, ctx, target, event)
    return order


# -- access to attached case-secret records (DESIGN §6: no side door) ---------------------------


def _request_access(
    session: Session, ctx: NodeContext, actor: Actor, order: Order, now: datetime
) -> None:
    """File, for each addressee, an access request for each case-secret record of ours the order
    carries: the origin's approvers decide it like any other request."""
    for attachment in order.attachments:
        if not attachment.granted:
            continue
        record = get_record(session, attachment.record_origin, attachment.record_id)
        if record is None:
            continue
        for addressee in order.addressees:
            if addressee != record.origin:
                release.file_order_request(
                    session, ctx, actor, record, order_id=order.id, addressee=addressee, now=now
                )


def grant_attachments(
    session: Session,
    ctx: NodeContext,
    order: Order,
    target: OrderTarget,
    event: OrderEvent,
    now: datetime,
) -> None:
    """The addressee's handler acknowledged: whatever the origin's approvers have approved for
    them is granted now (what they approve later is granted when they do)."""
    release.grant_for_order(
        session,
        ctx,
        order_id=order.id,
        addressee=target.addressee,
        handler=(event.actor_id or "", event.actor),
        now=now,
    )


def _end_access(
    session: Session, ctx: NodeContext, actor: Actor, order: Order, addressee: str, now: datetime
) -> None:
    """The order is closed for ``addressee``: its grants end now (the grantee's node deletes the
    released content when the revocation reaches it) and its undecided requests are withdrawn."""
    grants = (
        session.execute(
            select(Grant)
            .where(
                Grant.order_id == order.id,
                Grant.grantee_node == addressee,
                Grant.record_origin == ctx.node_id,
                Grant.revoked_at.is_(None),
            )
            .with_for_update()
        )
        .scalars()
        .all()
    )
    for grant in grants:
        release.end_grant(
            session,
            ctx,
            actor=actor,
            grant=grant,
            now=now,
            reason=f"order {order.id} closed for {addressee}",
        )
    release.withdraw_order_requests(session, ctx, order_id=order.id, addressee=addressee, now=now)


class OrderAccessForRelease:
    """``node.release.ports.OrderAccess``: who handles an order at an addressee, and whether it
    is still open there, as the issuer holds it."""

    def handler(self, session: Session, order_id: str, addressee: str) -> tuple[str, str] | None:
        target = session.get(OrderTarget, (order_id, addressee))
        if target is None or target.held_as != ISSUER or target.acknowledged_at is None:
            return None
        if not target.handler_name:
            return None
        return target.handler_id or "", target.handler_name

    def is_open(self, session: Session, order_id: str, addressee: str) -> bool:
        target = session.get(OrderTarget, (order_id, addressee))
        return target is not None and target.state != "closed"


def _send_stubs(session: Session, ctx: NodeContext, order: Order) -> None:
    """An addressee we filed access requests for, to one of our case-secret records, gets its
    stub (metadata only), so that released content has a record to belong to there."""
    for attachment in order.attachments:
        if not attachment.granted:
            continue
        record = get_record(session, attachment.record_origin, attachment.record_id)
        if record is None:
            continue
        earlier = (
            session.execute(
                select(Order.addressees)
                .join(OrderAttachment)
                .where(
                    OrderAttachment.record_id == record.id,
                    OrderAttachment.record_origin == record.origin,
                    OrderAttachment.granted.is_(True),
                    Order.id != order.id,
                )
            )
            .scalars()
            .all()
        )
        holders = set(record.party_ids).union(*earlier)  # sent with an earlier order already
        dest = sorted(set(order.addressees) - holders)
        stub = record_wire(record, full=False)
        ctx.outbox.send(session, Kind.RECORD, stub, dest=dest, encrypt=True)
