"""The composition root: builds a node's context and wires the domains into it.

This is the one module that knows every domain. It registers each domain's envelope kinds in the
context's registry (explicitly, once each) and provides the implementations of the ports lower
domains declare (``NodeContext.provide``). Nothing below imports it.
"""

from __future__ import annotations

from datetime import timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.audit import checkpoints
from node.audit.chain import AuditLog
from node.certificates import (
    ROOT_ISSUER,
    issue_certificate,
    public_key_b64,
    read_root_public,
    validity,
)
from node.clock import Clock, make_clock
from node.context import NodeContext
from node.crypto import SIGNING_KEY_FILE, NodeKeys, load_keys
from node.db import make_engine, make_sessionmaker
from node.ledger import handlers as ledger_handlers
from node.members import handlers as member_handlers
from node.members.service import PREVIOUS_KEYS_DIR
from node.membership import Membership
from node.orders import handlers as order_handlers
from node.orders.service import OrderAccessForRelease
from node.policy import PolicyEngine
from node.records import handlers as record_handlers
from node.records.ports import GRANTED_CONTENT, GRANTED_REPORTER
from node.rectification import handlers as rectification_handlers
from node.release import handlers as release_handlers
from node.release.ports import ORDER_ACCESS
from node.release.service import ReleasedToReaders
from node.replication import resend, resync
from node.rounds import handlers as round_handlers
from node.settings import Settings
from node.storage import secure_data_dir
from node.topology import NodeInfo, Topology, TopologyError, load_topology


def wire_domains(ctx: NodeContext) -> None:
    """Register every envelope kind and provide every port, in layer order."""
    for spec in (
        *member_handlers.KINDS,
        *record_handlers.KINDS,
        *release_handlers.KINDS,
        *order_handlers.KINDS,
        *ledger_handlers.KINDS,
        *rectification_handlers.KINDS,
        *round_handlers.KINDS,
        *checkpoints.KINDS,
        *resend.KINDS,
        *resync.KINDS,
    ):
        ctx.kinds.register(spec)
    released = ReleasedToReaders()
    ctx.provide(GRANTED_CONTENT, released)
    ctx.provide(GRANTED_REPORTER, released)
    ctx.provide(ORDER_ACCESS, OrderAccessForRelease())


def make_context(
    settings: Settings,
    topology: Topology | Membership,
    keys: NodeKeys,
    *,
    clock: Clock | None = None,
) -> NodeContext:
    """The context, wired; its clock is ``clock`` if given (tests), else the one the settings ask
    for. ``topology`` must be certified (its certificates verified to a root key): it seeds the
    node's membership."""
    clock = clock or make_clock(settings.test_clock_file)
    membership = (
        topology
        if isinstance(topology, Membership)
        else Membership(topology, overlap=timedelta(seconds=settings.key_overlap_s))
    )
    # Whatever made the data directory, only the node's account reads it from now on.
    secure_data_dir(settings.data_dir)
    engine = make_engine(settings.database_url)
    ctx = NodeContext(
        settings=settings,
        membership=membership,
        keys=keys,
        policy=PolicyEngine(settings.policies_dir),
        audit=AuditLog(settings.node_id, keys, clock),
        engine=engine,
        sessions=make_sessionmaker(engine),
        clock=clock,
    )
    wire_domains(ctx)
    return ctx


def single_node_topology(settings: Settings, keys: NodeKeys, clock: Clock) -> Topology:
    """A topology of one node (itself), for a node run without a federation: certified by a root
    key made for the purpose and forgotten, so the node runs the same verified code path."""
    root = Ed25519PrivateKey.generate()
    not_before, not_after = validity(clock.now(), 3650)
    certificate = issue_certificate(
        issuer_key=root,
        issuer=ROOT_ISSUER,
        node=settings.node_id,
        name=settings.node_id,
        parent=None,
        signing_key=keys.signing_public_b64,
        encryption_key=keys.encryption_public_b64,
        serial=1,
        not_before=not_before,
        not_after=not_after,
    )
    return Topology([NodeInfo.certified(certificate)], root_key=public_key_b64(root))


def build_context(settings: Settings) -> NodeContext:
    """Load keys, the root public key and the topology (every certificate verified up to that
    root, valid now); check that this node's keys are the ones its certificate names."""
    keys = load_keys(settings.keys_dir)
    previous_dir = settings.keys_dir / PREVIOUS_KEYS_DIR
    previous = load_keys(previous_dir) if (previous_dir / SIGNING_KEY_FILE).exists() else None
    if previous is not None:
        # Rotated: what was sealed to the old encryption key still opens.
        keys.previous_encryption = (previous.encryption,)
    clock = make_clock(settings.test_clock_file)
    if settings.topology_file is not None:
        root_key = read_root_public(settings.root_key_path)
        topology = load_topology(settings.topology_file, root_key=root_key, now=clock.now())
        if settings.node_id not in topology:
            raise TopologyError(f"node {settings.node_id!r} is not in {settings.topology_file}")
        me = topology.get(settings.node_id)
        rotated = previous is not None and me.signing_key == previous.signing_public_b64
        # Rotated since the file was written: the certificate naming the current keys was
        # stored when it was learned and is learned again at start (``restore_learned``).
        if not rotated and me.signing_key != keys.signing_public_b64:
            raise TopologyError("this node's signing key is not the one its certificate names")
        if not rotated and me.encryption_key != keys.encryption_public_b64:
            raise TopologyError("this node's encryption key is not the one its certificate names")
    else:
        topology = single_node_topology(settings, keys, clock)
    return make_context(settings, topology, keys, clock=clock)
