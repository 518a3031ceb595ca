"""The SQL filter and Casbin's ``enforce()`` give the same answer, for random users and records.

Listings are filtered in SQL by conditions built from the policy rules (``record_visibility``, and
its per-class split ``visibility_by_class`` that ``list_records`` runs); single reads are decided
by ``PolicyEngine.allows_record`` (Casbin). For every generated user and record this test asks
both, on a real migrated database, whether the user may read the content and whether they may at
least see the stub. The grant relation is computed here independently from
the generated grant rows (owner, node, start, end, revocation), so the SQL grant condition is held
to the same rule as well.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, and_, case, delete, false, or_, select
from sqlalchemy.orm import Session, sessionmaker

from node.db import make_engine, make_sessionmaker
from node.federation import DEMO_TREE
from node.ids import uuid7
from node.models import Grant, Record, RecordParty
from node.policy import CLASSES, Actor, PolicyEngine
from node.policy.enforcer import ROLES
from node.settings import packaged_policies_dir
from tests.databases import migrated, release

NODES = [node_id for node_id, _name, _parent in DEMO_TREE]
USER_IDS = ["u-1", "u-2", "u-3"]
CATEGORY_OF = {"general": "policy", "restricted": "supervision_check", "secret": "evidence"}
# Grant windows relative to "now", including both edges: a grant counts from granted_at
# (inclusive) until expires_at (exclusive).
WINDOWS = {
    "active": (timedelta(hours=-1), timedelta(hours=1)),
    "expired": (timedelta(hours=-3), timedelta(hours=-1)),
    "future": (timedelta(hours=1), timedelta(hours=2)),
    "starts_now": (timedelta(0), timedelta(hours=1)),
    "ends_now": (timedelta(hours=-1), timedelta(0)),
}


@dataclass(frozen=True)
class GrantSpec:
    grantee_id: str
    grantee_node: str
    window: str
    revoked: bool

    def active_for(self, actor: Actor, now: datetime) -> bool:
        start, end = (now + offset for offset in WINDOWS[self.window])
        return (
            self.grantee_id == actor.user_id
            and self.grantee_node == actor.node
            and not self.revoked
            and start <= now < end
        )


@dataclass(frozen=True)
class RecordSpec:
    classification: str
    origin: str
    parties: frozenset[str]
    is_stub: bool
    deleted: bool
    grants: tuple[GrantSpec, ...]


actors = st.builds(
    Actor,
    user_id=st.sampled_from(USER_IDS),
    name=st.just("someone"),
    role=st.sampled_from(ROLES),
    node=st.sampled_from(NODES),
)
grant_specs = st.builds(
    GrantSpec,
    grantee_id=st.sampled_from(USER_IDS),
    grantee_node=st.sampled_from(NODES),
    window=st.sampled_from(sorted(WINDOWS)),
    revoked=st.booleans(),
)
record_specs = st.builds(
    RecordSpec,
    classification=st.sampled_from(CLASSES),
    origin=st.sampled_from(NODES),
    parties=st.frozensets(st.sampled_from(NODES), max_size=3),
    is_stub=st.booleans(),
    deleted=st.booleans(),
    grants=st.lists(grant_specs, max_size=3).map(tuple),
)


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    url = migrated(database_url)
    engine: Engine = make_engine(url)
    try:
        yield make_sessionmaker(engine)
    finally:
        engine.dispose()
        release(url)


@pytest.fixture(scope="module")
def policy() -> PolicyEngine:
    return PolicyEngine(packaged_policies_dir())


def store(session: Session, specs: list[RecordSpec], now: datetime) -> list[str]:
    session.execute(delete(Grant))
    session.execute(delete(RecordParty))
    session.execute(delete(Record))
    ids: list[str] = []
    for index, spec in enumerate(specs):
        record_id = f"00000000-0000-7000-8000-{index:012d}"
        ids.append(record_id)
        session.add(
            Record(
                id=record_id,
                origin=spec.origin,
                author="a",
                category=CATEGORY_OF[spec.classification],
                classification=spec.classification,
                title=None if spec.is_stub else "t",
                body=None if spec.is_stub else "b",
                version=1,
                created_at=now,
                updated_at=now,
                deleted=spec.deleted,
                is_stub=spec.is_stub,
                parties=[RecordParty(node_id=party) for party in sorted(spec.parties)],
            )
        )
        for grant in spec.grants:
            start, end = (now + offset for offset in WINDOWS[grant.window])
            session.add(
                Grant(
                    id=uuid7(),
                    record_id=record_id,
                    record_origin=spec.origin,
                    grantee_id=grant.grantee_id,
                    grantee_name="g",
                    grantee_node=grant.grantee_node,
                    source="request",
                    granted_at=start,
                    expires_at=end,
                    revoked_at=start if grant.revoked else None,
                )
            )
    session.flush()
    return ids


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(actor=actors, specs=st.lists(record_specs, min_size=1, max_size=8))
def test_sql_filter_matches_enforce(
    sessions: sessionmaker[Session], policy: PolicyEngine, actor: Actor, specs: list[RecordSpec]
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    with sessions() as session, session.begin():
        ids = store(session, specs, now)
        readable, visible = policy.record_visibility(actor, now)
        read_clause = policy.record_clause(actor, "read", now)
        stub_clause = policy.record_clause(actor, "read-stub", now)
        # The per-class split that listings use: one branch per class the role can see.
        by_class = policy.visibility_by_class(actor, now)
        readable_by_class = or_(
            false(),
            *(and_(Record.classification == cls, clauses[0]) for cls, clauses in by_class.items()),
        )
        visible_by_class = or_(
            false(),
            *(and_(Record.classification == cls, clauses[1]) for cls, clauses in by_class.items()),
        )
        rows = session.execute(
            select(
                Record.id,
                case((readable, True), else_=False),
                case((visible, True), else_=False),
                case((read_clause, True), else_=False),
                case((stub_clause, True), else_=False),
                case((readable_by_class, True), else_=False),
                case((visible_by_class, True), else_=False),
            ).order_by(Record.id)
        ).all()
        session.rollback()
    sql = {row[0]: tuple(bool(value) for value in row[1:]) for row in rows}
    assert sorted(sql) == ids
    for record_id, spec in zip(ids, specs, strict=True):
        granted = any(grant.active_for(actor, now) for grant in spec.grants)
        may_read, may_see_stub = (
            policy.allows_record(
                actor,
                action,
                classification=spec.classification,
                origin=spec.origin,
                parties=spec.parties,
                has_active_grant=granted,
            )
            for action in ("read", "read-stub")
        )
        expected = (
            may_read,
            may_read or may_see_stub,
            may_read,
            may_see_stub,
            may_read,
            may_read or may_see_stub,
        )
        assert sql[record_id] == expected, (actor, spec, granted)


def test_the_generated_space_reaches_every_decision(policy: PolicyEngine) -> None:
    """Guard against a vacuous property: each outcome occurs for some user and record."""
    outcomes: set[tuple[bool, bool]] = set()
    for role in ROLES:
        for cls in CLASSES:
            for origin, party, grant in (
                (True, False, False),
                (False, True, False),
                (False, False, True),
                (False, False, False),
            ):
                actor = Actor(user_id="u-1", name="x", role=role, node="shaanxi")
                decision = tuple(
                    policy.allows_record(
                        actor,
                        action,
                        classification=cls,
                        origin="shaanxi" if origin else "yanan",
                        parties=["shaanxi"] if party else [],
                        has_active_grant=grant,
                    )
                    for action in ("read", "read-stub")
                )
                outcomes.add((decision[0], decision[1]))
    assert {(True, False), (False, True), (False, False)} <= outcomes
