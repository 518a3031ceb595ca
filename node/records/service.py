"""Records: create, read, list, update, tombstone. Every decision goes through the policy engine,
every action and denial into the audit chain, every change into the outbox, in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, select
from sqlalchemy.orm import Session

from node.clock import as_aware, utcnow
from node.context import NodeContext
from node.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from node.ids import is_uuid, uuid7
from node.models import Record, RecordParty
from node.policy import Actor
from node.policy.categories import CLASSES
from node.policy.scopes import active_grant_clause
from node.records.schemas import RecordCreate, RecordOut, RecordPage, RecordUpdate


@dataclass(frozen=True)
class RecordFilters:
    classification: str | None = None
    category: str | None = None
    origin: str | None = None
    updated_since: datetime | None = None
    include_deleted: bool = False


def to_out(ctx: NodeContext, record: Record, *, full: bool) -> RecordOut:
    category = ctx.policy.categories.get(record.category)
    label = category.label_zh if category else record.category
    status = "deleted" if record.deleted else "active"
    common = {
        "id": record.id,
        "origin": record.origin,
        "category": record.category,
        "category_label": label,
        "classification": record.classification,
        "version": record.version,
        "created_at": as_aware(record.created_at),
        "updated_at": as_aware(record.updated_at),
        "deleted": record.deleted,
        "status": status,
    }
    if not full:
        return RecordOut(**common, stub=True)  # type: ignore[arg-type]
    return RecordOut(
        **common,  # type: ignore[arg-type]
        author=record.author,
        title=record.title or "",
        body=record.body or "",
        parties=record.party_ids,
    )


def _deny(ctx: NodeContext, action: str, record_id: str | None, message: str) -> PermissionDenied:
    return PermissionDenied(message, action=action, object_type="record", object_id=record_id)


def validate_parties(ctx: NodeContext, parties: list[str]) -> list[str]:
    unknown = sorted({p for p in parties if p not in ctx.topology})
    if unknown:
        raise InvalidInput(
            f"unknown party node(s): {', '.join(unknown)}", code="unknown_party"
        )
    return sorted({p for p in parties if p != ctx.node_id})


def create_record(session: Session, ctx: NodeContext, actor: Actor, data: RecordCreate) -> Record:
    category = ctx.policy.categories.get(data.category)
    if category is None:
        raise InvalidInput(f"unknown category {data.category!r}", code="unknown_category")
    classification = data.classification or category.min_class
    if not ctx.policy.categories.allows(category.code, classification):
        raise InvalidInput(
            f"category {category.code} needs at least class {category.min_class}",
            code="classification_below_minimum",
        )
    parties = validate_parties(ctx, data.parties)
    if classification == "restricted" and not parties:
        raise InvalidInput(
            "a restricted record needs at least one named party node", code="parties_required"
        )
    if not ctx.policy.allows_record(
        actor, "create", classification=classification, origin=ctx.node_id, parties=parties
    ):
        raise _deny(ctx, "create", None, f"role {actor.role} may not create {classification} records")
    now = utcnow()
    record = Record(
        id=uuid7(),
        origin=ctx.node_id,
        author=actor.name,
        category=category.code,
        classification=classification,
        title=data.title,
        body=data.body,
        version=1,
        created_at=now,
        updated_at=now,
        deleted=False,
        is_stub=False,
        parties=[RecordParty(node_id=p) for p in parties],
    )
    session.add(record)
    session.flush()
    ctx.audit.append(session, actor=actor, action="create", object_type="record", object_id=record.id)
    ctx.outbox.record_changed(session, record)
    return record


def _load(session: Session, record_id: str) -> Record:
    if not is_uuid(record_id):
        raise InvalidInput("record id must be a UUID", code="invalid_id")
    record = session.get(Record, record_id)
    if record is None:
        raise NotFound("no such record", code="record_not_found")
    return record


def has_active_grant(session: Session, actor: Actor, record_id: str, now: datetime) -> bool:
    clause = active_grant_clause(actor, now)
    row = session.execute(select(Record.id).where(Record.id == record_id, clause)).first()
    return row is not None


def read_record(session: Session, ctx: NodeContext, actor: Actor, record_id: str) -> RecordOut:
    """The record as ``actor`` may see it: full, stub, or a 403 that is audited."""
    record = _load(session, record_id)
    now = utcnow()
    granted = has_active_grant(session, actor, record.id, now)
    common = {
        "classification": record.classification,
        "origin": record.origin,
        "parties": record.party_ids,
        "has_active_grant": granted,
    }
    if ctx.policy.allows_record(actor, "read", **common):  # type: ignore[arg-type]
        full = read_content(session, record, actor, granted=granted)
        ctx.audit.append(
            session,
            actor=actor,
            action="read",
            object_type="record",
            object_id=record.id,
            grant_id=full.grant_id,
        )
        return full.out(ctx)
    if ctx.policy.allows_record(actor, "read-stub", **common):  # type: ignore[arg-type]
        ctx.audit.append(session, actor=actor, action="read-stub", object_type="record", object_id=record.id)
        return to_out(ctx, record, full=False)
    raise _deny(ctx, "read", record.id, "not permitted to read this record")


@dataclass
class Content:
    record: Record
    title: str | None
    body: str | None
    grant_id: str | None = None
    stub: bool = False

    def out(self, ctx: NodeContext) -> RecordOut:
        if self.stub:
            return to_out(ctx, self.record, full=False)
        result = to_out(ctx, self.record, full=True)
        result.title = self.title or ""
        result.body = self.body or ""
        return result


def read_content(session: Session, record: Record, actor: Actor, *, granted: bool) -> Content:
    """Content of a record the actor may read; released content for a granted stub."""
    if not record.is_stub:
        return Content(record, record.title, record.body)
    return Content(record, None, None, stub=True)


def list_records(
    session: Session,
    ctx: NodeContext,
    actor: Actor,
    filters: RecordFilters,
    *,
    cursor: str | None,
    limit: int,
) -> RecordPage:
    """One page, newest first, filtered in SQL by conditions derived from the policy."""
    now = utcnow()
    readable, visible = ctx.policy.record_visibility(actor, now)
    conditions = [visible]
    if filters.classification is not None:
        if filters.classification not in CLASSES:
            raise InvalidInput("unknown class", code="unknown_class")
        conditions.append(Record.classification == filters.classification)
    if filters.category is not None:
        if ctx.policy.categories.get(filters.category) is None:
            raise InvalidInput(f"unknown category {filters.category!r}", code="unknown_category")
        conditions.append(Record.category == filters.category)
    if filters.origin is not None:
        conditions.append(Record.origin == filters.origin)
    if filters.updated_since is not None:
        conditions.append(Record.updated_at > filters.updated_since)
    if not filters.include_deleted:
        conditions.append(Record.deleted.is_(False))
    if cursor is not None:
        if not is_uuid(cursor):
            raise InvalidInput("cursor is not valid", code="invalid_cursor")
        conditions.append(Record.id < cursor)
    can_read = case((and_(readable, Record.is_stub.is_(False)), True), else_=False)
    rows = session.execute(
        select(Record, can_read.label("can_read"))
        .where(*conditions)
        .order_by(Record.id.desc())
        .limit(limit + 1)
    ).all()
    items = [to_out(ctx, row[0], full=bool(row[1])) for row in rows[:limit]]
    next_cursor = rows[limit - 1][0].id if len(rows) > limit else None
    ctx.audit.append(
        session,
        actor=actor,
        action="list",
        object_type="record",
        reason=f"{len(items)} items",
    )
    return RecordPage(items=items, next_cursor=next_cursor)


def _check_change(ctx: NodeContext, actor: Actor, record: Record, action: str) -> None:
    if record.origin != ctx.node_id or record.is_stub:
        raise Conflict("only the origin node may change a record", code="not_origin")
    if not ctx.policy.allows_record(
        actor,
        action,
        classification=record.classification,
        origin=record.origin,
        parties=record.party_ids,
    ):
        raise _deny(ctx, action, record.id, f"not permitted to {action} this record")
    if record.deleted:
        raise Conflict("the record is deleted", code="record_deleted")


def update_record(
    session: Session, ctx: NodeContext, actor: Actor, record_id: str, data: RecordUpdate
) -> Record:
    record = _load(session, record_id)
    _check_change(ctx, actor, record, "update")
    if data.title is not None:
        record.title = data.title
    if data.body is not None:
        record.body = data.body
    if data.parties is not None:
        wanted = set(validate_parties(ctx, data.parties))
        current = set(record.party_ids)
        if not current <= wanted:
            raise Conflict("named parties may be added, never removed", code="parties_removed")
        for party in sorted(wanted - current):
            record.parties.append(RecordParty(node_id=party))
    record.version += 1
    record.updated_at = max(utcnow(), as_aware(record.updated_at))
    session.flush()
    ctx.audit.append(session, actor=actor, action="update", object_type="record", object_id=record.id)
    ctx.outbox.record_changed(session, record)
    return record


def delete_record(session: Session, ctx: NodeContext, actor: Actor, record_id: str) -> Record:
    """Tombstone: the content is erased, the id and version history stay."""
    record = _load(session, record_id)
    _check_change(ctx, actor, record, "delete")
    record.deleted = True
    record.title = ""
    record.body = ""
    record.version += 1
    record.updated_at = max(utcnow(), as_aware(record.updated_at))
    session.flush()
    ctx.audit.append(session, actor=actor, action="delete", object_type="record", object_id=record.id)
    ctx.outbox.record_changed(session, record)
    return record

