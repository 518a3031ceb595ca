"""Envelope handlers for the release kinds. Each checks that the sender is the node entitled to
say what the envelope says before anything is written:

- ``access-request``: from the requester's node, about a record of ours, by a node that holds its
  stub (an ancestor of ours or a named party) and a role the policy lets request.
- ``release``: from the record's origin, addressed to the grantee's node, which is us, for a
  case-secret record whose stub we hold from that origin. A reporter in it must open with our key
  bound to that grant (else the whole release is refused); it is kept sealed.
- ``grant-event``: snapshots only from the record's origin, about a case-secret record held here
  (``unknown_record`` otherwise: nobody plants grants for records a node does not hold); reads
  only from the grantee's node, about a grant held here.

"The record's origin" is checked against the record held here too, so that no node can grant
(or release content for) another node's record by claiming to be its origin. A request or grant
already held here is changed only by the node it names as origin, and never moved to another
record, origin or grantee; a new copy is taken only by a node in its audience.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from node.audit.chain import SYSTEM_ACTOR
from node.common import audited
from node.context import NodeContext
from node.errors import InvalidInput
from node.models import Grant, Record
from node.records import attachment_store
from node.records.reporter import REPORTER_CATEGORIES
from node.release import content
from node.release.models import AccessDecision, AccessRequest, GrantRead
from node.release.queries import held_grant
from node.release.schemas import MAX_RESPOND_S
from node.release.service import announce, audience_of, check_reason, remote_actor
from node.release.wire import GrantEventWire, GrantWire, ReleaseWire, RequestWire
from node.replication.envelope import Envelope
from node.replication.kinds import Applied, Kind, KindSpec


def _check_origin(session: Session, envelope: Envelope, record_id: str, claimed: str) -> None:
    """The envelope comes from the record's origin, as claimed and as known here."""
    record = session.get(Record, {"origin": claimed, "id": record_id})
    if claimed != envelope.origin or (record is not None and record.origin != claimed):
        raise envelope.reject("origin_mismatch")


def _check_held(session: Session, envelope: Envelope, record_id: str) -> None:
    """A grant or request is taken only for a case-secret record held here (in full or as a
    stub; ``_check_origin`` has matched its origin): nobody plants grants for records a node
    does not hold."""
    record = session.get(Record, {"origin": envelope.origin, "id": record_id})
    if record is None or record.classification != "secret":
        raise envelope.reject("unknown_record")


def _check_known_grant(session: Session, envelope: Envelope, wire: GrantWire) -> None:
    """A grant held here keeps its record, origin and grantee: only its origin speaks for it,
    and nothing said about it moves it to another record or user."""
    grant = session.get(Grant, wire.id)
    if grant is not None and (
        grant.record_origin != envelope.origin
        or (grant.record_id, grant.record_origin, grant.grantee_id, grant.grantee_node)
        != (wire.record_id, wire.record_origin, wire.grantee_id, wire.grantee_node)
    ):
        raise envelope.reject("origin_mismatch")


def _check_known_request(session: Session, envelope: Envelope, wire: RequestWire) -> None:
    """As ``_check_known_grant``, for a request held here (at its requester's node, at its
    origin, or as a copy in the audience)."""
    req = session.get(AccessRequest, wire.id)
    if req is not None and (
        req.record_origin != envelope.origin
        or (req.record_id, req.record_origin, req.requester_id, req.requester_node)
        != (wire.record_id, wire.record_origin, wire.requester_id, wire.requester_node)
    ):
        raise envelope.reject("origin_mismatch")


def _check_audience(ctx: NodeContext, envelope: Envelope, grantee_node: str) -> None:
    """A copy of a request or grant this node does not hold yet is taken only if this node is in
    the audience the origin announces it to (``service.audience``): no node plants rows
    elsewhere."""
    if ctx.node_id not in audience_of(ctx, envelope.origin, grantee_node):
        raise envelope.reject("not_audience")


