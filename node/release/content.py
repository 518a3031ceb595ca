"""Released content at the grantee's node: stored on release, shown to the grantee only while the
grant lasts, deleted when it ends.

Guarantees:
- ``released_for`` returns content only for the acting user's own grants that are active now; the
  conditions are those of the ``grant`` scope (``node.policy.scopes.active_grant_clause``).
- ``purge`` deletes the plaintext row in the caller's transaction and audits it (grant id only);
  on SQLite the row's pages are zeroed (``secure_delete``) and the WAL truncated after the commit,
  so no copy stays in the node's files;
  ``purge_ended`` applies it to every grant that has ended here, so content outlives its grant
  only until the next read of the record or the next sweep (``node.release.tasks``).
- Attachments released with the content (``node.records.attachment_store``, copies filed under
  the grant, sealed at rest) are deleted by ``purge`` together with it.
- A reporter released with the content (``ReleasedReporter``) stays sealed for this node's key
  at rest, is opened only for a read under the same active grant (``open_reporter``), and is
  deleted by ``purge`` together with the content.
- Nothing here logs, audits or raises with a title, a body or a reporter.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.orm import Session

from node.audit.chain import SYSTEM_ACTOR
from node.clock import as_aware
from node.common import audited
from node.context import NodeContext
from node.crypto import CryptoError, canonical_json, open_sealed
from node.db import pairs_in
from node.models import Grant, Record
from node.policy import Actor
from node.records import attachment_store
from node.records.reporter import released_aad
from node.records.search import SearchQuery, text_matches
from node.release.models import ReleasedContent, ReleasedReporter
from node.replication.kinds import Kind


def grant_active(now: datetime) -> ColumnElement[bool]:
    return and_(Grant.revoked_at.is_(None), Grant.granted_at <= now, Grant.expires_at > now)


def grant_ended(now: datetime) -> ColumnElement[bool]:
    return or_(Grant.revoked_at.is_not(None), Grant.expires_at <= now)


def released_for(
    session: Session, actor: Actor, records: Sequence[tuple[str, str]], now: datetime
) -> dict[tuple[str, str], tuple[Grant, ReleasedContent]]:
    """(origin, record id) -> (grant, content) for the actor's active grants that hold released
    content, for ``records`` given as (origin, record id)."""
    if not records:
        return {}
    rows = session.execute(
        select(Grant, ReleasedContent)
        .join(ReleasedContent, ReleasedContent.grant_id == Grant.id)
        .join(Record, and_(Record.origin == Grant.record_origin, Record.id == Grant.record_id))
        .where(
            pairs_in(Grant.record_origin, Grant.record_id, records),
            Record.deleted.is_(False),
            Grant.grantee_id == actor.user_id,
            Grant.grantee_node == actor.node,
            grant_active(now),
        )
        .order_by(Grant.expires_at)
    ).all()
    return {(grant.record_origin, grant.record_id): (grant, content) for grant, content in rows}


def released_matching(
    actor: Actor, query: SearchQuery, now: datetime, dialect: str
) -> Select[str, str]:
    """(origin, record id) of the records whose content released to ``actor`` under one of
    their active grants holds every term of ``query``: the conditions of ``released_for``, so a
    search finds exactly the released content a listing would show. Matched by ``LIKE`` over
    these few rows; released content is never indexed (it must not outlive its grant)."""
    return (
        select(Grant.record_origin, Grant.record_id)
        .join(ReleasedContent, ReleasedContent.grant_id == Grant.id)
        .where(
            Grant.grantee_id == actor.user_id,
            Grant.grantee_node == actor.node,
            grant_active(now),
            text_matches(ReleasedContent.title, ReleasedContent.body, query, dialect),
        )
    )


def store(
    session: Session,
    ctx: NodeContext,
    grant: Grant,
    *,
    version: int,
    title: str,
    body: str,
    now: datetime,
) -> bool:
    """Keep released content for an active grant addressed here (False if it is not wanted)."""
    if grant.grantee_node != ctx.node_id or grant.ended_at is not None:
        return False
    if grant.revoked_at is not None or as_aware(grant.expires_at) <= now:
        return False
    session.add(
        ReleasedContent(
            grant_id=grant.id,
            record_id=grant.record_id,
            record_origin=grant.record_origin,
            version=version,
            title=title,
            body=body,
            received_at=now,
        )
    )
    return True


def store_reporter(
    session: Session, grant: Grant, *, sealed: dict[str, Any], now: datetime
) -> None:
    """Keep the reporter released with ``grant`` (content kept for it: ``store`` said yes), as it
    arrived: sealed for this node, bound to the grant."""
    session.add(
        ReleasedReporter(
            grant_id=grant.id,
            record_origin=grant.record_origin,
            record_id=grant.record_id,
            sealed=canonical_json(sealed).decode("ascii"),
            received_at=now,
        )
    )


def reporter_opens(ctx: NodeContext, grant: Grant, sealed: dict[str, Any]) -> bool:
    """Does a released reporter open with this node's key, bound to ``grant``? (on receipt)"""
    try:
        open_sealed(
            sealed,
            ctx.node_id,
            ctx.keys.encryption,
            aad=released_aad(grant.record_origin, grant.record_id, grant.id),
        )
    except CryptoError:
        return False
    return True


