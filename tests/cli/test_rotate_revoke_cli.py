"""``fedshare keys rotate``, ``fedshare node certify --announcement`` and ``fedshare node revoke``
as operators use them: next keys made beside the current ones (0600) and announced with the
current key; the parent certifies them only if the child's certified key signed the
announcement; an ancestor's revocation file that a running node accepts."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from node.certificates import NodeCertificate, Revocation, verify_revocation
from node.crypto import load_keys
from tests.cli.test_root_cli import fedshare, keys_of


def certified_pair(tmp_path: Path) -> tuple[Path, str]:
    """central (certified by a root) and its child shaanxi, in a topology file."""
    root_dir = tmp_path / "root"
    assert fedshare("root", "init", "--dir", str(root_dir)).exit_code == 0
    root_pub = str(root_dir / "root.pub")
    central = keys_of(tmp_path, "central")
    assert fedshare(
        "root", "certify", "--dir", str(root_dir), "--key-file", str(central),
        "--id", "central", "--name", "中央", "--out", str(tmp_path / "central.json"),
    ).exit_code == 0  # fmt: skip
    shaanxi = keys_of(tmp_path, "shaanxi")
    assert fedshare(
        "node", "certify", "--data-dir", str(tmp_path / "central"), "--node-id", "central",
        "--child-key-file", str(shaanxi), "--id", "shaanxi", "--name", "陕西省",
        "--out", str(tmp_path / "shaanxi.json"),
    ).exit_code == 0  # fmt: skip
    topology = tmp_path / "topology.toml"
    for node_id, port in (("central", 1), ("shaanxi", 2)):
        assert fedshare(
            "topology", "add", str(topology), "--certificate", str(tmp_path / f"{node_id}.json"),
            "--api", f"http://127.0.0.1:{port}", "--nats", "nats://127.0.0.1:4222",
            "--leaf", f"nats-leaf://127.0.0.1:{7420 + port}", "--root-key", root_pub,
        ).exit_code == 0  # fmt: skip
    return topology, root_pub


def test_rotate_then_the_parent_certifies_the_announced_keys(tmp_path: Path) -> None:
    topology, root_pub = certified_pair(tmp_path)
    shaanxi_dir = tmp_path / "shaanxi"
    before = load_keys(shaanxi_dir / "keys")
    announced = fedshare(
        "keys", "rotate", "--data-dir", str(shaanxi_dir), "--node-id", "shaanxi",
        "--out", str(tmp_path / "next.json"),
    )  # fmt: skip
    assert announced.exit_code == 0, announced.output
    next_dir = shaanxi_dir / "keys" / "next"
    for name in ("signing.key", "encryption.key"):
        assert stat.S_IMODE((next_dir / name).stat().st_mode) == 0o600
    # The current keys are untouched; a second rotation before the first completes is refused.
    assert load_keys(shaanxi_dir / "keys").signing_public_b64 == before.signing_public_b64
    again = fedshare(
        "keys", "rotate", "--data-dir", str(shaanxi_dir), "--node-id", "shaanxi",
        "--out", str(tmp_path / "again.json"),
    )  # fmt: skip
    assert again.exit_code == 1
    assert "already pending" in again.output

    # The parent verifies against its topology file, under the root key it was installed with.
    (tmp_path / "central" / "root.pub").write_text(Path(root_pub).read_text(), encoding="ascii")
    certified = fedshare(
        "node", "certify", "--data-dir", str(tmp_path / "central"), "--node-id", "central",
        "--topology", str(topology), "--announcement", str(tmp_path / "next.json"),
        "--id", "shaanxi", "--name", "陕西省", "--serial", "2",
        "--out", str(tmp_path / "shaanxi-2.json"),
    )  # fmt: skip
    assert certified.exit_code == 0, certified.output
    certificate = NodeCertificate.from_document(
        json.loads((tmp_path / "shaanxi-2.json").read_text(encoding="utf-8"))
    )
    assert certificate.serial == 2
    assert certificate.signing_key == load_keys(next_dir).signing_public_b64

    # An announcement the child's current key did not sign is refused.
    document = json.loads((tmp_path / "next.json").read_text(encoding="utf-8"))
    document["signing_key"] = load_keys(tmp_path / "central" / "keys").signing_public_b64
    (tmp_path / "forged.json").write_text(json.dumps(document), encoding="utf-8")
    forged = fedshare(
        "node", "certify", "--data-dir", str(tmp_path / "central"), "--node-id", "central",
        "--topology", str(topology), "--announcement", str(tmp_path / "forged.json"),
        "--id", "shaanxi", "--name", "陕西省", "--serial", "2",
        "--out", str(tmp_path / "shaanxi-forged.json"),
    )  # fmt: skip
    assert forged.exit_code == 1
    assert "not signed by its current key" in forged.output
    assert not (tmp_path / "shaanxi-forged.json").exists()


def test_node_revoke_signs_a_revocation_with_the_ancestors_key(tmp_path: Path) -> None:
    certified_pair(tmp_path)
    made = fedshare(
        "node", "revoke", "shaanxi", "--data-dir", str(tmp_path / "central"),
        "--node-id", "central", "--serial", "1", "--reason", "密钥泄露",
        "--out", str(tmp_path / "revocation.json"),
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    revocation = Revocation.from_document(
        json.loads((tmp_path / "revocation.json").read_text(encoding="utf-8"))
    )
    assert (revocation.node, revocation.issuer, revocation.serials) == ("shaanxi", "central", (1,))
    verify_revocation(revocation, load_keys(tmp_path / "central" / "keys").signing_public_b64)
