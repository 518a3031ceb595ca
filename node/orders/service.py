"""Relay-inspection orders: issue, the per-addressee state machine, and its replication.

A superior node's inspector issues an order to nodes strictly below it. Each addressee's state
moves along::

    issued -> received -> acknowledged -> in_progress -> reported -> accepted -> closed
                                             ^               |
                                             +-- returned <--+

``receive`` happens at the addressee when the order arrives; acknowledge, progress and report are
the addressee's; accept, return and close are the issuer's. The two ends never act in the same
state, so each target's version grows linearly whichever end moves it.

Every change is written with its audit entry and its outbound envelopes in one transaction: an
``order-update`` to the other end (notes and report id: encrypted for that node) and an
``order-summary`` (metadata only: nodes, state, deadline, times) to every other node whose subtree
holds the addressee, so statistics at any tier above count it. Applying either is idempotent:
an event is keyed by (order, addressee, seq) and a snapshot only replaces an older version.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, select, tuple_
from sqlalchemy.orm import Session

from node.audit.chain import SYSTEM_ACTOR
from node.clock import as_aware, iso, parse_iso, to_utc
from node.context import NodeContext
from node.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from node.ids import is_uuid, uuid7
from node.models import Grant, Record
from node.orders.models import Order, OrderAttachment, OrderEvent, OrderTarget
from node.orders.schemas import (
    AttachmentOut,
    EventOut,
    OrderCreate,
    OrderOut,
    OrderPage,
    OrderReport,
    TargetOut,
    TargetPage,
)
from node.policy import Actor
from node.records.schemas import RecordCreate
from node.records.service import create_record
from node.release import service as release
from node.replication.outbox import record_payload

STATE_LABELS = {
    "issued": "已下发",
    "received": "已接收",
    "acknowledged": "已确认",
    "in_progress": "办理中",
    "reported": "已报告",
    "accepted": "已验收",
    "returned": "退回重办",
    "closed": "已办结",
}
ACTION_LABELS = {
    "issue": "下发",
    "receive": "接收",
    "acknowledge": "确认",
    "progress": "办理进展",
    "report": "报告",
    "accept": "验收",
    "return": "退回重办",
    "close": "办结",
}
# States in which the addressee still owes work: past the deadline, these are overdue.
OPEN_STATES = ("issued", "received", "acknowledged", "in_progress", "returned")

ISSUER = "issuer"
ADDRESSEE = "addressee"
SUMMARY = "summary"

# A grant made by an order lasts until the order is closed, at most this long after its deadline.
GRANT_GRACE = timedelta(days=30)
GRANT_SOURCE = "order"
MAX_HORIZON = timedelta(days=3 * 366)


@dataclass(frozen=True)
class Transition:
    side: str
    sources: frozenset[str]
    target: str
    note_required: bool = False


TRANSITIONS: dict[str, Transition] = {
    "receive": Transition(ADDRESSEE, frozenset({"issued"}), "received"),
    "acknowledge": Transition(ADDRESSEE, frozenset({"received"}), "acknowledged"),
    "progress": Transition(
        ADDRESSEE,
        frozenset({"acknowledged", "in_progress", "returned"}),
        "in_progress",
        note_required=True,
    ),
    "report": Transition(ADDRESSEE, frozenset({"in_progress", "returned"}), "reported"),
    "accept": Transition(ISSUER, frozenset({"reported"}), "accepted"),
    "return": Transition(ISSUER, frozenset({"reported"}), "returned", note_required=True),
    "close": Transition(ISSUER, frozenset({"accepted"}), "closed"),
}
POLICY_ACTIONS = {ISSUER: "review-order", ADDRESSEE: "handle-order"}
# The event that opens a target's history at the issuer (version 1).
ISSUE_EVENT = "issue"


class IllegalTransition(Conflict):
    code = "illegal_transition"


class OrderNotFound(NotFound):
    code = "order_not_found"


class ApplyRefused(Exception):
    """An order envelope that must not be applied here: a stable reason, no content."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def is_overdue(state: str, deadline: datetime, now: datetime) -> bool:
    return state in OPEN_STATES and as_aware(deadline) < now


