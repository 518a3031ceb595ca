"""What every domain repeats, written once: load-or-404, the node-level permission check, cursors
and listing pages and filters, audited listings, node names and the subtree. (Deadlines and
overdue: ``node.deadlines``.)

Domains build on this module and on the context; it imports no domain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypeVar

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from node.context import NodeContext
from node.db import Base
from node.errors import InvalidInput, NotFound, PermissionDenied
from node.ids import is_uuid
from node.policy import Actor
from node.replication.envelope import Envelope, EnvelopeRejected

M = TypeVar("M", bound=Base)


# -- loading ------------------------------------------------------------------------------------


def object_id(value: str, what: str) -> str:
    """``value`` as a stored id: a UUID, in canonical (lower-case) form, else 422."""
    if not is_uuid(value):
        raise InvalidInput(f"{what} id must be a UUID", code="invalid_id")
    return value.lower()


def get_or_404(
    session: Session,
    model: type[M],
    value: str,
    *,
    what: str,
    missing: NotFound,
    lock: bool = False,
) -> M:
    """The ``model`` row with id ``value`` (locked for update if ``lock``); ``missing`` (a 404
    with the domain's stable code) if it is not held here, 422 if ``value`` is no UUID."""
    key = object_id(value, what)
    if lock:
        primary = model.__mapper__.primary_key[0]
        found = session.execute(
            select(model).where(primary == key).with_for_update()
        ).scalar_one_or_none()
    else:
        found = session.get(model, key)
    if found is None:
        raise missing
    return found


def uuid_cursor(cursor: str | None) -> str | None:
    """A page cursor that is a row id (lower-case), or None; 422 if it is not one."""
    if cursor is None:
        return None
    if not is_uuid(cursor):
        raise InvalidInput("cursor is not valid", code="invalid_cursor")
    return cursor.lower()


# -- listings -----------------------------------------------------------------------------------


def newest_first(
    session: Session,
    model: type[M],
    conditions: Sequence[ColumnElement[bool]],
    *,
    cursor: str | None,
    limit: int,
) -> tuple[list[M], str | None]:
    """One page of the ``model`` rows that meet ``conditions``, newest id first, after the row
    ``cursor`` names (422 if it names none), and the cursor of the next page (None: no more)."""
    primary = model.__mapper__.primary_key[0]
    after = uuid_cursor(cursor)
    if after is not None:
        conditions = [*conditions, primary < after]
    rows = list(
        session.execute(select(model).where(*conditions).order_by(primary.desc()).limit(limit + 1))
        .scalars()
        .all()
    )
    page = rows[:limit]
    if len(rows) <= limit:
        return page, None
    return page, str(model.__mapper__.primary_key_from_instance(page[-1])[0])


def chosen(column: Any, choice: str | None, values: Mapping[str, str]) -> list[ColumnElement[bool]]:
    """A listing's box or scope filter: ``column`` equal to the value ``choice`` names (no
    condition for None or a choice not named)."""
    if choice is None or choice not in values:
        return []
    return [column == values[choice]]


def equal_to(*pairs: tuple[Any, Any]) -> list[ColumnElement[bool]]:
    """``column == value`` for each (column, value) whose value is given (not None)."""
    return [column == value for column, value in pairs if value is not None]


def holds(clause: ColumnElement[bool], wanted: bool | None) -> list[ColumnElement[bool]]:
    """A yes/no filter: ``clause`` if ``wanted``, its negation if not, no condition for None."""
    if wanted is None:
        return []
    return [clause if wanted else ~clause]


# -- permission ---------------------------------------------------------------------------------


def require(
    ctx: NodeContext,
    actor: Actor,
    action: str,
    *,
    object_type: str,
    object_id: str | None = None,
    message: str | None = None,
) -> None:
    """The policy's node-level decision for ``actor`` doing ``action`` here; a refusal is a 403
    that the request's session audits."""
    if not ctx.policy.allows_on_node(actor, action, object_node=ctx.node_id):
        raise PermissionDenied(
            message or f"role {actor.role} may not {action}",
            action=action,
            object_type=object_type,
            object_id=object_id,
        )


# -- time ---------------------------------------------------------------------------------------


def month_of(session: Session, column: Any) -> ColumnElement[str]:
    """The UTC month (``YYYY-MM``) of a timestamp column, as the record rollup's triggers compute
    it (times are stored in UTC; SQLite keeps them as ISO text)."""
    if session.get_bind().dialect.name == "postgresql":
        expression: ColumnElement[str] = func.to_char(func.timezone("UTC", column), "YYYY-MM")
        return expression
    return func.substr(column, 1, 7)


# -- audit --------------------------------------------------------------------------------------


def audited(
    session: Session,
    ctx: NodeContext,
    actor: Actor,
    action: str,
    *,
    object_type: str,
    object_id: str | None = None,
    grant_id: str | None = None,
    reason: str | None = None,
) -> None:
    """The audit entry of what ``actor`` just did (a change, or a read), in the caller's
    transaction: the change is flushed first, then the entry; the two commit together or not at
    all (access that cannot be audited is refused: ``AuditUnavailable``)."""
    ctx.audit.append(
        session,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        grant_id=grant_id,
        reason=reason,
    )


def audit_listing(
    session: Session,
    ctx: NodeContext,
    actor: Actor,
    object_type: str,
    count: int,
    *,
    action: str = "list",
) -> None:
    """A listing (or a search: ``action``) is audited as one entry (what was listed and how
    many), never per row and never with the search text."""
    ctx.audit.append(
        session, actor=actor, action=action, object_type=object_type, reason=f"{count} items"
    )


# -- the tree -----------------------------------------------------------------------------------


def node_name(ctx: NodeContext, node_id: str) -> str:
    """A node's display name (its id if the topology does not know it)."""
    return ctx.topology.get(node_id).name if node_id in ctx.topology else node_id


def subtree_nodes(ctx: NodeContext) -> list[str] | None:
    """The nodes of this node's subtree; None at the root (every node there is is below it)."""
    if ctx.topology.parent(ctx.node_id) is None:
        return None
    return sorted(ctx.topology.subtree(ctx.node_id))


def within(column: Any, nodes: list[str] | None) -> list[ColumnElement[bool]]:
    """``column IN nodes`` as a list of conditions: none when ``nodes`` is None (the root)."""
    return [] if nodes is None else [column.in_(nodes)]


TIERS = ("central", "province", "city", "county")
TIER_LABELS = {"central": "中央", "province": "省级", "city": "市级", "county": "县级"}


def node_tier(ctx: NodeContext, node_id: str) -> str:
    """A node's tier: the topology entry's ``tier`` if it names one, else by depth in the tree
    (central, province, city, county; deeper nodes count as counties)."""
    info = ctx.topology.get(node_id)
    tier = info.extra.get("tier")
    if tier in TIER_LABELS:
        return tier
    return TIERS[min(ctx.topology.depth(node_id), len(TIERS) - 1)]


# -- summaries from below -----------------------------------------------------------------------


class Summarised(Protocol):
    """A row held either as a node's own object or as the summary of a node below's."""

    @property
    def held_as(self) -> str: ...

    @property
    def node(self) -> str: ...


S = TypeVar("S", bound=Summarised)


def check_from_below(ctx: NodeContext, envelope: Envelope, node: str) -> None:
    """A summary speaks for its sender's own objects (``node``), to the sender's ancestors only:
    refused ``origin_mismatch`` or ``not_in_subtree`` otherwise."""
    if node != envelope.origin:
        raise EnvelopeRejected("origin_mismatch")
    if ctx.node_id not in ctx.topology.ancestors(envelope.origin):
        raise EnvelopeRejected("not_in_subtree")


def held_summary(
    session: Session, model: type[S], item_id: str, *, node: str, summary: str
) -> S | None:
    """The copy held here of ``node``'s object ``item_id``, locked for update, or None if none is
    held yet; refused ``origin_mismatch`` if what is held is not a summary of ``node``'s (this
    node's own object, or another node's)."""
    item = session.get(model, item_id, with_for_update=True)
    if item is not None and (item.held_as != summary or item.node != node):
        raise EnvelopeRejected("origin_mismatch")
    return item