def released_reporter_for(
    session: Session, actor: Actor, record: tuple[str, str], now: datetime
) -> tuple[Grant, ReleasedReporter] | None:
    """(grant, sealed reporter) released under one of the actor's active grants for the record,
    given as (origin, record id)."""
    origin, record_id = record
    row = session.execute(
        select(Grant, ReleasedReporter)
        .join(ReleasedReporter, ReleasedReporter.grant_id == Grant.id)
        .join(Record, and_(Record.origin == Grant.record_origin, Record.id == Grant.record_id))
        .where(
            Grant.record_origin == origin,
            Grant.record_id == record_id,
            Record.deleted.is_(False),
            Grant.grantee_id == actor.user_id,
            Grant.grantee_node == actor.node,
            grant_active(now),
        )
        .order_by(Grant.expires_at.desc())
        .limit(1)
    ).first()
    return (row[0], row[1]) if row is not None else None


def open_reporter(ctx: NodeContext, grant: Grant, released: ReleasedReporter) -> bytes:
    """The released reporter's plaintext, for one read (``CryptoError`` if it does not open)."""
    sealed: dict[str, Any] = json.loads(released.sealed)
    return open_sealed(
        sealed,
        ctx.node_id,
        ctx.keys.encryption,
        aad=released_aad(grant.record_origin, grant.record_id, grant.id),
    )


def holds(session: Session, grant_id: str) -> bool:
    return session.get(ReleasedContent, grant_id) is not None


def purge(session: Session, ctx: NodeContext, grant: Grant, *, why: str, now: datetime) -> None:
    """Delete the grant's released content (and reporter) here and mark its end dealt with."""
    content = session.get(ReleasedContent, grant.id)
    released_reporter = session.get(ReleasedReporter, grant.id)
    if grant.ended_at is None:
        grant.ended_at = now
    # The release envelope (sealed for this node, with the reporter if one was released) leaves
    # the outbox too, if it still waits in it; the purge marks the transaction, so its commit
    # truncates SQLite's WAL.
    ctx.outbox.purge_object(session, Kind.RELEASE, grant.id)
    # The attachments released under the grant go with the content (chunks included).
    if attachment_store.purge_released(session, grant.id):
        audited(
            session,
            ctx,
            SYSTEM_ACTOR,
            "purge-attachments",
            object_type="record",
            object_id=grant.record_id,
            grant_id=grant.id,
            reason=why,
        )
    if released_reporter is not None:
        session.delete(released_reporter)
        audited(
            session,
            ctx,
            SYSTEM_ACTOR,
            "purge-reporter",
            object_type="record",
            object_id=grant.record_id,
            grant_id=grant.id,
            reason=why,
        )
    if content is not None:
        session.delete(content)
        audited(
            session,
            ctx,
            SYSTEM_ACTOR,
            "purge-release",
            object_type="record",
            object_id=grant.record_id,
            grant_id=grant.id,
            reason=why,
        )
    session.flush()


def purge_ended(
    session: Session,
    ctx: NodeContext,
    now: datetime,
    *,
    record: tuple[str, str] | None = None,
    limit: int = 500,
) -> int:
    """Purge released content of every grant to this node that has ended, or whose record its
    origin has since deleted (one record, given as (origin, id), or all)."""
    deleted = select(Record.id).where(
        Record.origin == Grant.record_origin,
        Record.id == Grant.record_id,
        Record.deleted.is_(True),
    )
    query = select(Grant).where(
        Grant.grantee_node == ctx.node_id,
        Grant.ended_at.is_(None),
        or_(grant_ended(now), deleted.exists()),
    )
    if record is not None:
        query = query.where(Grant.record_origin == record[0], Grant.record_id == record[1])
    grants = session.execute(query.limit(limit).with_for_update()).scalars().all()
    for grant in grants:
        why = (
            "revoked"
            if grant.revoked_at
            else "expired"
            if as_aware(grant.expires_at) <= now
            else "record deleted"
        )
        purge(session, ctx, grant, why=why, now=now)
    return len(grants)
