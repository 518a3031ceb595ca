"""The audit chain: append-only, hash-chained, head signed with the node's Ed25519 key.

Guarantees:
- ``AuditLog.append`` writes the entry and moves the signed head in the caller's transaction, so an
  action and its audit entry commit together or not at all (fail closed). A write the database
  refuses raises ``AuditUnavailable``; a database that is down raises its own error unchanged, so
  the audit log is blamed only for its own failures.
- Each entry's hash covers the previous hash and every field, so changing, deleting, inserting or
  reordering an entry breaks the chain; the signed head catches a truncated or extended tail;
  signed checkpoints held by the tier above catch a history rewritten wholesale.
- Entries never contain record titles or bodies: only ids, actors, actions and decisions.
- An entry may stand for several identical occurrences (repeated denials, see
  ``node/audit/denials.py``); its ``occurrences`` count is covered by the hash like every field.
  A count of 1 is left out of the hashed fields, so entries written before counts existed keep
  their hashes and old chains still verify.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from node.clock import Clock, iso
from node.crypto import NodeKeys, canonical_json
from node.db import DATABASE_UNAVAILABLE
from node.errors import AuditUnavailable
from node.models import AuditEntry, AuditHead
from node.policy import Actor

log = logging.getLogger("fedshare.audit")

GENESIS_HASH = "0" * 64
SYSTEM_ACTOR = Actor(user_id="system", name="system", role="system", node="")


def entry_hash(prev_hash: str, fields: dict[str, object]) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + canonical_json(fields)).hexdigest()


def entry_fields(entry: AuditEntry) -> dict[str, object]:
    fields: dict[str, object] = {
        "seq": entry.seq,
        "at": iso(entry.at),
        "node": entry.node,
        "actor": entry.actor,
        "role": entry.role,
        "action": entry.action,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "decision": entry.decision,
        "reason": entry.reason,
        "grant_id": entry.grant_id,
    }
    # None: an entry built in Python and not yet flushed, which the column default makes 1.
    if entry.occurrences not in (None, 1):
        fields["occurrences"] = entry.occurrences
    return fields


def head_message(node: str, seq: int, head_hash: str) -> bytes:
    return canonical_json({"node": node, "seq": seq, "hash": head_hash})


@dataclass
class AuditLog:
    node_id: str
    keys: NodeKeys
    clock: Clock

    def append(
        self,
        session: Session,
        *,
        actor: Actor,
        action: str,
        object_type: str,
        object_id: str | None = None,
        decision: str = "allow",
        reason: str | None = None,
        grant_id: str | None = None,
        at: datetime | None = None,
        occurrences: int = 1,
    ) -> AuditEntry:
        """Append one entry in the caller's transaction (the head row is locked until commit).

        Raises ``AuditUnavailable`` if the database refuses the entry; the caller's own pending
        writes are flushed first, so that their failures are not mistaken for the audit's.
        """
        session.flush()
        try:
            head = session.execute(
                select(AuditHead).where(AuditHead.id == 1).with_for_update()
            ).scalar_one()
            entry = AuditEntry(
                seq=head.seq + 1,
                at=at or self.clock.now(),
                node=self.node_id,
                actor=actor.name,
                role=actor.role,
                action=action,
                object_type=object_type,
                object_id=object_id,
                decision=decision,
                reason=(reason or None) and reason[:300],
                grant_id=grant_id,
                occurrences=occurrences,
                prev_hash=head.hash,
                hash="",
            )
            entry.hash = entry_hash(head.hash, entry_fields(entry))
            session.add(entry)
            head.seq = entry.seq
            head.hash = entry.hash
            head.signature = self.keys.sign(head_message(self.node_id, entry.seq, entry.hash))
            session.flush()
        except DATABASE_UNAVAILABLE:
            raise
        except SQLAlchemyError as exc:
            log.error("audit write refused by the database (%s)", type(exc).__name__)
            raise AuditUnavailable("the audit log cannot be written; access refused") from exc
        return entry
