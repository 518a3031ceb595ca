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
  audited; each member's status is that of its whole chain at the node's clock (``revoked``
  first: a node an ancestor revoked, or one below it).
- ``learn_revocation`` puts a revocation in force only if it is an ancestor's, signed with a key
  that ancestor may use now (``Membership.revoke``), and stores it in the caller's transaction
  (restored at start). ``revoke_member`` lets an admin of an ancestor sign one with the node's
  own key; it is learned here and broadcast in the same transaction, audited.
- Rotation: when a node learns its own certificate naming the next keys it made
  (``fedshare keys rotate``), it switches to them (``adopt_next_keys``: the keys on disk become
  current, the old ones are kept beside them to open what was sealed to them) and re-certifies
  its children with the new key in the same transaction, so their chains outlive the overlap.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from node.audit.chain import SYSTEM_ACTOR
from node.certificates import (
    EXPIRED,
    NOT_YET_VALID,
    VALID,
    CertificateError,
    KeyAnnouncement,
    NodeCertificate,
    Revocation,
    announce_next_keys,
    issue_certificate,
    issue_revocation,
    key_id,
)
from node.context import NodeContext
from node.crypto import generate_keys, load_keys, write_keys
from node.errors import InvalidInput, PermissionDenied
from node.members.models import MemberCertificate, MemberRevocation
from node.members.schemas import MemberOut, MemberPage
from node.members.wire import certificate_wire, revocation_wire
from node.membership import Learned, RevocationLearned
from node.policy import Actor
from node.replication.envelope import BROADCAST
from node.replication.kinds import Kind

log = logging.getLogger("fedshare.members")
REVOKED = "revoked"


def learn_certificate(
    session: Session, ctx: NodeContext, certificate: NodeCertificate, *, source: str
) -> Learned:
    """Verify and learn ``certificate`` (``CertificateError`` if it does not chain); store it
    unless it is older than the one held."""
    outcome = ctx.membership.learn(certificate, ctx.clock.now())
    if outcome == "stale":
        return outcome
    if certificate.node == ctx.node_id:
        adopt_next_keys(session, ctx, certificate)
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


def _stored_documents(ctx: NodeContext, column: Any, what: str) -> Sequence[str] | None:
    """The stored documents of ``column``, or None (with a warning) if the database cannot be
    read: the node still starts on the topology file's certificates; readiness reports the
    database."""
    try:
        with ctx.sessions() as session:
            return session.execute(select(column)).scalars().all()
    except SQLAlchemyError as exc:
        log.warning("stored %s not read: %s", what, type(exc).__name__)
        return None


def restore_learned(ctx: NodeContext) -> int:
    """At start: learn again the certificates stored while running (parents before children);
    those that no longer verify (expired meanwhile) are skipped with a warning. Returns how many
    changed the membership."""
    rows = _stored_documents(ctx, MemberCertificate.document, "member certificates")
    if rows is None:
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


NEXT_KEYS_DIR = "next"
PREVIOUS_KEYS_DIR = "previous"


def prepare_rotation(keys_dir: Path, node_id: str, now: datetime) -> KeyAnnouncement:
    """``fedshare keys rotate``: make the next key pair beside the current one
    (``<keys>/next``, mode 0600; ``FileExistsError`` if a rotation is already pending) and the
    announcement of its public keys signed by the current signing key, for the parent to
    certify. The node keeps signing with its current key until that certificate arrives."""
    current = load_keys(keys_dir)
    next_keys = generate_keys()
    write_keys(next_keys, keys_dir / NEXT_KEYS_DIR)
    return announce_next_keys(
        current=current.signing,
        node=node_id,
        signing_key=next_keys.signing_public_b64,
        encryption_key=next_keys.encryption_public_b64,
        time=now,
    )


