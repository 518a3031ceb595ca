"""Test helpers for running federations: waiting, HTTP clients per node and role, direct DB reads."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
from sqlalchemy import create_engine, text

from node.federation import Federation

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], *, timeout: float = 30.0, interval: float = 0.1,
             message: str = "condition") -> T:
    """Poll ``predicate`` until it returns a truthy value; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message} (last: {last!r})")


class FederationClient:
    """HTTP access to every node of a running ``Federation``, as each role."""

    def __init__(self, federation: Federation) -> None:
        self.federation = federation
        self.http = httpx.Client(timeout=30)

    def headers(self, node_id: str, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.federation.nodes[node_id].tokens[role]}"}

    def url(self, node_id: str, path: str) -> str:
        return f"{self.federation.nodes[node_id].api_url}{path}"

    def request(self, method: str, node_id: str, role: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, self.url(node_id, path),
                                 headers=self.headers(node_id, role), **kwargs)

    def get(self, node_id: str, role: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", node_id, role, path, **kwargs)

    def post(self, node_id: str, role: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", node_id, role, path, **kwargs)

    def create_record(self, node_id: str, body: dict[str, Any], role: str = "inspector") -> dict[str, Any]:
        response = self.post(node_id, role, "/api/v1/records", json=body)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    def db_rows(self, node_id: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        """Read a node's database directly (what is *stored* there, not what the API shows)."""
        engine = create_engine(self.federation.nodes[node_id].database_url.replace(
            "postgresql://", "postgresql+psycopg://"))
        try:
            with engine.connect() as conn:
                return [tuple(row) for row in conn.execute(text(sql), params)]
        finally:
            engine.dispose()

    def record_version(self, node_id: str, record_id: str) -> int | None:
        rows = self.db_rows(node_id, "SELECT version FROM records WHERE id = :id", id=record_id)
        return int(rows[0][0]) if rows else None

    def close(self) -> None:
        self.http.close()
