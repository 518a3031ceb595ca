"""The running demo federation for tests: ``fedshare demo --detach --seed-size small`` (five
nodes, a nats-server each, real replication, a seeded history) on a free block of ports, each node
as ``federation.json`` describes it, and the demo's test clock (the clock file every node reads,
``node.clock.OffsetFileClock``) for tests that move the nodes' time instead of sleeping."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from node.clock import make_clock, write_clock_offset
from tests.support import fedshare, free_base_port


@dataclass(frozen=True)
class DemoNode:
    """One node of the running demo, as federation.json describes it."""

    id: str
    name: str
    url: str
    nats: str
    tokens: dict[str, str]
    logins: dict[str, tuple[str, str]]

    def request(self, method: str, role: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(
            method,
            f"{self.url}{path}",
            headers={"Authorization": f"Bearer {self.tokens[role]}"},
            timeout=60,
            **kwargs,
        )

    def get(self, role: str, path: str, **params: Any) -> httpx.Response:
        return self.request("GET", role, path, params=params)

    def post(self, role: str, path: str, body: Any = None, status: int = 200) -> dict[str, Any]:
        """POST ``body`` as ``role``; the answer, asserted to have ``status``."""
        response = self.request("POST", role, path, json=body if body is not None else {})
        assert response.status_code == status, response.text
        data: dict[str, Any] = response.json()
        return data

    def json(self, role: str, path: str, **params: Any) -> dict[str, Any]:
        response = self.get(role, path, **params)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    def items(self, role: str, path: str, **params: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.json(role, path, **params)["items"]
        return items


@dataclass(frozen=True)
class Demo:
    """The running demo: its directory and its nodes by id."""

    dir: Path
    nodes: dict[str, DemoNode]

    def __getitem__(self, node_id: str) -> DemoNode:
        return self.nodes[node_id]

    @property
    def clock_file(self) -> Path:
        # ``Federation(base_dir, test_clock=True)`` in node.demo: every node's clock reads it.
        return self.dir / "clock-offset"

    def now(self) -> datetime:
        """The time the nodes read now."""
        return make_clock(self.clock_file).now()

    def advance_clock(self, seconds: float) -> datetime:
        """Move every node's clock ``seconds`` forward; the nodes' new now."""
        try:
            offset = float(self.clock_file.read_text().strip() or 0)
        except FileNotFoundError:
            offset = 0.0
        write_clock_offset(self.clock_file, offset + seconds)
        return self.now()


def _listening(address: str) -> bool:
    parts = urlsplit(address)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), 1):
            return True
    except OSError:
        return False


@contextmanager
def running_demo(demo_dir: Path) -> Iterator[Demo]:
    """``fedshare demo --detach --seed-size small`` in ``demo_dir``; stopped with ``fedshare demo
    stop`` at the end, after which no API or nats-server of it still listens."""
    started = fedshare(
        "demo",
        "--detach",
        "--dir",
        str(demo_dir),
        "--base-port",
        str(free_base_port()),
        "--seed-size",
        "small",
        timeout=480,
    )
    nodes: dict[str, DemoNode] = {}
    try:
        assert started.returncode == 0, started.stderr
        description = json.loads((demo_dir / "federation.json").read_text(encoding="utf-8"))
        for node_id, node in description["nodes"].items():
            nodes[node_id] = DemoNode(
                id=node_id,
                name=node["name"],
                url=node["api"],
                nats=node["nats"],
                tokens=node["tokens"],
                logins={
                    role: (login["username"], login["password"])
                    for role, login in node["users"].items()
                },
            )
        yield Demo(dir=demo_dir, nodes=nodes)
    finally:
        stopped = fedshare("demo", "stop", "--dir", str(demo_dir))
        assert stopped.returncode == 0, stopped.stderr
        assert not (demo_dir / "demo.pid").exists()
        left = [a for n in nodes.values() for a in (n.url, n.nats) if _listening(a)]
        assert not left, f"the demo left processes listening at {left}"
