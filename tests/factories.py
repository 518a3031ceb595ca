"""Factories for rows a single node holds but did not make itself through its API.

Replicated records (other origins, secret stubs) and grants arrive through replication and
release; tests of one node insert them through the models, in a real session on the real schema.
Users made for a test's set-up are inserted the same way, so they leave no ``user-add`` entries
in the audit chain a test inspects (``fedshare user`` and ``/api/v1/users`` audit theirs).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from node.ids import uuid7
from node.models import AuditEntry, Grant, Record, RecordParty, User
from node.users.service import hash_token, new_token
from node.users.sessions import hash_password


def insert_record(
    sessions: sessionmaker[Session],
    *,
    origin: str,
    classification: str,
    category: str,
    parties: Iterable[str] = (),
    is_stub: bool = False,
    deleted: bool = False,
    title: str = "外来记录标题",
    body: str = "外来记录正文",
    updated_at: datetime | None = None,
    record_id: str | None = None,
) -> str:
    """Store a record as replication would (a stub holds no title, body or author)."""
    moment = updated_at or datetime.now(UTC)
    record = Record(
        id=record_id or uuid7(),
        origin=origin,
        author="" if is_stub else f"{origin}-author",
        category=category,
        classification=classification,
        title=None if is_stub else title,
        body=None if is_stub else body,
        version=1,
        created_at=moment,
        updated_at=moment,
        deleted=deleted,
        is_stub=is_stub,
        parties=[RecordParty(node_id=party) for party in sorted(set(parties))],
    )
    with sessions() as session, session.begin():
        session.add(record)
    return record.id


def insert_grant(
    sessions: sessionmaker[Session],
    *,
    record_id: str,
    record_origin: str,
    grantee_id: str,
    grantee_name: str,
    grantee_node: str,
    granted_at: datetime | None = None,
    lasts: timedelta = timedelta(hours=1),
    revoked: bool = False,
) -> str:
    """A grant row as the release workflow would leave it (active, expired or revoked)."""
    start = granted_at or datetime.now(UTC) - timedelta(minutes=5)
    grant = Grant(
        id=uuid7(),
        record_id=record_id,
        record_origin=record_origin,
        grantee_id=grantee_id,
        grantee_name=grantee_name,
        grantee_node=grantee_node,
        source="request",
        granted_at=start,
        expires_at=start + lasts,
        revoked_at=start + timedelta(seconds=1) if revoked else None,
        revoked_by="approver" if revoked else None,
    )
    with sessions() as session, session.begin():
        session.add(grant)
    return grant.id


def audit_entries(sessions: sessionmaker[Session], **where: object) -> list[AuditEntry]:
    """Audit entries matching every ``column=value`` given, in chain order."""
    query = select(AuditEntry).order_by(AuditEntry.seq)
    for column, value in where.items():
        query = query.where(getattr(AuditEntry, column) == value)
    with sessions() as session:
        return list(session.execute(query).scalars())


def insert_user(
    sessions: sessionmaker[Session],
    *,
    name: str,
    role: str,
    node: str,
    now: datetime,
    token_expires_at: datetime | None = None,
    password: str | None = None,
) -> str:
    """A user of ``node`` (with a console ``password`` if given); return its bearer token."""
    token = new_token()
    with sessions() as session, session.begin():
        session.add(
            User(
                id=uuid7(),
                name=name,
                role=role,
                node=node,
                token_hash=hash_token(token),
                created_at=now,
                disabled=False,
                token_expires_at=token_expires_at,
                password_hash=hash_password(password) if password else None,
                login_failures=0,
            )
        )
    return token
