"""Run a whole federation on one machine: per node a nats-server and a node API process.

Used by ``fedshare demo`` and by the multi-node tests (which kill, restart and cut these processes
for real). Every node gets its own data directory, keys, SQLite database (or a given URL), users,
nats-server with JetStream domain, and API process. The federation runs as a deployment does
(DESIGN §10): its own CA certifies every node's key, leaf links are mutual TLS, and each server
admits only its node service (nkey) and its children's certificates; there is no other mode.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.audit.chain import SYSTEM_ACTOR, AuditLog
from node.certificates import (
    ROOT_ISSUER,
    ROOT_KEY_FILE,
    ROOT_PUBLIC_FILE,
    NodeCertificate,
    init_root,
    issue_certificate,
    load_root_key,
    public_key_b64,
    validity,
    write_root_public,
)
from node.clock import SystemClock, make_clock, to_utc, write_clock_offset
from node.crypto import NodeKeys, generate_keys, load_keys, write_keys
from node.db import make_engine, make_sessionmaker, upgrade_database
from node.pki import (
    CertificateAuthority,
    init_ca,
    issue_node_certificates,
    write_node_certificates,
    write_node_tls_key,
)
from node.policy import ROLES
from node.replication.natsconf import (
    SERVICE_NKEY_FILE,
    NatsServerProcess,
    host_port,
    wait_for_port,
    write_config,
)
from node.replication.routing import inbox_prefix
from node.storage import PRIVATE_UMASK, private_dir, private_file, write_private_text
from node.topology import NodeInfo, Topology, dump_topology
from node.users.service import add_user
from node.users.sessions import hash_password

DEMO_TREE: list[tuple[str, str, str | None]] = [
    ("central", "中央", None),
    ("shaanxi", "陕西省", "central"),
    ("yanan", "延安市", "shaanxi"),
    ("huanglong", "黄龙县", "yanan"),
    ("yichuan", "宜川县", "yanan"),
]


# Certificates of demo and test federations: valid from well before the year of history the
# demo seeds (its clock is set back a year) to well after any test moves its clock forward.
DEMO_CERTIFICATE_DAYS = 20 * 365
DEMO_CERTIFICATE_BACKDATE = timedelta(days=3 * 365)


def certify_tree(
    root: Ed25519PrivateKey,
    keys: dict[str, NodeKeys],
    tree: list[tuple[str, str, str | None]] | None = None,
    *,
    now: datetime,
    days: float = DEMO_CERTIFICATE_DAYS,
    backdate: timedelta = DEMO_CERTIFICATE_BACKDATE,
) -> dict[str, NodeCertificate]:
    """Each node's certificate as the chain issues it: the central node's by ``root``, every
    other node's by its parent's signing key (parents come before children in ``tree``)."""
    not_before, not_after = validity(now, days, backdate=backdate)
    certificates: dict[str, NodeCertificate] = {}
    for node_id, name, parent in tree or DEMO_TREE:
        certificates[node_id] = issue_certificate(
            issuer_key=root if parent is None else keys[parent].signing,
            issuer=ROOT_ISSUER if parent is None else parent,
            node=node_id,
            name=name,
            parent=parent,
            signing_key=keys[node_id].signing_public_b64,
            encryption_key=keys[node_id].encryption_public_b64,
            serial=1,
            not_before=not_before,
            not_after=not_after,
        )
    return certificates


def tree_topology(
    keys: dict[str, NodeKeys],
    tree: list[tuple[str, str, str | None]] | None = None,
    *,
    root: Ed25519PrivateKey | None = None,
    now: datetime | None = None,
    api: str = "",
    nats: str = "",
    leaf: str = "",
) -> Topology:
    """The certified topology of ``tree`` (default: the demo tree) with each node's public keys
    and the same placeholder addresses everywhere: for in-process nodes that need no NATS. The
    chain starts at ``root`` (a fresh root key if not given)."""
    root = root or Ed25519PrivateKey.generate()
    certificates = certify_tree(root, keys, tree, now=now or SystemClock().now())
    return Topology(
        (
            NodeInfo.certified(certificate, api=api, nats=nats, leaf=leaf)
            for certificate in certificates.values()
        ),
        root_key=public_key_b64(root),
    )


# Ports this process has handed out (``free_port``).
_HANDED_OUT: set[int] = set()
_PORTS_LOCK = threading.Lock()


def free_port() -> int:
    """A port free on 127.0.0.1 now and never handed out before by this process. The system
    can give the same free port twice in a row (nothing holds it between the calls): a
    federation prepared with two equal ports had a nats-server fail to listen."""
    with _PORTS_LOCK:
        for _ in range(1000):
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port: int = sock.getsockname()[1]
            if port not in _HANDED_OUT:
                _HANDED_OUT.add(port)
                return port
    raise RuntimeError("no free port left that this process has not handed out")


@dataclass
class NodeHandle:
    id: str
    name: str
    data_dir: Path
    api_port: int
    database_url: str
    nats: NatsServerProcess
    tokens: dict[str, str] = field(default_factory=dict)
    # Console logins of the role users: role -> (user name, password).
    logins: dict[str, tuple[str, str]] = field(default_factory=dict)
    api: subprocess.Popen[bytes] | None = None
    # A node that joined while the federation ran (``adopt_joined``) has its own topology cache
    # and settings, written by ``fedshare join``.
    topology_path: Path | None = None
    nats_url: str | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"


@dataclass(frozen=True)
class JoiningNode:
    """A node about to run ``fedshare join`` (``Federation.joining_node``)."""

    id: str
    name: str
    data_dir: Path
    api_port: int
    args: list[str]
    env: dict[str, str]

    def command(self) -> list[str]:
        return [sys.executable, "-m", "node.cli", *self.args]


class Federation:
    def __init__(
        self,
        base_dir: Path,
        tree: list[tuple[str, str, str | None]] | None = None,
        *,
        base_port: int | None = None,
        database_urls: dict[str, str] | None = None,
        test_clock: bool = False,
    ) -> None:
        self.base_dir = base_dir.resolve()
        # Every node's clock runs off real time by the offset in this one file (``advance_clock``,
        # ``set_clock``): tests move the federation's time instead of sleeping, and the demo
        # seeds a year of history (``node.demo_data``).
        self.clock_file: Path | None = self.base_dir / "clock-offset" if test_clock else None
        self._clock_offset_s = 0.0
        self.tree = tree or DEMO_TREE
        self.base_port = base_port
        self.database_urls = database_urls or {}
        self.nodes: dict[str, NodeHandle] = {}
        self.topology: Topology | None = None
        self.topology_path = self.base_dir / "topology.toml"
        self.ca_dir = self.base_dir / "ca"
        self.ca: CertificateAuthority | None = None
        # The offline root of the identity chain (DESIGN §11): in a demo, a directory beside the
        # nodes; every node is installed with its root.pub.
        self.root_dir = self.base_dir / "root"
        self.root: Ed25519PrivateKey | None = None
        # Settings given to one node's service only (``FEDSHARE_…``), e.g. an older envelope
        # version; they apply from the node's next start.
        self.env_overrides: dict[str, dict[str, str]] = {}

    def _port(self, index: int, offset: int) -> int:
        if self.base_port is None:
            return free_port()
        return self.base_port + offset * 100 + index

    def prepare(self) -> Topology:
        """Keys, topology file, the federation CA and every node's certificates, migrated
        databases, one user per role per node, NATS configs and credentials."""
        private_dir(self.base_dir)
        infos: list[NodeInfo] = []
        ports: dict[str, tuple[int, int, int]] = {}
        now = make_clock(self.clock_file).now()
        self.ca = init_ca(self.ca_dir, force=True, now=now)
        self.root = (
            load_root_key(self.root_dir)
            if (self.root_dir / ROOT_KEY_FILE).exists()
            else init_root(self.root_dir)
        )
        all_keys: dict[str, NodeKeys] = {}
        for index, (node_id, _name, _parent) in enumerate(self.tree):
            keys = all_keys[node_id] = generate_keys()
            node_dir = self.base_dir / node_id
            write_keys(keys, node_dir / "keys", force=True)
            write_node_tls_key(keys.signing, node_dir / "tls")
            write_root_public(node_dir / ROOT_PUBLIC_FILE, public_key_b64(self.root))
            ports[node_id] = (self._port(index, 0), self._port(index, 1), self._port(index, 2))
        for node_id, certificate in certify_tree(self.root, all_keys, self.tree, now=now).items():
            api_port, nats_port, leaf_port = ports[node_id]
            infos.append(
                NodeInfo.certified(
                    certificate,
                    api=f"http://127.0.0.1:{api_port}",
                    nats=f"nats://127.0.0.1:{nats_port}",
                    leaf=f"nats-leaf://127.0.0.1:{leaf_port}",
                )
            )
        topology = Topology(infos, root_key=public_key_b64(self.root), now=now)
        self.topology = topology
        self.topology_path.write_text(dump_topology(topology), encoding="utf-8")
        for node_id, name, _parent in self.tree:
            node_dir = self.base_dir / node_id
            write_node_certificates(
                self.ca,
                issue_node_certificates(self.ca, topology.get(node_id), now=now),
                node_dir / "tls",
            )
            url = self.database_urls.get(node_id) or f"sqlite:///{node_dir / 'node.db'}"
            upgrade_database(url)
            handle = NodeHandle(
                id=node_id,
                name=name,
                data_dir=node_dir,
                api_port=ports[node_id][0],
                database_url=url,
                nats=write_config(topology, node_id, node_dir),
            )
            self._add_users(handle)
            self.nodes[node_id] = handle
        return topology

    def _add_users(self, handle: NodeHandle) -> None:
        """One user per role (and a second approver), their tokens and console logins."""
        node_id, url = handle.id, handle.database_url
        node_dir = handle.data_dir
        engine = make_engine(url)
        clock = make_clock(self.clock_file)
        audit = AuditLog(node_id, load_keys(node_dir / "keys"), clock)
        with make_sessionmaker(engine)() as session, session.begin():
            for role in ROLES:
                password = secrets.token_urlsafe(12)
                _user, token = add_user(
                    session,
                    audit=audit,
                    by=SYSTEM_ACTOR,
                    name=f"{node_id}-{role}",
                    role=role,
                    node=node_id,
                    now=clock.now(),
                    password_hash=hash_password(password),
                )
                handle.tokens[role] = token
                handle.logins[role] = (f"{node_id}-{role}", password)
            # A second approver: categories such as problem clues need two approvals.
            password = secrets.token_urlsafe(12)
            _user, token = add_user(
                session,
                audit=audit,
                by=SYSTEM_ACTOR,
                name=f"{node_id}-approver-2",
                role="approver",
                node=node_id,
                now=clock.now(),
                password_hash=hash_password(password),
            )
            handle.tokens["approver-2"] = token
            handle.logins["approver-2"] = (f"{node_id}-approver-2", password)
        engine.dispose()

    def joining_node(
        self, node_id: str, name: str, *, parent: str, code: str, wait_s: float = 300.0
    ) -> JoiningNode:
        """A data directory for a new node (with the federation's ``root.pub``, as installed out
        of band) and the ``fedshare join`` arguments and environment that join it below
        ``parent`` with ``code``, at free ports."""
        assert self.root is not None
        data_dir = self.base_dir / node_id
        private_dir(data_dir)
        write_root_public(data_dir / ROOT_PUBLIC_FILE, public_key_b64(self.root))
        api_port, nats_port, leaf_port = free_port(), free_port(), free_port()
        args = [
            "join",
            "--parent",
            self.nodes[parent].api_url,
            "--parent-id",
            parent,
            "--id",
            node_id,
            "--name",
            name,
            "--api",
            f"http://127.0.0.1:{api_port}",
            "--nats",
            f"nats://127.0.0.1:{nats_port}",
            "--leaf",
            f"nats-leaf://127.0.0.1:{leaf_port}",
            "--data-dir",
            str(data_dir),
            "--wait",
            str(wait_s),
            "--poll",
            "0.2",
        ]
        env = dict(os.environ)
        for key in [k for k in env if k.startswith("FEDSHARE_")]:
            del env[key]
        env["FEDSHARE_JOIN_CODE"] = code
        if node_id in self.database_urls:
            env["FEDSHARE_DATABASE_URL"] = self.database_urls[node_id]
        if self.clock_file is not None:
            env["FEDSHARE_TEST_CLOCK_FILE"] = str(self.clock_file)
        return JoiningNode(node_id, name, data_dir, api_port, args, env)

    def adopt_joined(self, node_id: str, name: str, data_dir: Path, api_port: int) -> NodeHandle:
        """Take a node that ``fedshare join`` set up in ``data_dir`` into this federation's
        handles (its users made, not started): the federation runs it like the others."""
        from node.joiner import node_env

        env = node_env(data_dir)
        handle = NodeHandle(
            id=node_id,
            name=name,
            data_dir=data_dir,
            api_port=api_port,
            database_url=env["FEDSHARE_DATABASE_URL"],
            nats=NatsServerProcess(
                data_dir / "nats.conf", env["FEDSHARE_NATS_URL"], data_dir / "nats.log"
            ),
            topology_path=Path(env["FEDSHARE_TOPOLOGY_FILE"]),
            nats_url=env["FEDSHARE_NATS_URL"],
        )
        self._add_users(handle)
        self.nodes[node_id] = handle
        return handle

    def reroute_leaf(self, node_id: str, parent_leaf_url: str) -> None:
        """Point ``node_id``'s leaf link at another address (a cuttable proxy, in tests)."""
        assert self.topology is not None
        handle = self.nodes[node_id]
        handle.nats = write_config(
            self.topology, node_id, handle.data_dir, parent_leaf_url=parent_leaf_url
        )

    def env_for(self, node_id: str) -> dict[str, str]:
        handle = self.nodes[node_id]
        assert self.topology is not None
        env = dict(os.environ)
        env.update(
            FEDSHARE_NODE_ID=node_id,
            FEDSHARE_DATA_DIR=str(handle.data_dir),
            FEDSHARE_DATABASE_URL=handle.database_url,
            FEDSHARE_TOPOLOGY_FILE=str(handle.topology_path or self.topology_path),
            FEDSHARE_NATS_URL=handle.nats_url or self.topology.get(node_id).nats,
        )
        if self.clock_file is not None:
            env["FEDSHARE_TEST_CLOCK_FILE"] = str(self.clock_file)
        # The demo is browsed on this host: its API docs open without a token.
        env.setdefault("FEDSHARE_DOCS_REQUIRE_TOKEN", "false")
        env.update(self.env_overrides.get(node_id, {}))
        return env

    def nats_options(self, node_id: str) -> dict[str, object]:
        """``nats.connect`` arguments with which the node service of ``node_id`` signs in to its
        own server (tests use them to act with that node's real credentials)."""
        assert self.topology is not None
        handle = self.nodes[node_id]
        return {
            "servers": [handle.nats_url or self.topology.get(node_id).nats],
            "nkeys_seed": str(self.nodes[node_id].data_dir / "nats" / SERVICE_NKEY_FILE),
            "inbox_prefix": inbox_prefix(node_id),
        }

    def advance_clock(self, seconds: float) -> float:
        """Move every node's clock ``seconds`` forward (needs ``test_clock=True``); return the
        total offset from real time. Running nodes see it on their next reading of the time."""
        if self.clock_file is None:
            raise RuntimeError("this federation was not made with test_clock=True")
        self._clock_offset_s += seconds
        if not self.base_dir.exists():
            private_dir(self.base_dir)
        write_clock_offset(self.clock_file, self._clock_offset_s)
        return self._clock_offset_s

    def set_clock(self, moment: datetime) -> None:
        """Make every node's clock read ``moment`` now (and flow on from there); needs
        ``test_clock=True``. The demo sets it back a year to seed a year of history."""
        self.advance_clock(
            (to_utc(moment) - SystemClock().now()).total_seconds() - self._clock_offset_s
        )

    def now(self) -> datetime:
        """The time the nodes read now: real time, plus the test clock's offset if there is one.
        Tests compute deadlines from it, so they stay in the future after the clock moved."""
        return make_clock(self.clock_file).now()

    def start_nats(self, node_id: str) -> None:
        self.nodes[node_id].nats.start()

    def stop_nats(self, node_id: str, *, kill: bool = False) -> None:
        self.nodes[node_id].nats.stop(kill=kill)

    def start_api(self, node_id: str, *, wait: bool = True) -> None:
        handle = self.nodes[node_id]
        log = private_file(handle.data_dir / "api.log").open("ab")
        handle.api = subprocess.Popen(
            [sys.executable, "-m", "node.cli", "node", "run", "--port", str(handle.api_port)],
            env=self.env_for(node_id),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            umask=PRIVATE_UMASK,
        )
        log.close()
        if wait:
            self.wait_api(node_id)

    def wait_api(self, node_id: str, timeout: float = 60.0) -> None:
        handle = self.nodes[node_id]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if handle.api is not None and handle.api.poll() is not None:
                raise RuntimeError(f"node {node_id} API exited; see {handle.data_dir / 'api.log'}")
            try:
                if httpx.get(f"{handle.api_url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"node {node_id} API did not come up")

    def stop_api(self, node_id: str, *, kill: bool = False) -> None:
        handle = self.nodes[node_id]
        if handle.api is None:
            return
        if handle.api.poll() is None:
            handle.api.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                handle.api.wait(timeout=15)
            except subprocess.TimeoutExpired:
                handle.api.kill()
                handle.api.wait()
        handle.api = None

    def start(self) -> None:
        """Every node's nats-server, then every API; if one fails, what started is stopped."""
        try:
            for node_id in self.nodes:
                self.start_nats(node_id)
            for node_id in self.nodes:
                self.start_api(node_id, wait=False)
            for node_id in self.nodes:
                self.wait_api(node_id)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for handle in self.nodes.values():
            if handle.api is not None and handle.api.poll() is None:
                handle.api.send_signal(signal.SIGTERM)
        for node_id in self.nodes:
            self.stop_api(node_id)
        for node_id in self.nodes:
            self.stop_nats(node_id)

    def describe(self) -> dict[str, object]:
        assert self.topology is not None
        return {
            "nodes": {
                node_id: {
                    "name": handle.name,
                    "api": handle.api_url,
                    "parent": self.topology.parent(node_id) if node_id in self.topology else None,
                    "nats": handle.nats_url or self.topology.get(node_id).nats,
                    "data_dir": str(handle.data_dir),
                    "tokens": dict(handle.tokens),
                    "users": {
                        role: {"username": username, "password": password}
                        for role, (username, password) in handle.logins.items()
                    },
                }
                for node_id, handle in self.nodes.items()
            }
        }

    def write_description(self, path: Path) -> None:
        # Bearer tokens and console passwords: readable by the owner only. Written beside it and
        # renamed over it, so that a reader (``fedshare demo --detach`` waits for the file) never
        # sees half of it.
        partial = path.with_name(f".{path.name}.partial")
        write_private_text(partial, json.dumps(self.describe(), ensure_ascii=False, indent=2))
        os.replace(partial, path)


def leaf_port_of(topology: Topology, node_id: str) -> int:
    return host_port(topology.get(node_id).leaf)[1]


__all__ = [
    "DEMO_TREE",
    "JoiningNode",
    "certify_tree",
    "Federation",
    "NodeHandle",
    "free_port",
    "leaf_port_of",
    "tree_topology",
    "wait_for_port",
]
