"""``fedshare root`` and ``fedshare node certify`` as operators use them: an offline root key that
is never overwritten, the central node certified by it, each child by its parent from public
keys only, and a topology file built from the certificates that every node verifies."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from click.testing import Result
from typer.testing import CliRunner

from node.certificates import NodeCertificate, load_root_key, public_key_b64, read_root_public
from node.cli import app
from node.clock import SystemClock
from node.crypto import generate_keys, load_keys, public_key_text, write_keys
from node.topology import load_topology


def fedshare(*args: str) -> Result:
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output, result.output
    return result


def keys_of(tmp_path: Path, node_id: str) -> Path:
    """A node's keys in its data directory, and the public half as 'fedshare keys show' prints
    it (what the node hands its parent)."""
    data_dir = tmp_path / node_id
    keys = generate_keys()
    write_keys(keys, data_dir / "keys")
    public = tmp_path / f"{node_id}.pub.toml"
    public.write_text(public_key_text(keys), encoding="utf-8")
    return public


def test_root_init_makes_a_private_key_and_refuses_to_overwrite_it(tmp_path: Path) -> None:
    root_dir = tmp_path / "root"
    made = fedshare("root", "init", "--dir", str(root_dir))
    assert made.exit_code == 0, made.output
    key_file = root_dir / "root.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    public = read_root_public(root_dir / "root.pub")
    assert public == public_key_b64(load_root_key(root_dir))
    assert public in made.output
    before = key_file.read_bytes()
    again = fedshare("root", "init", "--dir", str(root_dir))
    assert again.exit_code == 1
    assert "refusing to overwrite" in again.output
    assert key_file.read_bytes() == before


def test_a_chain_certified_by_commands_makes_a_topology_every_node_verifies(
    tmp_path: Path,
) -> None:
    root_dir = tmp_path / "root"
    assert fedshare("root", "init", "--dir", str(root_dir)).exit_code == 0
    root_pub = str(root_dir / "root.pub")
    central = keys_of(tmp_path, "central")
    certify = fedshare(
        "root", "certify", "--dir", str(root_dir), "--key-file", str(central),
        "--id", "central", "--name", "中央", "--out", str(tmp_path / "central.json"),
    )  # fmt: skip
    assert certify.exit_code == 0, certify.output
    # The parent certifies its child with the child's public keys and its own data directory.
    shaanxi = keys_of(tmp_path, "shaanxi")
    child = fedshare(
        "node", "certify", "--data-dir", str(tmp_path / "central"), "--node-id", "central",
        "--child-key-file", str(shaanxi), "--id", "shaanxi", "--name", "陕西省",
        "--out", str(tmp_path / "shaanxi.json"), "--days", "365",
    )  # fmt: skip
    assert child.exit_code == 0, child.output
    document = json.loads((tmp_path / "shaanxi.json").read_text(encoding="utf-8"))
    certificate = NodeCertificate.from_document(document)
    assert (certificate.issuer, certificate.parent, certificate.name) == (
        "central",
        "central",
        "陕西省",
    )
    assert certificate.signing_key == load_keys(tmp_path / "shaanxi" / "keys").signing_public_b64

    topology = tmp_path / "topology.toml"
    for node_id, port in (("central", 1), ("shaanxi", 2)):
        added = fedshare(
            "topology", "add", str(topology), "--certificate", str(tmp_path / f"{node_id}.json"),
            "--api", f"http://127.0.0.1:{port}", "--nats", "nats://127.0.0.1:4222",
            "--leaf", f"nats-leaf://127.0.0.1:{7420 + port}", "--root-key", root_pub,
        )  # fmt: skip
        assert added.exit_code == 0, added.output
    checked = fedshare("topology", "check", str(topology), "--root-key", root_pub)
    assert checked.exit_code == 0, checked.output
    assert "shaanxi (陕西省)" in checked.output
    loaded = load_topology(
        topology, root_key=read_root_public(root_dir / "root.pub"), now=SystemClock().now()
    )
    assert loaded.parent("shaanxi") == "central"

    # Installed with another root, a node refuses the whole file.
    other = tmp_path / "other"
    assert fedshare("root", "init", "--dir", str(other)).exit_code == 0
    refused = fedshare("topology", "check", str(topology), "--root-key", str(other / "root.pub"))
    assert refused.exit_code == 1
    assert "another root key" in refused.output

    # A certificate central signed, re-labelled to place the node under shaanxi, is refused.
    yanan = keys_of(tmp_path, "yanan")
    stray = fedshare(
        "node", "certify", "--data-dir", str(tmp_path / "central"), "--node-id", "central",
        "--child-key-file", str(yanan), "--id", "yanan", "--name", "延安市",
        "--out", str(tmp_path / "yanan.json"),
    )  # fmt: skip
    assert stray.exit_code == 0
    document = json.loads((tmp_path / "yanan.json").read_text(encoding="utf-8"))
    document["parent"] = "shaanxi"
    (tmp_path / "yanan.json").write_text(json.dumps(document), encoding="utf-8")
    misplaced = fedshare(
        "topology", "add", str(topology), "--certificate", str(tmp_path / "yanan.json"),
        "--api", "http://127.0.0.1:3", "--nats", "nats://127.0.0.1:4222",
        "--leaf", "nats-leaf://127.0.0.1:7423", "--root-key", root_pub,
    )  # fmt: skip
    assert misplaced.exit_code == 1
    assert "signed by central, not by its parent shaanxi" in misplaced.output
