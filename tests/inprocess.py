"""In-process federations for fast tests of cross-node flows.

Several nodes of the demo tree, each with its own database migrated by Alembic (SQLite files, or
one PostgreSQL schema per node), its own app and HTTP client. ``pump`` carries every committed
outbox envelope to the nodes it is addressed to and applies it there through the production batch
path (``node.replication.apply.BatchApplier``: prefetch, one transaction, per-envelope replay in
savepoints when one fails, dead-lettering of rejections), fed with messages held in memory on the
subject the envelope would arrive on. The real signatures, encryption, routing destinations and
handlers, without NATS; the NATS path itself is covered by the federation tests.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text

from node.api.app import create_app
from node.clock import ControlledClock
from node.crypto import NodeKeys, write_keys
from node.metrics import Metrics
from node.models import OutboxMessage
from node.replication.apply import BatchApplier
from node.replication.envelope import Envelope, open_envelope, seal_envelope
from node.replication.routing import down_subject, up_subject
from node.settings import Settings
from node.topology import Topology
from node.wiring import make_context
from tests.conftest import NodeUnderTest
from tests.databases import migrated, release

POSTGRES_URL = os.environ.get("FEDSHARE_TEST_POSTGRES_URL", "")
BACKENDS = ["sqlite", "postgres"] if POSTGRES_URL else ["sqlite"]


def _pg_driver_url(url: str) -> str:
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


@dataclass
class Sent:
    """One envelope as a recipient would open it."""

    envelope: Envelope
    payload: dict[str, Any]


@dataclass(frozen=True)
class HeldMessage:
    """An envelope as the inbox consumer receives it, held in memory instead of a stream."""

    data: bytes
    subject: str
    stream_seq: int


@dataclass
class MiniFederation:
    topology: Topology
    keys: dict[str, NodeKeys]
    nodes: dict[str, NodeUnderTest] = field(default_factory=dict)
    # One time for the whole federation: ``federation.clock.advance(seconds)`` moves every node.
    clock: ControlledClock = field(default_factory=ControlledClock)
    _stream_seqs: dict[str, int] = field(default_factory=dict)
    # Envelopes ``pump`` delivered, per sending node, in order: their outbox rows are gone (as
    # after a PubAck), the tests that inspect what was sent read them here.
    _delivered: dict[str, list[tuple[str, bytes]]] = field(default_factory=dict)
    _pumped: set[tuple[str, str]] = field(default_factory=set)

    def __getitem__(self, node_id: str) -> NodeUnderTest:
        return self.nodes[node_id]

    def arrival_subject(self, origin: str, node_id: str) -> str:
        """The subject an envelope from ``origin`` arrives on at ``node_id``: from the neighbour
        on the tree path between them, as the node's stream sources it."""
        topology = self.nodes[node_id].ctx.topology if node_id in self.nodes else self.topology
        child = topology.child_towards(node_id, origin)
        if child is not None:
            return up_subject(child)
        parent = topology.parent(node_id)
        assert parent is not None, f"{origin} is neither below nor above {node_id}"
        return down_subject(parent, node_id)

    def deliver_batch(self, node_id: str, envelopes: list[Envelope]) -> list[str]:
        """Apply ``envelopes`` at ``node_id`` as one batch of the replication service (the same
        ``BatchApplier``, one transaction); each one's outcome (``rejected:<reason>`` if so)."""
        node = self.nodes[node_id]
        applier = BatchApplier(node.ctx, self.metrics(node_id))
        deliveries = []
        for envelope in envelopes:
            seq = self._stream_seqs.get(node_id, 0) + 1
            self._stream_seqs[node_id] = seq
            message = HeldMessage(
                data=envelope.raw,
                subject=self.arrival_subject(envelope.origin, node_id),
                stream_seq=seq,
            )
            deliveries.append(applier.decode(message, seq))
        outcomes = applier.apply(deliveries)
        return [
            f"rejected:{outcome.reason}" if outcome.status == "rejected" else outcome.status
            for outcome in outcomes
        ]

    def deliver(self, node_id: str, envelope: Envelope) -> str:
        """Apply one envelope at ``node_id`` as the replication service would; the outcome."""
        [outcome] = self.deliver_batch(node_id, [envelope])
        return outcome

    def metrics(self, node_id: str) -> Metrics:
        """The node app's metrics, which the inbox counts into as it would in production."""
        metrics: Metrics = self.nodes[node_id].client.app.state.metrics
        return metrics

    def send_as(
        self,
        origin: str,
        to: str,
        *,
        kind: str,
        dest: list[str],
        ref: dict[str, Any],
        payload: dict[str, Any],
        encrypt: bool = True,
    ) -> str:
        """Sign an envelope with ``origin``'s real key and apply it at ``to`` (forgery tests)."""
        _msg_id, raw = seal_envelope(
            keys=self.keys[origin],
            topology=self.topology,
            origin=origin,
            kind=kind,
            dest=dest,
            ref=ref,
            payload=payload,
            encrypt=encrypt,
            now=self.clock.now(),
        )
        return self.deliver(to, open_envelope(raw, self.topology, now=self.clock.now()))

    def outbox(
        self,
        node_id: str,
        *,
        kind: str | None = None,
        pending_only: bool = True,
    ) -> list[Envelope]:
        """Envelopes ``node_id`` has committed to send (one per message, in order): those still in
        its outbox, and with ``pending_only=False`` those ``pump`` already delivered."""
        node = self.nodes[node_id]
        with node.ctx.sessions() as session:
            query = select(OutboxMessage.msg_id, OutboxMessage.envelope).order_by(OutboxMessage.id)
            query = query.where(OutboxMessage.sent_at.is_(None))
            rows = [(msg_id, raw) for msg_id, raw in session.execute(query).all()]
        if not pending_only:
            rows = self._delivered.get(node_id, []) + rows
        seen: dict[str, Envelope] = {}
        for msg_id, raw in rows:
            if msg_id not in seen:
                # As the sender knows the federation (its membership may have grown).
                seen[msg_id] = open_envelope(raw, node.ctx.topology, now=self.clock.now())
        found = list(seen.values())
        return [e for e in found if kind is None or e.kind == kind]

    def opened(self, envelope: Envelope, recipient: str) -> dict[str, Any]:
        """The payload as ``recipient`` decrypts it."""
        return envelope.payload(recipient, self.keys[recipient])

    def pump(self, *, rounds: int = 20) -> int:
        """Deliver every pending envelope to each addressed node here, a batch per node and
        round (in each origin's commit order), until none is left; how many were delivered."""
        delivered = 0
        for _ in range(rounds):
            batches: dict[str, list[Envelope]] = {node_id: [] for node_id in self.nodes}
            for node_id, node in self.nodes.items():
                with node.ctx.sessions() as session, session.begin():
                    rows = (
                        session.execute(
                            select(OutboxMessage)
                            .where(OutboxMessage.sent_at.is_(None))
                            .order_by(OutboxMessage.id)
                        )
                        .scalars()
                        .all()
                    )
                    raws: dict[str, bytes] = {}
                    for row in rows:
                        raws.setdefault(row.msg_id, row.envelope)
                    # Delivered as the relay's PubAck would have it: the rows go.
                    node.ctx.outbox.prune_delivered(
                        session, [(row.id, row.msg_id) for row in rows], node.ctx.clock.now()
                    )
                self._delivered.setdefault(node_id, []).extend(raws.items())
                for raw in raws.values():
                    envelope = open_envelope(raw, node.ctx.topology, now=self.clock.now())
                    for target, batch in batches.items():
                        # Never back to its origin (a relay forwards a broadcast everywhere).
                        if (
                            target not in (node_id, envelope.origin)
                            and envelope.addressed_to(target)
                            # Once per node, as its stream holds it once: a relay's copy of
                            # what was delivered directly is not delivered again.
                            and (target, envelope.msg_id) not in self._pumped
                        ):
                            self._pumped.add((target, envelope.msg_id))
                            batch.append(envelope)
            moved = 0
            for target, batch in batches.items():
                if batch:
                    self.deliver_batch(target, batch)
                    moved += len(batch)
            delivered += moved
            if not moved:
                return delivered
        raise AssertionError("envelopes kept flowing")

    def rows(self, node_id: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        with self.nodes[node_id].ctx.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql), params)]

    def close(self) -> None:
        for node in self.nodes.values():
            node.client.__exit__(None, None, None)
            node.ctx.engine.dispose()


