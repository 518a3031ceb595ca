"""Key rotation (issue 12 item 3), through the real inbox of in-process nodes: yanan announces
its next keys (``prepare_rotation``, what ``fedshare keys rotate`` runs), its parent certifies
them and the certificate travels as ``member-certificate``, while records of all three classes
stream both ways. Nothing is lost or dead-lettered: envelopes signed with the old key are
accepted during the overlap, content sealed to the old encryption key still opens, yanan signs
with the new key once it learns its certificate and re-certifies its child, and after the overlap
only the new key (and the new chain) counts."""

from __future__ import annotations

import stat
from collections.abc import Callable

from node.audit.verify import verify_chain
from node.certificates import KeyAnnouncement, issue_certificate, key_id
from node.crypto import load_keys
from node.members.service import NEXT_KEYS_DIR, PREVIOUS_KEYS_DIR, prepare_rotation
from node.replication.envelope import BROADCAST, open_envelope, seal_envelope
from node.replication.kinds import Kind
from tests.inprocess import MiniFederation
from tests.replication.test_sequences import create_record

NODES = ("central", "shaanxi", "yanan", "huanglong")
DAY = 86400


def has_record(fed: MiniFederation, node_id: str, record_id: str) -> bool:
    return bool(fed.rows(node_id, "SELECT id FROM records WHERE id = :id", id=record_id))


def three_classes(fed: MiniFederation, origin: str, to: str, label: str) -> list[str]:
    return [
        create_record(fed[origin], f"{label} 通报")["id"],
        create_record(fed[origin], f"{label} 受限", classification="restricted", parties=[to])[
            "id"
        ],
        create_record(fed[origin], f"{label} 秘密", classification="secret", parties=[to])["id"],
    ]


def certify_next_keys(fed: MiniFederation, announcement: KeyAnnouncement) -> None:
    """shaanxi certifies yanan's announced keys (the next serial) and hands the certificate to
    its own node, which learns and broadcasts it."""
    current = fed.topology.get("yanan").certificate
    assert current is not None
    renewed = issue_certificate(
        issuer_key=fed.keys["shaanxi"].signing,
        issuer="shaanxi",
        node="yanan",
        name=current.name,
        parent="shaanxi",
        signing_key=announcement.signing_key,
        encryption_key=announcement.encryption_key,
        serial=current.serial + 1,
        not_before=current.not_before,
        not_after=current.not_after,
    )
    response = fed["shaanxi"].client.post(
        "/api/v1/federation/members",
        json={"certificate": renewed.document()},
        headers=fed["shaanxi"].auth("admin"),
    )
    assert response.status_code == 200, response.text


def test_records_stream_through_a_rotation_without_loss(
    mini_federation: Callable[..., MiniFederation],
) -> None:
    fed = mini_federation(*NODES)
    yanan = fed["yanan"]
    keys_dir = yanan.ctx.settings.keys_dir
    old_signing = yanan.ctx.keys.signing_public_b64
    expected: list[tuple[str, str]] = []

    def stream(label: str) -> None:
        expected.extend((r, "central") for r in three_classes(fed, "yanan", "central", label))
        expected.extend((r, "yanan") for r in three_classes(fed, "central", "yanan", label))

    stream("轮换前")  # in flight: signed with, and sealed to, yanan's old keys
    announcement = prepare_rotation(keys_dir, "yanan", fed.clock.now())
    for name in ("signing.key", "encryption.key"):
        mode = (keys_dir / NEXT_KEYS_DIR / name).stat().st_mode
        assert stat.S_IMODE(mode) == 0o600
    assert yanan.ctx.keys.signing_public_b64 == old_signing  # not switched yet
    certify_next_keys(fed, announcement)
    stream("轮换中")  # still the old keys: the certificate has not reached yanan
    fed.pump()

    # yanan learned its certificate: it signs with the new key, kept the old ones beside.
    assert yanan.ctx.keys.signing_public_b64 == announcement.signing_key
    assert load_keys(keys_dir).signing_public_b64 == announcement.signing_key
    assert load_keys(keys_dir / PREVIOUS_KEYS_DIR).signing_public_b64 == old_signing
    assert not any((keys_dir / NEXT_KEYS_DIR).iterdir())
    # ... and re-certified its child with the new key.
    for node_id in NODES:
        huanglong = fed[node_id].ctx.topology.get("huanglong").certificate
        assert huanglong is not None
        assert huanglong.serial == 2, node_id
        assert fed[node_id].ctx.topology.get("yanan").signing_key == announcement.signing_key

    # What central sealed to the old encryption key still opens at yanan (the previous key).
    before = [
        e
        for e in fed.outbox("central", kind=Kind.RECORD, pending_only=False)
        if e.ref.get("record") == expected[4][0]
    ]
    assert before
    assert before[0].payload("yanan", yanan.ctx.keys)
    assert yanan.ctx.keys.previous_encryption
    # yanan's envelopes signed with the old key during the rotation were applied at central
    # after it had learned the new certificate: the overlap.
    # Its own certificate and its child's renewed one went out still signed with the old key.
    sent_old = [e for e in fed.outbox("yanan", pending_only=False) if e.origin == "yanan"]
    assert {e.document["kid"] for e in sent_old} == {key_id(old_signing)}

    stream("轮换后")
    [sealed] = [
        e for e in fed.outbox("central", kind=Kind.RECORD) if e.ref.get("record") == expected[-2][0]
    ]
    assert fed.rows("central", "SELECT count(*) FROM dead_letters") == [(0,)]
    fed.pump()
    for record_id, receiver in expected:
        assert has_record(fed, receiver, record_id), (record_id, receiver)
    for node_id in NODES:
        assert fed.rows(node_id, "SELECT reason FROM dead_letters") == [], node_id
    sent = [e for e in fed.outbox("yanan", pending_only=False) if e.origin == "yanan"]
    assert {e.document["kid"] for e in sent} == {
        key_id(old_signing),
        key_id(announcement.signing_key),
    }
    # Sealed after central learned the new certificate: to the new key only.
    assert sealed.payload("yanan", yanan.ctx.keys)

    # Past the overlap: the new key and the new chain still hold, the old key no longer does.
    fed.clock.advance(2 * DAY)
    late = three_classes(fed, "yanan", "central", "重叠期后")
    from_child = create_record(fed["huanglong"], "县级通报")["id"]
    fed.pump()
    for record_id in [*late, from_child]:
        assert has_record(fed, "central", record_id)
    _msg, raw = seal_envelope(
        keys=fed.keys["yanan"],  # the old keys
        topology=fed.topology,
        origin="yanan",
        kind=Kind.RECORD,
        dest=[BROADCAST],
        ref={"origin": "yanan", "record": "x"},
        payload={"title": "旧密钥"},
        encrypt=False,
        now=fed.clock.now(),
    )
    assert key_id(old_signing) in raw.decode()
    assert fed.deliver("central", open_envelope(raw, fed.topology, now=fed.clock.now())) == (
        "rejected:bad_signature"
    )


