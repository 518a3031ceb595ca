"""Revocation (issue 12 item 3), through the real inbox of in-process nodes: an ancestor's
signed ``member-revocation`` makes every node refuse the revoked node's envelopes and its
subtree's (``revoked_origin``), nothing is sealed or routed to them afterwards, the members list
shows them ``revoked``, a restart keeps it, and a revocation not signed by an ancestor changes
nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from node.certificates import issue_certificate, issue_revocation
from node.crypto import NodeKeys, generate_keys
from node.members.service import restore_revocations
from node.pki import node_subject_dn
from node.replication.envelope import BROADCAST, open_envelope, seal_envelope
from node.replication.kinds import Kind
from node.replication.natsconf import NatsSecurity, render_config
from node.replication.permissions import child_account
from node.topology import Topology
from node.wiring import make_context
from tests.inprocess import MiniFederation
from tests.replication.test_sequences import create_record

TREE = ("central", "shaanxi", "yanan", "huanglong", "yichuan")


def has_record(fed: MiniFederation, node_id: str, record_id: str) -> bool:
    return bool(fed.rows(node_id, "SELECT id FROM records WHERE id = :id", id=record_id))


def record_from(fed: MiniFederation, origin: str, to: str, title: str) -> str:
    """A record envelope signed by ``origin``'s real key, applied at ``to``; the outcome."""
    return fed.send_as(
        origin,
        to,
        kind=Kind.RECORD,
        dest=[BROADCAST],
        ref={"origin": origin, "record": "x"},
        payload={"title": title},
        encrypt=False,
    )


def revoke(fed: MiniFederation, at: str, node_id: str, **body: Any) -> Any:
    return fed[at].client.post(
        f"/api/v1/federation/members/{node_id}/revocation",
        json={"reason": "密钥泄露", **body},
        headers=fed[at].auth("admin"),
    )


def test_revoked_node_and_its_subtree_are_refused_everywhere_and_sealed_nothing(
    mini_federation: Callable[..., MiniFederation],
) -> None:
    fed = mini_federation(*TREE)
    before = create_record(fed["central"], "撤销前的通报")
    fed.pump()
    assert has_record(fed, "yanan", before["id"])

    response = revoke(fed, "shaanxi", "yanan")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "node": "yanan",
        "up_to_serial": 1,
        "issuer": "shaanxi",
        "outcome": "added",
    }
    fed.pump()
    for node_id in ("central", "shaanxi"):
        assert fed[node_id].ctx.topology.is_revoked("yanan")
        assert fed[node_id].ctx.topology.is_revoked("huanglong")
        assert fed.rows(node_id, "SELECT node_id, issuer FROM member_revocations") == [
            ("yanan", "shaanxi")
        ]
        # The revoked node's envelopes, and those of a node it certified, at every node.
        assert record_from(fed, "yanan", node_id, "伪造") == "rejected:revoked_origin"
        assert record_from(fed, "huanglong", node_id, "伪造") == "rejected:revoked_origin"
        assert record_from(fed, "yichuan", node_id, "伪造") == "rejected:revoked_origin"
    reasons = fed.rows("central", "SELECT DISTINCT reason FROM dead_letters")
    assert reasons == [("revoked_origin",)]

    # Nothing sealed or routed to the revoked subtree from now on.
    restricted = create_record(
        fed["central"], "受限", classification="restricted", parties=["shaanxi", "yanan"]
    )
    general = create_record(fed["central"], "撤销后的通报")
    [sealed] = [
        e
        for e in fed.outbox("central", kind=Kind.RECORD)
        if e.ref.get("record") == restricted["id"]
    ]
    assert sealed.dest == ["shaanxi"]
    assert set(sealed.document["enc"]["keys"]) == {"shaanxi"}
    # A general record the parent broadcasts goes up only, never down to the revoked child (the
    # in-process pump delivers to every addressee itself: the routing shows in the subjects).
    from_parent = create_record(fed["shaanxi"], "省级通报")
    subjects = fed.rows(
        "shaanxi",
        "SELECT DISTINCT subject FROM outbox WHERE object_id = :id",
        id=from_parent["id"],
    )
    assert subjects == [("fs.shaanxi.up",)]
    fed.pump()
    assert has_record(fed, "shaanxi", restricted["id"])
    assert has_record(fed, "shaanxi", general["id"])
    assert has_record(fed, "central", from_parent["id"])
    assert not has_record(fed, "yanan", restricted["id"])

    members = fed["shaanxi"].client.get(
        "/api/v1/federation/members", headers=fed["shaanxi"].auth("admin")
    )
    statuses = {m["id"]: m["status"] for m in members.json()["items"]}
    assert statuses == {
        "shaanxi": "valid",
        "yanan": "revoked",
        "huanglong": "revoked",
        "yichuan": "revoked",
    }
    revoked_only = fed["shaanxi"].client.get(
        "/api/v1/federation/members?status=revoked", headers=fed["shaanxi"].auth("admin")
    )
    assert [m["id"] for m in revoked_only.json()["items"]] == ["yanan", "huanglong", "yichuan"]
    audit = fed.rows("shaanxi", "SELECT reason FROM audit_log WHERE action = 'revoke-member'")
    assert len(audit) == 1
    assert "added" in audit[0][0]

    # A restart keeps refusing it: the stored revocation is learned again.
    ctx = fed["central"].ctx
    restarted = make_context(ctx.settings, fed.topology, ctx.keys, clock=fed.clock)
    try:
        assert not restarted.topology.is_revoked("yanan")
        assert restore_revocations(restarted) == 1
        assert restarted.topology.is_revoked("huanglong")
    finally:
        restarted.engine.dispose()


