"""The topology file is validated on load: each defect gets a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.crypto import generate_keys
from node.topology import Topology, TopologyError, dump_topology, load_topology, parse_topology


def entry(node_id: str, parent: str = "", **overrides: object) -> dict[str, object]:
    keys = generate_keys()
    base: dict[str, object] = {
        "id": node_id,
        "name": node_id,
        "parent": parent,
        "api": "http://127.0.0.1:1",
        "nats": "nats://127.0.0.1:2",
        "leaf": "nats-leaf://127.0.0.1:3",
        "signing_key": keys.signing_public_b64,
        "encryption_key": keys.encryption_public_b64,
    }
    base.update(overrides)
    return base


def test_valid_tree_round_trips_through_toml(tmp_path: Path) -> None:
    topology = parse_topology(
        {
            "nodes": [
                entry("central"),
                entry("shaanxi", "central", name="陕西省"),
                entry("huanglong", "shaanxi"),
            ]
        }
    )
    path = tmp_path / "topology.toml"
    path.write_text(dump_topology(topology), encoding="utf-8")
    loaded = load_topology(path)
    assert loaded.get("shaanxi").name == "陕西省"
    assert loaded.ancestors("huanglong") == ["shaanxi", "central"]
    assert loaded.subtree("shaanxi") == {"shaanxi", "huanglong"}
    assert loaded.child_towards("central", "huanglong") == "shaanxi"
    assert loaded.child_towards("huanglong", "central") is None


@pytest.mark.parametrize(
    ("nodes", "message"),
    [
        ([entry("central"), entry("shaanxi", "nowhere")], "unknown parent"),
        ([entry("central"), entry("central")], "duplicate node id"),
        ([entry("a", "b"), entry("b", "a"), entry("root")], "cycle"),
        ([entry("central"), entry("shaanxi")], "exactly one root"),
        ([entry("central", signing_key="")], "missing signing_key"),
        ([entry("central", encryption_key="bm90IGEga2V5")], "32-byte key"),
        ([entry("Central")], "bad node id"),
        ([entry("central", leaf="")], "missing leaf address"),
    ],
)
def test_invalid_topologies_are_refused(nodes: list[dict[str, object]], message: str) -> None:
    with pytest.raises(TopologyError, match=message):
        parse_topology({"nodes": nodes})


def test_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[nodes]\nid = ", encoding="utf-8")
    with pytest.raises(TopologyError, match="not valid TOML"):
        load_topology(bad)
    with pytest.raises(TopologyError, match="not found"):
        load_topology(tmp_path / "missing.toml")


def test_empty_topology_is_refused() -> None:
    with pytest.raises(TopologyError):
        Topology([])