def overdue_clause(now: datetime) -> ColumnElement[bool]:
    """SQL twin of ``is_overdue``."""
    return and_(OrderTarget.state.in_(OPEN_STATES), OrderTarget.deadline < now)


def summary_destinations(ctx: NodeContext, issuer: str, addressee: str) -> list[str]:
    """Every node whose subtree holds the addressee, but the issuer (which holds it in full)."""
    return sorted(set(ctx.topology.ancestors(addressee)) - {issuer})


def _deny(
    message: str, action: str, object_id: str | None, code: str | None = None
) -> PermissionDenied:
    return PermissionDenied(
        message, action=action, object_type="order", object_id=object_id, code=code
    )


def _require(ctx: NodeContext, actor: Actor, action: str, object_id: str | None = None) -> None:
    if not ctx.policy.allows_on_node(actor, action, object_node=ctx.node_id):
        raise _deny(f"role {actor.role} may not {action}", action, object_id)


def _node_name(ctx: NodeContext, node_id: str) -> str:
    return ctx.topology.get(node_id).name if node_id in ctx.topology else node_id


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
    record_id: str,
    addressees: list[str],
    *,
    grant: bool,
) -> OrderAttachment:
    if not is_uuid(record_id):
        raise InvalidInput("attachment ids must be record UUIDs", code="invalid_id")
    record = session.get(Record, record_id.lower())
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
    granted = False
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
            if not policy.allows_on_record(actor, "order-grant", record):
                raise PermissionDenied(
                    "not permitted to grant this record",
                    action="order-grant",
                    object_type="record",
                    object_id=record.id,
                )
            if not grant:
                raise InvalidInput(
                    "attaching a case-secret record grants the addressee access: confirm with "
                    "grant_secret_attachments",
                    code="grant_not_confirmed",
                )
            granted = True
    return OrderAttachment(
        record_id=record.id,
        record_origin=record.origin,
        classification=record.classification,
        category=record.category,
        granted=granted,
    )


