"""``fedshare join`` at the new node: keys, the signed request, waiting for the approval, and
installing the verified answer (issue 12 item 2).

Steps, each safe to run again (``DATA_DIR/join.json``, 0600, remembers the request):
1. keys: made once (``DATA_DIR/keys``, 0600), reused when the command runs again;
2. the join request, signed with the new signing key, posted with the one-time code to the
   parent's ``POST /api/v1/federation/join-requests``; the code is not kept;
3. polling ``GET /join-requests/{id}`` until the parent's admin approves or rejects;
4. the answer verified up to the root key installed out of band (``members.joining``), then
   written: the topology cache (members with addresses), learned certificates and revocations
   into the database (migrated while waiting), the TLS files (client certificate from the
   parent, the CAs that verify the parent, this node's own link CA and server certificate), the
   nats-server config and ``DATA_DIR/node.env`` with the settings ``fedshare node run`` needs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from node.certificates import read_root_public
from node.clock import SystemClock, make_clock
from node.crypto import generate_keys, load_keys, write_keys
from node.db import make_engine, make_sessionmaker, upgrade_database
from node.members.joining import JoinError, JoinRequest, VerifiedAnswer, make_request, verify_answer
from node.members.models import MemberCertificate, MemberRevocation
from node.pki import (
    CA_CERT_FILE,
    CLIENT_CERT_FILE,
    SERVER_CERT_FILE,
    cert_pem,
    ensure_link_ca,
    issue_own_server_certificate,
    write_node_tls_key,
    write_private,
)
from node.replication.natsconf import write_config
from node.settings import Settings
from node.storage import private_dir, write_private_text
from node.topology import dump_topology

STATE_FILE = "join.json"
TOPOLOGY_FILE = "topology.toml"
ENV_FILE = "node.env"


class JoinFailed(Exception):
    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _error(response: httpx.Response) -> str:
    try:
        body = response.json()
        return f"{response.status_code} {body.get('error')}: {body.get('detail')}"
    except ValueError:
        return f"{response.status_code}"


def run_join(
    settings: Settings,
    *,
    parent_url: str,
    parent_id: str,
    name: str,
    addresses: dict[str, str],
    code: str | None,
    wait_s: float,
    poll_s: float,
    say: Callable[[str], None],
    client: httpx.Client | None = None,
) -> str:
    """Run (or resume) the join; returns what to do next. ``JoinFailed`` on any refusal."""
    http = client or httpx.Client(timeout=15)
    data_dir = settings.data_dir.resolve()
    private_dir(data_dir)
    try:
        root_key = read_root_public(settings.root_key_path)
    except (OSError, ValueError) as exc:
        raise JoinFailed(f"{exc} (install the federation's root.pub out of band)") from exc
    clock = make_clock(settings.test_clock_file)
    try:
        keys = load_keys(settings.keys_dir)
    except FileNotFoundError:
        keys = generate_keys()
        write_keys(keys, settings.keys_dir)
        say(f"keys made in {settings.keys_dir}")
    state_path = data_dir / STATE_FILE
    state: dict[str, Any] = {}
    if state_path.exists():
        state = json.loads(state_path.read_text(encoding="utf-8"))
    if state.get("status") == "installed":
        return f"{settings.node_id} has joined already; start it (see {data_dir / ENV_FILE})"
    if "request_id" in state:
        request = JoinRequest.parse(state["request"])
        parent_url = str(state["parent_url"])
        say(f"waiting again for request {settings.node_id} at {parent_url}")
    else:
        if not code:
            raise JoinFailed("give the one-time code from the parent's admin (--code)")
        try:
            request = make_request(
                signing=keys.signing,
                node=settings.node_id,
                name=name,
                parent=parent_id,
                signing_key=keys.signing_public_b64,
                encryption_key=keys.encryption_public_b64,
                api=addresses["api"],
                nats=addresses["nats"],
                leaf=addresses["leaf"],
                time=clock.now(),
            )
        except JoinError as exc:
            raise JoinFailed(str(exc)) from exc
        try:
            response = http.post(
                f"{parent_url}/api/v1/federation/join-requests",
                json={"code": code, "request": request.document},
            )
        except httpx.HTTPError as exc:
            raise JoinFailed(f"{parent_url}: {type(exc).__name__}") from exc
        if response.status_code != 202:
            raise JoinFailed(f"the parent refused the request: {_error(response)}")
        state = {
            "request": request.document,
            "request_id": response.json()["id"],
            "parent_url": parent_url,
        }
        write_private_text(state_path, json.dumps(state))
        say(f"join request sent to {parent_id}; waiting for its admin's approval")
    # While the parent's admin decides: the database is made ready (the slowest step of the
    # install), so that the node is running soon after the approval.
    upgrade_database(settings.database_url)
    answer = _poll(http, parent_url, str(state["request_id"]), wait_s, poll_s)
    try:
        verified = verify_answer(answer, request, root_key=root_key, now=clock.now())
    except JoinError as exc:
        raise JoinFailed(f"the answer is refused ({exc.reason}): {exc}") from exc
    install(settings, verified, request)
    state["status"] = "installed"
    write_private_text(state_path, json.dumps(state))
    return (
        f"{settings.node_id} joined {parent_id}. Start it: nats-server -c "
        f"{data_dir / 'nats.conf'}, then `fedshare node run` with the settings in "
        f"{data_dir / ENV_FILE}"
    )


def _poll(
    http: httpx.Client, parent_url: str, request_id: str, wait_s: float, poll_s: float
) -> dict[str, Any]:
    deadline = time.monotonic() + wait_s
    while True:
        try:
            response = http.get(f"{parent_url}/api/v1/federation/join-requests/{request_id}")
        except httpx.HTTPError:
            response = None
        if response is not None and response.status_code == 200:
            body = response.json()
            if body["status"] == "approved" and isinstance(body.get("answer"), dict):
                answer: dict[str, Any] = body["answer"]
                return answer
            if body["status"] == "rejected":
                raise JoinFailed(f"the parent's admin rejected the request: {body.get('reason')}")
        elif response is not None and response.status_code not in (429, 502, 503, 504):
            raise JoinFailed(f"polling the parent failed: {_error(response)}")
        if time.monotonic() >= deadline:
            raise JoinFailed(
                "not approved yet; run the same command again to keep waiting", exit_code=3
            )
        time.sleep(poll_s)


def install(settings: Settings, verified: VerifiedAnswer, request: JoinRequest) -> None:
    """Write what the verified answer makes this node: topology cache, database, TLS files,
    nats-server config and the settings file."""
    data_dir = settings.data_dir.resolve()
    node_id = settings.node_id
    keys = load_keys(settings.keys_dir)
    topology_path = data_dir / TOPOLOGY_FILE
    write_private_text(topology_path, dump_topology(verified.topology))
    # Migrated by ``run_join`` while it waited for the approval.
    engine = make_engine(settings.database_url)
    now = make_clock(settings.test_clock_file).now()
    try:
        with make_sessionmaker(engine)() as session, session.begin():
            for certificate in verified.learned:
                if session.get(MemberCertificate, certificate.node) is None:
                    session.add(
                        MemberCertificate(
                            node_id=certificate.node,
                            parent=certificate.parent,
                            serial=certificate.serial,
                            digest=certificate.digest,
                            document=certificate.to_json(),
                            learned_at=now,
                            learned_from=request.parent,
                        )
                    )
            for revocation in verified.revocations:
                if session.get(MemberRevocation, revocation.digest) is None:
                    session.add(
                        MemberRevocation(
                            digest=revocation.digest,
                            node_id=revocation.node,
                            up_to_serial=revocation.up_to_serial,
                            issuer=revocation.issuer,
                            revoked_at=revocation.time,
                            reason=revocation.reason,
                            document=revocation.to_json(),
                            learned_at=now,
                            learned_from=request.parent,
                        )
                    )
    finally:
        engine.dispose()
    tls_dir = data_dir / "tls"
    write_node_tls_key(keys.signing, tls_dir)
    write_private(tls_dir / CLIENT_CERT_FILE, verified.client_cert_pem, force=True)
    write_private(tls_dir / CA_CERT_FILE, verified.ca_pem, force=True)
    # X.509 validity is judged by nats-server at real time.
    real_now = SystemClock().now()
    link_ca = ensure_link_ca(tls_dir, node_id, now=real_now)
    me = verified.topology.get(node_id)
    server = issue_own_server_certificate(
        link_ca, node_id, keys.signing_public_b64, [me.leaf, me.nats], now=real_now
    )
    write_private(tls_dir / SERVER_CERT_FILE, cert_pem(server), force=True)
    write_config(verified.topology, node_id, data_dir)
    env = {
        "FEDSHARE_NODE_ID": node_id,
        "FEDSHARE_DATA_DIR": str(data_dir),
        "FEDSHARE_DATABASE_URL": settings.database_url,
        "FEDSHARE_TOPOLOGY_FILE": str(topology_path),
        "FEDSHARE_NATS_URL": me.nats,
    }
    write_private_text(
        data_dir / ENV_FILE, "".join(f"{key}={value}\n" for key, value in env.items())
    )


def node_env(data_dir: Path) -> dict[str, str]:
    """The settings ``install`` wrote (``DATA_DIR/node.env``)."""
    lines = (data_dir / ENV_FILE).read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)