def adopt_next_keys(session: Session, ctx: NodeContext, certificate: NodeCertificate) -> bool:
    """This node learned its own certificate naming the next keys ``fedshare keys rotate`` made
    (``<keys>/next``): re-certify every child with the new key and broadcast its own certificate
    and theirs, in the caller's transaction and still signed with the old key (every node accepts
    it, and learns the new key before anything signed with it arrives); once that transaction
    commits, sign with the new keys and keep the old ones in ``<keys>/previous`` (their
    encryption key opens what was sealed before). Idempotent: a batch rolled back and applied
    again sends what the rolled-back attempt did not. Returns whether a switch is pending."""
    keys_dir = ctx.settings.keys_dir
    if certificate.signing_key == ctx.keys.signing_public_b64:
        return False
    try:
        next_keys = load_keys(keys_dir / NEXT_KEYS_DIR)
    except FileNotFoundError:
        log.warning("own certificate names keys this node does not hold; still signing as before")
        return False
    if (
        next_keys.signing_public_b64 != certificate.signing_key
        or next_keys.encryption_public_b64 != certificate.encryption_key
    ):
        log.warning("own certificate names other keys than the next ones; not switched")
        return False
    ctx.outbox.send(
        session,
        Kind.MEMBER_CERTIFICATE,
        certificate_wire(certificate),
        dest=[BROADCAST],
        encrypt=False,
    )
    topology = ctx.topology
    for child in topology.children(ctx.node_id):
        held = topology.get(child).certificate
        if held is None or topology.is_revoked(child):
            continue
        if topology.issued_by(child) != certificate.signing_key:
            renewed = issue_certificate(
                issuer_key=next_keys.signing,
                issuer=ctx.node_id,
                node=child,
                name=held.name,
                parent=ctx.node_id,
                signing_key=held.signing_key,
                encryption_key=held.encryption_key,
                serial=held.serial + 1,
                not_before=held.not_before,
                not_after=held.not_after,
            )
            announce_certificate(session, ctx, renewed)
            continue
        # Renewed by an attempt whose transaction rolled back: stored and sent again.
        row = session.get(MemberCertificate, child)
        if row is None or row.serial < held.serial:
            learn_certificate(session, ctx, held, source=ctx.node_id)
            ctx.outbox.send(
                session,
                Kind.MEMBER_CERTIFICATE,
                certificate_wire(held),
                dest=[BROADCAST],
                encrypt=False,
            )
    ctx.audit.append(
        session,
        actor=SYSTEM_ACTOR,
        action="rotate-keys",
        object_type="certificate",
        object_id=ctx.node_id,
        reason=f"serial {certificate.serial}: signing key {key_id(certificate.signing_key)}",
    )

    def switch(_session: Session) -> None:
        # Files first: a crash after this restarts the node on its certified keys.
        write_keys(ctx.keys, keys_dir / PREVIOUS_KEYS_DIR, force=True)
        write_keys(next_keys, keys_dir, force=True)
        for name in (keys_dir / NEXT_KEYS_DIR).iterdir():
            name.unlink()
        ctx.keys.switch_to(next_keys)
        log.info("switched to the next keys (%s)", key_id(certificate.signing_key))

    event.listen(session, "after_commit", switch, once=True)
    return True


def learn_revocation(
    session: Session, ctx: NodeContext, revocation: Revocation, *, source: str
) -> RevocationLearned:
    """Verify and put ``revocation`` in force (``CertificateError`` if it is not an ancestor's);
    store it, in the caller's transaction, if it is new."""
    outcome = ctx.membership.revoke(revocation, ctx.clock.now())
    if session.get(MemberRevocation, revocation.digest) is None:
        session.add(
            MemberRevocation(
                digest=revocation.digest,
                node_id=revocation.node,
                up_to_serial=revocation.up_to_serial,
                issuer=revocation.issuer,
                revoked_at=revocation.time,
                reason=revocation.reason,
                document=revocation.to_json(),
                learned_at=ctx.clock.now(),
                learned_from=source,
            )
        )
        session.flush()
    return outcome


def announce_revocation(
    session: Session, ctx: NodeContext, revocation: Revocation
) -> RevocationLearned:
    """Learn a revocation here and, if it is new, broadcast it (``member-revocation``) in the
    same transaction: up and down the tree, skipping the revoked subtree."""
    outcome = learn_revocation(session, ctx, revocation, source=ctx.node_id)
    if outcome == "added":
        ctx.outbox.send(
            session,
            Kind.MEMBER_REVOCATION,
            revocation_wire(revocation),
            dest=[BROADCAST],
            encrypt=False,
        )
    return outcome


