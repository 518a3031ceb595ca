"""``fedshare audit verify`` catches every kind of tampering with the stored chain.

A chain is made by real requests to a real node; then the database is edited the way an insider
with database access would, and the real CLI (typer's runner, settings from the environment) must
exit non-zero and name the problem. An untouched chain exits 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from click.testing import Result
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from node.audit.chain import entry_fields, entry_hash, head_message
from node.audit.checkpoints import checkpoint_now
from node.cli import app
from node.models import AuditEntry, AuditHead
from tests.conftest import NodeUnderTest

RECORDS = "/api/v1/records"


@pytest.fixture
def node(make_node: Callable[[str], NodeUnderTest]) -> NodeUnderTest:
    """A node with a chain of 10 entries: creates, reads, a list, refusals, an update."""
    node = make_node("yanan")
    inspector = node.auth("inspector")
    ids = []
    for title in ("巡察工作要求", "问题线索甲"):
        category = "work_requirement" if title.startswith("巡察") else "problem_clue"
        response = node.client.post(
            RECORDS, json={"category": category, "title": title}, headers=inspector
        )
        assert response.status_code == 201
        ids.append(response.json()["id"])
    node.client.get(f"{RECORDS}/{ids[0]}", headers=inspector)
    node.client.get(f"{RECORDS}/{ids[1]}", headers=node.auth("admin"))
    node.client.get(RECORDS, headers=node.auth("security_officer"))
    node.client.post(RECORDS, json={"category": "policy", "title": "x"}, headers=node.auth("admin"))
    node.client.get(RECORDS)
    node.client.patch(f"{RECORDS}/{ids[0]}", json={"body": "补充"}, headers=inspector)
    node.client.delete(f"{RECORDS}/{ids[1]}", headers=node.auth("approver"))
    node.client.delete(f"{RECORDS}/{ids[1]}", headers=inspector)
    assert chain_length(node) == 10
    return node


def chain_length(node: NodeUnderTest) -> int:
    with node.ctx.sessions() as session:
        return len(session.execute(select(AuditEntry.seq)).all())


def verify(node: NodeUnderTest) -> Result:
    env = {
        "FEDSHARE_DATA_DIR": str(node.data_dir),
        "FEDSHARE_NODE_ID": node.ctx.node_id,
        "FEDSHARE_DATABASE_URL": node.ctx.settings.database_url,
    }
    result = CliRunner().invoke(app, ["audit", "verify"], env=env)
    assert "Traceback" not in result.output
    return result


def tamper(node: NodeUnderTest, change: Callable[[Session], None]) -> None:
    with node.ctx.sessions() as session, session.begin():
        change(session)


def entry(session: Session, seq: int) -> AuditEntry:
    return session.execute(select(AuditEntry).where(AuditEntry.seq == seq)).scalar_one()


def forged(session: Session, *, seq: int, prev_hash: str) -> AuditEntry:
    """A well-formed entry, hashed correctly onto ``prev_hash`` (what a careful forger makes)."""
    fake = AuditEntry(
        seq=seq,
        at=datetime.now(UTC),
        node="yanan",
        actor="yanan-admin",
        role="admin",
        action="read",
        object_type="record",
        object_id=None,
        decision="allow",
        reason=None,
        grant_id=None,
        prev_hash=prev_hash,
        hash="",
    )
    fake.hash = entry_hash(prev_hash, entry_fields(fake))
    return fake


def assert_tampered(result: Result, *problems: str) -> None:
    assert result.exit_code == 1, result.output
    assert "TAMPERED" in result.output
    assert "audit chain intact" not in result.output
    for problem in problems:
        assert problem in result.output, result.output


def test_untouched_chain_verifies(node: NodeUnderTest) -> None:
    result = verify(node)
    assert result.exit_code == 0, result.output
    assert "node yanan: 10 entries" in result.output
    assert "audit chain intact" in result.output


def test_modified_entry(node: NodeUnderTest) -> None:
    # Turn the admin's refused create (seq 6) into an allowed one.
    def allow(session: Session) -> None:
        assert entry(session, 6).decision == "deny"
        session.execute(update(AuditEntry).where(AuditEntry.seq == 6).values(decision="allow"))

    tamper(node, allow)
    assert_tampered(verify(node), "seq 6: entry modified")


def test_deleted_entry(node: NodeUnderTest) -> None:
    tamper(node, lambda s: s.execute(delete(AuditEntry).where(AuditEntry.seq == 4)))
    assert_tampered(verify(node), "seq 5: expected seq 4", "seq 5: previous-hash link broken")


def test_inserted_entry(node: NodeUnderTest) -> None:
    """Shift the tail up by one and slip a correctly hashed entry in at seq 4."""

    def insert(session: Session) -> None:
        prev_hash = entry(session, 3).hash
        session.execute(
            update(AuditEntry).where(AuditEntry.seq >= 4).values(seq=AuditEntry.seq + 1000)
        )
        session.execute(
            update(AuditEntry).where(AuditEntry.seq >= 1000).values(seq=AuditEntry.seq - 999)
        )
        session.add(forged(session, seq=4, prev_hash=prev_hash))

    tamper(node, insert)
    result = verify(node)
    assert_tampered(
        result,
        "seq 5: previous-hash link broken",
        "seq 5: entry modified",
        "head says seq 10 but the chain ends at seq 11",
    )
    assert "seq 4:" not in result.output  # the forgery itself is well formed


def test_entry_appended_after_the_head(node: NodeUnderTest) -> None:
    def append(session: Session) -> None:
        session.add(forged(session, seq=11, prev_hash=entry(session, 10).hash))

    tamper(node, append)
    assert_tampered(verify(node), "head says seq 10 but the chain ends at seq 11")


def test_reordered_entries(node: NodeUnderTest) -> None:
    def swap(session: Session) -> None:
        session.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(seq=-1))
        session.execute(update(AuditEntry).where(AuditEntry.seq == 4).values(seq=3))
        session.execute(update(AuditEntry).where(AuditEntry.seq == -1).values(seq=4))

    tamper(node, swap)
    assert_tampered(
        verify(node),
        "seq 3: previous-hash link broken",
        "seq 3: entry modified",
        "seq 4: entry modified",
    )


def test_truncated_tail(node: NodeUnderTest) -> None:
    tamper(node, lambda s: s.execute(delete(AuditEntry).where(AuditEntry.seq > 7)))
    assert_tampered(verify(node), "head says seq 10 but the chain ends at seq 7")


def test_truncated_tail_with_a_rewound_head(node: NodeUnderTest) -> None:
    """Moving the head back too needs the node's key: without it the head signature fails."""

    def truncate(session: Session) -> None:
        last = entry(session, 7)
        session.execute(delete(AuditEntry).where(AuditEntry.seq > 7))
        session.execute(update(AuditHead).values(seq=7, hash=last.hash))

    tamper(node, truncate)
    assert_tampered(verify(node), "head signature does not verify")


