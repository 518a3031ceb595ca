"""The reporter (举报人) of a petition or problem clue (DESIGN §2): the most sensitive field.

Where it exists, and in what form:
- At the record's origin: one ``record_reporters`` row, keyed by (record origin, record id), holding
  the block (name, contact, relationship) sealed by ``crypto.seal`` under its own fresh AES-256-GCM
  data key, wrapped for this node's own X25519 key, with the record's (origin, id) as associated
  data (a blob moved to another record's row does not open). Never in ``records.title/body``,
  never in a ``record`` envelope: stubs and full copies carry nothing of it, not even a flag, so no
  other node learns that a record has one. A reporter change does not bump the record's version
  and sends nothing. The record's tombstone deletes the row, in the transaction that purges the
  record's content (``node.db.mark_purged``: no older copy stays in SQLite's WAL).
- At a grantee's node: only if an access request asked for it (``include_reporter``) and the
  category's approvals plus one by a security officer of the origin granted it
  (``node.release.service``). The origin opens its row and seals the block again for the grantee's
  node only (``reseal_for``); the grantee's node keeps it sealed and opens it per read; it is
  deleted with the released content when the grant ends.

Who reads it (``read_reporter``, ``GET /api/v1/records/{id}/reporter``): at the origin, the
record's author (checked here: a user of the origin whose name is the record's author) and whoever
the policy gives ``read-reporter`` with scope ``own`` (the approvers); at a grantee's node, the
grantee under an active grant that released it (``read-reporter`` with scope ``grant``, and the
released row). Every read is audited as ``read-reporter``; every refusal is an audited 403.

Nothing here logs, audits or raises with the block's text; it is plaintext only in memory, for
the one answer that shows it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.common import audited
from node.context import NodeContext
from node.crypto import CryptoError, canonical_json, open_sealed, seal
from node.db import mark_purged
from node.errors import InvalidInput, NotFound, PermissionDenied
from node.models import Record
from node.policy import Actor
from node.policy.scopes import active_grant_clause
from node.records.models import RecordReporter
from node.records.ports import GRANTED_CONTENT, GRANTED_REPORTER
from node.records.schemas import ReporterIn, ReporterOut

REPORTER_CATEGORIES = frozenset({"petition", "problem_clue"})
"""The categories whose records may name a reporter (policies/categories.csv: 信访件, 问题线索)."""

AAD_STORED = b"fedshare/v1/reporter"
AAD_RELEASED = b"fedshare/v1/reporter-release"


class ReporterNotFound(NotFound):
    code = "reporter_not_found"


def stored_aad(origin: str, record_id: str) -> bytes:
    """Associated data of the block stored at the origin: bound to the record."""
    return b"|".join((AAD_STORED, origin.encode(), record_id.encode()))


def released_aad(origin: str, record_id: str, grant_id: str) -> bytes:
    """Associated data of the block released under a grant: bound to the record and the grant."""
    return b"|".join((AAD_RELEASED, origin.encode(), record_id.encode(), grant_id.encode()))


def check_category(category: str) -> None:
    """Only petitions and problem clues name a reporter: else 422 ``reporter_not_allowed``."""
    if category not in REPORTER_CATEGORIES:
        raise InvalidInput(
            "only petition and problem_clue records may name a reporter",
            code="reporter_not_allowed",
        )


def is_author(ctx: NodeContext, actor: Actor, record: Record) -> bool:
    """The record's author: a user of its origin (this node) under the name it records."""
    return (
        record.origin == ctx.node_id
        and actor.node == ctx.node_id
        and not record.is_stub
        and bool(record.author)
        and actor.name == record.author
    )


def may_read_at_origin(ctx: NodeContext, actor: Actor, record: Record) -> bool:
    """At the origin: the record's author, or the policy's ``read-reporter`` (the approvers)."""
    if record.origin != ctx.node_id or record.is_stub:
        return False
    return is_author(ctx, actor, record) or ctx.policy.allows_on_record(
        actor, "read-reporter", record
    )


def _deny(record: Record, message: str, *, code: str | None = None) -> PermissionDenied:
    return PermissionDenied(
        message, action="read-reporter", object_type="record", object_id=record.id, code=code
    )


# -- writing at the origin ----------------------------------------------------------------------


def held(session: Session, record: Record) -> RecordReporter | None:
    return session.get(RecordReporter, (record.origin, record.id))


def store_reporter(
    session: Session,
    ctx: NodeContext,
    actor: Actor,
    record: Record,
    data: ReporterIn,
    *,
    now: datetime,
) -> None:
    """Seal ``data`` for this node under a fresh data key and keep it for ``record`` (replacing
    one held), audited as ``set-reporter`` (no content). The caller checked category and actor."""
    sealed = seal(
        canonical_json(data.model_dump(mode="json")),
        {ctx.node_id: ctx.keys.encryption_public_b64},
        aad=stored_aad(record.origin, record.id),
    )
    text = canonical_json(sealed).decode("ascii")
    row = held(session, record)
    if row is None:
        session.add(
            RecordReporter(
                record_origin=record.origin,
                record_id=record.id,
                sealed=text,
                revision=1,
                created_at=now,
                updated_at=now,
            )
        )
        reason = None
    else:
        row.sealed = text
        row.revision += 1
        row.updated_at = now
        # The block replaced is erased: no older copy of it stays in the WAL either.
        mark_purged(session)
        reason = f"replaced (revision {row.revision})"
    audited(
        session,
        ctx,
        actor,
        "set-reporter",
        object_type="record",
        object_id=record.id,
        reason=reason,
    )


