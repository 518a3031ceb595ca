"""Onboarding at the parent (issue 12 item 2): one-time join codes, join requests, approval.

Guarantees:
- A code is random (128 bits), shown once, stored only as its SHA-256, admits exactly one
  accepted request, and only before it expires; issuing one is audited, its use too.
- ``submit_request`` (reachable without a token, rate limited by the API) stores a request only
  if the signed request parses and verifies (``join_request_malformed``/``_forged``), its time is
  near the node's clock (``join_request_stale``), the very same request was never taken
  (``join_request_replayed``), the code is known, unused and unexpired
  (``join_code_invalid``/``_used``/``_expired``, all 403: they spend the address's failure
  budget), the request asks to join *this* node (``join_not_child``), and the id is free: no
  member, no revoked member and no pending request has it (``join_node_taken``). A refusal
  stores nothing and changes no code. The code itself never appears in a message or a log.
- ``approve`` (admins, audited): signs the certificate with the node's key, learns it and
  broadcasts it (``member-certificate``) in the same transaction, issues the child's TLS client
  certificate from the node's link CA, and stores the signed answer for the child to fetch. From
  the moment it is learned the membership names the child: routing includes it, and the
  replication service gives it an account, a leaf user and a source while the node runs.
- ``reject`` (admins, audited) ends a pending request; its code stays used.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.audit.chain import SYSTEM_ACTOR
from node.certificates import CertificateError, NodeCertificate, issue_certificate, key_id, validity
from node.clock import SystemClock, as_aware
from node.context import NodeContext
from node.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from node.members.joining import (
    REQUEST_MAX_SKEW,
    JoinError,
    JoinRequest,
    sign_answer,
)
from node.members.models import JoinCode
from node.members.models import JoinRequest as JoinRequestRow
from node.members.service import announce_certificate
from node.pki import cert_pem, ensure_link_ca, issue_child_client_certificate, trusted_ca_pem
from node.policy import Actor

ISSUE_CODE_ACTION = "issue-join-code"
APPROVE_ACTION = "approve-join"
PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"
DEFAULT_CODE_LIFETIME = timedelta(hours=24)
MAX_CODE_LIFETIME = timedelta(days=30)
CERTIFICATE_DAYS = 730


class JoinRefused(PermissionDenied):
    """A join request refused for its code: 403, so it spends the address's failure budget, and
    counted in the audit chain like other denials (never the code itself)."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message, action="join-request", object_type="join_code", code=code)


def code_hash(code: str) -> str:
    return hashlib.sha256(code.strip().encode("utf-8")).hexdigest()


def _require(ctx: NodeContext, actor: Actor, action: str, what: str) -> None:
    if not ctx.policy.allows_on_node(actor, action, object_node=ctx.node_id):
        raise PermissionDenied(f"not permitted to {what}", action=action, object_type="join")


def _actor_name(actor: Actor) -> str:
    return actor.name[:200]


def issue_code(
    session: Session,
    ctx: NodeContext,
    actor: Actor,
    *,
    lifetime: timedelta = DEFAULT_CODE_LIFETIME,
    node_id: str | None = None,
    authorize: bool = True,
) -> tuple[JoinCode, str]:
    """A new one-time code (returned once, stored hashed), audited. ``node_id`` binds it to the
    id the new node will ask for."""
    if authorize:
        _require(ctx, actor, ISSUE_CODE_ACTION, "issue join codes")
    if not timedelta(0) < lifetime <= MAX_CODE_LIFETIME:
        raise InvalidInput("a code lives more than 0 and at most 30 days", code="invalid_lifetime")
    now = ctx.clock.now()
    code = secrets.token_urlsafe(16)
    row = JoinCode(
        id=secrets.token_hex(8),
        code_hash=code_hash(code),
        node_id=node_id,
        created_at=now,
        created_by=_actor_name(actor),
        expires_at=now + lifetime,
    )
    session.add(row)
    ctx.audit.append(
        session,
        actor=actor,
        action=ISSUE_CODE_ACTION,
        object_type="join_code",
        object_id=row.id,
        reason=f"for {node_id or 'any id'}, expires {row.expires_at.isoformat()}",
    )
    return row, code