def test_history_rewritten_with_the_key_is_caught_by_a_checkpoint(node: NodeUnderTest) -> None:
    """Even an insider holding the signing key, who rehashes the chain and re-signs the head,
    cannot make it agree with a checkpoint signed before the rewrite."""
    keys = node.ctx.keys

    def rewrite(session: Session) -> None:
        entries = list(session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars())
        entries[5].decision = "allow"
        prev_hash = entries[0].prev_hash
        for item in entries:
            item.prev_hash = prev_hash
            item.hash = entry_hash(prev_hash, entry_fields(item))
            prev_hash = item.hash
        head = session.get(AuditHead, 1)
        assert head is not None
        head.hash = prev_hash
        head.signature = keys.sign(head_message("yanan", head.seq, prev_hash))

    made = checkpoint_now(node.ctx)
    assert made is not None
    assert made.seq == 10
    assert verify(node).exit_code == 0
    tamper(node, rewrite)
    assert_tampered(verify(node), "checkpoint at seq 10 disagrees with the chain")


def test_verify_refuses_to_run_without_the_node_keys(node: NodeUnderTest) -> None:
    moved = replace(node, data_dir=node.data_dir.parent / "elsewhere")
    result = verify(moved)
    assert result.exit_code != 0
    assert "no node keys" in result.output
