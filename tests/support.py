"""Test helpers for running federations: waiting, barriers for negative checks, per-node HTTP
clients, direct DB reads, a cuttable link."""

from __future__ import annotations

import random
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
from sqlalchemy import create_engine, text

from node.federation import Federation

T = TypeVar("T")


def fedshare(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """Run the ``fedshare`` command line in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "node.cli", *args], capture_output=True, text=True, timeout=timeout
    )


def free_base_port() -> int:
    """A ``--base-port`` for ``fedshare demo`` whose whole block is free: the demo puts each of
    its five nodes' API, NATS and leaf ports at ``base + offset * 100 + index`` (offsets 0-2)."""
    for _ in range(50):
        base = random.randrange(21000, 39000, 500)
        ports = [base + offset * 100 + index for offset in range(3) for index in range(5)]
        if all(_bindable(port) for port in ports):
            return base
    raise AssertionError("no free block of ports for the demo")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def wait_for(
    predicate: Callable[[], T],
    *,
    timeout: float = 30.0,
    interval: float = 0.1,
    message: str = "condition",
) -> T:
    """Poll ``predicate`` until it returns a truthy value; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message} (last: {last!r})")


@contextmanager
def prepared_federation(
    base_dir: Path,
    tree: list[tuple[str, str, str | None]],
    *,
    start: bool = False,
    test_clock: bool = False,
) -> Iterator[FederationClient]:
    """A subprocess federation of ``tree`` prepared in ``base_dir`` (started if ``start``; on a
    test clock, ``federation.advance_clock``, if ``test_clock``), with a client; stopped
    afterwards."""
    federation = Federation(base_dir, tree, test_clock=test_clock)
    federation.prepare()
    client = FederationClient(federation)
    try:
        if start:
            federation.start()
        yield client
    finally:
        client.close()
        federation.stop()


class FederationClient:
    """HTTP access to every node of a running ``Federation``, as each role."""

    def __init__(self, federation: Federation) -> None:
        self.federation = federation
        self.http = httpx.Client(timeout=30)

    def headers(self, node_id: str, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.federation.nodes[node_id].tokens[role]}"}

    def url(self, node_id: str, path: str) -> str:
        return f"{self.federation.nodes[node_id].api_url}{path}"

    def request(
        self, method: str, node_id: str, role: str, path: str, **kwargs: Any
    ) -> httpx.Response:
        return self.http.request(
            method, self.url(node_id, path), headers=self.headers(node_id, role), **kwargs
        )

    def get(self, node_id: str, role: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", node_id, role, path, **kwargs)

    def post(self, node_id: str, role: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", node_id, role, path, **kwargs)

    def create_record(
        self, node_id: str, body: dict[str, Any], role: str = "inspector"
    ) -> dict[str, Any]:
        response = self.post(node_id, role, "/api/v1/records", json=body)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    def db_rows(self, node_id: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        """Read a node's database directly (what is *stored* there, not what the API shows)."""
        engine = create_engine(
            self.federation.nodes[node_id].database_url.replace(
                "postgresql://", "postgresql+psycopg://"
            )
        )
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


def barrier(
    client: FederationClient, origin: str, *destinations: str, timeout: float = 30.0
) -> None:
    """Wait until everything ``origin`` committed so far has reached ``destinations``, or never
    will: a general record created at ``origin`` now goes to every node along the same tree
    edges, behind whatever ``origin`` sent before it (outbox in commit order, streams and
    consumers in order on each hop). Call it after the action that would send X, then check
    that X is absent: "X never reached Y" is a claim only once the marker has."""
    marker = client.create_record(
        origin, {"category": "practice", "title": f"barrier from {origin}", "body": ""}
    )
    for destination in destinations:
        wait_for(
            lambda destination=destination: client.record_version(destination, marker["id"]) == 1,
            timeout=timeout,
            message=f"barrier from {origin} at {destination}",
        )


class LinkProxy:
    """A TCP proxy on a leafnode link that a test can cut and heal (a real network fault:
    connections are closed and new ones refused; nothing is mocked)."""

    def __init__(self, target_port: int, listen_port: int = 0) -> None:
        import socket
        import threading

        self.target_port = target_port
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", listen_port))
        self._server.listen(16)
        self.port: int = self._server.getsockname()[1]
        self._cut = threading.Event()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[Any] = []
        self._pipes: list[threading.Thread] = []
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"nats-leaf://127.0.0.1:{self.port}"

    def _accept_loop(self) -> None:
        import socket
        import threading

        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=2)
            except OSError:
                client.close()
                continue
            # The timeout was for connecting only: an idle leaf link must not drop after 2 s.
            upstream.settimeout(None)
            with self._lock:  # the same lock as cut(): no connection slips past a cut
                if self._cut.is_set():
                    client.close()
                    upstream.close()
                    continue
                self._sockets.extend([client, upstream])
                for src, dst in ((client, upstream), (upstream, client)):
                    pipe = threading.Thread(target=self._pipe, args=(src, dst), daemon=True)
                    self._pipes.append(pipe)
                    pipe.start()

    def _pipe(self, src: Any, dst: Any) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data or self._cut.is_set():
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.close()
                except OSError:
                    pass

    def cut(self) -> None:
        import socket

        with self._lock:
            self._cut.set()
            for sock in self._sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            self._sockets.clear()

    def heal(self) -> None:
        self._cut.clear()

    def close(self) -> None:
        """Cut every connection, stop accepting, and join every thread of the proxy."""
        import socket

        self._closed.set()
        self.cut()
        try:
            self._server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self._server.close()
        with self._lock:
            threads = [self._thread, *self._pipes]
        for thread in threads:
            thread.join(timeout=10)
        alive = [thread.name for thread in threads if thread.is_alive()]
        assert not alive, f"link proxy threads still running: {alive}"


def content_markers(label: str) -> tuple[str, list[bytes]]:
    """A unique text for a title or body (Chinese, with an ASCII marker in it) and the byte
    strings that would betray a copy of it in a file: its UTF-8, its Chinese part alone and the
    ASCII marker alone (which survives JSON's ``\\u`` escapes and any re-encoding of the rest)."""
    marker = f"PURGE{uuid.uuid4().hex.upper()}"
    chinese = f"{label}删除后不留痕的巡察内容"
    text_value = f"{chinese}{marker}"
    return text_value, [text_value.encode(), chinese.encode(), marker.encode()]


def files_containing(
    directory: Path, needles: list[bytes], *, skip: tuple[str, ...] = ()
) -> list[str]:
    """Every file under ``directory`` (relative path) holding any of ``needles``; files under
    a top-level folder named in ``skip`` are not read."""
    found = []
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        if not path.is_file() or path.is_symlink() or relative.parts[0] in skip:
            continue
        data = path.read_bytes()
        found.extend(f"{relative}: {needle!r}" for needle in needles if needle in data)
    return found