def code_status(row: JoinCode, now: datetime) -> str:
    if row.used_at is not None:
        return "used"
    if as_aware(row.expires_at) <= now:
        return "expired"
    return "unused"


def list_codes(session: Session, ctx: NodeContext, actor: Actor) -> list[JoinCode]:
    _require(ctx, actor, ISSUE_CODE_ACTION, "list join codes")
    return list(session.execute(select(JoinCode).order_by(JoinCode.created_at.desc())).scalars())


def submit_request(
    session: Session, ctx: NodeContext, *, code: str, document: object, client_address: str
) -> JoinRequestRow:
    """Store a new node's join request (see the module's guarantees for each refusal)."""
    try:
        request = JoinRequest.parse(document)
    except JoinError as exc:
        raise InvalidInput(str(exc), code=f"join_request_{exc.reason}") from exc
    now = ctx.clock.now()
    if abs(request.time - now) > REQUEST_MAX_SKEW:
        raise InvalidInput(
            "join request: its time is too far from this node's clock", code="join_request_stale"
        )
    if session.execute(
        select(JoinRequestRow.id).where(JoinRequestRow.digest == request.digest)
    ).first():
        raise Conflict("join request: received before", code="join_request_replayed")
    held = session.execute(
        select(JoinCode).where(JoinCode.code_hash == code_hash(code)).with_for_update()
    ).scalar_one_or_none()
    if held is None or (held.node_id is not None and held.node_id != request.node):
        raise JoinRefused("join code: not valid here", code="join_code_invalid")
    if held.used_at is not None:
        raise JoinRefused("join code: already used", code="join_code_used")
    if as_aware(held.expires_at) <= now:
        raise JoinRefused("join code: expired", code="join_code_expired")
    if request.parent != ctx.node_id:
        raise InvalidInput(
            f"join request: asks to join {request.parent}, not this node", code="join_not_child"
        )
    topology = ctx.topology
    pending = session.execute(
        select(JoinRequestRow.id).where(
            JoinRequestRow.node_id == request.node, JoinRequestRow.status == PENDING
        )
    ).first()
    if request.node in topology or request.node in topology.revocations or pending:
        raise Conflict(f"node id {request.node} is taken", code="join_node_taken")
    row = JoinRequestRow(
        id=secrets.token_urlsafe(24),
        node_id=request.node,
        name=request.name,
        digest=request.digest,
        document=request.to_json(),
        code_id=held.id,
        client_address=client_address[:64],
        status=PENDING,
        created_at=now,
    )
    session.add(row)
    held.used_at = now
    held.request_id = row.id
    ctx.audit.append(
        session,
        actor=SYSTEM_ACTOR,
        action="join-request",
        object_type="join_request",
        object_id=request.node,
        reason=f"code {held.id} from {client_address[:64]}; signing key "
        f"{key_id(request.signing_key)}",
    )
    return row


def request_of(row: JoinRequestRow) -> JoinRequest:
    return JoinRequest.parse(json.loads(row.document))


def list_requests(
    session: Session, ctx: NodeContext, actor: Actor, *, status: str | None = None
) -> list[JoinRequestRow]:
    _require(ctx, actor, APPROVE_ACTION, "list join requests")
    query = select(JoinRequestRow).order_by(JoinRequestRow.created_at.desc())
    if status is not None:
        query = query.where(JoinRequestRow.status == status)
    return list(session.execute(query.limit(200)).scalars())


def _pending(session: Session, request_id: str) -> JoinRequestRow:
    row = session.get(JoinRequestRow, request_id, with_for_update=True)
    if row is None:
        raise NotFound("no such join request", code="join_request_not_found")
    if row.status != PENDING:
        raise Conflict(f"join request already {row.status}", code="join_request_decided")
    return row