def test_revocation_not_from_an_ancestor_is_refused(
    mini_federation: Callable[..., MiniFederation], demo_keys: dict[str, NodeKeys]
) -> None:
    fed = mini_federation("shaanxi", "yanan", "huanglong", "yichuan")
    # An admin cannot revoke a node that is not below theirs.
    response = revoke(fed, "huanglong", "yichuan")
    assert response.status_code == 422
    assert response.json()["error"] == "revocation_not_ancestor"

    # A sibling's revocation, handed in or travelling as an envelope, changes nothing.
    by_sibling = issue_revocation(
        issuer_key=demo_keys["yichuan"].signing,
        issuer="yichuan",
        node="huanglong",
        serials=[1],
        time=fed.clock.now(),
        reason="伪造",
    )
    response = fed["yanan"].client.post(
        "/api/v1/federation/revocations",
        json={"revocation": by_sibling.document()},
        headers=fed["yanan"].auth("admin"),
    )
    assert response.status_code == 422
    assert response.json()["error"] == "revocation_not_ancestor"
    # Claiming the parent as issuer, signed with another key: forged.
    forged = issue_revocation(
        issuer_key=demo_keys["yichuan"].signing,
        issuer="yanan",
        node="huanglong",
        serials=[1],
        time=fed.clock.now(),
        reason="伪造",
    )
    for document, reason in (
        (by_sibling.document(), "revocation_not_ancestor"),
        (forged.document(), "revocation_forged"),
    ):
        _msg, raw = seal_envelope(
            keys=demo_keys["yichuan"],
            topology=fed.topology,
            origin="yichuan",
            kind=Kind.MEMBER_REVOCATION,
            dest=[BROADCAST],
            ref={"node": "huanglong"},
            payload={"revocation": document},
            encrypt=False,
            now=fed.clock.now(),
        )
        envelope = open_envelope(raw, fed.topology, now=fed.clock.now())
        for node_id in ("shaanxi", "yanan"):
            assert fed.deliver(node_id, envelope) == f"rejected:{reason}"
    for node_id in fed.nodes:
        assert not fed[node_id].ctx.topology.is_revoked("huanglong")
        assert fed.rows(node_id, "SELECT count(*) FROM member_revocations") == [(0,)]

    # The parent's own revocation, handed in as ``fedshare node revoke`` wrote it, is learned.
    by_parent = issue_revocation(
        issuer_key=demo_keys["yanan"].signing,
        issuer="yanan",
        node="huanglong",
        serials=[1],
        time=fed.clock.now(),
        reason="县级节点下线",
    )
    response = fed["shaanxi"].client.post(
        "/api/v1/federation/revocations",
        json={"revocation": by_parent.document()},
        headers=fed["shaanxi"].auth("admin"),
    )
    assert response.status_code == 200, response.text
    fed.pump()
    assert fed["yanan"].ctx.topology.is_revoked("huanglong")
    assert not fed["yanan"].ctx.topology.is_revoked("yichuan")
    assert record_from(fed, "huanglong", "yanan", "伪造") == "rejected:revoked_origin"
    assert record_from(fed, "yichuan", "yanan", "正常") != "rejected:revoked_origin"


def test_the_parents_nats_config_has_no_leaf_user_for_a_revoked_child(
    demo_topology: Topology, demo_keys: dict[str, NodeKeys], tmp_path: Path
) -> None:
    addressed = Topology(
        [
            replace(info, api="http://127.0.0.1:1", nats="nats://127.0.0.1:4222",
                    leaf="nats-leaf://127.0.0.1:7422")
            for info in demo_topology.nodes.values()
        ],
        root_key=demo_topology.root_key,
    )  # fmt: skip
    security = NatsSecurity(tls_dir=tmp_path, service_nkey="UABC")

    def config(topology: Topology) -> str:
        return render_config(topology, "yanan", tmp_path / "js", security)

    before = config(addressed)
    assert node_subject_dn("huanglong") in before
    assert child_account("huanglong") in before
    revocation = issue_revocation(
        issuer_key=demo_keys["yanan"].signing,
        issuer="yanan",
        node="huanglong",
        serials=[1],
        time=datetime(2026, 1, 1, tzinfo=UTC),
        reason="密钥泄露",
    )
    after = config(addressed.with_revocation(revocation))
    assert node_subject_dn("huanglong") not in after
    assert child_account("huanglong") not in after
    assert node_subject_dn("yichuan") in after


def test_readmitted_with_new_keys_the_revoked_key_gets_no_overlap(
    mini_federation: Callable[..., MiniFederation], demo_keys: dict[str, NodeKeys]
) -> None:
    fed = mini_federation("central", "shaanxi")
    assert revoke(fed, "shaanxi", "yanan").status_code == 200
    current = fed.topology.get("yanan").certificate
    assert current is not None
    fresh = generate_keys()
    readmitted = issue_certificate(
        issuer_key=demo_keys["shaanxi"].signing,
        issuer="shaanxi",
        node="yanan",
        name=current.name,
        parent="shaanxi",
        signing_key=fresh.signing_public_b64,
        encryption_key=fresh.encryption_public_b64,
        serial=2,
        not_before=current.not_before,
        not_after=current.not_after,
    )
    response = fed["shaanxi"].client.post(
        "/api/v1/federation/members",
        json={"certificate": readmitted.document()},
        headers=fed["shaanxi"].auth("admin"),
    )
    assert response.status_code == 200, response.text
    topology = fed["shaanxi"].ctx.topology
    assert not topology.is_revoked("yanan")
    assert topology.acceptable_signing_keys("yanan", fed.clock.now()) == [fresh.signing_public_b64]
    # Its old children's certificates were signed by the revoked key: still refused.
    assert record_from(fed, "huanglong", "shaanxi", "旧链") == "rejected:uncertified_origin"
