"""Search results and Casbin's ``enforce()`` agree, for random users, records, grants and queries.

``list_records`` with ``text=q`` (the code behind ``GET /api/v1/records?q=``) runs on a real
migrated database (SQLite's FTS5 index and its triggers, PostgreSQL's ``pg_trgm``) over random
records of every class, origin, party set, stub and tombstone state, with random grants (some
carrying released content) and random texts over a tiny alphabet, so that random words match
often. For each query the expected answer is computed here without SQL: the records whose content
``enforce()`` lets the user read (``allows_record(..., "read", ...)``, the grant relation worked
out from the generated grant rows) and whose readable text holds every word (a stub's only
readable text is what was released to this user under an active grant); the test holds every
page of the search, walked with the cursor, to exactly that set, newest first. Both SQLite
strategies (index-driven and the ordered walk) are drawn.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from node.clock import ControlledClock
from node.context import NodeContext
from node.crypto import NodeKeys
from node.ids import uuid7
from node.models import Grant, Record, RecordParty
from node.policy import CLASSES, Actor
from node.policy.enforcer import ROLES
from node.records import search
from node.records.service import RecordFilters, list_records
from node.release.models import GrantRead, ReleasedContent
from node.settings import Settings
from node.topology import Topology
from node.wiring import make_context
from tests.databases import migrated, release
from tests.policy.test_filter_matches_enforce import CATEGORY_OF, NODES, USER_IDS, WINDOWS

HERE = "shaanxi"
# Few letters, so that random words are found often; Latin letters in both cases (a search
# matches either case).
ALPHABET = "甲乙丙aA"
texts = st.text(alphabet=ALPHABET, max_size=10)
words = st.text(alphabet=ALPHABET, min_size=2, max_size=4)


@dataclass(frozen=True)
class GrantSpec:
    grantee_id: str
    grantee_node: str
    window: str
    revoked: bool
    released: tuple[str, str] | None  # (title, body) released under it, if any

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
    title: str
    body: str
    grants: tuple[GrantSpec, ...]

    @property
    def has_content(self) -> bool:
        return not self.is_stub and not self.deleted


grant_specs = st.builds(
    GrantSpec,
    grantee_id=st.sampled_from(USER_IDS),
    grantee_node=st.sampled_from([HERE, "yanan"]),
    window=st.sampled_from(sorted(WINDOWS)),
    revoked=st.booleans(),
    released=st.none() | st.tuples(texts, texts),
)
record_specs = st.builds(
    RecordSpec,
    classification=st.sampled_from(CLASSES),
    origin=st.sampled_from(NODES),
    parties=st.frozensets(st.sampled_from(NODES), max_size=2),
    is_stub=st.booleans(),
    deleted=st.booleans(),
    title=texts,
    body=texts,
    grants=st.lists(grant_specs, max_size=2).map(tuple),
)
actors = st.builds(
    Actor,
    user_id=st.sampled_from(USER_IDS),
    name=st.just("someone"),
    role=st.sampled_from(ROLES),
    node=st.just(HERE),
)


def holds(text: str, terms: list[str]) -> bool:
    return all(term.lower() in text.lower() for term in terms)


def store(ctx: NodeContext, specs: list[RecordSpec], now: datetime) -> list[str]:
    with ctx.sessions() as session, session.begin():
        for model in (GrantRead, ReleasedContent, Grant, RecordParty, Record):
            session.execute(delete(model))
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
                    title=spec.title if spec.has_content else None,
                    body=spec.body if spec.has_content else None,
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
                row = Grant(
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
                session.add(row)
                if grant.released is not None:
                    session.flush()
                    session.add(
                        ReleasedContent(
                            grant_id=row.id,
                            record_id=record_id,
                            record_origin=spec.origin,
                            version=1,
                            title=grant.released[0],
                            body=grant.released[1],
                            received_at=now,
                        )
                    )
    return ids


def expected(
    ctx: NodeContext, actor: Actor, spec: RecordSpec, terms: list[str], now: datetime
) -> bool:
    """Should ``spec`` be found for ``terms``: decided by ``enforce()`` and plain Python."""
    active = [grant for grant in spec.grants if grant.active_for(actor, now)]
    if not ctx.policy.allows_record(
        actor,
        "read",
        classification=spec.classification,
        origin=spec.origin,
        parties=spec.parties,
        has_active_grant=bool(active),
    ):
        return False
    if spec.has_content:
        return holds(spec.title, terms) or holds(spec.body, terms)
    if spec.is_stub and not spec.deleted:
        return any(
            grant.released is not None
            and (holds(grant.released[0], terms) or holds(grant.released[1], terms))
            for grant in active
        )
    return False


def searched(
    ctx: NodeContext, actor: Actor, q: str, filters: RecordFilters, limit: int
) -> list[str]:
    ids: list[str] = []
    cursor = None
    for _ in range(100):
        with ctx.sessions() as session, session.begin():
            page = list_records(
                session,
                ctx,
                actor,
                RecordFilters(
                    classification=filters.classification,
                    include_deleted=filters.include_deleted,
                    text=q,
                ),
                cursor=cursor,
                limit=limit,
            )
        assert all(not item.stub for item in page.items)
        ids.extend(item.id for item in page.items)
        cursor = page.next_cursor
        if cursor is None:
            return ids
    raise AssertionError("the cursor walk does not end")


@pytest.fixture
def ctx(
    database_url: str, tmp_path: Path, demo_topology: Topology, demo_keys: dict[str, NodeKeys]
) -> Iterator[NodeContext]:
    """The node's context alone, without its app: no background sweep touches the grants that
    each example rewrites."""
    url = migrated(database_url)
    settings = Settings(node_id=HERE, data_dir=tmp_path / HERE, database_url=url)
    context = make_context(settings, demo_topology, demo_keys[HERE], clock=ControlledClock())
    try:
        yield context
    finally:
        context.engine.dispose()
        release(url)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    actor=actors,
    specs=st.lists(record_specs, min_size=1, max_size=10),
    queries=st.lists(st.lists(words, min_size=1, max_size=2), min_size=1, max_size=3),
    only_class=st.none() | st.sampled_from(CLASSES),
    include_deleted=st.booleans(),
    limit=st.integers(min_value=1, max_value=4),
    index_driven_matches=st.sampled_from([search.INDEX_DRIVEN_MATCHES, -1]),
)
def test_search_finds_exactly_what_enforce_lets_the_user_read(
    ctx: NodeContext,
    actor: Actor,
    specs: list[RecordSpec],
    queries: list[list[str]],
    only_class: str | None,
    include_deleted: bool,
    limit: int,
    index_driven_matches: int,
) -> None:
    now = ctx.clock.now()
    ids = store(ctx, specs, now)
    filters = RecordFilters(classification=only_class, include_deleted=include_deleted)
    default = search.INDEX_DRIVEN_MATCHES
    search.INDEX_DRIVEN_MATCHES = index_driven_matches
    try:
        for terms in queries:
            want = [
                record_id
                for record_id, spec in zip(ids, specs, strict=True)
                if (only_class is None or spec.classification == only_class)
                and (include_deleted or not spec.deleted)
                and expected(ctx, actor, spec, terms, now)
            ]
            got = searched(ctx, actor, " ".join(terms), filters, limit)
            assert got == sorted(want, reverse=True), (actor, terms, specs)
    finally:
        search.INDEX_DRIVEN_MATCHES = default


def test_the_expectation_is_not_vacuous(ctx: NodeContext) -> None:
    """Guard against a vacuous property: a readable match is expected and found; the same words
    in content the user may not read (a restricted record of another node, and one at its origin
    for a security officer who sees only its stub) are neither expected nor found."""
    now = ctx.clock.now()
    specs = [
        RecordSpec("general", "yanan", frozenset(), False, False, "甲乙丙", "", ()),
        RecordSpec("restricted", "yanan", frozenset({"huanglong"}), False, False, "甲乙丙", "", ()),
        RecordSpec("restricted", HERE, frozenset({"yanan"}), False, False, "甲乙丙", "", ()),
    ]
    ids = store(ctx, specs, now)
    for role, hits in (("inspector", [ids[2], ids[0]]), ("security_officer", [ids[0]])):
        actor = Actor(user_id="u-1", name="x", role=role, node=HERE)
        assert [expected(ctx, actor, spec, ["乙丙"], now) for spec in specs] == [
            record_id in hits for record_id in ids
        ]
        assert searched(ctx, actor, "乙丙", RecordFilters(), 2) == hits
