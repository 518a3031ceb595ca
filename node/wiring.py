"""The composition root: builds a node's context and wires the domains into it.

This is the one module that knows every domain. It registers each domain's envelope kinds in the
context's registry (explicitly, once each) and provides the implementations of the ports lower
domains declare (``NodeContext.provide``). Nothing below imports it.
"""

from __future__ import annotations

from node.audit import checkpoints
from node.audit.chain import AuditLog
from node.clock import Clock, make_clock
from node.context import NodeContext
from node.crypto import NodeKeys, load_keys
from node.db import make_engine, make_sessionmaker
from node.ledger import handlers as ledger_handlers
from node.orders import handlers as order_handlers
from node.orders.service import OrderAccessForRelease
from node.policy import PolicyEngine
from node.records import handlers as record_handlers
from node.records.ports import GRANTED_CONTENT, GRANTED_REPORTER
from node.release import handlers as release_handlers
from node.release.ports import ORDER_ACCESS
from node.release.service import ReleasedToReaders
from node.replication import resend
from node.settings import Settings
from node.storage import secure_data_dir
from node.topology import NodeInfo, Topology, load_topology


def wire_domains(ctx: NodeContext) -> None:
    """Register every envelope kind and provide every port, in layer order."""
    for spec in (
        *record_handlers.KINDS,
        *release_handlers.KINDS,
        *order_handlers.KINDS,
        *ledger_handlers.KINDS,
        *checkpoints.KINDS,
        *resend.KINDS,
    ):
        ctx.kinds.register(spec)
    released = ReleasedToReaders()
    ctx.provide(GRANTED_CONTENT, released)
    ctx.provide(GRANTED_REPORTER, released)
    ctx.provide(ORDER_ACCESS, OrderAccessForRelease())


def make_context(
    settings: Settings, topology: Topology, keys: NodeKeys, *, clock: Clock | None = None
) -> NodeContext:
    """The context, wired; its clock is ``clock`` if given (tests), else the one the settings ask
    for."""
    clock = clock or make_clock(settings.test_clock_file)
    # Whatever made the data directory, only the node's account reads it from now on.
    secure_data_dir(settings.data_dir)
    engine = make_engine(settings.database_url)
    ctx = NodeContext(
        settings=settings,
        topology=topology,
        keys=keys,
        policy=PolicyEngine(settings.policies_dir),
        audit=AuditLog(settings.node_id, keys, clock),
        engine=engine,
        sessions=make_sessionmaker(engine),
        clock=clock,
    )
    wire_domains(ctx)
    return ctx


def single_node_topology(settings: Settings, keys: NodeKeys) -> Topology:
    """A topology of one node (itself), for a node run without a federation."""
    return Topology(
        [
            NodeInfo(
                id=settings.node_id,
                name=settings.node_id,
                parent=None,
                api="",
                nats="",
                leaf="",
                signing_key=keys.signing_public_b64,
                encryption_key=keys.encryption_public_b64,
            )
        ]
    )


def build_context(settings: Settings) -> NodeContext:
    """Load keys, topology and policy; check that this node's keys match the topology."""
    keys = load_keys(settings.keys_dir)
    if settings.topology_file is not None:
        topology = load_topology(settings.topology_file)
        if settings.node_id not in topology:
            raise ValueError(f"node {settings.node_id!r} is not in {settings.topology_file}")
        me = topology.get(settings.node_id)
        if me.signing_key != keys.signing_public_b64:
            raise ValueError("this node's signing key does not match the topology")
        if me.encryption_key != keys.encryption_public_b64:
            raise ValueError("this node's encryption key does not match the topology")
    else:
        topology = single_node_topology(settings, keys)
    return make_context(settings, topology, keys, clock=make_clock(settings.test_clock_file))
