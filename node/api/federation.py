"""``/api/v1/federation/status``: peers, link state, outbox backlog, last applied, dead letters,
per-origin sequence positions and gaps, the latest resync; ``/members``: the certified members
of this subtree; ``/resync``: start a resync from the parent, and its progress."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from node.api.deps import ContextDep, CurrentActor, SessionDep
from node.common import TIER_LABELS, node_tier
from node.members.schemas import (
    AnnouncedOut,
    CertificateIn,
    MemberPage,
    MemberStatus,
    RevocationIn,
    RevokedOut,
    RevokeIn,
)
from node.members.service import (
    list_members,
    revoke_member,
    submit_certificate,
    submit_revocation,
)
from node.replication import resync
from node.replication.schemas import DeadLetterPage
from node.replication.service import (
    authorize_status,
    database_status,
    list_dead_letters,
    sequence_status,
)

router = APIRouter(prefix="/api/v1/federation", tags=["federation 联邦"])


@router.get("/status", summary="联邦状态 Federation status")
async def federation_status(
    request: Request, session: SessionDep, ctx: ContextDep, actor: CurrentActor
) -> dict[str, Any]:
    authorize_status(session, ctx, actor)
    topology = ctx.topology
    result: dict[str, Any] = {
        "node": ctx.node_id,
        "name": topology.get(ctx.node_id).name,
        "parent": topology.parent(ctx.node_id),
        "children": topology.children(ctx.node_id),
    }
    result.update(database_status(session))
    result.update(sequence_status(session, ctx))
    result["resync"] = resync.status(session)
    replication = request.app.state.replication
    result["transport"] = await replication.status() if replication else {"enabled": False}
    request.app.state.metrics.outbox_backlog.set(result["outbox_backlog"])
    return result


@router.get(
    "/dead-letters",
    response_model=DeadLetterPage,
    summary="死信 Rejected envelopes, newest first (admins, security officers)",
)
def dead_letters(
    session: SessionDep,
    ctx: ContextDep,
    actor: CurrentActor,
    reason: Annotated[str | None, Query(max_length=40)] = None,
    origin: Annotated[str | None, Query(pattern=r"^[a-z0-9-]+$", max_length=64)] = None,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DeadLetterPage:
    return list_dead_letters(
        session, ctx, actor, reason=reason, origin=origin, cursor=cursor, limit=limit
    )


@router.get(
    "/members",
    response_model=MemberPage,
    summary="成员证书 Certified members of this subtree (admins, security officers)",
)
def federation_members(
    session: SessionDep,
    ctx: ContextDep,
    actor: CurrentActor,
    status: Annotated[MemberStatus | None, Query()] = None,
    cursor: Annotated[str | None, Query(pattern=r"^[a-z0-9-]+$", max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> MemberPage:
    """This node and every node below it: id, name, parent, issuer, key ids (SHA-256 prefixes),
    serial, validity and status (valid, expired, not_yet_valid: of the whole chain, at this
    node's clock). Parents before children; ``next_cursor`` continues the list."""
    return list_members(session, ctx, actor, status=status, cursor=cursor, limit=limit)


@router.post(
    "/members",
    response_model=AnnouncedOut,
    summary="公布证书 Learn and broadcast a certificate (admins)",
)
def announce_member_certificate(
    body: CertificateIn, session: SessionDep, ctx: ContextDep, actor: CurrentActor
) -> AnnouncedOut:
    """Verify a certificate up to the root key, learn it here and, if it is new or newer than
    the one held, broadcast it (``member-certificate``) so that every node learns it while
    running. ``422 certificate_<reason>`` if it does not chain."""
    certificate, outcome = submit_certificate(session, ctx, actor, body.certificate)
    return AnnouncedOut(node=certificate.node, serial=certificate.serial, outcome=outcome)


@router.post(
    "/members/{node_id}/revocation",
    response_model=RevokedOut,
    summary="吊销成员 Revoke a member below this node (admins)",
)
def revoke_member_certificate(
    node_id: str, body: RevokeIn, session: SessionDep, ctx: ContextDep, actor: CurrentActor
) -> RevokedOut:
    """Sign, as this node (an ancestor of ``node_id``), a revocation of its certificate (the
    serial held now unless ``serials`` are given, and every earlier one), learn it and broadcast
    it (``member-revocation``): every node refuses the member's envelopes and its subtree's from
    then on, and nothing more is sealed to them. Audited. ``422 revocation_not_ancestor`` if the
    node is not below this one."""
    revocation, outcome = revoke_member(
        session, ctx, actor, node_id, reason=body.reason, serials=body.serials
    )
    return RevokedOut(
        node=revocation.node,
        up_to_serial=revocation.up_to_serial,
        issuer=revocation.issuer,
        outcome=outcome,
    )


@router.post(
    "/revocations",
    response_model=RevokedOut,
    summary="公布吊销 Learn and broadcast a signed revocation (admins)",
)
def announce_revocation_document(
    body: RevocationIn, session: SessionDep, ctx: ContextDep, actor: CurrentActor
) -> RevokedOut:
    """A revocation signed with ``fedshare node revoke``: learned and broadcast only if an
    ancestor of the revoked node signed it (``422 revocation_<reason>`` otherwise). Audited."""
    revocation, outcome = submit_revocation(session, ctx, actor, body.revocation)
    return RevokedOut(
        node=revocation.node,
        up_to_serial=revocation.up_to_serial,
        issuer=revocation.issuer,
        outcome=outcome,
    )


class TreeNode(BaseModel):
    id: str
    name: str
    parent: str | None
    tier: str
    tier_label: str


@router.get("/tree", response_model=list[TreeNode], summary="联邦树 The federation's nodes")
def federation_tree(ctx: ContextDep, actor: CurrentActor) -> list[TreeNode]:
    """Every node of the tree by id, Chinese name, tier and parent (for pickers); no addresses
    or keys. Parents come before their children."""
    topology = ctx.topology
    ordered: list[str] = []
    stack = [topology.root]
    while stack:
        node_id = stack.pop()
        ordered.append(node_id)
        stack.extend(reversed(topology.children(node_id)))
    result = []
    for node_id in ordered:
        tier = node_tier(ctx, node_id)
        info = topology.get(node_id)
        result.append(
            TreeNode(
                id=node_id,
                name=info.name,
                parent=info.parent,
                tier=tier,
                tier_label=TIER_LABELS[tier],
            )
        )
    return result


@router.post(
    "/resync",
    status_code=202,
    summary="重新同步 Ask the parent for a resync (admins)",
)
def start_resync(session: SessionDep, ctx: ContextDep, actor: CurrentActor) -> dict[str, Any]:
    """Ask this node's parent for everything this node is entitled to (after an outage longer
    than the streams keep messages, or a restore from an old backup), in pages, each envelope
    verified and applied as if it had streamed. Audited. ``409 resync_under_way`` if one is;
    ``422 resync_no_parent`` at the root. Progress: ``GET /resync`` or the status's ``resync``."""
    return resync.start_by(session, ctx, actor)


@router.get("/resync", summary="同步进度 The latest resync and its progress (admins)")
def resync_progress(session: SessionDep, ctx: ContextDep, actor: CurrentActor) -> dict[str, Any]:
    """The latest resync: state (requested, receiving, complete), pages and envelopes received,
    the parent's count of what it holds for this node (``total``), ``progress`` (0-1), and how
    many were applied, already held, refused (dead-lettered) and sequence numbers closed as
    void. ``{"state": null}`` if none was ever asked for."""
    resync.authorize(ctx, actor)
    return resync.status(session) or {"state": None}
