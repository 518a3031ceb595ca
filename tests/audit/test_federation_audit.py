"""``fedshare audit verify --federation``: a superior checks its subordinates against the signed
checkpoints it received, and names the one whose log was tampered with.

The first tests build two real nodes in one process (huanglong below shaanxi: migrated databases,
real keys, the real checkpoint envelope applied through the real inbox), tamper with huanglong's
database the way an insider would, and run the real CLI at shaanxi. The last test does the same on
the running demo federation, where periodic checkpoints travel over NATS.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from node.audit.chain import GENESIS_HASH, entry_fields, entry_hash, head_message
from node.audit.checkpoints import make_checkpoint
from node.certificates import write_root_public
from node.cli import app
from node.clock import iso
from node.context import NodeContext
from node.crypto import NodeKeys, load_keys, write_keys
from node.db import make_engine, make_sessionmaker
from node.federation import Federation, tree_topology
from node.metrics import Metrics
from node.models import AuditCheckpoint, AuditEntry, AuditHead, OutboxMessage
from node.policy import Actor
from node.replication.apply import BatchApplier
from node.replication.envelope import seal_envelope
from node.settings import Settings
from node.topology import dump_topology
from node.wiring import make_context
from tests.databases import migrated
from tests.inprocess import HeldMessage, MiniFederation
from tests.inprocess import mini_federation as mini_federation  # the fixture
from tests.support import FederationClient, barrier, wait_for

CLERK = Actor(user_id="u1", name="huanglong-inspector", role="inspector", node="huanglong")
CHECKPOINT_SEQ = 12
CHAIN_LENGTH = 17


@dataclass
class Pair:
    """huanglong (the subordinate) and shaanxi (its superior), each with a database and keys."""

    base: Path
    topology_path: Path
    nodes: dict[str, NodeContext]
    keys: dict[str, NodeKeys]
    delivered: int = 0

    def session(self, node: str) -> Session:
        return self.nodes[node].sessions()

    def checkpoint(self) -> None:
        """huanglong signs a checkpoint; shaanxi applies the envelope through the real inbox."""
        with self.session("huanglong") as session, session.begin():
            make_checkpoint(session, self.nodes["huanglong"])
            raw = session.execute(
                select(OutboxMessage.envelope).order_by(OutboxMessage.id.desc()).limit(1)
            ).scalar_one()
            session.execute(delete(OutboxMessage))
        assert self.deliver(raw) == "applied"

    def deliver(self, raw: bytes) -> str:
        """Apply ``raw`` at shaanxi through the inbox consumer's batch path; the outcome."""
        self.delivered += 1
        applier = BatchApplier(self.nodes["shaanxi"], Metrics())
        message = HeldMessage(data=raw, subject="fs.yanan.up", stream_seq=self.delivered)
        [outcome] = applier.apply([applier.decode(message, self.delivered)])
        return outcome.status if outcome.reason is None else f"rejected:{outcome.reason}"

    def append(self, count: int) -> None:
        with self.session("huanglong") as session, session.begin():
            for index in range(count):
                self.nodes["huanglong"].audit.append(
                    session, actor=CLERK, action="read", object_type="record", object_id=f"r{index}"
                )

    def tamper(self, change: Callable[[Session], None]) -> None:
        with self.session("huanglong") as session, session.begin():
            change(session)

    def verify(self, node: str, *, federation: bool = True) -> tuple[int, str]:
        ctx = self.nodes[node]
        env = {
            "FEDSHARE_DATA_DIR": str(self.base / node),
            "FEDSHARE_NODE_ID": node,
            "FEDSHARE_DATABASE_URL": ctx.settings.database_url,
        }
        args = ["audit", "verify", "--topology", str(self.topology_path)]
        result = CliRunner().invoke(app, args + (["--federation"] if federation else []), env=env)
        assert "Traceback" not in result.output, result.output
        return result.exit_code, result.output

    def describe(self, reachable: bool) -> None:
        """federation.json beside the data directories: where huanglong's database is."""
        path = self.base / "federation.json"
        if reachable:
            nodes = {"huanglong": {"data_dir": str(self.base / "huanglong")}}
            path.write_text(json.dumps({"nodes": nodes}), encoding="utf-8")
        else:
            path.unlink(missing_ok=True)


