from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from node.federation import Federation
from tests.orders.harness import mini_federation
from tests.support import FederationClient

__all__ = ["demo_federation", "mini_federation"]


@pytest.fixture(scope="module")
def demo_federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FederationClient]:
    """The five-node demo tree, running: a nats-server and an API process per node."""
    federation = Federation(Path(tmp_path_factory.mktemp("federation")))
    federation.prepare()
    federation.start()
    client = FederationClient(federation)
    try:
        yield client
    finally:
        client.close()
        federation.stop()
