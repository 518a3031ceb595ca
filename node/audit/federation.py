"""``fedshare audit verify --federation``: check every subordinate against the checkpoints held.

For each node below this one (in tree order) it reports:
- each checkpoint received from it whose signature no longer verifies (altered here);
- each conflict this node recorded when a newer checkpoint from it contradicted an older one
  (``node.audit.checkpoints``): a history rewritten, truncated, or its checkpoints discarded;
- where the subordinate's database is reachable from here, its chain itself: every link, its signed
  head, and every checkpoint held here against the hashes the chain holds now, so a node that
  rewrote its history after a checkpoint is named even before it signs another one.

Reachable databases are found in ``federation.json`` next to this node's data directory (the demo
writes it, with each node's ``data_dir``; an entry may also give a ``database_url``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from node.audit.checkpoints import checkpoint_verifies, conflicts_for, held_checkpoints
from node.audit.verify import check_checkpoint, verify_chain
from node.certificates import read_root_public
from node.clock import as_aware, iso, make_clock
from node.db import make_engine
from node.models import AuditCheckpoint, AuditEntry
from node.settings import Settings
from node.topology import Topology, TopologyError, load_topology

DESCRIPTION = "federation.json"


def subordinate_databases(settings: Settings) -> dict[str, str]:
    """node id -> database URL, for the nodes whose databases are reachable from here."""
    path = settings.data_dir.resolve().parent / DESCRIPTION
    try:
        nodes = json.loads(path.read_text(encoding="utf-8")).get("nodes", {})
    except (OSError, ValueError, AttributeError):
        return {}
    found: dict[str, str] = {}
    for node_id, entry in nodes.items() if isinstance(nodes, dict) else ():
        if not isinstance(entry, dict):
            continue
        if isinstance(entry.get("database_url"), str):
            found[node_id] = entry["database_url"]
        elif isinstance(entry.get("data_dir"), str):
            database = Path(entry["data_dir"]) / "node.db"
            if database.is_file():
                found[node_id] = f"sqlite:///{database}"
    return found


def tree_order(topology: Topology, root: str) -> list[str]:
    order: list[str] = []
    stack = [root]
    while stack:
        node = stack.pop()
        order.append(node)
        stack.extend(sorted(topology.children(node), reverse=True))
    return order


def verify_federation(session: Session, settings: Settings) -> Iterator[tuple[str, bool]]:
    """Yield (line, ok) per finding; any line with ok False names a subordinate to distrust."""
    if settings.topology_file is None:
        yield "federation: no topology given (--topology); cannot find subordinates", False
        return
    try:
        topology = load_topology(
            settings.topology_file,
            root_key=read_root_public(settings.root_key_path),
            now=make_clock(settings.test_clock_file).now(),
        )
    except (TopologyError, FileNotFoundError, ValueError) as exc:
        yield f"federation: {exc}", False
        return
    yield from verify_subtree(session, settings, topology)


def verify_subtree(
    session: Session, settings: Settings, topology: Topology
) -> Iterator[tuple[str, bool]]:
    """``verify_federation`` over a topology already loaded (a running node's)."""
    me = settings.node_id
    if me not in topology:
        yield f"federation: node {me} is not in the topology", False
        return
    below = tree_order(topology, me)[1:]
    if not below:
        yield f"federation: node {me} has no subordinates", True
        return
    databases = subordinate_databases(settings)
    for node in below:
        yield from verify_subordinate(session, topology, node, databases.get(node))


def verify_subordinate(
    session: Session, topology: Topology, node: str, database_url: str | None
) -> Iterator[tuple[str, bool]]:
    checkpoints = held_checkpoints(session, node)
    if checkpoints:
        latest = checkpoints[-1]
        yield (
            (
                f"node {node}: {len(checkpoints)} checkpoints held here, latest seq {latest.seq} "
                f"signed {iso(as_aware(latest.at))}"
            ),
            True,
        )
    else:
        yield f"node {node}: no checkpoints held here yet", True
    bad = 0
    for checkpoint in checkpoints:
        if not checkpoint_verifies(topology, checkpoint):
            bad += 1
            yield (
                (
                    f"node {node}: TAMPERED: checkpoint at seq {checkpoint.seq} held here does "
                    "not verify (altered after receipt)"
                ),
                False,
            )
    for entry in conflicts_for(session, node):
        bad += 1
        yield (
            (
                f"node {node}: TAMPERED: {entry.reason} "
                f"(conflicting checkpoint received {iso(as_aware(entry.at))})"
            ),
            False,
        )
    if database_url is None:
        yield f"node {node}: chain not reachable from here; checkpoints and links checked", True
    else:
        for line in _verify_remote_chain(topology, node, database_url, checkpoints):
            bad += 1
            yield f"node {node}: TAMPERED: {line}", False
    if bad == 0:
        yield f"node {node}: consistent with its checkpoints", True


def _read_only_engine(url: str) -> Engine:
    # Not make_engine: its SQLite sessions begin IMMEDIATE, which would stall the running node.
    if url.startswith("sqlite:///"):
        return create_engine(f"sqlite:///file:{url[len('sqlite:///') :]}?mode=ro&uri=true")
    return make_engine(url)


def _verify_remote_chain(
    topology: Topology, node: str, database_url: str, checkpoints: list[AuditCheckpoint]
) -> list[str]:
    """Problems in ``node``'s own chain, and between it and the checkpoints held here."""
    engine = _read_only_engine(database_url)
    try:
        with sessionmaker(bind=engine)() as remote:
            info = topology.get(node)
            # Just after a rotation its head may still be signed with its previous key.
            keys = [info.signing_key]
            if info.previous_signing_key is not None:
                keys.append(info.previous_signing_key)
            report = verify_chain(remote, node=node, signing_public_key=keys)
            problems = list(report.problems)
            last_seq = remote.scalar(select(func.max(AuditEntry.seq))) or 0
            seqs = [c.seq for c in checkpoints]
            hashes = {
                int(seq): str(value)
                for seq, value in remote.execute(
                    select(AuditEntry.seq, AuditEntry.hash).where(AuditEntry.seq.in_(seqs))
                )
            }
    finally:
        engine.dispose()
    for checkpoint in checkpoints:
        problem = check_checkpoint(checkpoint, hashes, int(last_seq))
        if problem:
            problems.append(f"{problem}; checkpoint signed {iso(as_aware(checkpoint.at))}")
    return problems
