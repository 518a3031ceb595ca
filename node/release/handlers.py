"""Envelope handlers for the release kinds. Each checks that the sender is the node entitled to
say what the envelope says before anything is written:

- ``access-request``: from the requester's node, about a record of ours, by a node that holds its
  stub (an ancestor of ours or a named party) and a role the policy lets request.
- ``release``: from the record's origin, addressed to the grantee's node, which is us, for a
  case-secret record whose stub we hold from that origin.
- ``grant-event``: snapshots only from the record's origin; reads only from the grantee's node,
  about a grant held here.

"The record's origin" is checked against the record held here too, so that no node can grant
(or release content for) another node's record by claiming to be its origin. A request or grant
already held here is changed only by the node it names as origin, and never moved to another
record, origin or grantee; a new copy is taken only by a node in its audience.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from node.audit.chain import SYSTEM_ACTOR
from node.context import NodeContext
from node.errors import InvalidInput
from node.models import Grant, Record
from node.release import content, service
from node.release.models import AccessRequest, GrantRead
from node.release.schemas import GrantEventWire, GrantWire, ReleaseWire, RequestWire
from node.replication.envelope import Envelope, EnvelopeRejected
from node.replication.inbox import handles

M = TypeVar("M", bound=BaseModel)


def _reject(envelope: Envelope, reason: str) -> EnvelopeRejected:
    return EnvelopeRejected(
        reason, msg_id=envelope.msg_id, origin=envelope.origin, kind=envelope.kind
    )


def _check_origin(session: Session, envelope: Envelope, record_id: str, claimed: str) -> None:
    """The envelope comes from the record's origin, as claimed and as known here."""
    record = session.get(Record, record_id)
    if claimed != envelope.origin or (record is not None and record.origin != claimed):
        raise _reject(envelope, "origin_mismatch")


def _check_known_grant(session: Session, envelope: Envelope, wire: GrantWire) -> None:
    """A grant held here keeps its record, origin and grantee: only its origin speaks for it,
    and nothing said about it moves it to another record or user."""
    grant = session.get(Grant, wire.id)
    if grant is not None and (
        grant.record_origin != envelope.origin
        or (grant.record_id, grant.record_origin, grant.grantee_id, grant.grantee_node)
        != (wire.record_id, wire.record_origin, wire.grantee_id, wire.grantee_node)
    ):
        raise _reject(envelope, "origin_mismatch")


def _check_known_request(session: Session, envelope: Envelope, wire: RequestWire) -> None:
    """As ``_check_known_grant``, for a request held here (at its requester's node, at its
    origin, or as a copy in the audience)."""
    req = session.get(AccessRequest, wire.id)
    if req is not None and (
        req.record_origin != envelope.origin
        or (req.record_id, req.record_origin, req.requester_id, req.requester_node)
        != (wire.record_id, wire.record_origin, wire.requester_id, wire.requester_node)
    ):
        raise _reject(envelope, "origin_mismatch")


def _check_audience(ctx: NodeContext, envelope: Envelope, grantee_node: str) -> None:
    """A copy of a request or grant this node does not hold yet is taken only if this node is in
    the audience the origin announces it to (``service.audience``): no node plants rows
    elsewhere."""
    topology = ctx.topology
    ends = (envelope.origin, grantee_node)
    if ctx.node_id not in {*ends, *topology.ancestors(ends[0]), *topology.ancestors(ends[1])}:
        raise _reject(envelope, "not_audience")


def _parse(model: type[M], payload: dict[str, Any], envelope: Envelope) -> M:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise _reject(envelope, "malformed") from exc


@handles("access-request")
def apply_access_request(
    session: Session, ctx: NodeContext, envelope: Envelope, payload: dict[str, Any]
) -> tuple[str | None, int | None]:
    wire = _parse(RequestWire, payload, envelope)
    if wire.requester_node != envelope.origin or envelope.ref.get("request") != wire.id:
        raise _reject(envelope, "origin_mismatch")
    try:
        service.check_reason(wire.reason or "")
    except InvalidInput as exc:
        raise _reject(envelope, "malformed") from exc
    record = session.get(Record, wire.record_id)
    category = ctx.policy.categories.get(record.category) if record is not None else None
    if (
        record is None
        or category is None
        or record.is_stub
        or record.origin != ctx.node_id
        or record.classification != "secret"
    ):
        raise _reject(envelope, "unknown_record")
    stub_holders = set(ctx.topology.ancestors(ctx.node_id)) | set(record.party_ids)
    requester = service.remote_actor(
        wire.requester_id, wire.requester_name, wire.requester_role, wire.requester_node
    )
    if wire.requester_node not in stub_holders or not ctx.policy.allows_on_record(
        requester, "request", record
    ):
        raise _reject(envelope, "not_entitled")
    service.receive_request(session, ctx, wire, record, category.approvals)
    return wire.id, None