def apply_access_request(
    session: Session, ctx: NodeContext, envelope: Envelope, wire: RequestWire
) -> Applied:
    if wire.requester_node != envelope.origin:
        raise envelope.reject("origin_mismatch")
    if wire.order_id is not None or wire.for_node is not None:
        # Only the origin files a request on an order addressee's behalf, and at home.
        raise envelope.reject("not_permitted")
    try:
        check_reason(wire.reason or "")
    except InvalidInput as exc:
        raise envelope.reject("malformed") from exc
    record = session.get(Record, {"origin": wire.record_origin, "id": wire.record_id})
    category = ctx.policy.categories.get(record.category) if record is not None else None
    if (
        record is None
        or category is None
        or record.is_stub
        or record.origin != ctx.node_id
        or record.classification != "secret"
    ):
        raise envelope.reject("unknown_record")
    if wire.include_reporter and record.category not in REPORTER_CATEGORIES:
        raise envelope.reject("not_permitted")
    stub_holders = set(ctx.topology.ancestors(ctx.node_id)) | set(record.party_ids)
    requester = remote_actor(
        wire.requester_id, wire.requester_name, wire.requester_role, wire.requester_node
    )
    if wire.requester_node not in stub_holders or not ctx.policy.allows_on_record(
        requester, "request", record
    ):
        raise envelope.reject("not_entitled")
    receive_request(session, ctx, wire, record, category.approvals)
    return wire.id, None


def apply_release(
    session: Session, ctx: NodeContext, envelope: Envelope, wire: ReleaseWire
) -> Applied:
    grant_wire = wire.grant
    # Content is filed only under the stub of a case-secret record that the sender originated:
    # a relay cannot pass off its own text as another node's record.
    stub = session.get(Record, {"origin": grant_wire.record_origin, "id": grant_wire.record_id})
    if stub is None or not stub.is_stub or stub.classification != "secret":
        raise envelope.reject("unknown_record")
    if (
        stub.origin != envelope.origin
        or grant_wire.record_origin != envelope.origin
        or grant_wire.grantee_node != ctx.node_id
        or wire.record.id != grant_wire.record_id
    ):
        raise envelope.reject("origin_mismatch")
    _check_known_grant(session, envelope, grant_wire)
    grant = upsert_grant(session, grant_wire)
    session.flush()
    if content.holds(session, grant.id):
        return grant.id, None  # the origin sent it again: nothing new
    sealed_reporter = wire.reporter.model_dump(mode="json") if wire.reporter else None
    if sealed_reporter is not None and not content.reporter_opens(ctx, grant, sealed_reporter):
        raise envelope.reject("undecryptable")
    now = ctx.clock.now()
    kept = content.store(
        session,
        ctx,
        grant,
        version=wire.record.version,
        title=wire.record.title,
        body=wire.record.body,
        now=now,
    )
    if kept and wire.record.attachments:
        # Empty copies under the grant; the chunks that follow fill them (sealed at rest).
        session.flush()
        attachment_store.take_manifest(
            session, ctx, stub, wire.record.attachments, grant_id=grant.id, now=now
        )
    if kept and sealed_reporter is not None:
        content.store_reporter(session, grant, sealed=sealed_reporter, now=now)
        audited(
            session,
            ctx,
            SYSTEM_ACTOR,
            "receive-reporter",
            object_type="record",
            object_id=grant.record_id,
            grant_id=grant.id,
            reason=f"from {envelope.origin}",
        )
    audited(
        session,
        ctx,
        SYSTEM_ACTOR,
        "receive-release" if kept else "discard-release",
        object_type="record",
        object_id=grant.record_id,
        grant_id=grant.id,
        reason=f"from {envelope.origin}" if kept else "the grant had already ended",
    )
    return grant.id, None


