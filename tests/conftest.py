"""Shared fixtures: real databases migrated by Alembic (SQLite, and PostgreSQL when
FEDSHARE_TEST_POSTGRES_URL is set), real keys, a real Casbin enforcer, the real app."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from node.api.app import create_app
from node.clock import ControlledClock
from node.context import NodeContext
from node.crypto import NodeKeys, generate_keys, write_keys
from node.federation import DEMO_TREE, Federation, tree_topology
from node.settings import Settings
from node.topology import Topology
from node.wiring import make_context
from tests.databases import TEMPLATES, migrated, release
from tests.factories import insert_user
from tests.support import FederationClient

POSTGRES_URL = os.environ.get("FEDSHARE_TEST_POSTGRES_URL", "")
BACKENDS = ["sqlite", "postgres"] if POSTGRES_URL else ["sqlite"]


def _pg_admin_url() -> str:
    url = POSTGRES_URL
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database (migrated by the tests that need it)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'node.db'}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(scope="session", autouse=True)
def database_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The run's migrated templates (``tests.databases``): made on first use, removed at the
    end of the run."""
    TEMPLATES.scratch = tmp_path_factory.mktemp("database-template")
    yield
    TEMPLATES.drop_all()


@pytest.fixture(scope="session")
def demo_keys() -> dict[str, NodeKeys]:
    return {node_id: generate_keys() for node_id, _name, _parent in DEMO_TREE}


@pytest.fixture(scope="session")
def demo_root() -> Ed25519PrivateKey:
    """The offline root key the demo tree's certificates chain to."""
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="session")
def demo_topology(demo_keys: dict[str, NodeKeys], demo_root: Ed25519PrivateKey) -> Topology:
    """The demo tree (central > shaanxi > yanan > huanglong, yichuan) with real keys, each node
    certified by its parent (central by ``demo_root``)."""
    return tree_topology(demo_keys, root=demo_root)


@dataclass
class NodeUnderTest:
    """One node in-process: context, app and HTTP client over the real stack. Its clock is a
    ``ControlledClock``: move it with ``node.clock.advance(seconds)`` instead of sleeping."""

    ctx: NodeContext
    client: TestClient
    data_dir: Path
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def clock(self) -> ControlledClock:
        assert isinstance(self.ctx.clock, ControlledClock)
        return self.ctx.clock

    def user(self, role: str, name: str | None = None) -> str:
        """Create a user of this node; return its bearer token."""
        return insert_user(
            self.ctx.sessions,
            name=name or f"{self.ctx.node_id}-{role}-{uuid.uuid4().hex[:6]}",
            role=role,
            node=self.ctx.node_id,
            now=self.ctx.clock.now(),
        )

    def auth(self, role: str) -> dict[str, str]:
        """Headers for a (cached) user of ``role`` at this node."""
        if role not in self.tokens:
            self.tokens[role] = self.user(role, name=f"{self.ctx.node_id}-{role}")
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@pytest.fixture
def make_node(
    database_url: str, tmp_path: Path, demo_topology: Topology, demo_keys: dict[str, NodeKeys]
) -> Iterator[Callable[[str], NodeUnderTest]]:
    """Factory: a node of the demo tree on a fresh, migrated database (one node per test);
    ``topology`` replaces the demo topology (same keys), other keyword arguments override its
    settings."""
    made: list[NodeUnderTest] = []

    def factory(
        node_id: str = "shaanxi", *, topology: Topology | None = None, **overrides: Any
    ) -> NodeUnderTest:
        assert not made, "one database per test: make one node"
        data_dir = tmp_path / node_id
        write_keys(demo_keys[node_id], data_dir / "keys", force=True)
        settings = Settings(
            node_id=node_id, data_dir=data_dir, database_url=migrated(database_url), **overrides
        )
        ctx = make_context(
            settings, topology or demo_topology, demo_keys[node_id], clock=ControlledClock()
        )
        client = TestClient(create_app(ctx=ctx))
        client.__enter__()
        node = NodeUnderTest(ctx=ctx, client=client, data_dir=data_dir)
        made.append(node)
        return node

    yield factory
    for node in made:
        node.client.__exit__(None, None, None)
        node.ctx.engine.dispose()
        release(node.ctx.settings.database_url)


@pytest.fixture(scope="module")
def demo_federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FederationClient]:
    """The five-node demo tree, running: a nats-server and an API process per node. Its nodes
    share a test clock: ``fed.federation.advance_clock(seconds)`` moves their time."""
    federation = Federation(Path(tmp_path_factory.mktemp("federation")), test_clock=True)
    federation.prepare()
    federation.start()
    client = FederationClient(federation)
    try:
        yield client
    finally:
        client.close()
        federation.stop()