@pytest.fixture
def pair(tmp_path: Path, demo_keys: dict[str, NodeKeys]) -> Iterator[Pair]:
    """huanglong's chain of 17 entries, checkpointed at 12; shaanxi holds the checkpoint."""
    topology = tree_topology(
        demo_keys,
        api="http://127.0.0.1:9",
        nats="nats://127.0.0.1:9",
        leaf="nats-leaf://127.0.0.1:9",
    )
    topology_path = tmp_path / "topology.toml"
    topology_path.write_text(dump_topology(topology), encoding="utf-8")
    nodes = {}
    for node_id in ("huanglong", "shaanxi"):
        data_dir = tmp_path / node_id
        write_keys(demo_keys[node_id], data_dir / "keys", force=True)
        assert topology.root_key is not None
        write_root_public(data_dir / "root.pub", topology.root_key)
        settings = Settings(
            node_id=node_id,
            data_dir=data_dir,
            database_url=migrated(f"sqlite:///{data_dir / 'node.db'}"),
            topology_file=topology_path,
        )
        nodes[node_id] = make_context(settings, topology, demo_keys[node_id])
    made = Pair(tmp_path, topology_path, nodes, demo_keys)
    made.append(CHECKPOINT_SEQ)
    made.checkpoint()
    made.append(CHAIN_LENGTH - CHECKPOINT_SEQ)
    made.describe(reachable=True)
    yield made
    for ctx in nodes.values():
        ctx.engine.dispose()


def entry(session: Session, seq: int) -> AuditEntry:
    return session.execute(select(AuditEntry).where(AuditEntry.seq == seq)).scalar_one()


def rehash_from(session: Session, keys: NodeKeys, seq: int) -> None:
    """Recompute every hash from ``seq`` on and re-sign the head: what an insider holding the
    node's key does to make a changed history look intact."""
    prev = GENESIS_HASH if seq == 1 else entry(session, seq - 1).hash
    for row in session.execute(
        select(AuditEntry).where(AuditEntry.seq >= seq).order_by(AuditEntry.seq)
    ).scalars():
        row.prev_hash = prev
        row.hash = entry_hash(prev, entry_fields(row))
        prev = row.hash
    head = session.get(AuditHead, 1)
    assert head is not None
    last = session.execute(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).scalar_one()
    head.seq, head.hash = last.seq, last.hash
    head.signature = keys.sign(head_message("huanglong", last.seq, last.hash))


def discard_own_checkpoints(session: Session) -> None:
    session.execute(delete(AuditCheckpoint).where(AuditCheckpoint.node == "huanglong"))


def modify(session: Session) -> None:
    entry(session, 3).reason = "被改写的审计记录"


def delete_one(session: Session) -> None:
    session.delete(entry(session, 5))


def insert(session: Session) -> None:
    tail = entry(session, CHAIN_LENGTH)
    forged = AuditEntry(
        seq=CHAIN_LENGTH + 1,
        at=tail.at,
        node="huanglong",
        actor="nobody",
        role="inspector",
        action="read",
        object_type="record",
        object_id="x",
        decision="allow",
        reason=None,
        grant_id=None,
        prev_hash=tail.hash,
        hash="",
    )
    forged.hash = entry_hash(tail.hash, entry_fields(forged))
    session.add(forged)


def reorder(session: Session) -> None:
    first, second = entry(session, 6), entry(session, 7)
    first.object_id, second.object_id = second.object_id, first.object_id


def truncate(session: Session) -> None:
    session.execute(delete(AuditEntry).where(AuditEntry.seq >= 10))


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (modify, "seq 3: entry modified"),
        (delete_one, "expected seq 5"),
        (insert, "tail truncated or extended"),
        (reorder, "seq 6: entry modified"),
        (truncate, "history truncated after a checkpoint"),
    ],
)
def test_each_tamper_case_names_the_subordinate(
    pair: Pair, change: Callable[[Session], None], named: str
) -> None:
    assert pair.verify("shaanxi")[0] == 0
    pair.tamper(change)
    code, output = pair.verify("shaanxi")
    assert code == 1
    assert any(
        line.startswith("node huanglong: TAMPERED") and named in line
        for line in output.splitlines()
    ), output
    assert "node yanan: TAMPERED" not in output


def test_history_rewritten_after_a_checkpoint_is_named(pair: Pair) -> None:
    keys = pair.keys["huanglong"]

    def rewrite(session: Session) -> None:
        modify(session)
        rehash_from(session, keys, 3)
        discard_own_checkpoints(session)

    pair.tamper(rewrite)
    # huanglong's own verification sees a perfect chain: only the superior's checkpoint tells.
    assert pair.verify("huanglong", federation=False)[0] == 0
    code, output = pair.verify("shaanxi")
    assert code == 1
    assert (
        f"node huanglong: TAMPERED: checkpoint at seq {CHECKPOINT_SEQ} disagrees with the "
        "chain (history rewritten)"
    ) in output


