"""Per-channel sequence numbers (DESIGN §10): a dropped envelope shows as a gap after the grace
period, in the federation status and in /metrics; the receiver asks its origin once per grace
period; the origin resends what it still keeps (applied once) and voids what it does not; a
relay cannot renumber (the numbers are signed)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import update

from node.crypto import canonical_json
from node.ids import uuid7
from node.models import OutboxMessage
from node.replication import resend, sequence
from node.replication.apply import BatchApplier
from node.replication.envelope import Envelope, EnvelopeRejected, open_envelope, seal_envelope
from tests.conftest import NodeUnderTest
from tests.inprocess import HeldMessage, MiniFederation

GRACE = 30.0


def create_record(node: NodeUnderTest, title: str, **extra: Any) -> dict[str, Any]:
    response = node.client.post(
        "/api/v1/records",
        json={"category": "practice", "title": title, "body": "正文", **extra},
        headers=node.auth("inspector"),
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def take_outbox(fed: MiniFederation, node_id: str) -> list[Envelope]:
    """Everything ``node_id`` has queued, marked sent without delivering it (the caller delivers
    what it wants: what it does not is dropped on the way)."""
    envelopes = fed.outbox(node_id)
    node = fed[node_id]
    with node.ctx.sessions() as session, session.begin():
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.sent_at.is_(None))
            .values(sent_at=node.ctx.clock.now())
        )
    return envelopes


def status(node: NodeUnderTest) -> dict[str, Any]:
    response = node.client.get("/api/v1/federation/status", headers=node.auth("admin"))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def channel(node: NodeUnderTest, origin: str, name: str) -> dict[str, Any]:
    [found] = [c for c in status(node)["sequences"][origin] if c["channel"] == name]
    return found


def metric(node: NodeUnderTest, line_start: str) -> float | None:
    text = node.client.get("/metrics", headers=node.auth("admin")).text
    for line in text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.split()[-1])
    return None


def drop_first_of_two(fed: MiniFederation) -> tuple[dict[str, Any], dict[str, Any], int]:
    """shaanxi writes two general records; the first is lost on the way to yanan, the second
    arrives. Returns both records and the first one's broadcast number."""
    shaanxi, yanan = fed["shaanxi"], fed["yanan"]
    lost = create_record(shaanxi, "丢失的记录")
    kept = create_record(shaanxi, "到达的记录")
    envelopes = {e.ref["record"]: e for e in take_outbox(fed, "shaanxi")}
    lost_envelope = envelopes[lost["id"]]
    assert lost_envelope.seq is not None
    assert fed.deliver("yanan", envelopes[kept["id"]]) == "applied"
    assert yanan.ctx.kinds  # the node is wired
    return lost, kept, lost_envelope.seq["*"]


def test_dropped_envelope_shows_as_gap_then_is_resent_and_applied_once(
    mini_federation: Callable[..., MiniFederation],
) -> None:
    fed = mini_federation("shaanxi", "yanan")
    yanan = fed["yanan"]
    lost, kept, number = drop_first_of_two(fed)
    assert fed.rows("yanan", "SELECT id FROM records WHERE id = :i", i=lost["id"]) == []

    # Within the grace period it may still be on its way: pending, not a gap, nothing asked.
    star = channel(yanan, "shaanxi", "*")
    assert (star["received_through"], star["highest"], star["pending"]) == (
        number - 1,
        number + 1,
        1,
    )
    assert star["gaps"] == []
    assert status(yanan)["sequence_gaps"] == 0
    assert resend.request_missing(yanan.ctx) == 0

    fed.clock.advance(GRACE + 1)
    star = channel(yanan, "shaanxi", "*")
    assert [(g["from"], g["to"]) for g in star["gaps"]] == [(number, number)]
    assert status(yanan)["sequence_gaps"] == 1
    assert metric(yanan, 'fedshare_inbound_sequence_gaps{origin="shaanxi"}') == 1.0

    # One request per channel and grace period.
    assert resend.request_missing(yanan.ctx) == 1
    assert resend.request_missing(yanan.ctx) == 0
    assert channel(yanan, "shaanxi", "*")["resend_requested_at"] is not None
    [request] = fed.outbox("yanan", kind="resend-request")
    assert request.dest == ["shaanxi"]
    assert request.document["payload"] == {"channel": "*", "ranges": [[number, number]]}

    fed.pump()
    rows = fed.rows("yanan", "SELECT title, version FROM records WHERE id = :i", i=lost["id"])
    assert rows == [("丢失的记录", 1)]
    star = channel(yanan, "shaanxi", "*")
    assert (star["received_through"], star["gaps"], star["pending"]) == (number + 1, [], 0)
    assert (star["filled"], star["voided"], star["resend_requested_at"]) == (1, 0, None)
    assert status(yanan)["sequence_gaps"] == 0
    assert metric(yanan, 'fedshare_inbound_sequence_gaps{origin="shaanxi"}') == 0.0
    assert metric(yanan, 'fedshare_inbound_sequence_gaps_filled_total{origin="shaanxi"}') == 1.0
    # Applied once, under the original message id; nothing refused.
    applied = fed.rows(
        "yanan",
        "SELECT count(*) FROM inbox WHERE kind = 'record' AND object_id = :i",
        i=lost["id"],
    )
    assert applied == [(1,)]
    assert fed.rows("yanan", "SELECT reason FROM dead_letters") == []
    # The kept record was not touched again.
    assert fed.rows("yanan", "SELECT version FROM records WHERE id = :i", i=kept["id"]) == [(1,)]

    # A second request for the same number (a late duplicate) changes nothing.
    fed.clock.advance(GRACE + 1)
    assert resend.request_missing(yanan.ctx) == 0