REVOKE_ACTION = "revoke-member"


def _require_revoke(ctx: NodeContext, actor: Actor) -> None:
    if not ctx.policy.allows_on_node(actor, REVOKE_ACTION, object_node=ctx.node_id):
        raise PermissionDenied(
            "not permitted to revoke members", action=REVOKE_ACTION, object_type="certificate"
        )


def revoke_member(
    session: Session,
    ctx: NodeContext,
    actor: Actor,
    node_id: str,
    *,
    reason: str,
    serials: list[int] | None = None,
) -> tuple[Revocation, RevocationLearned]:
    """An admin of an ancestor revokes ``node_id``: a revocation signed with this node's key
    (default: the serial of the certificate held now), learned and broadcast, audited."""
    _require_revoke(ctx, actor)
    topology = ctx.topology
    if node_id not in topology or ctx.node_id not in topology.ancestors(node_id):
        raise InvalidInput(
            f"{node_id} is not below this node: only its ancestors revoke it",
            code="revocation_not_ancestor",
        )
    held = topology.get(node_id).certificate
    if not serials:
        if held is None:
            raise InvalidInput(f"{node_id} has no certificate", code="revocation_unknown_node")
        serials = [held.serial]
    chosen = serials
    return _put_in_force(
        session,
        ctx,
        actor,
        lambda: issue_revocation(
            issuer_key=ctx.keys.signing,
            issuer=ctx.node_id,
            node=node_id,
            serials=chosen,
            time=ctx.clock.now(),
            reason=reason,
        ),
    )


def submit_revocation(
    session: Session, ctx: NodeContext, actor: Actor, document: dict[str, Any]
) -> tuple[Revocation, RevocationLearned]:
    """An admin hands this node a revocation signed elsewhere (``fedshare node revoke``): learned
    and broadcast only if an ancestor of the node signed it (``revocation_<reason>`` if not),
    audited."""
    _require_revoke(ctx, actor)
    return _put_in_force(session, ctx, actor, lambda: Revocation.from_document(document))


def _put_in_force(
    session: Session, ctx: NodeContext, actor: Actor, make: Callable[[], Revocation]
) -> tuple[Revocation, RevocationLearned]:
    """The revocation ``make`` builds, learned, broadcast and audited; a refusal of either step
    is ``revocation_<reason>``."""
    try:
        revocation = make()
        outcome = announce_revocation(session, ctx, revocation)
    except CertificateError as exc:
        raise InvalidInput(str(exc), code=f"revocation_{exc.reason}") from exc
    _audit_revocation(session, ctx, actor, revocation, outcome)
    return revocation, outcome


def _audit_revocation(
    session: Session,
    ctx: NodeContext,
    actor: Actor,
    revocation: Revocation,
    outcome: RevocationLearned,
) -> None:
    ctx.audit.append(
        session,
        actor=actor,
        action=REVOKE_ACTION,
        object_type="certificate",
        object_id=revocation.node,
        reason=(
            f"serials up to {revocation.up_to_serial} by {revocation.issuer}: {outcome}; "
            f"{revocation.reason[:200]}"
        ),
    )


def restore_revocations(ctx: NodeContext) -> int:
    """At start (after ``restore_learned``): put the stored revocations in force again; those
    that no longer verify are skipped with a warning. Returns how many took effect."""
    rows = _stored_documents(ctx, MemberRevocation.document, "revocations")
    if rows is None:
        return 0
    added = 0
    for document in rows:
        try:
            revocation = Revocation.from_document(json.loads(document))
            added += ctx.membership.revoke(revocation, ctx.clock.now()) == "added"
        except (CertificateError, ValueError) as exc:
            log.warning("a stored revocation skipped: %s", getattr(exc, "reason", "unreadable"))
    return added


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
    if topology.is_revoked(node_id):
        return REVOKED
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
    if status is not None and status not in (VALID, EXPIRED, NOT_YET_VALID, REVOKED):
        raise InvalidInput(
            "status: valid, expired, not_yet_valid or revoked", code="invalid_status"
        )
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
