"""Factories for rows a single node holds but did not make itself through its API.

Replicated records (other origins, secret stubs) and grants arrive through replication and
release; tests of one node insert them through the models, in a real session on the real schema.
Users made for a test's set-up are inserted the same way, so they leave no ``user-add`` entries
in the audit chain a test inspects (``fedshare user`` and ``/api/v1/users`` audit theirs).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from node.certificates import SIGNING_CONTEXT, NodeCertificate, issue_certificate
from node.crypto import NodeKeys, b64e, canonical_json
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


def reissue(
    issuer: NodeKeys,
    current: NodeCertificate,
    *,
    serial: int,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    name: str | None = None,
) -> NodeCertificate:
    """``current`` issued again by its parent (``issuer``: the parent's real keys) with another
    serial, validity or name; the same node, parent and keys."""
    return issue_certificate(
        issuer_key=issuer.signing,
        issuer=current.issuer,
        node=current.node,
        name=name or current.name,
        parent=current.parent,
        signing_key=current.signing_key,
        encryption_key=current.encryption_key,
        serial=serial,
        not_before=not_before or current.not_before,
        not_after=not_after or current.not_after,
    )


def certify_child(
    parent: str, parent_keys: NodeKeys, child: str, child_keys: NodeKeys, *, now: datetime
) -> NodeCertificate:
    """What ``fedshare node certify`` makes at ``parent`` for a new child (a year's validity)."""
    return issue_certificate(
        issuer_key=parent_keys.signing,
        issuer=parent,
        node=child,
        name=f"{child}县",
        parent=parent,
        signing_key=child_keys.signing_public_b64,
        encryption_key=child_keys.encryption_public_b64,
        serial=1,
        not_before=now - timedelta(hours=1),
        not_after=now + timedelta(days=365),
    )


def sign_as(
    certificate: NodeCertificate, key: Ed25519PrivateKey, **changes: Any
) -> NodeCertificate:
    """``certificate`` with ``changes``, signed by ``key`` whoever the issuer says it is: what a
    forger, or a node certifying beyond its own children, would make."""
    unsigned = replace(certificate, **changes)
    signature = b64e(key.sign(SIGNING_CONTEXT + canonical_json(unsigned.unsigned())))
    return replace(unsigned, signature=signature)