@pytest.mark.parametrize("forgotten", ["pruned", "purged"])
def test_number_no_longer_kept_is_voided(
    mini_federation: Callable[..., MiniFederation], forgotten: str
) -> None:
    fed = mini_federation("shaanxi", "yanan")
    shaanxi, yanan = fed["shaanxi"], fed["yanan"]
    lost, _kept, number = drop_first_of_two(fed)
    if forgotten == "pruned":
        fed.clock.advance(shaanxi.ctx.settings.sequence_retention_s + 1)
        assert resend.prune_kept(shaanxi.ctx) == 2
    else:
        fed.clock.advance(GRACE + 1)
        with shaanxi.ctx.sessions() as session, session.begin():
            assert sequence.purge_object(session, "record", lost["id"]) == 1

    assert resend.request_missing(yanan.ctx) == 1
    fed.pump()
    assert fed.outbox("shaanxi", kind="resend", pending_only=False) == []
    [void] = fed.outbox("shaanxi", kind="sequence-void", pending_only=False)
    assert void.document["payload"] == {"channel": "*", "ranges": [[number, number]]}
    star = channel(yanan, "shaanxi", "*")
    assert (star["gaps"], star["filled"], star["voided"]) == ([], 0, 1)
    assert star["received_through"] == number + 1
    assert metric(yanan, 'fedshare_inbound_sequence_voids_total{origin="shaanxi"}') == 1.0
    assert metric(yanan, 'fedshare_inbound_sequence_gaps_filled_total{origin="shaanxi"}') == 0.0
    assert fed.rows("yanan", "SELECT id FROM records WHERE id = :i", i=lost["id"]) == []


def test_restricted_envelopes_are_numbered_per_destination(
    mini_federation: Callable[..., MiniFederation],
) -> None:
    """Envelopes for some nodes only leave no holes in any other node's numbers."""
    fed = mini_federation("huanglong", "yanan", "shaanxi")
    huanglong = fed["huanglong"]
    create_record(huanglong, "全体")
    create_record(huanglong, "仅省级", category="inspection_finding", parties=["shaanxi"])
    create_record(huanglong, "仅市级", category="inspection_finding", parties=["yanan"])
    create_record(huanglong, "全体二")
    seqs = [e.seq for e in fed.outbox("huanglong", kind="record")]
    assert seqs == [{"*": 1}, {"shaanxi": 1}, {"yanan": 1}, {"*": 2}]
    fed.pump()
    fed.clock.advance(GRACE + 1)
    for node_id in ("yanan", "shaanxi"):
        node = fed[node_id]
        assert status(node)["sequence_gaps"] == 0
        own = channel(node, "huanglong", node_id)
        assert (own["received_through"], own["highest"]) == (1, 1)
        assert channel(node, "huanglong", "*")["received_through"] == 2
        assert resend.request_missing(node.ctx) == 0


