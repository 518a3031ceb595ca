"""Records: create, read, list, update, tombstone. Every decision goes through the policy engine,
every action and denial into the audit chain, every change into the outbox, in one transaction.

A petition or problem clue may name a reporter (``node.records.reporter``): it is sealed into its
own table here, never into the record's columns or its envelopes, and never shown by a list; a
single record's answer says ``has_reporter`` only to those who may read it, at the origin."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, literal, or_, select, tuple_, union_all
from sqlalchemy.orm import Session, aliased, lazyload
from sqlalchemy.orm.attributes import set_committed_value

from node.clock import as_aware, to_utc
from node.common import audit_listing, audited, object_id, uuid_cursor
from node.context import NodeContext
from node.db import pairs_in
from node.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from node.ids import uuid7
from node.models import Record, RecordParty
from node.policy import Actor
from node.policy.categories import CLASSES
from node.policy.scopes import active_grant_clause
from node.records import attachment_store, reporter, search
from node.records.ports import GRANTED_CONTENT
from node.records.schemas import (
    RecordCreate,
    RecordOut,
    RecordPage,
    RecordUpdate,
    ReporterOut,
)
from node.records.wire import record_destinations, record_wire
from node.replication.kinds import Kind


@dataclass(frozen=True)
class RecordFilters:
    classification: str | None = None
    category: str | None = None
    origin: str | None = None
    updated_since: datetime | None = None
    updated_before: datetime | None = None
    include_deleted: bool = False
    # ``q``: search titles and bodies (``node.records.search``); None: no search.
    text: str | None = None


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
        return RecordOut(**common, stub=True)
    return RecordOut(
        **common,
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
        raise InvalidInput(f"unknown party node(s): {', '.join(unknown)}", code="unknown_party")
    return sorted({p for p in parties if p != ctx.node_id})


def create_record(session: Session, ctx: NodeContext, actor: Actor, data: RecordCreate) -> Record:
    category = ctx.policy.categories.get(data.category)
    if category is None:
        raise InvalidInput(f"unknown category {data.category!r}", code="unknown_category")
    if data.reporter is not None:
        reporter.check_category(category.code)
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
        raise _deny(
            ctx, "create", None, f"role {actor.role} may not create {classification} records"
        )
    now = ctx.clock.now()
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
    audited(session, ctx, actor, "create", object_type="record", object_id=record.id)
    if data.reporter is not None:
        reporter.store_reporter(session, ctx, actor, record, data.reporter, now=now)
    send_record(session, ctx, record)
    return record


def written_out(session: Session, ctx: NodeContext, actor: Actor, record: Record) -> RecordOut:
    """The answer to a create, update or delete by ``actor``: the record in full, with
    ``has_reporter`` for those who may read its reporter."""
    out = to_out(ctx, record, full=True)
    out.has_reporter = reporter.has_reporter(session, ctx, actor, record)
    return out


def get_reporter(
    session: Session, ctx: NodeContext, actor: Actor, record_id: str, origin: str | None = None
) -> ReporterOut:
    """``GET /records/{id}/reporter``: see ``node.records.reporter.read_reporter``. The record
    is named by id, and by origin when the id alone is ambiguous (``find_record``)."""
    record = find_record(session, ctx, actor, record_id, origin)
    return reporter.read_reporter(session, ctx, actor, record, now=ctx.clock.now())


class RecordNotFound(NotFound):
    code = "record_not_found"


class AmbiguousRecordId(Conflict):
    """The id alone names records of several origins the user may see: the origin must be given.
    Says nothing of those records (not even their origins)."""

    code = "ambiguous_record_id"


def get_record(session: Session, origin: str, record_id: str) -> Record | None:
    """The record ``record_id`` of ``origin`` held here (ids are scoped by origin)."""
    return session.get(Record, {"origin": origin, "id": record_id})


def load_record(session: Session, origin: str, record_id: str) -> Record:
    """``get_record``, or 404 ``record_not_found``; 422 if ``record_id`` is no UUID."""
    record = get_record(session, origin, object_id(record_id, "record"))
    if record is None:
        raise RecordNotFound("no such record")
    return record


def records_with_id(session: Session, record_id: str) -> list[Record]:
    """Every record held here under ``record_id``, whatever its origin (one, almost always)."""
    return list(
        session.execute(select(Record).where(Record.id == record_id).order_by(Record.origin))
        .scalars()
        .all()
    )


def may_see(
    session: Session, ctx: NodeContext, actor: Actor, record: Record, now: datetime
) -> bool:
    """Whether ``actor`` may read ``record`` or its stub (what a reader is shown of it)."""
    granted = has_active_grant(session, actor, record, now)
    return ctx.policy.allows_on_record(
        actor, "read", record, has_active_grant=granted
    ) or ctx.policy.allows_on_record(actor, "read-stub", record, has_active_grant=granted)


def find_record(
    session: Session, ctx: NodeContext, actor: Actor, record_id: str, origin: str | None
) -> Record:
    """The record a user names by id, and by origin when the id alone is ambiguous.

    With ``origin``: that record, or 404. Without: the only record held under the id; if records
    of several origins share it (another origin's id reused, by mistake or to squat it), the one
    of them the actor may see; 409 ``ambiguous_record_id`` if they may see more than one. If they
    may see none, the first, so that the caller's check refuses (and audits) the read."""
    key = object_id(record_id, "record")
    if origin is not None:
        return load_record(session, origin, key)
    candidates = records_with_id(session, key)
    if not candidates:
        raise RecordNotFound("no such record")
    if len(candidates) == 1:
        return candidates[0]
    now = ctx.clock.now()
    visible = [r for r in candidates if may_see(session, ctx, actor, r, now)]
    if len(visible) > 1:
        raise AmbiguousRecordId("records of several origins have this id: give its origin")
    return visible[0] if visible else candidates[0]


def has_active_grant(session: Session, actor: Actor, record: Record, now: datetime) -> bool:
    clause = active_grant_clause(actor, now)
    row = session.execute(
        select(Record.id).where(Record.origin == record.origin, Record.id == record.id, clause)
    ).first()
    return row is not None


def read_record(
    session: Session, ctx: NodeContext, actor: Actor, record_id: str, origin: str | None = None
) -> RecordOut:
    """The record as ``actor`` may see it: full, stub, or a 403 that is audited."""
    record = find_record(session, ctx, actor, record_id, origin)
    now = ctx.clock.now()
    if record.is_stub:
        # Released content never outlives its grant by even one read.
        ctx.port(GRANTED_CONTENT).purge_ended(session, ctx, now, record=record)
    granted = has_active_grant(session, actor, record, now)
    if ctx.policy.allows_on_record(actor, "read", record, has_active_grant=granted):
        full = read_content(session, ctx, record, actor, now=now)
        audited(
            session,
            ctx,
            actor,
            "read-stub" if full.stub else "read",
            object_type="record",
            object_id=record.id,
            grant_id=full.grant_id,
        )
        out = full.out(ctx)
        if not full.stub:
            out.has_reporter = reporter.has_reporter(session, ctx, actor, record)
        return out
    if ctx.policy.allows_on_record(actor, "read-stub", record, has_active_grant=granted):
        audited(session, ctx, actor, "read-stub", object_type="record", object_id=record.id)
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


def read_content(
    session: Session, ctx: NodeContext, record: Record, actor: Actor, *, now: datetime
) -> Content:
    """Content of a record the actor may read. For a stub, the content released to the actor
    under an active grant (the read is recorded and reported to the origin), else the stub."""
    if not record.is_stub:
        return Content(record, record.title, record.body)
    released = ctx.port(GRANTED_CONTENT).read_released(session, ctx, actor, [record], now)
    hit = released.get((record.origin, record.id))
    if hit is None:
        return Content(record, None, None, stub=True)
    return Content(record, hit.title, hit.body, grant_id=hit.grant_id)


def list_records(
    session: Session,
    ctx: NodeContext,
    actor: Actor,
    filters: RecordFilters,
    *,
    cursor: str | None,
    limit: int,
) -> RecordPage:
    """One page, newest first, filtered in SQL by conditions derived from the policy; with
    ``filters.text``, only records whose content the actor may read and that match it."""
    now = ctx.clock.now()
    query = search.parse_query(filters.text) if filters.text is not None else None
    conditions: list[ColumnElement[bool]] = []
    if filters.classification is not None:
        if filters.classification not in CLASSES:
            raise InvalidInput("unknown class", code="unknown_class")
        conditions.append(Record.classification == filters.classification)
    if filters.category is not None:
        if ctx.policy.categories.get(filters.category) is None:
            raise InvalidInput("unknown category", code="unknown_category")
        conditions.append(Record.category == filters.category)
    if filters.origin is not None:
        conditions.append(Record.origin == filters.origin)
    if filters.updated_since is not None:
        # Stored times are UTC; SQLite keeps them without an offset and compares them as text,
        # so a bound with another offset (or none) must be brought to UTC first.
        since = to_utc(filters.updated_since)
        conditions.append(Record.updated_at > since)
    if filters.updated_before is not None:
        conditions.append(Record.updated_at < to_utc(filters.updated_before))
    if not filters.include_deleted:
        conditions.append(Record.deleted.is_(False))
    after = uuid_cursor(cursor)
    if after is not None:
        conditions.append(Record.id < after)
    if query is None:
        rows = _visible_rows(
            session, ctx, actor, now, conditions, limit=limit + 1, only_class=filters.classification
        )
    else:
        rows = _matching_rows(
            session,
            ctx,
            actor,
            now,
            conditions,
            query,
            limit=limit + 1,
            only_class=filters.classification,
        )
    page = [(row[0], bool(row[1])) for row in rows[:limit]]
    # A readable stub is one under an active grant: show what was released for it, if anything.
    released = ctx.port(GRANTED_CONTENT).read_released(
        session, ctx, actor, [record for record, can in page if can and record.is_stub], now
    )
    items = []
    for record, can in page:
        hit = released.get((record.origin, record.id))
        if hit is not None:
            items.append(Content(record, hit.title, hit.body, grant_id=hit.grant_id).out(ctx))
        else:
            items.append(to_out(ctx, record, full=can and not record.is_stub))
    next_cursor = rows[limit - 1][0].id if len(rows) > limit else None
    audit_listing(
        session, ctx, actor, "record", len(items), action="list" if query is None else "search"
    )
    for (_origin, record_id), hit in released.items():
        audited(
            session,
            ctx,
            actor,
            "read",
            object_type="record",
            object_id=record_id,
            grant_id=hit.grant_id,
        )
    return RecordPage(items=items, next_cursor=next_cursor)


def _visible_rows(
    session: Session,
    ctx: NodeContext,
    actor: Actor,
    now: datetime,
    conditions: list[ColumnElement[bool]],
    *,
    limit: int,
    only_class: str | None,
) -> list[tuple[Record, bool]]:
    """The newest ``limit`` records the actor may see (with: may they read the content?).

    One branch per class the policy lets the actor see, each ``classification = c AND <scopes of
    c> AND conditions ORDER BY id DESC LIMIT n``, merged newest first. Each branch walks an index
    that starts with the class, so the cost of a page does not grow with the rows the actor may
    not see (one query over all classes scans every invisible row that matches the filters).
    """
    branches: list[Select[Record, bool]] = []
    for cls, (readable, visible) in ctx.policy.visibility_by_class(actor, now).items():
        if only_class is not None and cls != only_class:
            continue
        branches.append(
            select(Record, case((readable, True), else_=False).label("can_read"))
            .where(Record.classification == cls, visible, *conditions)
            .order_by(Record.id.desc())
            .limit(limit)
        )
    return _newest(session, [branch.subquery() for branch in branches], limit)


def _newest(session: Session, branches: list[Any], limit: int) -> list[tuple[Record, bool]]:
    """The newest ``limit`` rows of ``branches`` (subqueries of (record, can_read), each
    already newest first and limited), merged."""
    if not branches:
        return []
    merged = (
        branches[0]
        if len(branches) == 1
        else union_all(*(select(branch) for branch in branches)).subquery()
    )
    record = aliased(Record, merged)
    rows = session.execute(
        select(record, merged.c.can_read)
        .options(lazyload(record.parties))
        .order_by(merged.c.id.desc())
        .limit(limit)
    ).all()
    _load_parties(session, [row[0] for row in rows])
    return [(row[0], bool(row[1])) for row in rows]


def _load_parties(session: Session, records: list[Record]) -> None:
    """The parties of a page of records in one indexed query (``pairs_in``), instead of one
    query per record (the relationship's own loading)."""
    if not records:
        return
    found: dict[tuple[str, str], list[RecordParty]] = {(r.origin, r.id): [] for r in records}
    parties = session.scalars(
        select(RecordParty)
        .where(pairs_in(RecordParty.record_origin, RecordParty.record_id, found))
        .order_by(RecordParty.node_id)
    )
    for party in parties:
        found[(party.record_origin, party.record_id)].append(party)
    for record in records:
        set_committed_value(record, "parties", found[(record.origin, record.id)])


def _matching_rows(
    session: Session,
    ctx: NodeContext,
    actor: Actor,
    now: datetime,
    conditions: list[ColumnElement[bool]],
    query: search.SearchQuery,
    *,
    limit: int,
    only_class: str | None,
) -> list[tuple[Record, bool]]:
    """The newest ``limit`` records whose content the actor may read and that match ``query``
    (all readable). Never a row the policy's ``read`` condition refuses: a stub the actor may only
    see does not match by content (it has none here, or none that is theirs to read).

    Three sources, merged newest first:
    - the records table's own content, through the trigram index: on SQLite, when the FTS5
      index finds few matches (``search.INDEX_DRIVEN_MATCHES``), one query reads those matches
      and keeps the readable ones; otherwise (many matches, or only two-character terms) one
      branch per readable class walks that class newest first and tests each row's text, as a
      listing does (a frequent term fills a page quickly). PostgreSQL's planner makes the same
      choice itself between the ``pg_trgm`` index and the ordered walk;
    - content released to the actor for a stub under an active grant (``released_matching``).
    """
    dialect = session.get_bind().dialect.name
    readable = {
        cls: clause
        for cls, clause in ctx.policy.readable_by_class(actor, now).items()
        if only_class is None or cls == only_class
    }
    if not readable:
        return []
    can_read = literal(True).label("can_read")
    read_any = or_(*(and_(Record.classification == c, clause) for c, clause in readable.items()))
    branches: list[Select[Record, bool]] = []
    if (
        dialect == "sqlite"
        and query.indexed
        and search.index_matches_at_most(session, query, search.INDEX_DRIVEN_MATCHES)
    ):
        own = search.content_condition(session, query, dialect, index_driven=True)
        branches.append(select(Record, can_read).where(own, read_any, *conditions))
    else:
        own = search.content_condition(session, query, dialect, index_driven=False)
        branches.extend(
            select(Record, can_read).where(Record.classification == cls, clause, own, *conditions)
            for cls, clause in readable.items()
        )
    released = ctx.port(GRANTED_CONTENT).released_matching(ctx, actor, query, now)
    branches.append(
        select(Record, can_read).where(
            Record.is_stub.is_(True),
            Record.deleted.is_(False),
            tuple_(Record.origin, Record.id).in_(released),
            read_any,
            *conditions,
        )
    )
    return _newest(
        session,
        [branch.order_by(Record.id.desc()).limit(limit).subquery() for branch in branches],
        limit,
    )


def check_change(ctx: NodeContext, actor: Actor, record: Record, action: str) -> None:
    """May ``actor`` change ``record`` here (its origin, the policy, not deleted)? Else 409/403."""
    if record.origin != ctx.node_id or record.is_stub:
        raise Conflict("only the origin node may change a record", code="not_origin")
    if not ctx.policy.allows_on_record(actor, action, record):
        raise _deny(ctx, action, record.id, f"not permitted to {action} this record")
    if record.deleted:
        raise Conflict("the record is deleted", code="record_deleted")


def update_record(
    session: Session,
    ctx: NodeContext,
    actor: Actor,
    record_id: str,
    data: RecordUpdate,
    origin: str | None = None,
) -> Record:
    """Change a record at its origin. A real change bumps the version and is replicated; a
    request that changes nothing keeps the version (replicas would otherwise see a phantom
    version) but is still audited, since the response shows the content.

    A reporter given is set or replaced by the record's author only (403 otherwise: it is theirs
    to name, and replacing it would erase what they recorded); that alone changes neither the
    version nor anything other nodes hold."""
    record = find_record(session, ctx, actor, record_id, origin)
    check_change(ctx, actor, record, "update")
    if data.title is None and data.body is None and data.parties is None and data.reporter is None:
        raise InvalidInput(
            "nothing to update: give title, body, parties or reporter", code="empty_update"
        )
    if data.reporter is not None:
        reporter.check_category(record.category)
        if not reporter.is_author(ctx, actor, record):
            raise PermissionDenied(
                "only the record's author sets its reporter",
                action="set-reporter",
                object_type="record",
                object_id=record.id,
                code="reporter_author_only",
            )
    changed = False
    if data.title is not None and data.title != record.title:
        record.title = data.title
        changed = True
    if data.body is not None and data.body != record.body:
        record.body = data.body
        changed = True
    new_parties: list[str] = []
    if data.parties is not None:
        wanted = set(validate_parties(ctx, data.parties))
        current = set(record.party_ids)
        if not current <= wanted:
            raise Conflict("named parties may be added, never removed", code="parties_removed")
        for party in sorted(wanted - current):
            record.parties.append(RecordParty(node_id=party))
            new_parties.append(party)
            changed = True
    if changed:
        record.version += 1
        record.updated_at = max(ctx.clock.now(), as_aware(record.updated_at))
        session.flush()
    if data.reporter is not None:
        reporter.store_reporter(session, ctx, actor, record, data.reporter, now=ctx.clock.now())
    audited(
        session,
        ctx,
        actor,
        "update",
        object_type="record",
        object_id=record.id,
        reason=None if changed else "reporter only" if data.reporter is not None else "no change",
    )
    if changed:
        send_record(session, ctx, record)
    if new_parties and record.classification == "restricted":
        # A party named now gets the attachments too (behind the version that names them).
        attachment_store.send_record_chunks(session, ctx, record, new_parties)
    return record


def delete_record(
    session: Session, ctx: NodeContext, actor: Actor, record_id: str, origin: str | None = None
) -> Record:
    """Tombstone: the content and the reporter are erased, the id and version history stay."""
    record = find_record(session, ctx, actor, record_id, origin)
    check_change(ctx, actor, record, "delete")
    record.deleted = True
    record.version += 1
    record.updated_at = max(ctx.clock.now(), as_aware(record.updated_at))
    purge_record_content(session, ctx, record)
    audited(session, ctx, actor, "delete", object_type="record", object_id=record.id)
    # With the content: the sealed reporter (origin only), in the same purging transaction.
    reporter.delete_reporter(session, ctx, actor, record)
    # After the purge: the tombstone's own envelope is the one row about the record that stays.
    send_record(session, ctx, record)
    return record


def purge_record_content(session: Session, ctx: NodeContext, record: Record) -> None:
    """Leave no copy of a tombstoned record's content here: its title and body are nulled (not
    blanked beside a flag), its attachments (every copy, with their chunk envelopes) are deleted,
    unsent envelopes of its earlier versions leave the outbox, content
    released for it under a grant is deleted, and the commit truncates SQLite's WAL
    (``node.db.mark_purged``). Called in the transaction that applies the tombstone."""
    record.title = None
    record.body = None
    # The search index's terms of the old text too (the trigger deletes them; this drops them).
    search.forget_purged(session)
    ctx.outbox.purge_object(session, Kind.RECORD, record.id)
    attachment_store.purge_record(session, ctx, record)
    ctx.port(GRANTED_CONTENT).purge_ended(session, ctx, ctx.clock.now(), record=record)


def send_record(session: Session, ctx: NodeContext, record: Record) -> str | None:
    """Replicate this version of ``record`` by its class (in the caller's transaction); a full
    copy names its attachments (``attachment_store.manifest``), a stub nothing of them."""
    dest, full = record_destinations(ctx, record)
    attachments = attachment_store.manifest(session, record) if full and not record.deleted else []
    return ctx.outbox.send(
        session,
        Kind.RECORD,
        record_wire(record, full=full, attachments=attachments),
        dest=dest,
        encrypt=record.classification != "general",
    )