def approve(
    session: Session, ctx: NodeContext, actor: Actor, request_id: str, *, days: int = 730
) -> JoinRequestRow:
    """Certify the requesting node as this node's child, learn and broadcast its certificate,
    issue its TLS client certificate and store the signed answer; audited."""
    _require(ctx, actor, APPROVE_ACTION, "approve join requests")
    row = _pending(session, request_id)
    request = request_of(row)
    topology = ctx.topology
    now = ctx.clock.now()
    held = topology.get(request.node).certificate if request.node in topology else None
    if held is not None and not (
        held.parent == ctx.node_id
        and held.signing_key == request.signing_key
        and held.encryption_key == request.encryption_key
    ):
        raise Conflict(f"node id {request.node} is taken", code="join_node_taken")
    if held is not None:
        # Approved before in a transaction that did not commit: the certificate learned then.
        certificate: NodeCertificate = held
    else:
        not_before, not_after = validity(now, days)
        certificate = issue_certificate(
            issuer_key=ctx.keys.signing,
            issuer=ctx.node_id,
            node=request.node,
            name=request.name,
            parent=ctx.node_id,
            signing_key=request.signing_key,
            encryption_key=request.encryption_key,
            serial=1,
            not_before=not_before,
            not_after=not_after,
        )
    try:
        announce_certificate(session, ctx, certificate)
    except CertificateError as exc:
        raise InvalidInput(str(exc), code=f"certificate_{exc.reason}") from exc
    # X.509 validity is judged by nats-server at real time, whatever a test clock says.
    tls_dir = ctx.settings.data_dir / "tls"
    real_now = SystemClock().now()
    link_ca = ensure_link_ca(tls_dir, ctx.node_id, now=real_now)
    client = issue_child_client_certificate(
        link_ca, request.node, request.signing_key, days=days, now=real_now
    )
    topology = ctx.topology
    members = ctx.membership.certificates()
    addresses: dict[str, dict[str, str]] = {}
    for member in members:
        info = topology.get(member.node)
        if info.api and info.nats and info.leaf:
            addresses[member.node] = {"api": info.api, "nats": info.nats, "leaf": info.leaf}
    addresses[request.node] = {k: request.address(k) for k in ("api", "nats", "leaf")}
    answer = sign_answer(
        signing=ctx.keys.signing,
        request=request,
        certificate=certificate,
        members=members,
        addresses=addresses,
        revocations=list(topology.revocations.values()),
        client_cert_pem=cert_pem(client).decode("ascii"),
        ca_pem=trusted_ca_pem(tls_dir).decode("ascii"),
        time=now,
    )
    row.status = APPROVED
    row.decided_at = now
    row.decided_by = _actor_name(actor)
    row.answer = json.dumps(answer, ensure_ascii=False, sort_keys=True)
    ctx.audit.append(
        session,
        actor=actor,
        action=APPROVE_ACTION,
        object_type="join_request",
        object_id=request.node,
        reason=f"certificate serial {certificate.serial}, signing key "
        f"{key_id(certificate.signing_key)}",
    )
    return row


def reject(
    session: Session, ctx: NodeContext, actor: Actor, request_id: str, *, reason: str
) -> JoinRequestRow:
    _require(ctx, actor, APPROVE_ACTION, "reject join requests")
    row = _pending(session, request_id)
    now = ctx.clock.now()
    row.status = REJECTED
    row.decided_at = now
    row.decided_by = _actor_name(actor)
    row.reason = reason[:500]
    ctx.audit.append(
        session,
        actor=actor,
        action="reject-join",
        object_type="join_request",
        object_id=row.node_id,
        reason=reason[:200],
    )
    return row


def answer_for(session: Session, request_id: str) -> tuple[JoinRequestRow, dict[str, Any] | None]:
    """The request (by its unguessable id) and, once approved, the signed answer."""
    row = session.get(JoinRequestRow, request_id)
    if row is None:
        raise NotFound("no such join request", code="join_request_not_found")
    return row, (json.loads(row.answer) if row.answer else None)