@pytest.mark.parametrize(
    ("keep_own_checkpoints", "named"),
    [
        (True, f"chain at seq {CHECKPOINT_SEQ} no longer matches its checkpoint"),
        (False, "own checkpoints discarded"),
    ],
)
def test_the_next_checkpoint_gives_a_rewrite_away_without_the_database(
    pair: Pair, keep_own_checkpoints: bool, named: str
) -> None:
    keys = pair.keys["huanglong"]

    def rewrite(session: Session) -> None:
        modify(session)
        rehash_from(session, keys, 3)
        if not keep_own_checkpoints:
            discard_own_checkpoints(session)

    pair.tamper(rewrite)
    pair.append(2)
    pair.describe(reachable=False)
    assert pair.verify("shaanxi")[0] == 0  # nothing to go on yet
    pair.checkpoint()
    code, output = pair.verify("shaanxi")
    assert code == 1
    assert any(
        line.startswith("node huanglong: TAMPERED") and named in line
        for line in output.splitlines()
    ), output
    with pair.session("shaanxi") as session:
        assert session.execute(
            select(AuditCheckpoint.seq).where(AuditCheckpoint.node == "huanglong")
        ).scalars().all() == [CHECKPOINT_SEQ]


def test_truncation_shows_in_the_next_checkpoint(pair: Pair) -> None:
    keys = pair.keys["huanglong"]

    def cut(session: Session) -> None:
        truncate(session)
        rehash_from(session, keys, 9)

    pair.tamper(cut)
    pair.describe(reachable=False)
    pair.checkpoint()
    code, output = pair.verify("shaanxi")
    assert code == 1
    assert "history truncated after a checkpoint" in output


def test_checkpoints_held_by_the_superior_are_themselves_checked(pair: Pair) -> None:
    with pair.session("shaanxi") as session, session.begin():
        session.execute(update(AuditCheckpoint).values(head_hash="f" * 64))
    pair.describe(reachable=False)
    code, output = pair.verify("shaanxi")
    assert code == 1
    assert f"checkpoint at seq {CHECKPOINT_SEQ} held here does not verify" in output


def test_a_checkpoint_not_signed_by_its_node_is_rejected(pair: Pair) -> None:
    with pair.session("huanglong") as session:
        head = session.get(AuditHead, 1)
        assert head is not None
        seq, head_hash = head.seq, head.hash
    payload = {
        "node": "huanglong",
        "seq": seq,
        "hash": head_hash,
        "at": iso(datetime.now(UTC)),
        "signature": pair.keys["yanan"].sign(b"not the checkpoint"),
        "prev_seq": CHECKPOINT_SEQ,
        "prev_hash": None,
    }
    _msg_id, raw = seal_envelope(
        keys=pair.keys["huanglong"],
        topology=pair.nodes["shaanxi"].topology,
        origin="huanglong",
        kind="audit-checkpoint",
        dest=["shaanxi"],
        ref={},
        payload=payload,
        encrypt=False,
        now=datetime.now(UTC),
    )
    assert pair.deliver(raw) == "rejected:bad_signature"


def test_an_intact_federation_passes(pair: Pair) -> None:
    code, output = pair.verify("shaanxi")
    assert code == 0, output
    assert "node huanglong: consistent with its checkpoints" in output
    assert "node yanan: no checkpoints held here yet" in output
    assert pair.verify("huanglong")[0] == 0  # a leaf has no subordinates


