"""The subjects the server configs allow are the ones the replication service uses."""

from __future__ import annotations

from node.replication import routing, service
from node.replication.permissions import child_leaf_permissions, service_permissions
from node.topology import Topology


def test_stream_and_consumer_names_agree_with_the_service() -> None:
    for node in ("central", "huanglong", "a-b"):
        assert routing.out_stream(node) == service.out_stream(node)
        assert routing.in_stream(node) == service.in_stream(node)
        assert routing.consumer_name(node) == service.consumer_name(node)


def test_the_service_reaches_its_neighbours_only_for_the_probe(demo_topology: Topology) -> None:
    perms = service_permissions(demo_topology, "yanan")
    other_domains = [s for s in perms.publish if s.startswith("$JS.") and ".API." in s]
    assert sorted(other_domains) == [
        "$JS.API.>",
        "$JS.huanglong.API.STREAM.INFO.OUT_huanglong",
        "$JS.shaanxi.API.STREAM.INFO.OUT_shaanxi",
        "$JS.yichuan.API.STREAM.INFO.OUT_yichuan",
    ]
    assert "fs.yanan.>" in perms.publish
    assert not any(s.startswith(("fs.>", "fs.*", ">")) for s in perms.publish)


def test_a_child_link_names_only_its_own_subjects() -> None:
    perms = child_leaf_permissions("yanan", "huanglong")
    for subject in perms.publish + perms.subscribe:
        assert "yichuan" not in subject
        assert not subject.startswith((">", "fs.", "$JS.ACK", "_INBOX.yanan"))