def issue_order(session: Session, ctx: NodeContext, actor: Actor, data: OrderCreate) -> Order:
    _require(ctx, actor, "issue-order")
    addressees = sorted(set(data.addressees))
    for addressee in addressees:
        check_addressee(ctx, addressee)
    now = ctx.clock.now()
    # Stored as UTC: SQLite keeps no offset and compares times as text.
    deadline = to_utc(data.deadline)
    if deadline <= now:
        raise InvalidInput("the deadline has passed", code="deadline_past")
    if deadline > now + MAX_HORIZON:
        raise InvalidInput("the deadline is too far ahead", code="deadline_too_far")
    attachments = [
        _attachment(session, ctx, actor, record_id, addressees, grant=data.grant_secret_attachments)
        for record_id in dict.fromkeys(a.lower() for a in data.attachments)
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
    targets = [_new_target(order, addressee, ISSUER, now) for addressee in addressees]
    session.add_all(targets)
    for target in targets:
        session.add(_event(target, ISSUE_EVENT, actor, ctx.node_id, None, now))
    session.flush()
    ctx.audit.append(
        session,
        actor=actor,
        action="issue-order",
        object_type="order",
        object_id=order.id,
        reason=f"to {', '.join(addressees)}",
    )
    for attachment in attachments:
        if attachment.granted:
            ctx.audit.append(
                session,
                actor=actor,
                action="order-grant",
                object_type="record",
                object_id=attachment.record_id,
                reason=f"order {order.id}: for the handlers at {', '.join(addressees)}",
            )
    _send_stubs(session, ctx, order)
    ctx.outbox.enqueue(
        session,
        kind="order",
        dest=addressees,
        ref={"order": order.id},
        payload=order_payload(order),
        encrypt=True,
    )
    for target in targets:
        send_summary(session, ctx, target)
    return order


def _new_target(order: Order, addressee: str, held_as: str, now: datetime) -> OrderTarget:
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


def _event(
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


# -- payloads -----------------------------------------------------------------------------------


def _iso_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else iso(moment)


def _parse_or_none(text: Any) -> datetime | None:
    return None if text is None else parse_iso(str(text))


def order_payload(order: Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "issuer": order.issuer,
        "issued_by": order.issued_by,
        "title": order.title,
        "inspected_units": list(order.inspected_units),
        "focus_issues": list(order.focus_issues),
        "addressees": list(order.addressees),
        "deadline": iso(order.deadline),
        "issued_at": iso(order.issued_at),
        "attachments": [
            {
                "record_id": a.record_id,
                "origin": a.record_origin,
                "classification": a.classification,
                "category": a.category,
                "granted": a.granted,
            }
            for a in order.attachments
        ],
    }


TIMES = ("received_at", "acknowledged_at", "reported_at", "accepted_at", "closed_at")


def snapshot(target: OrderTarget, *, full: bool) -> dict[str, Any]:
    """A target's state for the other end (``full``) or for a summary holder (metadata only)."""
    data: dict[str, Any] = {
        "state": target.state,
        "version": target.version,
        "deadline": iso(target.deadline),
        "issued_at": iso(target.issued_at),
        "updated_at": iso(target.updated_at),
        "returns": target.returns,
        "ack_seconds": target.ack_seconds,
    }
    for name in TIMES:
        data[name] = _iso_or_none(getattr(target, name))
    if full:
        data.update(
            report_record_id=target.report_record_id,
            handler_id=target.handler_id,
            handler_name=target.handler_name,
        )
    return data


def apply_snapshot(target: OrderTarget, data: dict[str, Any]) -> None:
    if data["state"] not in STATE_LABELS:
        raise ApplyRefused("malformed")
    target.state = str(data["state"])
    target.version = int(data["version"])
    target.deadline = parse_iso(str(data["deadline"]))
    target.issued_at = parse_iso(str(data["issued_at"]))
    target.updated_at = parse_iso(str(data["updated_at"]))
    target.returns = int(data["returns"])
    target.ack_seconds = None if data["ack_seconds"] is None else int(data["ack_seconds"])
    for name in TIMES:
        setattr(target, name, _parse_or_none(data[name]))
    if "report_record_id" in data:
        target.report_record_id = data["report_record_id"]
        target.handler_id = data["handler_id"]
        target.handler_name = data["handler_name"]


def event_payload(event: OrderEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "action": event.action,
        "state": event.state,
        "node": event.node,
        "actor": event.actor,
        "actor_id": event.actor_id,
        "role": event.role,
        "note": event.note,
        "at": iso(event.at),
    }


def send_change(session: Session, ctx: NodeContext, target: OrderTarget, event: OrderEvent) -> None:
    """Tell the other end (in full, encrypted for it) and every summary holder (metadata)."""
    other = target.addressee if ctx.node_id == target.issuer else target.issuer
    ref = {"order": target.order_id, "addressee": target.addressee, "version": target.version}
    ctx.outbox.enqueue(
        session,
        kind="order-update",
        dest=[other],
        ref=ref,
        encrypt=True,
        payload={
            "order_id": target.order_id,
            "addressee": target.addressee,
            "target": snapshot(target, full=True),
            "event": event_payload(event),
        },
    )
    send_summary(session, ctx, target)


def send_summary(session: Session, ctx: NodeContext, target: OrderTarget) -> None:
    ctx.outbox.enqueue(
        session,
        kind="order-summary",
        dest=summary_destinations(ctx, target.issuer, target.addressee),
        ref={"order": target.order_id, "addressee": target.addressee, "version": target.version},
        payload={
            "order_id": target.order_id,
            "issuer": target.issuer,
            "addressee": target.addressee,
            "target": snapshot(target, full=False),
        },
        encrypt=True,
    )


# -- state changes ------------------------------------------------------------------------------


def _load_order(session: Session, order_id: str) -> Order:
    if not is_uuid(order_id):
        raise InvalidInput("order id must be a UUID", code="invalid_id")
    order = session.get(Order, order_id.lower())  # ids are stored in canonical form
    if order is None:
        raise OrderNotFound("no such order here")
    return order


def _lock_target(session: Session, order_id: str, addressee: str) -> OrderTarget | None:
    return session.execute(
        select(OrderTarget)
        .where(OrderTarget.order_id == order_id, OrderTarget.addressee == addressee)
        .with_for_update()
    ).scalar_one_or_none()


def _advance(target: OrderTarget, action: str, now: datetime) -> None:
    """Move ``target`` by ``action`` (already checked legal) and stamp the times."""
    target.state = TRANSITIONS[action].target
    target.version += 1
    target.updated_at = now
    if action == "receive":
        target.received_at = now
    elif action == "acknowledge":
        target.acknowledged_at = now
        target.ack_seconds = max(0, int((now - as_aware(target.issued_at)).total_seconds()))
    elif action == "report":
        target.reported_at = now
    elif action == "accept":
        target.accepted_at = now
    elif action == "return":
        target.returns += 1
    elif action == "close":
        target.closed_at = now


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
    order = _load_order(session, order_id)
    _require(ctx, actor, POLICY_ACTIONS[rule.side], order.id)
    if order.held_as != rule.side:
        code = "not_issuer" if rule.side == ISSUER else "not_addressee"
        raise _deny(f"only the {rule.side} of an order may {action} it", action, order.id, code)
    if rule.side == ADDRESSEE:
        addressee = ctx.node_id
    elif addressee is None:
        if len(order.addressees) != 1:
            raise InvalidInput("name the addressee", code="addressee_required")
        addressee = order.addressees[0]
    target = _lock_target(session, order.id, addressee)
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
    _advance(target, action, now)
    if action == "acknowledge":
        target.handler_id = actor.user_id
        target.handler_name = actor.name
    event = _event(target, action, actor, ctx.node_id, note, now)
    session.add(event)
    session.flush()
    ctx.audit.append(
        session,
        actor=actor,
        action=f"order-{action}",
        object_type="order",
        object_id=order.id,
        reason=f"{addressee}: {target.state}",
    )
    if action == "close":
        _revoke_grants(session, ctx, actor, order, addressee, now)
    send_change(session, ctx, target, event)
    return order


# -- grants for attached case-secret records -----------------------------------------------------


def _grant_attachments(
    session: Session,
    ctx: NodeContext,
    order: Order,
    target: OrderTarget,
    event: OrderEvent,
    now: datetime,
) -> None:
    """The addressee's handler acknowledged: grant them each case-secret attachment of ours,
    for the order's life, and release the content sealed for their node (node.release)."""
    for attachment in order.attachments:
        if not attachment.granted or attachment.record_origin != ctx.node_id:
            continue
        record = session.get(Record, attachment.record_id)
        if record is None or record.deleted or record.is_stub:
            continue
        grant = release.open_grant(
            session,
            ctx,
            record_id=record.id,
            grantee_id=event.actor_id or "",
            grantee_name=event.actor,
            grantee_node=target.addressee,
            source=GRANT_SOURCE,
            request_id=None,
            order_id=order.id,
            now=now,
            expires_at=max(as_aware(order.deadline), now) + GRANT_GRACE,
            reason=f"order {order.id}: handler {event.actor}@{target.addressee}",
        )
        release.release_grant(session, ctx, grant, record)
        release.announce(session, ctx, "granted", request=None, grant=grant)


def _revoke_grants(
    session: Session, ctx: NodeContext, actor: Actor, order: Order, addressee: str, now: datetime
) -> None:
    """The order is closed for ``addressee``: its grants end now; the grantee's node deletes the
    released content when the revocation reaches it."""
    grants = (
        session.execute(
            select(Grant)
            .where(
                Grant.order_id == order.id,
                Grant.grantee_node == addressee,
                Grant.source == GRANT_SOURCE,
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


def _send_stubs(session: Session, ctx: NodeContext, order: Order) -> None:
    """An addressee granted one of our case-secret records gets its stub (metadata only), so that
    released content has a record to belong to there."""
    for attachment in order.attachments:
        if not attachment.granted:
            continue
        record = session.get(Record, attachment.record_id)
        if record is None:
            continue
        earlier = (
            session.execute(
                select(Order.addressees)
                .join(OrderAttachment)
                .where(
                    OrderAttachment.record_id == record.id,
                    OrderAttachment.granted.is_(True),
                    Order.id != order.id,
                )
            )
            .scalars()
            .all()
        )
        holders = set(record.party_ids).union(*earlier)  # sent with an earlier order already
        dest = sorted(set(order.addressees) - holders)
        ctx.outbox.enqueue(
            session,
            kind="record",
            dest=dest,
            ref={"record": record.id, "version": record.version},
            payload=record_payload(record, full=False),
            encrypt=True,
        )


# -- applying what arrives ----------------------------------------------------------------------


def _str(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ApplyRefused("malformed")
    return value


def _order_id(data: dict[str, Any], key: str) -> str:
    """An order id as ids are made here: a lower-case UUID."""
    value = _str(data, key)
    if not is_uuid(value) or value != value.lower():
        raise ApplyRefused("malformed")
    return value


def receive_order(session: Session, ctx: NodeContext, origin: str, data: dict[str, Any]) -> str:
    """An order arrives at an addressee: hold it, mark it received, tell the issuer and above."""
    order_id = _order_id(data, "id")
    if _str(data, "issuer") != origin:
        raise ApplyRefused("origin_mismatch")
    addressees = [str(a) for a in data.get("addressees", [])]
    if ctx.node_id not in addressees:
        raise ApplyRefused("not_addressed")
    if origin not in ctx.topology.ancestors(ctx.node_id):
        raise ApplyRefused("not_in_subtree")  # the subtree rule, enforced on receipt too
    if session.get(Order, order_id) is not None:
        return order_id
    try:
        order = Order(
            id=order_id,
            issuer=origin,
            issued_by=_str(data, "issued_by"),
            title=_str(data, "title"),
            inspected_units=[str(u) for u in data["inspected_units"]],
            focus_issues=[str(f) for f in data["focus_issues"]],
            addressees=sorted(addressees),
            deadline=parse_iso(_str(data, "deadline")),
            issued_at=parse_iso(_str(data, "issued_at")),
            held_as=ADDRESSEE,
            attachments=[
                OrderAttachment(
                    record_id=str(a["record_id"]),
                    record_origin=str(a["origin"]),
                    classification=str(a["classification"]),
                    category=str(a["category"]),
                    granted=bool(a["granted"]),
                )
                for a in data["attachments"]
            ],
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ApplyRefused("malformed") from exc
    session.add(order)
    now = max(ctx.clock.now(), as_aware(order.issued_at))
    target = _new_target(order, ctx.node_id, ADDRESSEE, now)
    session.add(target)
    issuer = Actor(user_id="", name=order.issued_by, role="inspector", node=origin)
    session.add(_event(target, ISSUE_EVENT, issuer, origin, None, as_aware(order.issued_at)))
    _advance(target, "receive", now)
    event = _event(target, "receive", SYSTEM_ACTOR, ctx.node_id, None, now)
    session.add(event)
    session.flush()
    ctx.audit.append(
        session,
        actor=SYSTEM_ACTOR,
        action="order-receive",
        object_type="order",
        object_id=order_id,
        reason=f"from {origin}",
    )
    send_change(session, ctx, target, event)
    return order_id


def apply_update(session: Session, ctx: NodeContext, origin: str, data: dict[str, Any]) -> int:
    """The other end moved a target: record its event, take its snapshot if newer."""
    order_id = _order_id(data, "order_id")
    addressee = _str(data, "addressee")
    snap = data.get("target")
    change = data.get("event")
    if not isinstance(snap, dict) or not isinstance(change, dict):
        raise ApplyRefused("malformed")
    order = session.get(Order, order_id)
    target = _lock_target(session, order_id, addressee)
    if order is None or target is None or target.held_as == SUMMARY:
        raise ApplyRefused("unknown_order")
    if target.held_as == ISSUER:
        sender, side = addressee, ADDRESSEE
    else:
        sender, side = order.issuer, ISSUER
        if addressee != ctx.node_id:
            raise ApplyRefused("not_addressed")
    action = change.get("action")
    rule = TRANSITIONS.get(str(action))
    if origin != sender or rule is None or rule.side != side:
        raise ApplyRefused("not_permitted")
    try:
        seq = int(change["seq"])
        version = int(snap["version"])
        at = parse_iso(str(change["at"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ApplyRefused("malformed") from exc
    if change.get("state") != rule.target or snap.get("state") != rule.target or seq != version:
        raise ApplyRefused("malformed")
    known = session.get(OrderEvent, (order_id, addressee, seq))
    if known is not None and known.action == action and known.node == origin:
        return version  # delivered again: applied already
    # Each end moves a target only from its current state, one step at a time: an old or skipped
    # step, or one the state does not allow (acknowledging a closed order), is refused.
    if seq != target.version + 1:
        raise ApplyRefused("stale_version" if seq <= target.version else "out_of_order")
    if target.state not in rule.sources:
        raise ApplyRefused("illegal_transition")
    first_acknowledgement = action == "acknowledge" and target.acknowledged_at is None
    event = OrderEvent(
        order_id=order_id,
        addressee=addressee,
        seq=seq,
        action=str(action),
        state=rule.target,
        node=origin,
        actor=str(change.get("actor", ""))[:100],
        actor_id=(str(change["actor_id"])[:36] if change.get("actor_id") else None),
        role=str(change.get("role", ""))[:32],
        note=(str(change["note"]) if change.get("note") else None),
        at=at,
    )
    session.add(event)
    # The deadline and issue time are the issuer's: the other end's copy does not move them.
    deadline, issued_at = target.deadline, target.issued_at
    try:
        apply_snapshot(target, snap)
    except (KeyError, TypeError, ValueError) as exc:
        raise ApplyRefused("malformed") from exc
    target.deadline, target.issued_at = deadline, issued_at
    if first_acknowledgement and target.held_as == ISSUER:
        _grant_attachments(session, ctx, order, target, event, ctx.clock.now())
    session.flush()
    ctx.audit.append(
        session,
        actor=SYSTEM_ACTOR,
        action=f"order-{action}",
        object_type="order",
        object_id=order_id,
        reason=f"by {origin} for {addressee}",
    )
    return version


def apply_summary(session: Session, ctx: NodeContext, origin: str, data: dict[str, Any]) -> int:
    """Metadata of a target in our subtree, from its issuer or its addressee."""
    order_id = _order_id(data, "order_id")
    issuer = _str(data, "issuer")
    addressee = _str(data, "addressee")
    snap = data.get("target")
    if not isinstance(snap, dict):
        raise ApplyRefused("malformed")
    topology = ctx.topology
    if issuer not in topology or addressee not in topology:
        raise ApplyRefused("unknown_node")
    holders = topology.ancestors(addressee)
    if (
        origin not in (issuer, addressee)
        or issuer not in holders
        or ctx.node_id not in holders
        or ctx.node_id == issuer
    ):
        raise ApplyRefused("not_in_subtree")
    target = _lock_target(session, order_id, addressee)
    if target is not None and target.issuer != issuer:
        # The issuer is fixed when the order is first known here; an addressee's summary cannot
        # move the order to another of its ancestors.
        raise ApplyRefused("origin_mismatch")
    try:
        version = int(snap["version"])
        if target is None:
            target = OrderTarget(
                order_id=order_id, addressee=addressee, issuer=issuer, held_as=SUMMARY, version=0
            )
            apply_snapshot(target, {k: v for k, v in snap.items() if k not in FULL_ONLY})
            session.add(target)
        elif target.held_as == SUMMARY and version > target.version:
            apply_snapshot(target, {k: v for k, v in snap.items() if k not in FULL_ONLY})
    except (KeyError, TypeError, ValueError) as exc:
        raise ApplyRefused("malformed") from exc
    session.flush()
    return version


FULL_ONLY = ("report_record_id", "handler_id", "handler_name")


# -- reading ------------------------------------------------------------------------------------


def target_out(
    ctx: NodeContext, target: OrderTarget, now: datetime, events: Iterable[OrderEvent] | None = None
) -> TargetOut:
    full = target.held_as != SUMMARY
    return TargetOut(
        order_id=target.order_id,
        issuer=target.issuer,
        addressee=target.addressee,
        addressee_name=_node_name(ctx, target.addressee),
        state=target.state,
        state_label=STATE_LABELS[target.state],
        version=target.version,
        deadline=as_aware(target.deadline),
        overdue=is_overdue(target.state, target.deadline, now),
        issued_at=as_aware(target.issued_at),
        received_at=_aware_or_none(target.received_at),
        acknowledged_at=_aware_or_none(target.acknowledged_at),
        reported_at=_aware_or_none(target.reported_at),
        accepted_at=_aware_or_none(target.accepted_at),
        closed_at=_aware_or_none(target.closed_at),
        returns=target.returns,
        held_as=target.held_as,
        report_record_id=target.report_record_id if full else None,
        handler=target.handler_name if full else None,
        events=None if events is None else [_event_out(e) for e in events],
    )


def _aware_or_none(moment: datetime | None) -> datetime | None:
    return None if moment is None else as_aware(moment)


def _event_out(event: OrderEvent) -> EventOut:
    return EventOut(
        seq=event.seq,
        action=event.action,
        action_label=ACTION_LABELS.get(event.action, event.action),
        state=event.state,
        state_label=STATE_LABELS[event.state],
        node=event.node,
        actor=event.actor,
        role=event.role,
        note=event.note,
        at=as_aware(event.at),
    )


def order_out(
    ctx: NodeContext,
    order: Order,
    targets: list[OrderTarget],
    now: datetime,
    events: list[OrderEvent] | None = None,
) -> OrderOut:
    by_target: dict[str, list[OrderEvent]] = {}
    for event in events or []:
        by_target.setdefault(event.addressee, []).append(event)
    target_items = [
        target_out(ctx, t, now, None if events is None else by_target.get(t.addressee, []))
        for t in targets
    ]
    return OrderOut(
        id=order.id,
        issuer=order.issuer,
        issuer_name=_node_name(ctx, order.issuer),
        issued_by=order.issued_by,
        title=order.title,
        inspected_units=list(order.inspected_units),
        focus_issues=list(order.focus_issues),
        addressees=list(order.addressees),
        deadline=as_aware(order.deadline),
        issued_at=as_aware(order.issued_at),
        held_as=order.held_as,
        overdue=any(t.overdue for t in target_items),
        attachments=[
            AttachmentOut(
                record_id=a.record_id,
                origin=a.record_origin,
                classification=a.classification,
                category=a.category,
                granted=a.granted,
            )
            for a in order.attachments
        ],
        targets=target_items,
    )


def _held_targets(session: Session, order_ids: list[str]) -> dict[str, list[OrderTarget]]:
    rows = (
        session.execute(
            select(OrderTarget)
            .where(OrderTarget.order_id.in_(order_ids), OrderTarget.held_as != SUMMARY)
            .order_by(OrderTarget.order_id, OrderTarget.addressee)
        )
        .scalars()
        .all()
    )
    found: dict[str, list[OrderTarget]] = {}
    for target in rows:
        found.setdefault(target.order_id, []).append(target)
    return found


def get_order(session: Session, ctx: NodeContext, actor: Actor, order_id: str) -> OrderOut:
    _require(ctx, actor, "read-order", order_id)
    order = _load_order(session, order_id)
    targets = _held_targets(session, [order.id]).get(order.id, [])
    events = list(
        session.execute(
            select(OrderEvent)
            .where(OrderEvent.order_id == order.id)
            .order_by(OrderEvent.addressee, OrderEvent.seq)
        )
        .scalars()
        .all()
    )
    ctx.audit.append(session, actor=actor, action="read", object_type="order", object_id=order.id)
    return order_out(ctx, order, targets, ctx.clock.now(), events)


def order_view(session: Session, ctx: NodeContext, order: Order) -> OrderOut:
    """The order as just changed by its caller (no read audited: the change was)."""
    targets = _held_targets(session, [order.id]).get(order.id, [])
    return order_out(ctx, order, targets, ctx.clock.now())


def _target_state_conditions(
    state: str | None, overdue: bool | None, now: datetime
) -> list[ColumnElement[bool]]:
    """``OrderTarget`` conditions for the state and overdue filters (None: no condition), the same
    for orders and for targets."""
    conditions: list[ColumnElement[bool]] = []
    if state is not None:
        conditions.append(OrderTarget.state == state)
    if overdue is not None:
        clause = overdue_clause(now)
        conditions.append(clause if overdue else ~clause)
    return conditions


@dataclass(frozen=True)
class OrderFilters:
    box: str | None = None  # issued | received
    state: str | None = None
    overdue: bool | None = None


def list_orders(
    session: Session,
    ctx: NodeContext,
    actor: Actor,
    filters: OrderFilters,
    *,
    cursor: str | None,
    limit: int,
) -> OrderPage:
    """Orders issued here or addressed here, newest first (summaries: ``list_targets``)."""
    _require(ctx, actor, "read-order")
    now = ctx.clock.now()
    conditions: list[ColumnElement[bool]] = []
    if filters.box == "issued":
        conditions.append(Order.held_as == ISSUER)
    elif filters.box == "received":
        conditions.append(Order.held_as == ADDRESSEE)
    target_conditions = _target_state_conditions(filters.state, filters.overdue, now)
    if target_conditions:
        conditions.append(
            exists(
                select(OrderTarget.order_id).where(
                    OrderTarget.order_id == Order.id,
                    OrderTarget.held_as != SUMMARY,
                    *target_conditions,
                )
            )
        )
    if cursor is not None:
        if not is_uuid(cursor):
            raise InvalidInput("cursor is not valid", code="invalid_cursor")
        conditions.append(Order.id < cursor)
    orders = list(
        session.execute(select(Order).where(*conditions).order_by(Order.id.desc()).limit(limit + 1))
        .scalars()
        .all()
    )
    page = orders[:limit]
    targets = _held_targets(session, [o.id for o in page])
    items = [order_out(ctx, o, targets.get(o.id, []), now) for o in page]
    ctx.audit.append(
        session, actor=actor, action="list", object_type="order", reason=f"{len(items)} items"
    )
    return OrderPage(items=items, next_cursor=page[-1].id if len(orders) > limit else None)


@dataclass(frozen=True)
class TargetFilters:
    state: str | None = None
    overdue: bool | None = None
    addressee: str | None = None
    issuer: str | None = None


def subtree_clause(ctx: NodeContext, column: Any) -> ColumnElement[bool] | None:
    """``column IN subtree``; None at the root, whose subtree is every node there is."""
    if ctx.topology.parent(ctx.node_id) is None:
        return None
    in_subtree: ColumnElement[bool] = column.in_(sorted(ctx.topology.subtree(ctx.node_id)))
    return in_subtree


def list_targets(
    session: Session,
    ctx: NodeContext,
    actor: Actor,
    filters: TargetFilters,
    *,
    cursor: str | None,
    limit: int,
) -> TargetPage:
    """Every addressee's state held here for the subtree (issued, received, or summaries)."""
    _require(ctx, actor, "read-order")
    now = ctx.clock.now()
    conditions: list[ColumnElement[bool]] = []
    in_subtree = subtree_clause(ctx, OrderTarget.addressee)
    if in_subtree is not None:
        conditions.append(in_subtree)
    conditions += _target_state_conditions(filters.state, filters.overdue, now)
    if filters.addressee is not None:
        conditions.append(OrderTarget.addressee == filters.addressee)
    if filters.issuer is not None:
        conditions.append(OrderTarget.issuer == filters.issuer)
    if cursor is not None:
        order_id, _, addressee = cursor.partition(":")
        if not is_uuid(order_id) or not addressee:
            raise InvalidInput("cursor is not valid", code="invalid_cursor")
        conditions.append(
            tuple_(OrderTarget.order_id, OrderTarget.addressee) < tuple_(order_id, addressee)
        )
    rows = list(
        session.execute(
            select(OrderTarget)
            .where(*conditions)
            .order_by(OrderTarget.order_id.desc(), OrderTarget.addressee.desc())
            .limit(limit + 1)
        )
        .scalars()
        .all()
    )
    page = rows[:limit]
    ctx.audit.append(
        session, actor=actor, action="list", object_type="order-target", reason=f"{len(page)} items"
    )
    next_cursor = f"{page[-1].order_id}:{page[-1].addressee}" if len(rows) > limit else None
    return TargetPage(items=[target_out(ctx, t, now) for t in page], next_cursor=next_cursor)
