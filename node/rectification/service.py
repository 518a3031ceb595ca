"""Rectification to closure (整改): a finding becomes demands (整改意见) to an inspected unit, each
with a deadline and a person responsible; the unit's rectification report (整改情况报告) is stored
as a restricted record naming this node's superior; the inspecting office evaluates it (accepted
or returned), closes the demand off (销号) only with evidence, and a look-back (回头看) reopens a
unit's closed demands for re-checking (``node.rectification.state``).

Every change is written with its audit entry and a metadata summary to every ancestor in one
transaction (``node.rectification.wire``), so overdue demands are visible to the tiers above and
counted in their statistics; the finding, the demand's text, the person responsible, the report
and the evidence never leave the node (the report travels as a restricted record, to the party it
names only).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.clock import as_aware
from node.common import audited, require
from node.context import NodeContext
from node.deadlines import check_deadline
from node.errors import Conflict, InvalidInput, PermissionDenied
from node.ids import is_uuid, uuid7
from node.models import Record
from node.policy import Actor
from node.records import attachment_store
from node.records.schemas import RecordCreate
from node.records.service import RecordNotFound, create_record, find_record, may_see
from node.rectification.models import Rectification, RectificationEvent, RectificationEvidence
from node.rectification.queries import load_own
from node.rectification.schemas import (
    EvidenceIn,
    LookBack,
    RectificationClose,
    RectificationCreate,
    RectificationDecision,
    RectificationReport,
)
from node.rectification.state import (
    ISSUE_STATE,
    ISSUE_VERSION,
    OWN,
    STATE_LABELS,
    TRANSITIONS,
    IllegalTransition,
)
from node.rectification.wire import summary_wire
from node.replication.kinds import Kind
from node.rounds.models import InspectedUnit
from node.rounds.state import OWN as OWN_UNIT

FINDING_CATEGORIES = frozenset({"inspection_finding"})


class EvidenceRequired(InvalidInput):
    code = "evidence_required"


class NothingToReopen(Conflict):
    code = "nothing_to_reopen"


def _record(
    session: Session, ctx: NodeContext, actor: Actor, record_id: str, origin: str | None, code: str
) -> Record:
    """A record the user names, held here and not deleted; 422 ``code`` otherwise."""
    try:
        if not is_uuid(record_id):
            raise RecordNotFound("no such record")
        record = find_record(session, ctx, actor, record_id, origin)
    except RecordNotFound as exc:
        raise InvalidInput("the referenced record is not held here", code=code) from exc
    if record.deleted:
        raise InvalidInput("the referenced record is not held here", code=code)
    return record


def _finding(session: Session, ctx: NodeContext, actor: Actor, data: RectificationCreate) -> Record:
    record = _record(
        session, ctx, actor, data.finding_record_id, data.finding_record_origin, "finding_not_found"
    )
    if not ctx.policy.allows_on_record(actor, "read", record):
        raise PermissionDenied(
            "not permitted to read this finding",
            action="read",
            object_type="record",
            object_id=record.id,
        )
    if record.category not in FINDING_CATEGORIES:
        raise InvalidInput(
            "rectification demands come from an inspection finding (巡视巡察) record",
            code="not_a_finding",
        )
    return record


def _unit(session: Session, ctx: NodeContext, data: RectificationCreate) -> tuple[str | None, str]:
    """(unit id, unit name): the unit of this node's list named by id (its name must agree if
    one is given too), else by name (linked when the list has it), else a unit off the list."""
    if data.unit_id is not None:
        unit = session.get(InspectedUnit, data.unit_id.lower()) if is_uuid(data.unit_id) else None
        if unit is None or unit.node != ctx.node_id or unit.held_as != OWN_UNIT:
            raise InvalidInput("no such inspected unit of this node", code="unit_not_found")
        if data.unit_name is not None and data.unit_name != unit.name:
            raise InvalidInput(
                "unit_name is not the name of the unit unit_id names", code="unit_mismatch"
            )
        return unit.id, unit.name
    if data.unit_name is None:
        raise InvalidInput("name the inspected unit (unit_id or unit_name)", code="unit_required")
    listed = session.execute(
        select(InspectedUnit.id).where(
            InspectedUnit.node == ctx.node_id,
            InspectedUnit.held_as == OWN_UNIT,
            InspectedUnit.name == data.unit_name,
        )
    ).scalar_one_or_none()
    return listed, data.unit_name


# -- issuing ------------------------------------------------------------------------------------


def create_demands(
    session: Session, ctx: NodeContext, actor: Actor, data: RectificationCreate
) -> list[Rectification]:
    """The finding's demands to the unit, one row each, all or none."""
    require(ctx, actor, "create-rectification", object_type="rectification")
    now = ctx.clock.now()
    deadlines = [check_deadline(d.deadline, now) for d in data.demands]
    finding = _finding(session, ctx, actor, data)
    unit_id, unit_name = _unit(session, ctx, data)
    made = []
    for demand, deadline in zip(data.demands, deadlines, strict=True):
        item = Rectification(
            id=uuid7(),
            node=ctx.node_id,
            held_as=OWN,
            unit_id=unit_id,
            unit_name=unit_name,
            finding_record_id=finding.id,
            finding_record_origin=finding.origin,
            content=demand.content,
            responsible=demand.responsible,
            issued_by=actor.name,
            state=ISSUE_STATE,
            version=ISSUE_VERSION,
            deadline=deadline,
            issued_at=now,
            updated_at=now,
            returns=0,
            lookbacks=0,
        )
        session.add(item)
        session.add(_event(item, "issue", actor, now, deadline=deadline))
        audited(
            session,
            ctx,
            actor,
            "rectification-issue",
            object_type="rectification",
            object_id=item.id,
            reason=f"from finding {finding.id}",
        )
        send_summary(session, ctx, item)
        made.append(item)
    return made