def test_forged_sequence_number_fails_the_signature(
    mini_federation: Callable[..., MiniFederation],
) -> None:
    fed = mini_federation("shaanxi", "yanan")
    yanan = fed["yanan"]
    create_record(fed["shaanxi"], "真实")
    [genuine] = take_outbox(fed, "shaanxi")
    document: dict[str, Any] = json.loads(genuine.raw)
    assert document["seq"] == {"*": 1}
    # A relay that wants to hide a drop (or fake one) renumbers: the signature no longer holds.
    forged = canonical_json(dict(document, seq={"*": 1000}))
    with pytest.raises(EnvelopeRejected) as refused:
        open_envelope(forged, fed.topology, now=fed.clock.now())
    assert refused.value.reason == "bad_signature"
    applier = BatchApplier(yanan.ctx, fed.metrics("yanan"))
    subject = fed.arrival_subject("shaanxi", "yanan")
    outcomes = applier.apply([applier.decode(HeldMessage(forged, subject, 1), 1)])
    assert [o.reason for o in outcomes] == ["bad_signature"]
    assert status(yanan)["sequences"] == {}  # an unverified number advances nothing

    # Numbers are one per destination, signed by the origin: any other shape is malformed.
    for wrong in ({"yanan": 1}, {"*": 0}, {"*": True}, {"*": 1, "yanan": 1}):
        _msg, raw = seal_envelope(
            keys=fed.keys["shaanxi"],
            topology=fed.topology,
            origin="shaanxi",
            kind="record",
            dest=["*"],
            ref={"record": uuid7()},
            payload={},
            encrypt=False,
            now=fed.clock.now(),
            seq=wrong,  # type: ignore[arg-type]
        )
        with pytest.raises(EnvelopeRejected) as malformed:
            open_envelope(raw, fed.topology, now=fed.clock.now())
        assert malformed.value.reason == "malformed", wrong

    assert fed.deliver("yanan", genuine) == "applied"
    assert channel(yanan, "shaanxi", "*")["received_through"] == 1


def test_resend_requests_only_for_own_channel(
    mini_federation: Callable[..., MiniFederation],
) -> None:
    """A node cannot pull what was addressed to another through a resend request."""
    fed = mini_federation("shaanxi", "yanan")
    outcome = fed.send_as(
        "yanan",
        "shaanxi",
        kind="resend-request",
        dest=["shaanxi"],
        ref={"channel": "central"},
        payload={"channel": "central", "ranges": [[1, 1]]},
        encrypt=False,
    )
    assert outcome == "rejected:not_your_channel"
    assert fed.outbox("shaanxi", kind="resend") == []


def envelope(origin: str, number: int) -> Envelope:
    """A verified broadcast numbered ``number`` (the bookkeeping reads only these fields)."""
    return Envelope(
        msg_id=uuid7(),
        kind="record",
        origin=origin,
        dest=["*"],
        time="",
        ref={},
        raw=b"",
        document={},
        seq={"*": number},
    )


def node_rows(node: NodeUnderTest, sql: str) -> list[tuple[Any, ...]]:
    with node.ctx.engine.connect() as conn:
        return [tuple(row) for row in conn.exec_driver_sql(sql)]


def test_positions_track_out_of_order_and_duplicate_numbers(
    make_node: Callable[..., NodeUnderTest],
) -> None:
    node = make_node("yanan")
    times: dict[int, datetime] = {}

    def receive(*numbers: int) -> None:
        for number in numbers:
            with node.ctx.sessions() as session, session.begin():
                times[number] = node.clock.advance(1)
                sequence.note_received(session, envelope("shaanxi", number), "yanan", times[number])

    def position() -> sequence.Position:
        with node.ctx.sessions() as session:
            [found] = sequence.positions(session)
        return found

    receive(1, 2, 5, 3, 8, 7, 2)
    found = position()
    assert (found.contiguous, found.highest, found.filled) == (3, 8, 2)  # 3 and 7 came late
    assert [(g.first, g.last, g.since) for g in found.gaps] == [
        (4, 4, times[5]),
        (6, 6, times[8]),  # known missing since 8 came, before 7
    ]
    receive(4, 6, 6)
    found = position()
    assert (found.contiguous, found.highest, found.gaps, found.filled) == (8, 8, [], 4)
    assert node_rows(node, "SELECT count(*) FROM inbound_sequence_received") == [(0,)]
    # The node's own envelopes and envelopes without numbers are not followed.
    with node.ctx.sessions() as session, session.begin():
        sequence.note_received(session, envelope("yanan", 50), "yanan", node.clock.now())
        unnumbered = envelope("central", 1)
        sequence.note_received(
            session, Envelope(**{**unnumbered.__dict__, "seq": None}), "yanan", node.clock.now()
        )
    with node.ctx.sessions() as session:
        assert [(p.origin, p.channel) for p in sequence.positions(session)] == [("shaanxi", "*")]
