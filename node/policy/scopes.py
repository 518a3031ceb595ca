"""Scopes: the relations between a user and a record, in Python and in SQL, side by side.

Guarantee: for every scope, ``record_relations`` (used by ``enforce``) and ``scope_clause`` (used by
listings) describe the same set of records for the same user and time. A hypothesis property test
(tests/policy/test_filter_matches_enforce.py) holds them to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, or_, select, true

from node.models import Grant, Record, RecordParty
from node.policy.actor import Actor

SCOPES = ("own", "party", "grant", "any")


def record_relations(
    actor: Actor, *, origin: str, parties: Iterable[str], has_active_grant: bool
) -> list[str]:
    """Every scope under which ``actor`` stands to a record."""
    relations = ["any"]
    if origin == actor.node:
        relations.append("own")
    if actor.node in set(parties):
        relations.append("party")
    if has_active_grant:
        relations.append("grant")
    return relations


def row_exists(query: Select[Any]) -> ColumnElement[bool]:
    """True if the correlated ``query`` finds a row for the current record.

    Written as ``(SELECT ... LIMIT 1) IS NOT NULL`` rather than ``EXISTS``: under an ``OR``,
    PostgreSQL may plan a correlated ``EXISTS`` as a hashed subplan that reads every matching
    inner row (every party row naming this node) on each listing, however few rows the page needs;
    a scalar subquery is probed per outer row through the index, on SQLite and PostgreSQL alike.
    """
    return query.limit(1).scalar_subquery().is_not(None)


def active_grant_clause(actor: Actor, now: datetime) -> ColumnElement[bool]:
    return row_exists(
        select(Grant.id).where(
            Grant.record_id == Record.id,
            Grant.record_origin == Record.origin,
            Grant.grantee_id == actor.user_id,
            Grant.grantee_node == actor.node,
            Grant.revoked_at.is_(None),
            Grant.granted_at <= now,
            Grant.expires_at > now,
        )
    )


def scope_clause(scope: str, actor: Actor, now: datetime) -> ColumnElement[bool]:
    if scope == "any":
        return true()
    if scope == "own":
        return Record.origin == actor.node
    if scope == "party":
        return row_exists(
            select(RecordParty.record_id).where(
                RecordParty.record_origin == Record.origin,
                RecordParty.record_id == Record.id,
                RecordParty.node_id == actor.node,
            )
        )
    if scope == "grant":
        return active_grant_clause(actor, now)
    return false()


def class_clause(cls: str) -> ColumnElement[bool]:
    return true() if cls == "*" else Record.classification == cls


def rules_clause(
    rules: Iterable[tuple[str, str]], actor: Actor, now: datetime
) -> ColumnElement[bool]:
    """OR of (class AND scope) over the (class, scope) pairs of the matching policy rules."""
    clauses = [and_(class_clause(cls), scope_clause(scope, actor, now)) for cls, scope in rules]
    if not clauses:
        return false()

    return or_(*clauses)
