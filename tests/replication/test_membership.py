"""Certified origins and certificates travelling the federation (DESIGN §11), through the real
inbox of in-process nodes: an envelope whose origin's chain does not hold is dead-lettered as
``uncertified_origin``; a ``member-certificate`` envelope teaches running nodes a re-issued
certificate or a new member, and what does not chain to the root changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from node.certificates import NodeCertificate
from node.clock import SystemClock
from node.crypto import NodeKeys, generate_keys
from node.members.service import announce_certificate, restore_learned
from node.replication.envelope import (
    BROADCAST,
    Envelope,
    EnvelopeRejected,
    open_envelope,
    seal_envelope,
)
from node.replication.kinds import Kind
from node.topology import NodeInfo, Topology
from node.wiring import make_context
from tests.factories import certify_child, reissue, sign_as
from tests.inprocess import MiniFederation
from tests.replication.test_sequences import create_record, take_outbox

DAY = 86400


def certificate_of(topology: Topology, node_id: str) -> NodeCertificate:
    certificate = topology.get(node_id).certificate
    assert certificate is not None
    return certificate


def announce(fed: MiniFederation, node_id: str, certificate: NodeCertificate) -> str:
    ctx = fed[node_id].ctx
    with ctx.sessions() as session, session.begin():
        return announce_certificate(session, ctx, certificate)


def carrying(
    fed: MiniFederation, origin: str, keys: NodeKeys, document: dict[str, Any], *, at: str
) -> Envelope:
    """A ``member-certificate`` envelope from ``origin`` carrying ``document`` (whatever a
    careless or hostile node might send), opened as node ``at`` knows the federation."""
    _msg_id, raw = seal_envelope(
        keys=keys,
        topology=fed[at].ctx.topology,
        origin=origin,
        kind=Kind.MEMBER_CERTIFICATE,
        dest=[BROADCAST],
        ref={"node": document.get("node")},
        payload={"certificate": document},
        encrypt=False,
        now=fed.clock.now(),
    )
    return open_envelope(raw, fed[at].ctx.topology, now=fed.clock.now())


def dead_letters(fed: MiniFederation, node_id: str) -> list[tuple[Any, ...]]:
    return fed.rows(node_id, "SELECT reason, origin, kind FROM dead_letters ORDER BY id")


def has_record(fed: MiniFederation, node_id: str, record_id: str) -> bool:
    return bool(fed.rows(node_id, "SELECT id FROM records WHERE id = :id", id=record_id))


def test_envelopes_from_an_uncertified_origin_are_dead_lettered(
    mini_federation: Callable[..., MiniFederation],
    demo_topology: Topology,
    demo_keys: dict[str, NodeKeys],
) -> None:
    # yanan's certificate runs out in a day; its parent's and its children's do not.
    now = SystemClock().now()
    short = reissue(
        demo_keys["shaanxi"],
        certificate_of(demo_topology, "yanan"),
        serial=2,
        not_before=now - timedelta(hours=1),
        not_after=now + timedelta(days=1),
    )
    topology = demo_topology.with_node(NodeInfo.certified(short))
    fed = mini_federation("shaanxi", "yanan", "huanglong", topology=topology)
    record = create_record(fed["yanan"], "延安的记录")
    [from_yanan] = take_outbox(fed, "yanan")
    below = create_record(fed["huanglong"], "黄龙的记录")
    [from_huanglong] = take_outbox(fed, "huanglong")

    fed.clock.advance(2 * DAY)  # the test clock moves past yanan's validity; nobody sleeps
    assert fed.deliver("shaanxi", from_yanan) == "rejected:uncertified_origin"
    # A chain holds only as far as its weakest certificate: huanglong's runs through yanan's.
    assert fed.deliver("yanan", from_huanglong) == "rejected:uncertified_origin"
    assert dead_letters(fed, "shaanxi") == [("uncertified_origin", "yanan", "record")]
    assert dead_letters(fed, "yanan") == [("uncertified_origin", "huanglong", "record")]
    assert not has_record(fed, "shaanxi", record["id"])
    assert not has_record(fed, "yanan", below["id"])

    # The parent re-certifies yanan: the new certificate reaches yanan and below, and yanan's
    # records flow again, with no file edited and no node restarted.
    renewed = reissue(
        demo_keys["shaanxi"],
        short,
        serial=3,
        not_before=fed.clock.now() - timedelta(hours=1),
        not_after=fed.clock.now() + timedelta(days=365),
    )
    assert announce(fed, "shaanxi", renewed) == "replaced"
    fed.pump()
    for node in ("yanan", "huanglong"):
        assert certificate_of(fed[node].ctx.topology, "yanan").serial == 3
    again = create_record(fed["yanan"], "续期后的记录")
    fed.pump()
    assert has_record(fed, "shaanxi", again["id"])


def test_a_certificate_envelope_teaches_running_nodes_a_reissued_certificate(
    mini_federation: Callable[..., MiniFederation],
    demo_topology: Topology,
    demo_keys: dict[str, NodeKeys],
) -> None:
    fed = mini_federation("shaanxi", "yanan", "huanglong")
    original = certificate_of(demo_topology, "yanan")
    later = reissue(
        demo_keys["shaanxi"],
        original,
        serial=2,
        not_after=original.not_after + timedelta(days=365),
        name="延安市（新）",
    )
    assert announce(fed, "shaanxi", later) == "replaced"
    fed.pump()
    for node in ("shaanxi", "yanan", "huanglong"):
        learned = certificate_of(fed[node].ctx.topology, "yanan")
        assert (learned.serial, learned.name) == (2, "延安市（新）")
        assert fed[node].ctx.topology.get("yanan").name == "延安市（新）"
    assert fed.rows(
        "huanglong", "SELECT node_id, serial, learned_from FROM member_certificates"
    ) == [("yanan", 2, "shaanxi")]

    # An old certificate replayed changes nothing; the same serial with other content is a
    # conflict; a certificate its issuer's key did not sign, or signed by a non-parent, is refused.
    stale = carrying(fed, "shaanxi", demo_keys["shaanxi"], original.document(), at="yanan")
    assert fed.deliver("yanan", stale) == "applied"
    assert certificate_of(fed["yanan"].ctx.topology, "yanan").serial == 2
    twin = reissue(demo_keys["shaanxi"], original, serial=2, name="延安")
    conflict = carrying(fed, "shaanxi", demo_keys["shaanxi"], twin.document(), at="yanan")
    assert fed.deliver("yanan", conflict) == "rejected:certificate_conflict"
    yichuan = certificate_of(demo_topology, "yichuan")
    posing = sign_as(yichuan, demo_keys["huanglong"].signing, serial=5)
    forged = carrying(fed, "huanglong", demo_keys["huanglong"], posing.document(), at="yanan")
    assert fed.deliver("yanan", forged) == "rejected:certificate_forged"
    sibling = sign_as(yichuan, demo_keys["huanglong"].signing, serial=5, issuer="huanglong")
    named = carrying(fed, "huanglong", demo_keys["huanglong"], sibling.document(), at="yanan")
    assert fed.deliver("yanan", named) == "rejected:certificate_not_parent"
    junk = carrying(fed, "huanglong", demo_keys["huanglong"], {"node": "yichuan"}, at="yanan")
    assert fed.deliver("yanan", junk) == "rejected:malformed"
    assert certificate_of(fed["yanan"].ctx.topology, "yichuan") == yichuan

    # A restarted node starts from the newest certificate it learned, not the file's.
    yanan = fed["yanan"].ctx
    restarted = make_context(yanan.settings, demo_topology, demo_keys["yanan"], clock=fed.clock)
    try:
        assert certificate_of(restarted.topology, "yanan").serial == 1
        assert restore_learned(restarted) == 1
        assert certificate_of(restarted.topology, "yanan").serial == 2
    finally:
        restarted.engine.dispose()


def test_a_new_member_is_learned_while_running_and_trusted_by_its_chain(
    mini_federation: Callable[..., MiniFederation], demo_keys: dict[str, NodeKeys]
) -> None:
    fed = mini_federation("shaanxi", "yanan", "huanglong")
    county = generate_keys()
    certificate = certify_child(
        "yanan", demo_keys["yanan"], "luochuan", county, now=fed.clock.now()
    )

    def from_luochuan(at: str) -> Envelope:
        return carrying(fed, "luochuan", county, certificate.document(), at=at)

    with pytest.raises(EnvelopeRejected, match="unknown_origin"):
        from_luochuan("shaanxi")
    assert announce(fed, "yanan", certificate) == "added"
    fed.pump()
    for node in ("shaanxi", "yanan", "huanglong"):
        topology = fed[node].ctx.topology
        assert topology.parent("luochuan") == "yanan"
        assert "luochuan" in topology.children("yanan")
    # Its envelopes now verify, with the key its certificate names, through the real inbox.
    assert fed.deliver("shaanxi", from_luochuan("shaanxi")) == "applied"
    # A certificate for a node whose parent nobody certified cannot be learned.
    orphan = certify_child("luochuan", county, "xiaocun", generate_keys(), now=fed.clock.now())
    stray = sign_as(orphan, county.signing, parent="nowhere", issuer="nowhere")
    refused = carrying(fed, "yanan", demo_keys["yanan"], stray.document(), at="shaanxi")
    assert fed.deliver("shaanxi", refused) == "rejected:certificate_unknown_issuer"
    assert "nowhere" not in fed["shaanxi"].ctx.topology
