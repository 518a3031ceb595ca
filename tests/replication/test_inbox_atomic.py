"""One bad envelope never half-applies and never stalls the inbox (each runs in a savepoint);
payloads are validated whole; content that must be sealed is refused in clear."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from node.context import NodeContext
from node.crypto import NodeKeys
from node.ids import uuid7
from node.metrics import Metrics
from node.models import DeadLetter, InboxMessage, Record, User
from node.replication import inbox
from node.replication.apply import BatchApplier
from node.replication.envelope import Envelope, open_envelope, seal_envelope
from node.replication.kinds import KindSpec, WireModel
from node.topology import Topology
from tests.conftest import NodeUnderTest
from tests.inprocess import HeldMessage


class ExplodingWire(WireModel):
    when: datetime


def register_exploding_kind(node: NodeUnderTest) -> str:
    """A kind whose handler writes a row, then fails on the payload, as a buggy handler would."""

    def explode(
        session: Session, ctx: NodeContext, envelope: Envelope, wire: ExplodingWire
    ) -> tuple[str | None, int | None]:
        session.add(
            Record(
                id=uuid7(),
                origin=envelope.origin,
                author="x",
                category="policy",
                classification="general",
                title="half",
                body="",
                version=1,
                created_at=wire.when,
                updated_at=wire.when,
            )
        )
        session.flush()
        raise KeyError("missing field")

    node.ctx.kinds.register(
        KindSpec("test-explode", wire=ExplodingWire, ref_key=None, handler=explode)
    )
    return "test-explode"


def envelope(
    keys: NodeKeys,
    topology: Topology,
    kind: str,
    payload: dict[str, Any],
    *,
    ref: dict[str, Any] | None = None,
    encrypt: bool = True,
) -> Envelope:
    _msg_id, raw = seal_envelope(
        keys=keys,
        topology=topology,
        origin="huanglong",
        kind=kind,
        dest=["yanan"],
        ref=ref or {},
        payload=payload,
        encrypt=encrypt,
        now=datetime.now(UTC),
    )
    return open_envelope(raw, topology, now=datetime.now(UTC))


def apply(node: NodeUnderTest, env: Envelope, seq: int) -> inbox.Outcome:
    """Apply one envelope as the inbox consumer does (a batch of one through BatchApplier)."""
    applier = BatchApplier(node.ctx, Metrics())
    message = HeldMessage(env.raw, "fs.huanglong.up", seq)
    [outcome] = applier.apply([applier.decode(message, seq)])
    return outcome


def count(node: NodeUnderTest, model: Any, *where: Any) -> int:
    with node.ctx.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def record_payload(record_id: str, **changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": record_id,
        "origin": "huanglong",
        "category": "policy",
        "classification": "general",
        "version": 1,
        "created_at": "2026-11-01T00:00:00Z",
        "updated_at": "2026-11-01T00:00:00Z",
        "deleted": False,
        "stub": False,
        "author": "a",
        "title": "黄龙县通知",
        "body": "",
        "parties": [],
    }
    payload.update(changes)
    return payload


def test_failing_handler_leaves_nothing_and_the_inbox_moves_on(
    make_node: Callable[[str], NodeUnderTest],
    demo_keys: dict[str, NodeKeys],
    demo_topology: Topology,
) -> None:
    node = make_node("yanan")
    exploding_kind = register_exploding_kind(node)
    bad = envelope(
        demo_keys["huanglong"], demo_topology, exploding_kind, {"when": "2026-11-01T00:00:00Z"}
    )
    outcome = apply(node, bad, 1)
    assert (outcome.status, outcome.reason) == ("rejected", "handler_error")
    assert count(node, Record) == 0  # the row the handler wrote was rolled back
    assert count(node, InboxMessage) == 0
    assert count(node, DeadLetter, DeadLetter.reason == "handler_error") == 1
    good_id = uuid7()
    good = envelope(
        demo_keys["huanglong"],
        demo_topology,
        "record",
        record_payload(good_id),
        ref={"record": good_id, "version": 1},
        encrypt=False,
    )
    assert apply(node, good, 2).status == "applied"
    assert count(node, Record, Record.id == good_id) == 1


@pytest.mark.parametrize(
    ("changes", "encrypt", "reason"),
    [
        ({"created_at": None}, False, "malformed"),
        ({"parties": "yanan"}, False, "malformed"),
        ({"title": "\x00"}, False, "malformed"),
        ({"category": "problem_clue"}, False, "classification_below_minimum"),
        (
            {
                "classification": "restricted",
                "category": "inspection_finding",
                "parties": ["yanan"],
            },
            False,
            "content_not_sealed",
        ),
        ({"classification": "secret", "category": "problem_clue"}, True, "content_not_allowed"),
    ],
)
def test_bad_record_payloads_are_dead_lettered(
    make_node: Callable[[str], NodeUnderTest],
    demo_keys: dict[str, NodeKeys],
    demo_topology: Topology,
    changes: dict[str, Any],
    encrypt: bool,
    reason: str,
) -> None:
    node = make_node("yanan")
    record_id = uuid7()
    env = envelope(
        demo_keys["huanglong"],
        demo_topology,
        "record",
        record_payload(record_id, **changes),
        ref={"record": record_id, "version": 1},
        encrypt=encrypt,
    )
    outcome = apply(node, env, 1)
    assert (outcome.status, outcome.reason) == ("rejected", reason)
    assert count(node, Record) == 0
    assert count(node, User) == 0


def test_a_batch_with_one_bad_envelope_applies_the_rest(
    make_node: Callable[[str], NodeUnderTest],
    demo_keys: dict[str, NodeKeys],
    demo_topology: Topology,
) -> None:
    """The consumer's batch path: one transaction, replayed per envelope in savepoints when one
    fails; what cannot be opened is dead-lettered in the same commit; the rest is forwarded."""
    node = make_node("yanan")
    exploding_kind = register_exploding_kind(node)
    metrics = Metrics()
    applier = BatchApplier(node.ctx, metrics)
    first, second = uuid7(), uuid7()
    keys = demo_keys["huanglong"]

    def record(record_id: str) -> Envelope:
        return envelope(
            keys,
            demo_topology,
            "record",
            record_payload(record_id),
            ref={"record": record_id, "version": 1},
            encrypt=False,
        )

    bad = envelope(keys, demo_topology, exploding_kind, {"when": "2026-11-01T00:00:00Z"})
    messages = [
        HeldMessage(record(first).raw, "fs.huanglong.up", 1),
        HeldMessage(bad.raw, "fs.huanglong.up", 2),
        HeldMessage(b"{not json", "fs.huanglong.up", 3),
        HeldMessage(record(second).raw, "fs.elsewhere", 4),
        HeldMessage(record(second).raw, "fs.huanglong.up", 5),
    ]
    deliveries = [applier.decode(m, m.stream_seq) for m in messages]
    outcomes = applier.apply(deliveries)
    assert [(o.status, o.reason) for o in outcomes] == [
        ("applied", None),
        ("rejected", "handler_error"),
        ("rejected", "malformed"),
        ("rejected", "bad_subject"),
        ("applied", None),
    ]
    assert count(node, Record) == 2  # not the row the failing handler wrote
    assert count(node, InboxMessage) == 2
    assert count(node, DeadLetter) == 3
    assert [d.forward_to for d in deliveries] == [[], None, None, None, []]
    sample = metrics.registry.get_sample_value
    assert sample("fedshare_inbox_applied_total", {"kind": "record"}) == 2
    assert sample("fedshare_dead_letters_total", {"reason": "malformed"}) == 1
    # A redelivery of the same stream messages applies nothing twice.
    again = applier.apply([applier.decode(m, m.stream_seq) for m in (messages[0], messages[4])])
    assert [o.status for o in again] == ["duplicate", "duplicate"]
    assert count(node, Record) == 2