def test_a_batch_rolled_back_and_applied_again_still_renews_and_switches(
    mini_federation: Callable[..., MiniFederation],
) -> None:
    """The certificate arrives in a batch with an envelope that fails: the batch is rolled back
    and applied envelope by envelope. The renewal of the child and the broadcasts are not lost,
    and the switch happens once, after the commit."""
    fed = mini_federation("shaanxi", "yanan", "huanglong")
    yanan = fed["yanan"]
    old_signing = yanan.ctx.keys.signing_public_b64
    announcement = prepare_rotation(yanan.ctx.settings.keys_dir, "yanan", fed.clock.now())
    certify_next_keys(fed, announcement)
    [carrying] = fed.outbox("shaanxi", kind=Kind.MEMBER_CERTIFICATE)
    _msg, raw = seal_envelope(
        keys=fed.keys["shaanxi"],
        topology=fed.topology,
        origin="shaanxi",
        kind=Kind.RECORD,
        dest=["yanan"],
        ref={"origin": "shaanxi", "record": "x"},
        payload={"unexpected": True},
        encrypt=True,
        now=fed.clock.now(),
    )
    failing = open_envelope(raw, fed.topology, now=fed.clock.now())
    outcomes = fed.deliver_batch("yanan", [carrying, failing])
    assert outcomes[0] == "applied"
    assert outcomes[1].startswith("rejected:")

    assert yanan.ctx.keys.signing_public_b64 == announcement.signing_key
    # The audit chain verifies with the keys the node has used (its head, written in the
    # rotation's transaction, still carries the old key's signature until the next entry).
    with yanan.ctx.sessions() as session:
        keys = [announcement.signing_key, *yanan.ctx.keys.previous_signing_public]
        report = verify_chain(session, node="yanan", signing_public_key=keys)
    assert report.problems == []
    assert keys == [announcement.signing_key, old_signing]
    actions = fed.rows("yanan", "SELECT action FROM audit_log WHERE action LIKE '%-keys'")
    assert actions == [("rotate-keys",)]
    sent = fed.outbox("yanan", kind=Kind.MEMBER_CERTIFICATE)
    carried = {(e.ref["node"], e.document["kid"]) for e in sent if e.origin == "yanan"}
    # Its own certificate and both children's renewed ones, signed with the old key once each.
    assert carried == {(node, key_id(old_signing)) for node in ("yanan", "huanglong", "yichuan")}
    assert len([e for e in sent if e.origin == "yanan"]) == 3
    assert fed.rows(
        "yanan", "SELECT serial FROM member_certificates WHERE node_id = 'huanglong'"
    ) == [(2,)]
    fed.pump()
    for node_id in ("shaanxi", "huanglong"):
        topology = fed[node_id].ctx.topology
        huanglong = topology.get("huanglong").certificate
        assert huanglong is not None
        assert huanglong.serial == 2
        assert topology.issued_by("huanglong") == announcement.signing_key
