"""A relay node sends what it forwards and what it creates in one commit order.

The inbox queues each relayed envelope in the outbox in the transaction that applies it, so an
envelope this node makes afterwards (say, a read report on a grant it just received) can never
overtake the relayed one on the next hop. Before, forwards were published straight after the
commit, beside the outbox relay, and the root could see a read report before its grant.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from node.crypto import NodeKeys
from node.ids import uuid7
from node.metrics import Metrics
from node.models import OutboxMessage
from node.replication.apply import BatchApplier
from node.replication.envelope import seal_envelope
from node.topology import Topology
from tests.conftest import NodeUnderTest
from tests.inprocess import HeldMessage
from tests.replication.test_inbox_atomic import record_payload


def outbox_rows(node: NodeUnderTest) -> list[tuple[str, str]]:
    with node.ctx.sessions() as session:
        rows = session.execute(
            select(OutboxMessage.msg_id, OutboxMessage.subject).order_by(OutboxMessage.id)
        ).all()
    return [(str(msg_id), str(subject)) for msg_id, subject in rows]


def test_forwards_leave_in_commit_order_with_the_nodes_own_envelopes(
    make_node: Callable[[str], NodeUnderTest],
    demo_keys: dict[str, NodeKeys],
    demo_topology: Topology,
) -> None:
    node = make_node("yanan")  # huanglong's parent; yichuan is huanglong's sibling
    record_id = uuid7()
    relayed_id, raw = seal_envelope(
        keys=demo_keys["huanglong"],
        topology=demo_topology,
        origin="huanglong",
        kind="record",
        dest=["*"],
        ref={"record": record_id, "version": 1},
        payload=record_payload(record_id),
        encrypt=False,
        now=node.clock.now(),
    )
    applier = BatchApplier(node.ctx, Metrics())
    message = HeldMessage(raw, "fs.huanglong.up", 1)
    [delivery] = [applier.decode(message, 1)]
    [outcome] = applier.apply([delivery])
    assert outcome.status == "applied"
    forwards = [(relayed_id, "fs.yanan.up"), (relayed_id, "fs.yanan.down.yichuan")]
    assert sorted(outbox_rows(node)) == sorted(forwards)
    assert sorted(delivery.forward_to or []) == sorted(subject for _, subject in forwards)

    created = node.client.post(
        "/api/v1/records",
        headers=node.auth("inspector"),
        json={"category": "practice", "title": "延安市的做法"},
    )
    assert created.status_code == 201, created.text
    rows = outbox_rows(node)
    # The relayed envelope's rows come first, then the node's own (up and to both children).
    assert sorted(rows[:2]) == sorted(forwards)
    own = rows[2:]
    assert len(own) == 3
    assert len({msg_id for msg_id, _ in own}) == 1
    assert relayed_id not in {msg_id for msg_id, _ in own}

    # A redelivery applies nothing and queues nothing again.
    [again] = applier.apply([applier.decode(message, 1)])
    assert again.status == "duplicate"
    assert len(outbox_rows(node)) == 5