def apply_grant_event(
    session: Session, ctx: NodeContext, envelope: Envelope, wire: GrantEventWire
) -> Applied:
    if wire.event == "read":
        return _apply_read(session, ctx, envelope, wire)
    request, grant_wire = wire.request, wire.grant
    if request is None and grant_wire is None:
        raise envelope.reject("malformed")
    if (
        request is not None
        and grant_wire is not None
        and (
            grant_wire.request_id != request.id
            or grant_wire.record_id != request.record_id
            or grant_wire.grantee_node != (request.for_node or request.requester_node)
        )
    ):
        raise envelope.reject("malformed")
    if request is not None:
        _check_origin(session, envelope, request.record_id, request.record_origin)
        _check_known_request(session, envelope, request)
        if session.get(AccessRequest, request.id) is None:
            _check_audience(ctx, envelope, request.for_node or request.requester_node)
        _check_held(session, envelope, request.record_id)
    if grant_wire is not None:
        _check_origin(session, envelope, grant_wire.record_id, grant_wire.record_origin)
        _check_known_grant(session, envelope, grant_wire)
        if session.get(Grant, grant_wire.id) is None:
            _check_audience(ctx, envelope, grant_wire.grantee_node)
        _check_held(session, envelope, grant_wire.record_id)
    grant = apply_snapshot(session, wire)
    if grant is not None and grant.grantee_node == ctx.node_id and grant.revoked_at is not None:
        content.purge(session, ctx, grant, why="revoked", now=ctx.clock.now())
    subject = request.id if request is not None else None
    record_id = request.record_id if request is not None else grant.record_id if grant else None
    audited(
        session,
        ctx,
        SYSTEM_ACTOR,
        "grant-event",
        object_type="record",
        object_id=record_id,
        grant_id=grant.id if grant is not None else None,
        reason=f"{wire.event} at {envelope.origin}" + (f", request {subject}" if subject else ""),
    )
    return subject or (grant.id if grant is not None else None), (
        request.revision if request is not None else None
    )


def _apply_read(
    session: Session, ctx: NodeContext, envelope: Envelope, wire: GrantEventWire
) -> Applied:
    read = wire.read
    if read is None:
        raise envelope.reject("malformed")
    grant = session.get(Grant, read.grant_id)
    if grant is None:
        raise envelope.reject("unknown_grant")  # a read is reported only against a grant here
    if (
        read.reader_node != envelope.origin
        or grant.grantee_node != envelope.origin
        or grant.record_id != read.record_id
    ):
        raise envelope.reject("origin_mismatch")
    if session.get(GrantRead, read.id) is None:
        session.add(
            GrantRead(
                id=read.id,
                grant_id=read.grant_id,
                record_id=read.record_id,
                record_origin=grant.record_origin,
                reader_name=read.reader_name,
                reader_node=read.reader_node,
                at=read.at,
                what="reporter" if read.what == "reporter" else None,
            )
        )
    reader = remote_actor("", read.reader_name, "grantee", read.reader_node)
    audited(
        session,
        ctx,
        reader,
        "read-reporter" if read.what == "reporter" else "read-released",
        object_type="record",
        object_id=read.record_id,
        grant_id=read.grant_id,
        reason=f"read at {read.reader_node}",
    )
    session.flush()
    return read.id, None


# -- applying at this node ------------------------------------------------------------------


