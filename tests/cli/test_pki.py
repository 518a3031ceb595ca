"""``fedshare pki`` and ``fedshare topology nats-config`` as an operator uses them: a CA, every
node's certificates from the public keys in the topology, and configs nats-server accepts."""

from __future__ import annotations

import stat
import subprocess
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import Result
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from typer.testing import CliRunner

from node.certificates import write_root_public
from node.cli import app
from node.crypto import NodeKeys, write_keys
from node.pki import PkiError, init_ca, load_ca
from node.replication.natsconf import nats_server_binary
from node.topology import Topology, dump_topology

LEAF_ADDRESSES = {
    "central": "nats-leaf://central.fedshare.example:7422",
    "shaanxi": "nats-leaf://10.1.2.3:7422",
}


def fedshare(*args: str) -> Result:
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output, result.output
    return result


@pytest.fixture
def topology_file(tmp_path: Path, demo_topology: Topology) -> Path:
    """The demo tree with real-looking addresses: a DNS name for central's leaf listener, an IP
    for shaanxi's, loopback for the rest."""
    nodes = [
        replace(
            info,
            api="http://127.0.0.1:8000",
            nats="nats://127.0.0.1:4222",
            leaf=LEAF_ADDRESSES.get(info.id, "nats-leaf://127.0.0.1:7422"),
        )
        for info in demo_topology.nodes.values()
    ]
    path = tmp_path / "topology.toml"
    path.write_text(
        dump_topology(Topology(nodes, root_key=demo_topology.root_key)), encoding="utf-8"
    )
    return path


@pytest.fixture
def root_key(tmp_path: Path, demo_topology: Topology) -> str:
    """The root public key the demo tree chains to, installed as an operator would."""
    assert demo_topology.root_key is not None
    write_root_public(tmp_path / "root.pub", demo_topology.root_key)
    return str(tmp_path / "root.pub")


def test_init_ca_keeps_its_key_private_and_refuses_to_overwrite(tmp_path: Path) -> None:
    result = fedshare("pki", "init-ca", "--dir", str(tmp_path / "ca"))
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE((tmp_path / "ca" / "ca.key").stat().st_mode) == 0o600
    ca = load_ca(tmp_path / "ca")
    assert ca.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    again = fedshare("pki", "init-ca", "--dir", str(tmp_path / "ca"))
    assert again.exit_code == 1
    assert "refusing to overwrite" in again.output
    with pytest.raises(PkiError):
        init_ca(tmp_path / "ca", now=datetime.now(UTC))


def test_issue_certifies_the_topology_key_with_the_right_names(
    tmp_path: Path, topology_file: Path, demo_keys: dict[str, NodeKeys], root_key: str
) -> None:
    assert fedshare("pki", "init-ca", "--dir", str(tmp_path / "ca")).exit_code == 0
    ca = load_ca(tmp_path / "ca")
    for node_id, host in (("central", "central.fedshare.example"), ("shaanxi", "10.1.2.3")):
        out = tmp_path / node_id
        result = fedshare(
            "pki", "issue", node_id, "--ca-dir", str(tmp_path / "ca"),
            "--topology", str(topology_file), "--out", str(out), "--root-key", root_key,
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        server = x509.load_pem_x509_certificate((out / "server.crt").read_bytes())
        client = x509.load_pem_x509_certificate((out / "client.crt").read_bytes())
        for cert in (server, client):
            cert.verify_directly_issued_by(ca.cert)
            assert cert.public_key() == demo_keys[node_id].signing.public_key()
        sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(v) for v in sans.get_values_for_type(x509.DNSName)]
        names += [str(v) for v in sans.get_values_for_type(x509.IPAddress)]
        assert host in names
        assert "127.0.0.1" in names  # its client port
        eku = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
        eku = client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
        assert client.subject.rfc4514_string() == f"CN={node_id},O=fedshare"
        assert (out / "ca.crt").read_bytes() == ca.cert_pem
    unknown = fedshare(
        "pki", "issue", "beijing", "--ca-dir", str(tmp_path / "ca"),
        "--topology", str(topology_file), "--out", str(tmp_path / "x"), "--root-key", root_key,
    )  # fmt: skip
    assert unknown.exit_code == 1


def test_nats_config_is_accepted_by_nats_server_and_authenticates_everything(
    tmp_path: Path, topology_file: Path, demo_keys: dict[str, NodeKeys], root_key: str
) -> None:
    assert fedshare("pki", "init-ca", "--dir", str(tmp_path / "ca")).exit_code == 0
    for node_id in ("central", "yanan", "huanglong"):
        data_dir = tmp_path / "nodes" / node_id
        render = ("topology", "nats-config", str(topology_file), "--node-id", node_id)
        render += ("--data-dir", str(data_dir), "--root-key", root_key)
        missing = fedshare(*render)
        assert missing.exit_code == 1
        assert "fedshare pki issue" in missing.output
        write_keys(demo_keys[node_id], data_dir / "keys")
        issue = ("pki", "issue", node_id, "--ca-dir", str(tmp_path / "ca"))
        issue += ("--topology", str(topology_file), "--out", str(data_dir / "tls"))
        issue += ("--root-key", root_key)
        assert fedshare(*issue).exit_code == 0
        result = fedshare(*render)
        assert result.exit_code == 0, result.output
        config = result.output
        for secret in (data_dir / "nats" / "service.nk", data_dir / "tls" / "node.key"):
            assert stat.S_IMODE(secret.stat().st_mode) == 0o600
        assert "no_auth_user" not in config
        assert "allowed_connection_types" in config
        if node_id != "huanglong":  # a node with children listens for them, TLS only
            assert "verify_and_map: true" in config
            assert 'min_version: "1.3"' in config
        if node_id != "central":  # a node with a parent links to it with its certificate
            assert "client.crt" in config
            assert "deny_imports" in config
        path = data_dir / "nats.conf"
        path.write_text(config)
        checked = subprocess.run(
            [nats_server_binary(), "-t", "-c", str(path)], capture_output=True, text=True
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