def test_security_officers_query_the_chain_and_sign_checkpoints(
    mini_federation: Callable[..., MiniFederation],
) -> None:
    fed = mini_federation("huanglong", "yanan")
    huanglong, yanan = fed["huanglong"], fed["yanan"]
    officer = huanglong.auth("security_officer")
    assert (
        huanglong.client.post(
            "/api/v1/audit/checkpoints", headers=huanglong.auth("inspector")
        ).status_code
        == 403
    )
    signed = huanglong.client.post("/api/v1/audit/checkpoints", headers=officer)
    assert signed.status_code == 201, signed.text
    assert signed.json()["node"] == "huanglong"
    assert signed.json()["verified"] is True
    fed.pump()
    held = yanan.client.get(
        "/api/v1/audit/checkpoints",
        params={"node": "huanglong"},
        headers=yanan.auth("security_officer"),
    ).json()
    assert [(c["seq"], c["verified"]) for c in held] == [(signed.json()["seq"], True)]
    # The chain, filtered and paged; times with any offset.
    page = huanglong.client.get(
        "/api/v1/audit", headers=officer, params={"decision": "deny", "limit": 1}
    ).json()
    assert [(e["actor"], e["action"]) for e in page["items"]] == [("huanglong-inspector", "audit")]
    assert page["next_after_seq"] is None
    everything = huanglong.client.get("/api/v1/audit", headers=officer, params={"limit": 1}).json()
    assert everything["next_after_seq"] == everything["items"][0]["seq"]
    later = huanglong.client.get(
        "/api/v1/audit",
        headers=officer,
        params={
            "after_seq": everything["next_after_seq"],
            "actor": "huanglong-security_officer",
            "since": "2000-01-01T08:00:00+08:00",
        },
    ).json()
    assert {e["actor"] for e in later["items"]} == {"huanglong-security_officer"}
    assert (
        huanglong.client.get(
            "/api/v1/audit",
            headers=huanglong.auth("approver"),
        ).status_code
        == 403
    )


# -- over NATS --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpointing_federation(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[FederationClient]:
    """The demo federation with a one-second checkpoint interval, and its federation.json."""
    base = Path(tmp_path_factory.mktemp("audit-federation"))
    federation = Federation(base)
    federation.prepare()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FEDSHARE_CHECKPOINT_INTERVAL_S", "1")
        federation.start()
    federation.write_description(base / "federation.json")
    client = FederationClient(federation)
    try:
        yield client
    finally:
        client.close()
        federation.stop()


def cli_verify(fed: FederationClient, node: str) -> subprocess.CompletedProcess[str]:
    federation = fed.federation
    env = {**os.environ, **federation.env_for(node)}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "node.cli",
            "audit",
            "verify",
            "--federation",
            "--topology",
            str(federation.topology_path),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.federation
def test_checkpoints_travel_up_and_a_rewrite_is_named(
    checkpointing_federation: FederationClient,
) -> None:
    fed = checkpointing_federation
    fed.create_record("huanglong", {"category": "practice", "title": "检查点测试"})
    fed.get("huanglong", "inspector", "/api/v1/records")
    head = int(fed.db_rows("huanglong", "SELECT seq FROM audit_head")[0][0])

    def holds_head(node: str) -> Callable[[], bool]:
        sql = "SELECT max(seq) FROM audit_checkpoints WHERE node = 'huanglong'"
        return lambda: int(fed.db_rows(node, sql)[0][0] or 0) >= head

    def recorded_conflict(node: str) -> Callable[[], bool]:
        sql = (
            "SELECT count(*) FROM audit_log WHERE action = 'checkpoint-conflict' "
            "AND object_id = 'huanglong'"
        )
        return lambda: int(fed.db_rows(node, sql)[0][0]) >= 1

    for node in ("yanan", "shaanxi", "central"):
        wait_for(holds_head(node), message=f"checkpoint at {node}")
    barrier(fed, "huanglong", "yichuan")  # checkpoints go to the ancestors only
    assert fed.db_rows(
        "yichuan", "SELECT count(*) FROM audit_checkpoints WHERE node = 'huanglong'"
    ) == [(0,)]
    intact = cli_verify(fed, "shaanxi")
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert "node huanglong: consistent with its checkpoints" in intact.stdout

    # An insider rewrites huanglong's history, re-signs its head and drops its own checkpoints.
    engine = make_engine(fed.federation.nodes["huanglong"].database_url)
    keys = load_keys(fed.federation.nodes["huanglong"].data_dir / "keys")
    try:
        with make_sessionmaker(engine)() as session, session.begin():
            entry(session, 1).reason = "被改写的审计记录"
            rehash_from(session, keys, 1)
            discard_own_checkpoints(session)
    finally:
        engine.dispose()
    named = cli_verify(fed, "shaanxi")
    assert named.returncode == 1
    assert "node huanglong: TAMPERED" in named.stdout
    assert "history rewritten" in named.stdout
    # Its next periodic checkpoint contradicts the earlier one: every ancestor records that,
    # so even without huanglong's database the centre names it.
    fed.get("huanglong", "inspector", "/api/v1/records")
    for node in ("yanan", "shaanxi", "central"):
        wait_for(recorded_conflict(node), message=f"conflict recorded at {node}")
    (fed.federation.base_dir / "federation.json").unlink()
    central = cli_verify(fed, "central")
    assert central.returncode == 1
    assert "node huanglong: TAMPERED" in central.stdout
    assert "node yichuan: TAMPERED" not in central.stdout
