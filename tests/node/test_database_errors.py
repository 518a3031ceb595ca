"""Database failures get stable codes of their own: ``audit_unavailable`` only when the audit entry
cannot be written, ``database_conflict``, ``database_error`` or ``database_unavailable`` when
anything else fails. Nothing is stored, and no SQL, parameter or content reaches the client."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from node.api.app import create_app
from node.crypto import NodeKeys
from node.federation import free_port
from node.models import AuditEntry, OutboxMessage, Record
from node.settings import Settings
from node.topology import Topology
from node.wiring import make_context
from tests.conftest import NodeUnderTest
from tests.helpers import refuse_inserts

RECORDS = "/api/v1/records"
TITLE = "不得外泄的标题"
BODY = {"category": "policy", "title": TITLE, "body": "不得外泄的正文"}
NodeFactory = Callable[[str], NodeUnderTest]


@pytest.fixture
def node(make_node: NodeFactory) -> NodeUnderTest:
    return make_node("shaanxi")


def counts(node: NodeUnderTest) -> tuple[int, ...]:
    """Records, outbox messages and audit entries stored."""
    with node.ctx.sessions() as session:
        return tuple(
            session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Record, OutboxMessage, AuditEntry)
        )


def test_an_audit_entry_the_database_refuses_is_audit_unavailable(node: NodeUnderTest) -> None:
    headers = node.auth("inspector")
    before = counts(node)
    refuse_inserts(node.ctx.engine, "audit_log")
    response = node.client.post(RECORDS, json=BODY, headers=headers)
    assert response.status_code == 503
    assert response.json() == {
        "error": "audit_unavailable",
        "detail": "the audit log cannot be written; access refused",
    }
    assert counts(node) == before


@pytest.mark.parametrize("table", ["records", "outbox"])
def test_a_constraint_refusing_another_write_is_a_conflict_not_an_audit_failure(
    node: NodeUnderTest, table: str
) -> None:
    headers = node.auth("inspector")
    before = counts(node)
    refuse_inserts(node.ctx.engine, table)
    response = node.client.post(RECORDS, json=BODY, headers=headers)
    assert response.status_code == 409
    assert response.json() == {
        "error": "database_conflict",
        "detail": "the change conflicts with stored data; nothing was stored",
    }
    assert counts(node) == before
    # The audit log itself still works: reads are audited as usual.
    assert node.client.get(RECORDS, headers=headers).status_code == 200
    assert counts(node)[2] == before[2] + 1


def test_another_statement_the_database_refuses_is_database_error(node: NodeUnderTest) -> None:
    if node.ctx.engine.dialect.name == "sqlite":
        pytest.skip("SQLite reports every trigger refusal as a constraint failure")
    headers = node.auth("inspector")
    before = counts(node)
    refuse_inserts(node.ctx.engine, "records", constraint=False)
    response = node.client.post(RECORDS, json=BODY, headers=headers)
    assert response.status_code == 500
    assert response.json() == {
        "error": "database_error",
        "detail": "the database refused the request; nothing was stored",
    }
    assert "refused by a test trigger" not in response.text
    assert counts(node) == before


def test_an_unreachable_database_is_database_unavailable(
    tmp_path: Path, demo_topology: Topology, demo_keys: dict[str, NodeKeys]
) -> None:
    # A PostgreSQL server that is down: nothing listens on the port.
    url = f"postgresql://fedshare:secret@127.0.0.1:{free_port()}/fedshare"
    settings = Settings(node_id="shaanxi", data_dir=tmp_path, database_url=url)
    ctx = make_context(settings, demo_topology, demo_keys["shaanxi"])
    expected = {
        "error": "database_unavailable",
        "detail": "the database is unavailable; nothing was stored",
    }
    try:
        with TestClient(create_app(ctx=ctx)) as client:
            # Authenticating reads the users table; a refusal writes its audit entry.
            authenticated = client.get(RECORDS, headers={"Authorization": "Bearer fs_unknown"})
            anonymous = client.post(RECORDS, json=BODY)
    finally:
        ctx.engine.dispose()
    for response in (authenticated, anonymous):
        assert response.status_code == 503
        assert response.json() == expected
        assert "127.0.0.1" not in response.text
