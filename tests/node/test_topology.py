"""The topology file is a cache of verified certificates: loading checks the tree and every
certificate's chain to the installed root key; each defect gets a clear error."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.certificates import (
    NodeCertificate,
    issue_certificate,
    public_key_b64,
    write_root_public,
)
from node.clock import ControlledClock
from node.crypto import NodeKeys, generate_keys, write_keys
from node.federation import certify_tree
from node.settings import Settings
from node.topology import (
    Topology,
    TopologyError,
    UncertifiedNode,
    dump_topology,
    load_topology,
    parse_topology,
)
from node.wiring import build_context
from tests.factories import sign_as

TREE = [
    ("central", "中央", None),
    ("shaanxi", "陕西省", "central"),
    ("yanan", "延安市", "shaanxi"),
    ("huanglong", "黄龙县", "yanan"),
    ("yichuan", "宜川县", "yanan"),
]
NOW = ControlledClock().now()


@pytest.fixture(scope="module")
def keys() -> dict[str, NodeKeys]:
    return {node_id: generate_keys() for node_id, _name, _parent in TREE}


@pytest.fixture(scope="module")
def root() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def entry(cert: NodeCertificate, **overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": cert.node,
        "name": cert.name,
        "parent": cert.parent or "",
        "api": "http://127.0.0.1:1",
        "nats": "nats://127.0.0.1:2",
        "leaf": "nats-leaf://127.0.0.1:3",
        "certificate": cert.to_json(),
    }
    base.update(overrides)
    return base


def certified(keys: dict[str, NodeKeys], root: Ed25519PrivateKey) -> dict[str, NodeCertificate]:
    return certify_tree(root, keys, TREE, now=NOW)


def parse(entries: list[dict[str, object]], root: Ed25519PrivateKey, **kw: Any) -> Topology:
    return parse_topology(
        {"nodes": entries},
        root_key=kw.pop("root_key", public_key_b64(root)),
        now=kw.pop("now", NOW),
    )


def test_valid_tree_round_trips_through_toml(
    tmp_path: Path, keys: dict[str, NodeKeys], root: Ed25519PrivateKey
) -> None:
    certificates = certified(keys, root)
    topology = parse([entry(c) for c in certificates.values()], root)
    path = tmp_path / "topology.toml"
    path.write_text(dump_topology(topology), encoding="utf-8")
    loaded = load_topology(path, root_key=public_key_b64(root), now=NOW)
    assert loaded.get("shaanxi").name == "陕西省"
    assert loaded.get("yanan").certificate == certificates["yanan"]
    assert loaded.get("huanglong").signing_key == keys["huanglong"].signing_public_b64
    assert loaded.ancestors("huanglong") == ["yanan", "shaanxi", "central"]
    assert loaded.subtree("yanan") == {"yanan", "huanglong", "yichuan"}
    assert loaded.child_towards("central", "huanglong") == "shaanxi"
    assert loaded.child_towards("huanglong", "central") is None
    assert loaded.certified_signing_key("huanglong", NOW) == keys["huanglong"].signing_public_b64


def test_invalid_trees_are_refused(keys: dict[str, NodeKeys], root: Ed25519PrivateKey) -> None:
    c = certified(keys, root)
    cases: list[tuple[list[dict[str, object]], str]] = [
        ([entry(c["central"]), entry(c["central"])], "duplicate node id"),
        ([entry(c["central"]), entry(c["yanan"])], "unknown parent"),
        ([entry(c["central"], id="Central")], "bad node id"),
        ([entry(c["central"], leaf="")], "missing leaf address"),
        ([], "no nodes"),
    ]
    for entries, message in cases:
        with pytest.raises(TopologyError, match=message):
            parse(entries, root)


def test_every_node_needs_a_certificate_naming_what_its_entry_says(
    keys: dict[str, NodeKeys], root: Ed25519PrivateKey
) -> None:
    c = certified(keys, root)
    head = [entry(c["central"])]
    for bad, message in (
        (entry(c["shaanxi"], certificate=""), "no certificate"),
        (entry(c["shaanxi"], certificate="{not json"), "unreadable certificate"),
        (entry(c["shaanxi"], certificate=c["yanan"].to_json()), "is 'yanan'"),
        (entry(c["shaanxi"], name="山西省"), "name differs"),
        (entry(c["shaanxi"], signing_key=keys["yanan"].signing_public_b64), "signing_key differs"),
    ):
        with pytest.raises(TopologyError, match=message):
            parse([*head, bad], root)


def test_a_forged_certificate_is_refused(
    keys: dict[str, NodeKeys], root: Ed25519PrivateKey
) -> None:
    c = certified(keys, root)
    # Another key put in after signing: the parent's signature no longer holds.
    forged = replace(c["yanan"], signing_key=keys["yichuan"].signing_public_b64)
    entries = [entry(c["central"]), entry(c["shaanxi"]), entry(forged)]
    with pytest.raises(TopologyError, match="'yanan': certificate of yanan: signature does not"):
        parse(entries, root)
    # Signed by a key of its own (self-certified), naming its parent as issuer.
    selfmade = sign_as(c["yanan"], keys["yanan"].signing)
    with pytest.raises(TopologyError, match="signature does not verify"):
        parse([entry(c["central"]), entry(c["shaanxi"]), entry(selfmade)], root)


def test_a_certificate_signed_by_a_sibling_is_refused(
    keys: dict[str, NodeKeys], root: Ed25519PrivateKey
) -> None:
    c = certified(keys, root)
    base = [entry(c[n]) for n in ("central", "shaanxi", "yanan", "huanglong")]
    # huanglong certifies its sibling yichuan, saying so...
    named = sign_as(c["yichuan"], keys["huanglong"].signing, issuer="huanglong")
    with pytest.raises(TopologyError, match="signed by huanglong, not by its parent yanan"):
        parse([*base, entry(named)], root)
    # ... or claiming to be the parent: the parent's key does not verify it.
    posing = sign_as(c["yichuan"], keys["huanglong"].signing)
    with pytest.raises(TopologyError, match="'yichuan'.*signature does not verify"):
        parse([*base, entry(posing)], root)


def test_expired_and_not_yet_valid_certificates_are_refused(
    keys: dict[str, NodeKeys], root: Ed25519PrivateKey
) -> None:
    c = certified(keys, root)
    short = issue_certificate(
        issuer_key=keys["shaanxi"].signing,
        issuer="shaanxi",
        node="yanan",
        name="延安市",
        parent="shaanxi",
        signing_key=keys["yanan"].signing_public_b64,
        encryption_key=keys["yanan"].encryption_public_b64,
        serial=2,
        not_before=NOW - timedelta(hours=1),
        not_after=NOW + timedelta(days=30),
    )
    entries = [entry(c["central"]), entry(c["shaanxi"]), entry(short), entry(c["huanglong"])]
    clock = ControlledClock(offset_s=(NOW - ControlledClock().now()).total_seconds())
    topology = parse(entries, root, now=clock.now())
    assert topology.certified_signing_key("huanglong", clock.now())
    clock.advance(31 * 86400)  # the test clock moves; nobody sleeps
    with pytest.raises(TopologyError, match="'yanan': certificate expired"):
        parse(entries, root, now=clock.now())
    # A topology loaded earlier no longer vouches for yanan, nor for anyone below it.
    for node in ("yanan", "huanglong"):
        with pytest.raises(UncertifiedNode, match="certificate of yanan is expired"):
            topology.certified_signing_key(node, clock.now())
    assert topology.certified_signing_key("shaanxi", clock.now())
    with pytest.raises(TopologyError, match="certificate not yet valid"):
        parse(entries, root, now=NOW - timedelta(hours=2))


def test_a_tree_certified_by_another_root_is_refused(
    keys: dict[str, NodeKeys], root: Ed25519PrivateKey
) -> None:
    other = Ed25519PrivateKey.generate()
    entries = [entry(c) for c in certified(keys, other).values()]
    with pytest.raises(TopologyError, match="'central'.*signature does not verify.*root key"):
        parse(entries, root)
    with pytest.raises(TopologyError, match="another root key"):
        parse_topology(
            {"root_key": public_key_b64(other), "nodes": entries},
            root_key=public_key_b64(root),
            now=NOW,
        )


def test_unreadable_file_is_a_clear_error(tmp_path: Path, root: Ed25519PrivateKey) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[nodes]\nid = ", encoding="utf-8")
    with pytest.raises(TopologyError, match="not valid TOML"):
        load_topology(bad, root_key=public_key_b64(root), now=NOW)
    with pytest.raises(TopologyError, match="not found"):
        load_topology(tmp_path / "missing.toml", root_key=public_key_b64(root), now=NOW)


def test_an_uncertified_topology_vouches_for_nobody(
    keys: dict[str, NodeKeys], root: Ed25519PrivateKey
) -> None:
    topology = parse([entry(c) for c in certified(keys, root).values()], root)
    bare = Topology(topology.nodes.values())
    with pytest.raises(UncertifiedNode):
        bare.certified_signing_key("central", NOW)
    with pytest.raises(TopologyError, match="only a certified topology"):
        dump_topology(bare)


def test_empty_topology_is_refused() -> None:
    with pytest.raises(TopologyError):
        Topology([])


def test_a_node_starts_only_on_a_topology_chaining_to_its_installed_root(
    tmp_path: Path, keys: dict[str, NodeKeys], root: Ed25519PrivateKey
) -> None:
    topology = parse([entry(c) for c in certified(keys, root).values()], root)
    path = tmp_path / "topology.toml"
    path.write_text(dump_topology(topology), encoding="utf-8")
    data_dir = tmp_path / "yanan"
    write_keys(keys["yanan"], data_dir / "keys")
    settings = Settings(node_id="yanan", data_dir=data_dir, topology_file=path)
    with pytest.raises(FileNotFoundError, match="root.pub"):
        build_context(settings)
    write_root_public(data_dir / "root.pub", public_key_b64(Ed25519PrivateKey.generate()))
    with pytest.raises(TopologyError, match="another root key"):
        build_context(settings)
    write_root_public(data_dir / "root.pub", public_key_b64(root))
    ctx = build_context(settings)
    try:
        assert ctx.topology.certified_signing_key("huanglong", ctx.clock.now())
        assert ctx.membership.root_key == public_key_b64(root)
    finally:
        ctx.engine.dispose()
    # Keys other than those its certificate names: the node does not start as yanan.
    write_keys(keys["yichuan"], data_dir / "keys", force=True)
    with pytest.raises(TopologyError, match="not the one its certificate names"):
        build_context(settings)
