"""``AuditLog.append`` blames the audit log only for its own failures: an entry the database
refuses is ``AuditUnavailable``; the caller's pending writes are flushed first and fail as
themselves, and a database that is down raises its own error for the caller to retry."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from node.audit.chain import SYSTEM_ACTOR
from node.db import make_engine, make_sessionmaker
from node.errors import AuditUnavailable
from node.federation import free_port
from node.ids import uuid7
from node.models import Record
from tests.conftest import NodeUnderTest
from tests.helpers import refuse_inserts

NodeFactory = Callable[[str], NodeUnderTest]


@pytest.fixture
def node(make_node: NodeFactory) -> NodeUnderTest:
    return make_node("shaanxi")


def unflushed_record(node: NodeUnderTest) -> Record:
    now = node.ctx.clock.now()
    return Record(
        id=uuid7(),
        origin="shaanxi",
        author="shaanxi-inspector",
        category="policy",
        classification="general",
        title="标题",
        body="正文",
        version=1,
        created_at=now,
        updated_at=now,
        deleted=False,
        is_stub=False,
    )


def test_an_entry_the_database_refuses_raises_audit_unavailable(node: NodeUnderTest) -> None:
    refuse_inserts(node.ctx.engine, "audit_log")
    with node.ctx.sessions() as session, pytest.raises(AuditUnavailable):
        node.ctx.audit.append(session, actor=SYSTEM_ACTOR, action="read", object_type="record")


def test_the_callers_pending_write_fails_as_itself(node: NodeUnderTest) -> None:
    refuse_inserts(node.ctx.engine, "records")
    with node.ctx.sessions() as session:
        session.add(unflushed_record(node))
        with pytest.raises(IntegrityError):
            node.ctx.audit.append(
                session, actor=SYSTEM_ACTOR, action="create", object_type="record"
            )


def test_a_database_that_is_down_raises_its_own_error(node: NodeUnderTest) -> None:
    engine = make_engine(f"postgresql://fedshare@127.0.0.1:{free_port()}/fedshare")
    try:
        with make_sessionmaker(engine)() as session, pytest.raises(OperationalError):
            node.ctx.audit.append(session, actor=SYSTEM_ACTOR, action="read", object_type="record")
    finally:
        engine.dispose()
