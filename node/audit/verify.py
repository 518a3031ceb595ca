"""``fedshare audit verify``: walk the chain and name every place it was tampered with."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.audit.chain import GENESIS_HASH, entry_fields, entry_hash, head_message
from node.crypto import CryptoError, verify_signature
from node.models import AuditCheckpoint, AuditEntry, AuditHead


@dataclass
class VerifyReport:
    node: str
    entries: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _entries(session: Session, batch: int = 5000) -> Iterator[AuditEntry]:
    last = 0
    while True:
        rows = (
            session.execute(
                select(AuditEntry)
                .where(AuditEntry.seq > last)
                .order_by(AuditEntry.seq)
                .limit(batch)
            )
            .scalars()
            .all()
        )
        if not rows:
            return
        yield from rows
        last = rows[-1].seq
        session.expunge_all()


def verify_chain(
    session: Session, *, node: str, signing_public_key: str | Sequence[str]
) -> VerifyReport:
    """Check every link, the signed head, and our own checkpoints against the stored chain. The
    head verifies with ``signing_public_key``, or any of them if several are given (the node's
    current key and the ones it used before a rotation: the head is signed again with the new
    key at the next entry)."""
    report = VerifyReport(node=node)
    hashes: dict[int, str] = {}
    prev_hash = GENESIS_HASH
    expected_seq = 1
    for entry in _entries(session):
        report.entries += 1
        if entry.seq != expected_seq:
            report.problems.append(
                f"seq {entry.seq}: expected seq {expected_seq} (entry missing or inserted)"
            )
        if entry.prev_hash != prev_hash:
            report.problems.append(f"seq {entry.seq}: previous-hash link broken")
        if entry_hash(entry.prev_hash, entry_fields(entry)) != entry.hash:
            report.problems.append(f"seq {entry.seq}: entry modified (hash mismatch)")
        hashes[entry.seq] = entry.hash
        prev_hash = entry.hash
        expected_seq = entry.seq + 1
    last_seq = expected_seq - 1
    head = session.get(AuditHead, 1)
    if head is None:
        report.problems.append("audit head missing")
    else:
        if head.seq != last_seq or head.hash != prev_hash:
            report.problems.append(
                f"head says seq {head.seq} but the chain ends at seq {last_seq} "
                "(tail truncated or extended)"
            )
        if head.seq > 0:
            candidates = (
                [signing_public_key]
                if isinstance(signing_public_key, str)
                else list(signing_public_key)
            )
            message = head_message(node, head.seq, head.hash)
            if not any(_head_verifies(key, message, head.signature) for key in candidates):
                report.problems.append("head signature does not verify (head forged)")
    checkpoints = session.execute(
        select(AuditCheckpoint).where(AuditCheckpoint.node == node).order_by(AuditCheckpoint.seq)
    ).scalars()
    for checkpoint in checkpoints:
        problem = check_checkpoint(checkpoint, hashes, last_seq)
        if problem:
            report.problems.append(problem)
    return report


def _head_verifies(public_b64: str, message: bytes, signature: str) -> bool:
    try:
        verify_signature(public_b64, message, signature)
    except CryptoError:
        return False
    return True


def check_checkpoint(checkpoint: AuditCheckpoint, hashes: dict[int, str], last_seq: int) -> str:
    """Compare one signed checkpoint with the chain as it stands now ('' if they agree)."""
    if checkpoint.seq > last_seq:
        return (
            f"checkpoint at seq {checkpoint.seq} but the chain ends at seq {last_seq} "
            "(history truncated after a checkpoint)"
        )
    if hashes.get(checkpoint.seq) != checkpoint.head_hash:
        return f"checkpoint at seq {checkpoint.seq} disagrees with the chain (history rewritten)"
    return ""