@handles("release")
def apply_release(
    session: Session, ctx: NodeContext, envelope: Envelope, payload: dict[str, Any]
) -> tuple[str | None, int | None]:
    wire = _parse(ReleaseWire, payload, envelope)
    grant_wire = wire.grant
    # Content is filed only under the stub of a case-secret record that the sender originated:
    # a relay cannot pass off its own text as another node's record.
    stub = session.get(Record, grant_wire.record_id)
    if stub is None or not stub.is_stub or stub.classification != "secret":
        raise _reject(envelope, "unknown_record")
    if (
        stub.origin != envelope.origin
        or grant_wire.record_origin != envelope.origin
        or grant_wire.grantee_node != ctx.node_id
        or wire.record.id != grant_wire.record_id
        or envelope.ref.get("grant") != grant_wire.id
    ):
        raise _reject(envelope, "origin_mismatch")
    _check_known_grant(session, envelope, grant_wire)
    grant = service.upsert_grant(session, grant_wire)
    session.flush()
    if content.holds(session, grant.id):
        return grant.id, None  # the origin sent it again: nothing new
    kept = content.store(
        session,
        ctx,
        grant,
        version=wire.record.version,
        title=wire.record.title,
        body=wire.record.body,
        now=ctx.clock.now(),
    )
    ctx.audit.append(
        session,
        actor=SYSTEM_ACTOR,
        action="receive-release" if kept else "discard-release",
        object_type="record",
        object_id=grant.record_id,
        grant_id=grant.id,
        reason=f"from {envelope.origin}" if kept else "the grant had already ended",
    )
    return grant.id, None


@handles("grant-event")
def apply_grant_event(
    session: Session, ctx: NodeContext, envelope: Envelope, payload: dict[str, Any]
) -> tuple[str | None, int | None]:
    wire = _parse(GrantEventWire, payload, envelope)
    if wire.event == "read":
        return _apply_read(session, ctx, envelope, wire)
    request, grant_wire = wire.request, wire.grant
    if request is None and grant_wire is None:
        raise _reject(envelope, "malformed")
    if (
        request is not None
        and grant_wire is not None
        and (
            grant_wire.request_id != request.id
            or grant_wire.record_id != request.record_id
            or grant_wire.grantee_node != request.requester_node
        )
    ):
        raise _reject(envelope, "malformed")
    if request is not None:
        _check_origin(session, envelope, request.record_id, request.record_origin)
        _check_known_request(session, envelope, request)
        if session.get(AccessRequest, request.id) is None:
            _check_audience(ctx, envelope, request.requester_node)
    if grant_wire is not None:
        _check_origin(session, envelope, grant_wire.record_id, grant_wire.record_origin)
        _check_known_grant(session, envelope, grant_wire)
        if session.get(Grant, grant_wire.id) is None:
            _check_audience(ctx, envelope, grant_wire.grantee_node)
    grant = service.apply_snapshot(session, ctx, wire)
    if grant is not None and grant.grantee_node == ctx.node_id and grant.revoked_at is not None:
        content.purge(session, ctx, grant, why="revoked", now=ctx.clock.now())
    subject = request.id if request is not None else None
    record_id = request.record_id if request is not None else grant.record_id if grant else None
    ctx.audit.append(
        session,
        actor=SYSTEM_ACTOR,
        action="grant-event",
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
) -> tuple[str | None, int | None]:
    read = wire.read
    if read is None:
        raise _reject(envelope, "malformed")
    grant = session.get(Grant, read.grant_id)
    if grant is None:
        raise _reject(envelope, "unknown_grant")  # a read is reported only against a grant here
    if (
        read.reader_node != envelope.origin
        or grant.grantee_node != envelope.origin
        or grant.record_id != read.record_id
    ):
        raise _reject(envelope, "origin_mismatch")
    if session.get(GrantRead, read.id) is None:
        session.add(
            GrantRead(
                id=read.id,
                grant_id=read.grant_id,
                record_id=read.record_id,
                reader_name=read.reader_name,
                reader_node=read.reader_node,
                at=read.at,
            )
        )
    reader = service.remote_actor("", read.reader_name, "grantee", read.reader_node)
    ctx.audit.append(
        session,
        actor=reader,
        action="read-released",
        object_type="record",
        object_id=read.record_id,
        grant_id=read.grant_id,
        reason=f"read at {read.reader_node}",
    )
    session.flush()
    return read.id, None