def _event(
    item: Rectification,
    action: str,
    actor: Actor,
    at: datetime,
    *,
    note: str = "",
    record_id: str | None = None,
    deadline: datetime | None = None,
) -> RectificationEvent:
    return RectificationEvent(
        rectification_id=item.id,
        seq=item.version,
        action=action,
        state=item.state,
        actor=actor.name,
        role=actor.role,
        note=note or None,
        record_id=record_id,
        deadline=deadline,
        at=at,
    )


# -- steps --------------------------------------------------------------------------------------


def _begin(
    session: Session, ctx: NodeContext, actor: Actor, item_id: str, action: str
) -> tuple[Rectification, datetime]:
    """The demand, locked, after the permission and state checks of ``action``; the step's time."""
    rule = TRANSITIONS[action]
    require(ctx, actor, rule.policy_action, object_type="rectification", object_id=item_id)
    item = load_own(session, item_id)
    if item.state not in rule.sources:
        raise IllegalTransition(
            f"cannot {action} a demand that is {item.state} ({STATE_LABELS[item.state]})"
        )
    return item, max(ctx.clock.now(), as_aware(item.updated_at))


def _step(
    session: Session,
    ctx: NodeContext,
    actor: Actor,
    item: Rectification,
    action: str,
    now: datetime,
    *,
    note: str = "",
    record_id: str | None = None,
    deadline: datetime | None = None,
) -> RectificationEvent:
    """Move ``item`` by ``action`` (checked), stamp its times, write its event, audit entry and
    summary."""
    item.state = TRANSITIONS[action].target
    item.version += 1
    item.updated_at = now
    if action == "report":
        item.reported_at = now
    elif action == "accept":
        item.accepted_at = now
    elif action == "return":
        item.returns += 1
    elif action == "close":
        item.closed_at = now
    elif action == "reopen":
        item.reopened_at = now
        item.lookbacks += 1
    made = _event(item, action, actor, now, note=note, record_id=record_id, deadline=deadline)
    session.add(made)
    audited(
        session,
        ctx,
        actor,
        f"rectification-{action}",
        object_type="rectification",
        object_id=item.id,
        reason=f"state {item.state}",
    )
    send_summary(session, ctx, item)
    return made


def report(
    session: Session, ctx: NodeContext, actor: Actor, item_id: str, data: RectificationReport
) -> Rectification:
    """The unit's rectification report, registered by the inspecting office: a restricted record
    naming this node's superior (routed and sealed as restricted records are)."""
    item, now = _begin(session, ctx, actor, item_id, "report")
    superior = ctx.topology.parent(ctx.node_id)
    if superior is None:
        raise Conflict(
            "the report names the inspecting node's superior; this node has none",
            code="no_superior",
        )
    record = create_record(
        session,
        ctx,
        actor,
        RecordCreate(
            category=data.category,
            classification="restricted",
            title=data.title,
            body=data.body,
            parties=[superior],
        ),
    )
    item.report_record_id = record.id
    _step(session, ctx, actor, item, "report", now, record_id=record.id)
    return item


