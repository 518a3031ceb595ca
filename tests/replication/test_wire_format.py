"""The envelope payloads on the bytes: pinned, so that a change to a wire model that would change
what other nodes (of this version or the previous one) receive fails here. Also the registry's
rules: every kind registered once, a payload built only from its kind's wire model."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from node.crypto import canonical_json
from node.ledger.models import LedgerItem
from node.ledger.wire import LedgerSummaryWire, summary_wire
from node.models import Record, RecordParty
from node.orders.models import Order, OrderAttachment, OrderEvent, OrderTarget
from node.orders.wire import (
    EventWire,
    OrderWire,
    TargetSummaryWire,
    TargetWire,
    event_wire,
    order_wire,
    target_summary_wire,
    target_wire,
)
from node.records.wire import RecordWire, record_wire
from node.replication.kinds import Kind, KindRegistry, KindSpec, WireModel
from tests.conftest import NodeUnderTest

T0 = datetime(2026, 3, 1, 8, 0, 0, tzinfo=UTC)
T1 = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)
T2 = datetime(2026, 3, 5, 0, 0, 0)  # naive, as SQLite hands times back

PINNED = {
    "record_full": (
        '{"author":"张三","body":"正文","category":"inspection_finding","classification":"restricted","created_at":"2026-03-01T08:00:00.000000Z","deleted":false,"id":"01a23000-0000-7000-8000-000000000001","origin":"yanan","parties":["central","shaanxi"],"stub":false,"title":"标题","updated_at":"2026-03-05T00:00:00.000000Z","version":3}'
    ),
    "record_stub": (
        '{"category":"inspection_finding","classification":"restricted","created_at":"2026-03-01T08:00:00.000000Z","deleted":false,"id":"01a23000-0000-7000-8000-000000000001","origin":"yanan","stub":true,"updated_at":"2026-03-05T00:00:00.000000Z","version":3}'
    ),
    "order": (
        '{"addressees":["yanan","yichuan"],"attachments":[{"category":"inspection_finding","classification":"restricted","granted":false,"origin":"yanan","record_id":"01a23000-0000-7000-8000-000000000001"}],"deadline":"2026-03-02T09:30:15.123456Z","focus_issues":["问题一","问题二"],"id":"01a23000-0000-7000-8000-000000000002","inspected_units":["某局"],"issued_at":"2026-03-01T08:00:00.000000Z","issued_by":"李四","issuer":"shaanxi","title":"督办"}'
    ),
    "target_full": (
        '{"accepted_at":null,"ack_seconds":3600,"acknowledged_at":"2026-03-05T00:00:00.000000Z","closed_at":null,"deadline":"2026-03-02T09:30:15.123456Z","handler_id":"u1","handler_name":"王五","issued_at":"2026-03-01T08:00:00.000000Z","received_at":"2026-03-01T08:00:00.000000Z","report_record_id":null,"reported_at":null,"returns":0,"state":"acknowledged","updated_at":"2026-03-05T00:00:00.000000Z","version":3}'
    ),
    "target_summary": (
        '{"accepted_at":null,"ack_seconds":3600,"acknowledged_at":"2026-03-05T00:00:00.000000Z","closed_at":null,"deadline":"2026-03-02T09:30:15.123456Z","issued_at":"2026-03-01T08:00:00.000000Z","received_at":"2026-03-01T08:00:00.000000Z","reported_at":null,"returns":0,"state":"acknowledged","updated_at":"2026-03-05T00:00:00.000000Z","version":3}'
    ),
    "event": (
        '{"action":"acknowledge","actor":"王五","actor_id":"u1","at":"2026-03-05T00:00:00.000000Z","node":"yanan","note":null,"role":"inspector","seq":3,"state":"acknowledged"}'
    ),
    "ledger": (
        '{"closed_at":null,"created_at":"2026-03-01T08:00:00.000000Z","department":"第三监督检查室","feedback_count":1,"feedback_deadline":"2026-03-02T09:30:15.123456Z","id":"01a23000-0000-7000-8000-000000000003","last_feedback_at":"2026-03-05T00:00:00.000000Z","node":"yanan","status":"responded","updated_at":"2026-03-05T00:00:00.000000Z","version":2}'
    ),
}


def rows() -> tuple[Record, Order, OrderTarget, OrderEvent, LedgerItem]:
    record = Record(
        id="01a23000-0000-7000-8000-000000000001",
        origin="yanan",
        author="张三",
        category="inspection_finding",
        classification="restricted",
        title="标题",
        body="正文",
        version=3,
        created_at=T0,
        updated_at=T2,
        deleted=False,
        is_stub=False,
        parties=[RecordParty(node_id="shaanxi"), RecordParty(node_id="central")],
    )
    order = Order(
        id="01a23000-0000-7000-8000-000000000002",
        issuer="shaanxi",
        issued_by="李四",
        title="督办",
        inspected_units=["某局"],
        focus_issues=["问题一", "问题二"],
        addressees=["yanan", "yichuan"],
        deadline=T1,
        issued_at=T0,
        held_as="issuer",
        attachments=[
            OrderAttachment(
                record_id=record.id,
                record_origin="yanan",
                classification="restricted",
                category="inspection_finding",
                granted=False,
            )
        ],
    )
    target = OrderTarget(
        order_id=order.id,
        addressee="yanan",
        issuer="shaanxi",
        held_as="issuer",
        state="acknowledged",
        version=3,
        deadline=T1,
        issued_at=T0,
        received_at=T0,
        acknowledged_at=T2,
        reported_at=None,
        accepted_at=None,
        closed_at=None,
        updated_at=T2,
        returns=0,
        ack_seconds=3600,
        report_record_id=None,
        handler_id="u1",
        handler_name="王五",
    )
    event = OrderEvent(
        order_id=order.id,
        addressee="yanan",
        seq=3,
        action="acknowledge",
        state="acknowledged",
        node="yanan",
        actor="王五",
        actor_id="u1",
        role="inspector",
        note=None,
        at=T2,
    )
    item = LedgerItem(
        id="01a23000-0000-7000-8000-000000000003",
        node="yanan",
        held_as="own",
        title="t",
        department="第三监督检查室",
        responsible="赵六",
        transferred_by="x",
        feedback_deadline=T1,
        status="responded",
        feedback_count=1,
        last_feedback_at=T2,
        created_at=T0,
        updated_at=T2,
        closed_at=None,
        version=2,
    )
    return record, order, target, event, item


def built() -> dict[str, WireModel]:
    record, order, target, event, item = rows()
    return {
        "record_full": record_wire(record, full=True),
        "record_stub": record_wire(record, full=False),
        "order": order_wire(order),
        "target_full": target_wire(target),
        "target_summary": target_summary_wire(target),
        "event": event_wire(event),
        "ledger": summary_wire(item),
    }


MODELS: dict[str, type[WireModel]] = {
    "record_full": RecordWire,
    "record_stub": RecordWire,
    "order": OrderWire,
    "target_full": TargetWire,
    "target_summary": TargetSummaryWire,
    "event": EventWire,
    "ledger": LedgerSummaryWire,
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_payloads_keep_their_bytes(name: str) -> None:
    wire = built()[name]
    assert canonical_json(wire.payload()).decode() == PINNED[name]
    # What is received parses back to the same bytes.
    again = MODELS[name].model_validate(wire.payload())
    assert canonical_json(again.payload()).decode() == PINNED[name]


def test_references_name_the_object() -> None:
    wires = built()
    record_id = "01a23000-0000-7000-8000-000000000001"
    assert wires["record_stub"].envelope_ref() == {"record": record_id, "version": 3}
    assert wires["order"].envelope_ref() == {"order": "01a23000-0000-7000-8000-000000000002"}
    ledger_id = "01a23000-0000-7000-8000-000000000003"
    assert wires["ledger"].envelope_ref() == {"ledger": ledger_id, "version": 2}


def test_every_kind_is_registered_once(make_node: Callable[[str], NodeUnderTest]) -> None:
    node = make_node("shaanxi")
    assert {spec.kind for spec in node.ctx.kinds} == set(Kind)
    spec = node.ctx.kinds.require(Kind.RECORD)
    with pytest.raises(ValueError, match="registered already"):
        node.ctx.kinds.register(spec)


def test_a_kind_is_sent_only_with_its_own_wire_model(
    make_node: Callable[[str], NodeUnderTest],
) -> None:
    node = make_node("shaanxi")
    _record, order, _target, _event, _item = rows()
    with node.ctx.sessions() as session, pytest.raises(TypeError, match="OrderWire"):
        node.ctx.outbox.send(session, Kind.ORDER, built()["ledger"], dest=["yanan"], encrypt=True)
    with node.ctx.sessions() as session, pytest.raises(ValueError, match="travel sealed"):
        node.ctx.outbox.send(session, Kind.ORDER, order_wire(order), dest=["yanan"], encrypt=False)


def test_a_registry_refuses_a_second_spec_for_a_kind() -> None:
    registry: KindRegistry[object] = KindRegistry()

    def handler(*_args: object) -> tuple[str | None, int | None]:
        return None, None

    registry.register(KindSpec("demo", wire=RecordWire, ref_key="record", handler=handler))
    with pytest.raises(ValueError, match="registered already"):
        registry.register(KindSpec("demo", wire=RecordWire, ref_key="record", handler=handler))