def receive_request(
    session: Session, ctx: NodeContext, wire: RequestWire, record: Record, approvals_needed: int
) -> AccessRequest:
    """At the origin: take in a request the handler has checked (sender, record, entitlement).
    Idempotent. The origin's own category table sets ``approvals_needed``."""
    existing = session.get(AccessRequest, wire.id)
    if existing is not None:
        return existing
    now = ctx.clock.now()
    req = AccessRequest(
        id=wire.id,
        record_id=record.id,
        record_origin=ctx.node_id,
        category=record.category,
        requester_id=wire.requester_id,
        requester_name=wire.requester_name,
        requester_role=wire.requester_role,
        requester_node=wire.requester_node,
        reason=wire.reason,
        wanted_s=wire.wanted_s,
        approvals_needed=approvals_needed,
        status="pending",
        created_at=wire.created_at,
        expires_at=min(wire.expires_at, now + timedelta(seconds=MAX_RESPOND_S)),
        decided_at=None,
        grant_id=None,
        revision=1,
        include_reporter=wire.include_reporter,
    )
    session.add(req)
    session.flush()
    requester = remote_actor(
        wire.requester_id, wire.requester_name, wire.requester_role, wire.requester_node
    )
    audited(
        session,
        ctx,
        requester,
        "request-access",
        object_type="record",
        object_id=record.id,
        reason=f"request {req.id} received"
        + (", with the reporter" if req.include_reporter else ""),
    )
    announce(session, ctx, "requested", request=req, grant=None)
    return req


def apply_snapshot(session: Session, event: GrantEventWire) -> Grant | None:
    """Bring this node's copy up to the origin's snapshot; never back (revision, revoked_at)."""
    if event.request is not None:
        wire = event.request
        req = session.get(AccessRequest, wire.id)
        if req is None:
            req = AccessRequest(id=wire.id, reason=None, revision=0)
            session.add(req)
        # ">=": the origin's first snapshot settles what the requester's node assumed.
        if wire.revision >= req.revision:
            for name in (
                "record_id",
                "record_origin",
                "category",
                "requester_id",
                "requester_name",
                "requester_role",
                "requester_node",
                "wanted_s",
                "approvals_needed",
                "status",
                "created_at",
                "expires_at",
                "decided_at",
                "grant_id",
                "revision",
                "order_id",
                "for_node",
                "include_reporter",
            ):
                setattr(req, name, getattr(wire, name))
            known = {d.id for d in req.decisions} | {d.approver_id for d in req.decisions}
            for d in event.decisions:
                if d.id not in known and d.approver_id not in known:
                    known.add(d.approver_id)
                    req.decisions.append(
                        AccessDecision(
                            id=d.id,
                            approver_id=d.approver_id,
                            approver_name=d.approver_name,
                            approver_node=d.approver_node,
                            decision=d.decision,
                            comment=None,
                            duration_s=d.duration_s,
                            at=d.at,
                            counts_for=d.counts_for,
                        )
                    )
    grant = upsert_grant(session, event.grant) if event.grant is not None else None
    session.flush()
    return grant


def upsert_grant(session: Session, wire: GrantWire) -> Grant:
    """This node's copy of the origin's grant; only a revocation changes a copy once held. The
    caller has checked that the sender is the grant's origin (``_check_known_grant``)."""
    grant = held_grant(session, wire.id)
    if grant is None:
        grant = Grant(
            id=wire.id,
            record_id=wire.record_id,
            record_origin=wire.record_origin,
            grantee_id=wire.grantee_id,
            grantee_name=wire.grantee_name,
            grantee_node=wire.grantee_node,
            source=wire.source,
            request_id=wire.request_id,
            order_id=wire.order_id,
            granted_at=wire.granted_at,
            expires_at=wire.expires_at,
            revoked_at=wire.revoked_at,
            revoked_by=wire.revoked_by,
            ended_at=None,
        )
        session.add(grant)
    elif wire.revoked_at is not None and grant.revoked_at is None:
        grant.revoked_at = wire.revoked_at
        grant.revoked_by = wire.revoked_by
    return grant


KINDS: tuple[KindSpec[NodeContext, Any], ...] = (
    KindSpec(
        Kind.ACCESS_REQUEST, wire=RequestWire, ref_key="request", handler=apply_access_request
    ),
    KindSpec(Kind.RELEASE, wire=ReleaseWire, ref_key="grant", handler=apply_release),
    KindSpec(Kind.GRANT_EVENT, wire=GrantEventWire, ref_key=None, handler=apply_grant_event),
)
