"""The node's long-lived resources, made once (``node.wiring``) and handed down to every domain.

The context holds no domain code: the envelope kinds and the ports a lower domain declares for a
higher one to implement are filled in by ``node.wiring``, so that nothing here imports a domain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from node.audit.chain import AuditLog
from node.clock import Clock
from node.crypto import NodeKeys
from node.membership import Membership
from node.policy import PolicyEngine
from node.replication.kinds import KindRegistry
from node.replication.outbox import Outbox
from node.replication.quota import InboundQuota
from node.settings import Settings
from node.topology import Topology

T = TypeVar("T")


class Port(Generic[T]):
    """A place in the context for something a lower domain needs from a higher one.

    The lower domain declares the ``Protocol`` and the port (``Port[GrantedContent]``); the
    higher domain implements it; ``node.wiring`` provides the implementation. The lower domain
    never imports the higher one."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Port({self.name!r})"


@dataclass
class NodeContext:
    settings: Settings
    membership: Membership
    keys: NodeKeys
    policy: PolicyEngine
    audit: AuditLog
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock
    kinds: KindRegistry[NodeContext] = field(default_factory=KindRegistry)
    outbox: Outbox = field(init=False)
    inbound_quota: InboundQuota = field(init=False)
    _ports: dict[Port[Any], Any] = field(default_factory=dict, init=False, repr=False)

    @property
    def node_id(self) -> str:
        return self.settings.node_id

    @property
    def topology(self) -> Topology:
        """The federation as this node knows it now: the membership's current snapshot of
        certified nodes (read it once per operation; a certificate learned meanwhile replaces
        it)."""
        return self.membership.topology

    def __post_init__(self) -> None:
        self.outbox = Outbox(
            node_id=self.node_id,
            membership=self.membership,
            keys=self.keys,
            clock=self.clock,
            sessions=self.sessions,
            kinds=self.kinds,
            envelope_version=self.settings.envelope_version,
        )
        self.inbound_quota = InboundQuota(self.settings, self.clock)

    def provide(self, port: Port[T], implementation: T) -> None:
        if port in self._ports:
            raise ValueError(f"{port!r} is provided already")
        self._ports[port] = implementation

    def port(self, port: Port[T]) -> T:
        try:
            implementation: T = self._ports[port]
        except KeyError:
            raise LookupError(f"{port!r} is not provided (see node.wiring)") from None
        return implementation
