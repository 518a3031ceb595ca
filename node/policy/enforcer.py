"""The one Casbin enforcer of a node, and the record filters derived from its policy.

Every access decision goes through ``PolicyEngine``: single-object checks call Casbin's
``enforce()``; listings use ``record_visibility``, which turns the very same policy rules into SQL
conditions, so a listing never enforces row by row and never disagrees with ``enforce()``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import casbin
from sqlalchemy import ColumnElement, or_

from node.models import Record
from node.policy.actor import ROLES, Actor
from node.policy.categories import CLASSES, CategoryTable, load_categories
from node.policy.scopes import SCOPES, record_relations, rules_clause

NO_CLASS = "-"
__all__ = ["NO_CLASS", "ROLES", "Actor", "PolicyEngine"]


class PolicyEngine:
    def __init__(self, policies_dir: Path) -> None:
        # Casbin logs every refusal at WARNING; refusals are audited here instead.
        logging.getLogger("casbin").setLevel(logging.ERROR)
        self.enforcer = casbin.Enforcer(
            str(policies_dir / "model.conf"), str(policies_dir / "policy.csv")
        )
        self.categories: CategoryTable = load_categories(policies_dir / "categories.csv")
        self._rules: list[tuple[str, str, str, str]] = []
        for rule in self.enforcer.get_policy():
            role, cls, act, scope = (part.strip() for part in rule[:4])
            if scope not in SCOPES:
                raise ValueError(f"policy rule {rule}: unknown scope {scope!r}")
            self._rules.append((role, cls, act, scope))

    def allows(self, role: str, cls: str, action: str, relations: Iterable[str]) -> bool:
        """Casbin's decision: may ``role`` do ``action`` on a ``cls`` object under any relation."""
        return any(self.enforcer.enforce(role, cls, action, rel) for rel in relations)

    def allows_on_node(self, actor: Actor, action: str, *, object_node: str) -> bool:
        """Decision for a non-record object belonging to ``object_node`` (users, audit, orders)."""
        relations = ["any", "own"] if object_node == actor.node else ["any"]
        return self.allows(actor.role, NO_CLASS, action, relations)

    def allows_record(
        self,
        actor: Actor,
        action: str,
        *,
        classification: str,
        origin: str,
        parties: Iterable[str],
        has_active_grant: bool = False,
    ) -> bool:
        relations = record_relations(
            actor, origin=origin, parties=parties, has_active_grant=has_active_grant
        )
        return self.allows(actor.role, classification, action, relations)

    def allows_on_record(
        self, actor: Actor, action: str, record: Record, *, has_active_grant: bool = False
    ) -> bool:
        """``allows_record`` for a stored record: its class, origin and named parties decide."""
        return self.allows_record(
            actor,
            action,
            classification=record.classification,
            origin=record.origin,
            parties=record.party_ids,
            has_active_grant=has_active_grant,
        )

    def rules_for(self, role: str, action: str) -> list[tuple[str, str]]:
        return [(cls, scope) for r, cls, act, scope in self._rules if r == role and act == action]

    def record_clause(self, actor: Actor, action: str, now: datetime) -> ColumnElement[bool]:
        """SQL condition equivalent to ``allows_record(actor, action, ...)`` for every row."""
        return rules_clause(self.rules_for(actor.role, action), actor, now)

    def record_visibility(
        self, actor: Actor, now: datetime
    ) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
        """(content readable, at least the stub visible): both from the policy, both in SQL."""
        readable = self.record_clause(actor, "read", now)
        stub = self.record_clause(actor, "read-stub", now)

        return readable, or_(readable, stub)

    def visibility_by_class(
        self, actor: Actor, now: datetime
    ) -> dict[str, tuple[ColumnElement[bool], ColumnElement[bool]]]:
        """``record_visibility`` split by class: for each class the role may see anything of,
        (content readable, stub visible) as scope conditions alone; classes left out hold
        nothing the actor may see.

        Guarantee: for a row of class ``cls``, ``result[cls]`` holds exactly when
        ``record_visibility`` does (and ``cls`` is absent only when it never holds). Listings use
        one index-ordered branch per class, so a class the actor cannot see costs nothing to skip.
        """
        result: dict[str, tuple[ColumnElement[bool], ColumnElement[bool]]] = {}
        for cls in CLASSES:
            read = self._scopes_for(actor.role, "read", cls)
            stub = self._scopes_for(actor.role, "read-stub", cls)
            if not read and not stub:
                continue
            readable = rules_clause(read, actor, now)
            result[cls] = (readable, or_(readable, rules_clause(stub, actor, now)))
        return result

    def readable_by_class(self, actor: Actor, now: datetime) -> dict[str, ColumnElement[bool]]:
        """For each class the role may read the content of under some scope, that scope
        condition; classes left out hold nothing the actor may read (search matches only these).

        Guarantee: for a row of class ``cls``, ``result[cls]`` holds exactly when
        ``record_clause(actor, "read", now)`` does (``cls`` absent: it never holds)."""
        result: dict[str, ColumnElement[bool]] = {}
        for cls in CLASSES:
            read = self._scopes_for(actor.role, "read", cls)
            if read:
                result[cls] = rules_clause(read, actor, now)
        return result

    def _scopes_for(self, role: str, action: str, cls: str) -> list[tuple[str, str]]:
        """The rules of ``role`` for ``action`` that cover class ``cls``, as class-free rules."""
        return [
            ("*", scope)
            for rule_cls, scope in self.rules_for(role, action)
            if rule_cls in (cls, "*")
        ]
