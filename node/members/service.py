"""Learning, announcing and listing certified members (DESIGN §11).

Guarantees:
- ``learn_certificate`` changes the node's membership only with a certificate that chains to the
  root key (``Membership.learn``: issuer is the parent, signature by its certified key, valid
  now, higher serial) and stores it, in the caller's transaction, so a restart keeps it
  (``restore_learned``). The in-memory membership is updated at once: what it learns is a
  verified fact whether or not the transaction commits, and a redelivery stores it again.
- ``announce_certificate`` learns first and broadcasts only what was learned, in the same
  transaction (never publish before commit).
- ``list_members`` shows the caller's node's subtree only, to admins and security officers,
  audited; each member's status is that of its whole chain at the node's clock.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from node.certificates import (
    EXPIRED,
    NOT_YET_VALID,
    VALID,
    CertificateError,
    NodeCertificate,
    key_id,
)
from node.context import NodeContext
from node.errors import InvalidInput, PermissionDenied
from node.members.models import MemberCertificate
from node.members.schemas import MemberOut, MemberPage
from node.members.wire import certificate_wire
from node.membership import Learned
from node.policy import Actor
from node.replication.envelope import BROADCAST
from node.replication.kinds import Kind

log = logging.getLogger("fedshare.members")


def learn_certificate(
    session: Session, ctx: NodeContext, certificate: NodeCertificate, *, source: str
) -> Learned:
    """Verify and learn ``certificate`` (``CertificateError`` if it does not chain); store it
    unless it is older than the one held."""
    outcome = ctx.membership.learn(certificate, ctx.clock.now())
    if outcome == "stale":
        return outcome
    row = session.get(MemberCertificate, certificate.node)
    if row is None or row.serial < certificate.serial:
        if row is None:
            row = MemberCertificate(node_id=certificate.node)
            session.add(row)
        row.parent = certificate.parent
        row.serial = certificate.serial
        row.digest = certificate.digest
        row.document = certificate.to_json()
        row.learned_at = ctx.clock.now()
        row.learned_from = source
        session.flush()
    return outcome


def announce_certificate(
    session: Session, ctx: NodeContext, certificate: NodeCertificate
) -> Learned:
    """Learn a certificate here (one this node issued to a child, or its own re-issued one) and,
    if it is new or newer, broadcast it to the federation in the same transaction."""
    outcome = learn_certificate(session, ctx, certificate, source=ctx.node_id)
    if outcome in ("added", "replaced"):
        ctx.outbox.send(
            session,
            Kind.MEMBER_CERTIFICATE,
            certificate_wire(certificate),
            dest=[BROADCAST],
            encrypt=False,
        )
    return outcome


def restore_learned(ctx: NodeContext) -> int:
    """At start: learn again the certificates stored while running (parents before children);
    those that no longer verify (expired meanwhile) are skipped with a warning. Returns how many
    changed the membership."""
    try:
        with ctx.sessions() as session:
            rows = session.execute(select(MemberCertificate.document)).scalars().all()
    except SQLAlchemyError as exc:
        # The node still starts on the topology file's certificates; readiness reports the
        # database.
        log.warning("stored member certificates not read: %s", type(exc).__name__)
        return 0
    pending: list[NodeCertificate] = []
    for document in rows:
        try:
            pending.append(NodeCertificate.from_document(json.loads(document)))
        except (CertificateError, ValueError):
            log.warning("a stored member certificate is unreadable; skipped")
    changed = 0
    progress = True
    while pending and progress:
        progress = False
        waiting: list[NodeCertificate] = []
        for certificate in pending:
            try:
                outcome = ctx.membership.learn(certificate, ctx.clock.now())
            except CertificateError as exc:
                if exc.reason == "unknown_issuer":
                    waiting.append(certificate)
                    continue
                log.warning("stored certificate of %s skipped: %s", certificate.node, exc.reason)
                continue
            progress = True
            changed += outcome in ("added", "replaced")
        pending = waiting
    for certificate in pending:
        log.warning("stored certificate of %s skipped: no certified parent", certificate.node)
    return changed


ANNOUNCE_ACTION = "announce-certificate"


def submit_certificate(
    session: Session, ctx: NodeContext, actor: Actor, document: dict[str, Any]
) -> tuple[NodeCertificate, Learned]:
    """An admin hands this node a certificate (one it issued to a child with ``fedshare node
    certify``, or its own, re-issued by its parent): learned here and broadcast if new or newer,
    audited. The admin vouches for nothing: a certificate that does not chain to the root is
    refused (``certificate_<reason>``) exactly as it would be from the federation."""
    if not ctx.policy.allows_on_node(actor, ANNOUNCE_ACTION, object_node=ctx.node_id):
        raise PermissionDenied(
            "not permitted to announce certificates",
            action=ANNOUNCE_ACTION,
            object_type="certificate",
        )
    try:
        certificate = NodeCertificate.from_document(document)
        outcome = announce_certificate(session, ctx, certificate)
    except CertificateError as exc:
        raise InvalidInput(str(exc), code=f"certificate_{exc.reason}") from exc
    ctx.audit.append(
        session,
        actor=actor,
        action=ANNOUNCE_ACTION,
        object_type="certificate",
        object_id=certificate.node,
        reason=f"serial {certificate.serial}: {outcome}",
    )
    return certificate, outcome


MEMBERS_ACTION = "federation-members"


def member_status(ctx: NodeContext, node_id: str) -> str:
    """The status of ``node_id``'s chain at the node's clock: the first certificate up the chain
    that is not valid decides it."""
    topology = ctx.topology
    now = ctx.clock.now()
    for node in (node_id, *topology.ancestors(node_id)):
        certificate = topology.get(node).certificate
        if certificate is None:
            return EXPIRED
        status = certificate.status(now)
        if status != VALID:
            return status
    return VALID


def list_members(
    session: Session,
    ctx: NodeContext,
    actor: Actor,
    *,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> MemberPage:
    """The certified members of this node's subtree (itself first, parents before children),
    one page after ``cursor`` (a node id this list gave); audited."""
    if not ctx.policy.allows_on_node(actor, MEMBERS_ACTION, object_node=ctx.node_id):
        raise PermissionDenied(
            "not permitted to list the federation's members",
            action=MEMBERS_ACTION,
            object_type="federation",
        )
    if status is not None and status not in (VALID, EXPIRED, NOT_YET_VALID):
        raise InvalidInput("status: valid, expired or not_yet_valid", code="invalid_status")
    topology = ctx.topology
    ordered: list[str] = []
    stack = [ctx.node_id]
    while stack:
        node_id = stack.pop()
        ordered.append(node_id)
        stack.extend(sorted(topology.children(node_id), reverse=True))
    if cursor is not None:
        if cursor not in ordered:
            raise InvalidInput("cursor: not one this list gave", code="invalid_cursor")
        ordered = ordered[ordered.index(cursor) + 1 :]
    items: list[MemberOut] = []
    next_cursor: str | None = None
    for node_id in ordered:
        info = topology.get(node_id)
        certificate = info.certificate
        if certificate is None:
            continue
        chain_status = member_status(ctx, node_id)
        if status is not None and chain_status != status:
            continue
        if len(items) == limit:
            next_cursor = items[-1].id
            break
        items.append(
            MemberOut(
                id=node_id,
                name=certificate.name,
                parent=certificate.parent,
                issuer=certificate.issuer,
                signing_key_id=key_id(certificate.signing_key),
                encryption_key_id=key_id(certificate.encryption_key),
                serial=certificate.serial,
                not_before=certificate.not_before,
                not_after=certificate.not_after,
                status=chain_status,
            )
        )
    ctx.audit.append(session, actor=actor, action=MEMBERS_ACTION, object_type="federation")
    return MemberPage(items=items, next_cursor=next_cursor)
