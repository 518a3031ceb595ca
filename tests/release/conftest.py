"""Fixtures for the release tests: the in-process mini federation (real envelopes, inbox and
databases, no NATS) and the running demo federation (real nats-servers and API processes) with a
second approver at the county, since petitions and problem clues need two."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from node.db import make_engine, make_sessionmaker
from node.federation import Federation
from tests.factories import insert_user
from tests.inprocess import mini_federation
from tests.support import FederationClient

__all__ = ["mini_federation", "release_federation"]


def add_role_user(federation: Federation, node_id: str, role: str, key: str) -> None:
    """Add a user to a node's database; its token is kept under ``key`` with the role tokens."""
    handle = federation.nodes[node_id]
    engine = make_engine(handle.database_url)
    try:
        token = insert_user(
            make_sessionmaker(engine),
            name=f"{node_id}-{key}",
            role=role,
            node=node_id,
            now=federation.now(),
        )
    finally:
        engine.dispose()
    handle.tokens[key] = token


@pytest.fixture(scope="package")
def release_federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FederationClient]:
    """The five-node demo tree, running, with ``approver2`` at huanglong. Its nodes share a test
    clock: ``fed.federation.advance_clock(seconds)`` moves their time."""
    base = Path(tmp_path_factory.mktemp("release-federation"))
    federation = Federation(base, test_clock=True)
    federation.prepare()
    add_role_user(federation, "huanglong", "approver", "approver2")
    federation.start()
    client = FederationClient(federation)
    try:
        yield client
    finally:
        client.close()
        federation.stop()
