"""The node's long-lived resources, made once in the app lifespan (or the CLI) and handed down."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from node.audit.chain import AuditLog
from node.clock import Clock, make_clock
from node.crypto import NodeKeys, load_keys
from node.db import make_engine, make_sessionmaker
from node.policy import PolicyEngine
from node.settings import Settings
from node.topology import NodeInfo, Topology, load_topology

if TYPE_CHECKING:
    from node.replication.outbox import Outbox


@dataclass
class NodeContext:
    settings: Settings
    topology: Topology
    keys: NodeKeys
    policy: PolicyEngine
    audit: AuditLog
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock
    outbox: Outbox = field(init=False)

    @property
    def node_id(self) -> str:
        return self.settings.node_id

    def __post_init__(self) -> None:
        from node.replication.outbox import Outbox

        self.outbox = Outbox(self)


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
    return make_context(settings, topology, keys)


def make_context(
    settings: Settings, topology: Topology, keys: NodeKeys, *, clock: Clock | None = None
) -> NodeContext:
    """The context; its clock is ``clock`` if given (tests), else the one the settings ask for."""
    engine = make_engine(settings.database_url)
    clock = clock or make_clock(settings.test_clock_file)
    return NodeContext(
        settings=settings,
        topology=topology,
        keys=keys,
        policy=PolicyEngine(settings.policies_dir),
        audit=AuditLog(settings.node_id, keys, clock),
        engine=engine,
        sessions=make_sessionmaker(engine),
        clock=clock,
    )