def delete_reporter(session: Session, ctx: NodeContext, actor: Actor, record: Record) -> bool:
    """With the record's tombstone (beside ``service.purge_record_content``): the sealed block
    goes too (audited), and the commit truncates the WAL (``node.db.mark_purged``); False if
    none."""
    row = held(session, record)
    if row is None:
        return False
    session.delete(row)
    mark_purged(session)
    audited(session, ctx, actor, "delete-reporter", object_type="record", object_id=record.id)
    return True


def _open_stored(ctx: NodeContext, row: RecordReporter) -> bytes:
    try:
        sealed: dict[str, Any] = json.loads(row.sealed)
        return open_sealed(
            sealed,
            ctx.node_id,
            ctx.keys.encryption,
            aad=stored_aad(row.record_origin, row.record_id),
        )
    except (ValueError, CryptoError) as exc:
        raise CryptoError("the stored reporter does not open") from exc


def reseal_for(
    session: Session, ctx: NodeContext, record: Record, node_id: str, *, grant_id: str
) -> dict[str, Any] | None:
    """At the origin: the record's reporter sealed again, under a fresh data key, for ``node_id``
    only and bound to ``grant_id`` (a release); None if the record has none."""
    row = held(session, record)
    if row is None:
        return None
    return seal(
        _open_stored(ctx, row),
        {node_id: ctx.topology.get(node_id).encryption_key},
        aad=released_aad(record.origin, record.id, grant_id),
    )


# -- reading ------------------------------------------------------------------------------------


def has_reporter(session: Session, ctx: NodeContext, actor: Actor, record: Record) -> bool | None:
    """For a single record's answer: does it have a reporter? Only for those who may read it at
    the origin, and only for the categories that may name one; None (the field is left out) for
    everyone else and everywhere else."""
    if record.category not in REPORTER_CATEGORIES or not may_read_at_origin(ctx, actor, record):
        return None
    return held(session, record) is not None


def _out(record: Record, plaintext: bytes, grant_id: str | None) -> ReporterOut:
    block = json.loads(plaintext)
    return ReporterOut(
        record_id=record.id,
        origin=record.origin,
        name=block.get("name", ""),
        contact=block.get("contact", ""),
        relationship=block.get("relationship", ""),
        grant_id=grant_id,
    )


def read_reporter(
    session: Session, ctx: NodeContext, actor: Actor, record: Record, *, now: datetime
) -> ReporterOut:
    """The reporter of ``record`` as ``actor`` may read it, audited as ``read-reporter``.

    Permission is decided before existence, so a refusal says nothing of whether there is one:
    at the origin 403 ``forbidden`` unless author or approver, then 404 ``reporter_not_found``;
    elsewhere 403 ``reporter_not_granted`` unless an active grant of the actor's released it."""
    if record.category not in REPORTER_CATEGORIES:
        raise ReporterNotFound("this record's category has no reporter")
    if record.origin == ctx.node_id and not record.is_stub:
        if not may_read_at_origin(ctx, actor, record):
            raise _deny(record, "only the record's author and the approvers read its reporter")
        row = held(session, record)
        if row is None:
            raise ReporterNotFound("this record names no reporter")
        out = _out(record, _open_stored(ctx, row), None)
        audited(session, ctx, actor, "read-reporter", object_type="record", object_id=record.id)
        return out
    # Elsewhere only under a grant that released it (an active one: an ended grant's reporter is
    # never opened, whether or not the sweep has deleted it yet). Ended grants lose it here first;
    # a refused read rolls that back with the request, and the next read or sweep deletes it.
    ctx.port(GRANTED_CONTENT).purge_ended(session, ctx, now, record=record)
    granted = (
        session.execute(
            select(Record.id).where(
                Record.origin == record.origin,
                Record.id == record.id,
                active_grant_clause(actor, now),
            )
        ).first()
        is not None
    )
    if not ctx.policy.allows_on_record(actor, "read-reporter", record, has_active_grant=granted):
        raise _deny(record, "no grant releases this reporter to you", code="reporter_not_granted")
    released = ctx.port(GRANTED_REPORTER).read_released_reporter(session, ctx, actor, record, now)
    if released is None:
        raise _deny(record, "no grant releases this reporter to you", code="reporter_not_granted")
    out = _out(record, released.plaintext, released.grant_id)
    audited(
        session,
        ctx,
        actor,
        "read-reporter",
        object_type="record",
        object_id=record.id,
        grant_id=released.grant_id,
    )
    return out
