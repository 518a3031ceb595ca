"""The order envelope kinds and their wire models, built from rows when sent and validated whole
on receipt:

- ``order`` (issuer -> addressees, sealed): the order as issued;
- ``order-update`` (one end -> the other, sealed): a target's full state and the event that moved
  it (notes and the report's record id included);
- ``order-summary`` (-> every other node whose subtree holds the addressee, sealed): a target's
  metadata only (nodes, state, deadline, times), so statistics at any tier above count it.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import StringConstraints

from node.clock import WireDateTime
from node.ids import CanonicalUuid
from node.orders.models import Order, OrderEvent, OrderTarget
from node.orders.schemas import OrderState
from node.replication.kinds import WireModel

Text = Annotated[str, StringConstraints(min_length=1)]
TIMES = ("received_at", "acknowledged_at", "reported_at", "accepted_at", "closed_at")


class AttachmentWire(WireModel):
    record_id: Annotated[str, StringConstraints(max_length=36)]
    origin: Annotated[str, StringConstraints(max_length=64)]
    classification: Annotated[str, StringConstraints(max_length=16)]
    category: Annotated[str, StringConstraints(max_length=40)]
    granted: bool


class OrderWire(WireModel):
    """``order``: the order as its issuer made it."""

    id: CanonicalUuid
    issuer: Text
    issued_by: Text
    title: Text
    inspected_units: list[str]
    focus_issues: list[str]
    addressees: list[str]
    deadline: WireDateTime
    issued_at: WireDateTime
    attachments: list[AttachmentWire]

    def envelope_ref(self) -> dict[str, Any]:
        return {"order": self.id}


class TargetSummaryWire(WireModel):
    """A target's state as a summary holder sees it: metadata only."""

    state: OrderState
    version: int
    deadline: WireDateTime
    issued_at: WireDateTime
    updated_at: WireDateTime
    returns: int
    ack_seconds: int | None
    received_at: WireDateTime | None
    acknowledged_at: WireDateTime | None
    reported_at: WireDateTime | None
    accepted_at: WireDateTime | None
    closed_at: WireDateTime | None


class TargetWire(TargetSummaryWire):
    """A target's state for the other end: with the report and the addressee's handler."""

    report_record_id: Annotated[str, StringConstraints(max_length=36)] | None
    handler_id: Annotated[str, StringConstraints(max_length=36)] | None
    handler_name: Annotated[str, StringConstraints(max_length=100)] | None


class EventWire(WireModel):
    seq: int
    action: str
    state: str
    node: str
    actor: str = ""
    actor_id: str | None = None
    role: str = ""
    note: str | None = None
    at: WireDateTime


class OrderUpdateWire(WireModel):
    """``order-update``: one end moved a target."""

    order_id: CanonicalUuid
    addressee: Text
    target: TargetWire
    event: EventWire

    def envelope_ref(self) -> dict[str, Any]:
        return {"order": self.order_id, "addressee": self.addressee, "version": self.target.version}


class OrderSummaryWire(WireModel):
    """``order-summary``: a target's metadata for the nodes above its addressee."""

    order_id: CanonicalUuid
    issuer: Text
    addressee: Text
    target: TargetSummaryWire

    def envelope_ref(self) -> dict[str, Any]:
        return {"order": self.order_id, "addressee": self.addressee, "version": self.target.version}


# -- from rows ----------------------------------------------------------------------------------


def order_wire(order: Order) -> OrderWire:
    return OrderWire(
        id=order.id,
        issuer=order.issuer,
        issued_by=order.issued_by,
        title=order.title,
        inspected_units=list(order.inspected_units),
        focus_issues=list(order.focus_issues),
        addressees=list(order.addressees),
        deadline=order.deadline,
        issued_at=order.issued_at,
        attachments=[
            AttachmentWire(
                record_id=a.record_id,
                origin=a.record_origin,
                classification=a.classification,
                category=a.category,
                granted=a.granted,
            )
            for a in order.attachments
        ],
    )


def _target_fields(target: OrderTarget) -> dict[str, Any]:
    return {
        "state": target.state,
        "version": target.version,
        "deadline": target.deadline,
        "issued_at": target.issued_at,
        "updated_at": target.updated_at,
        "returns": target.returns,
        "ack_seconds": target.ack_seconds,
        **{name: getattr(target, name) for name in TIMES},
    }


def target_wire(target: OrderTarget) -> TargetWire:
    return TargetWire(
        **_target_fields(target),
        report_record_id=target.report_record_id,
        handler_id=target.handler_id,
        handler_name=target.handler_name,
    )


def target_summary_wire(target: OrderTarget) -> TargetSummaryWire:
    return TargetSummaryWire(**_target_fields(target))


def event_wire(event: OrderEvent) -> EventWire:
    return EventWire(
        seq=event.seq,
        action=event.action,
        state=event.state,
        node=event.node,
        actor=event.actor,
        actor_id=event.actor_id,
        role=event.role,
        note=event.note,
        at=event.at,
    )