@pytest.fixture(params=BACKENDS)
def mini_federation(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    demo_topology: Topology,
    demo_keys: dict[str, NodeKeys],
) -> Iterator[Callable[..., MiniFederation]]:
    """Factory: ``mini_federation("shaanxi", "yanan", "huanglong")`` on fresh databases;
    ``topology=`` replaces the demo topology (same keys: e.g. other certificates)."""
    schemas: list[str] = []
    made: list[MiniFederation] = []
    admin = (
        create_engine(_pg_driver_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
        if request.param == "postgres"
        else None
    )

    def database_url(node_id: str) -> str:
        if admin is None:
            return f"sqlite:///{tmp_path / node_id / 'node.db'}"
        schema = f"t_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        schemas.append(schema)
        separator = "&" if "?" in POSTGRES_URL else "?"
        return f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"

    def factory(
        *node_ids: str,
        topology: Topology | None = None,
        settings: dict[str, dict[str, Any]] | None = None,
    ) -> MiniFederation:
        federation = MiniFederation(topology=topology or demo_topology, keys=demo_keys)
        for node_id in node_ids:
            data_dir = tmp_path / node_id
            write_keys(demo_keys[node_id], data_dir / "keys", force=True)
            node_settings = Settings(
                node_id=node_id,
                data_dir=data_dir,
                database_url=migrated(database_url(node_id)),
                **(settings or {}).get(node_id, {}),
            )
            # A copy: a key rotation changes a node's keys in place, never the shared fixture's.
            keys = NodeKeys(demo_keys[node_id].signing, demo_keys[node_id].encryption)
            ctx = make_context(node_settings, federation.topology, keys, clock=federation.clock)
            client = TestClient(create_app(ctx=ctx))
            client.__enter__()
            federation.nodes[node_id] = NodeUnderTest(ctx=ctx, client=client, data_dir=data_dir)
        made.append(federation)
        return federation

    yield factory
    for federation in made:
        federation.close()
        for node in federation.nodes.values():
            release(node.ctx.settings.database_url)
    if admin is not None:
        with admin.connect() as conn:
            for schema in schemas:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