def evaluate(
    session: Session,
    ctx: NodeContext,
    actor: Actor,
    item_id: str,
    action: str,
    data: RectificationDecision,
) -> Rectification:
    """``accept`` or ``return`` the unit's report; a return needs a note, may set a new deadline."""
    item, now = _begin(session, ctx, actor, item_id, action)
    deadline = None
    if action == "return":
        if not data.note.strip():
            raise InvalidInput("a return needs a note", code="note_required")
        if data.deadline is not None:
            deadline = check_deadline(data.deadline, now)
            item.deadline = deadline
    elif data.deadline is not None:
        raise InvalidInput("only a return sets a new deadline", code="deadline_not_allowed")
    _step(session, ctx, actor, item, action, now, note=data.note, deadline=deadline)
    return item


def _evidence(
    session: Session, ctx: NodeContext, actor: Actor, ref: EvidenceIn
) -> tuple[Record, str | None]:
    record = _record(session, ctx, actor, ref.record_id, ref.record_origin, "evidence_not_found")
    if not may_see(session, ctx, actor, record, ctx.clock.now()):
        raise PermissionDenied(
            "not permitted to cite this record",
            action="cite-evidence",
            object_type="record",
            object_id=record.id,
        )
    if ref.attachment_id is None:
        return record, None
    wanted = ref.attachment_id.lower()
    held = {a.attachment_id: a for a in attachment_store.copies_of(session, record)}
    copy = held.get(wanted)
    if copy is None or not copy.complete:
        raise InvalidInput("no such attachment of that record here", code="evidence_not_found")
    return record, wanted


def close(
    session: Session, ctx: NodeContext, actor: Actor, item_id: str, data: RectificationClose
) -> Rectification:
    """销号: only with evidence (records held here the actor may see, optionally one attachment
    of each)."""
    item, now = _begin(session, ctx, actor, item_id, "close")
    if not data.evidence:
        raise EvidenceRequired("a demand is closed off only with evidence of the rectification")
    cited = [_evidence(session, ctx, actor, ref) for ref in dict.fromkeys(data.evidence)]
    event = _step(session, ctx, actor, item, "close", now, note=data.note)
    for position, (record, attachment_id) in enumerate(cited):
        session.add(
            RectificationEvidence(
                rectification_id=item.id,
                seq=event.seq,
                position=position,
                record_id=record.id,
                record_origin=record.origin,
                attachment_id=attachment_id,
            )
        )
    return item


def look_back(
    session: Session, ctx: NodeContext, actor: Actor, data: LookBack
) -> list[Rectification]:
    """回头看: reopen the unit's closed demands (or those of ``data.ids``) with a new deadline."""
    require(ctx, actor, "create-rectification", object_type="rectification")
    now = ctx.clock.now()
    deadline = check_deadline(data.deadline, now)
    if data.ids is not None:
        items = [load_own(session, item_id) for item_id in dict.fromkeys(data.ids)]
        for item in items:
            if item.unit_name != data.unit_name:
                raise InvalidInput("a demand named is not one of this unit's", code="unit_mismatch")
            if item.state != "closed":
                raise IllegalTransition(
                    f"cannot reopen a demand that is {item.state} ({STATE_LABELS[item.state]})"
                )
    else:
        items = list(
            session.execute(
                select(Rectification)
                .where(
                    Rectification.held_as == OWN,
                    Rectification.unit_name == data.unit_name,
                    Rectification.state == "closed",
                )
                .order_by(Rectification.id)
                .with_for_update()
            )
            .scalars()
            .all()
        )
    if not items:
        raise NothingToReopen("the unit has no closed rectification demand here")
    for item in items:
        at = max(now, as_aware(item.updated_at))
        item.deadline = deadline
        _step(session, ctx, actor, item, "reopen", at, note=data.note, deadline=deadline)
    return items


def send_summary(session: Session, ctx: NodeContext, item: Rectification) -> None:
    """Metadata of ``item`` to every ancestor (``node.rectification.wire``)."""
    dest = ctx.topology.ancestors(ctx.node_id)
    ctx.outbox.send(
        session, Kind.RECTIFICATION_SUMMARY, summary_wire(item), dest=dest, encrypt=True
    )
