"""Mixed envelope versions (DESIGN §11, issue 12 item 5): a node configured to send the previous
version (``FEDSHARE_ENVELOPE_VERSION=1``, no key id) and nodes on the current one (``kid``, the
signing key's id) exchange every class of record both ways through the real inbox; a version
neither accepts, or a v2 header naming another key, is refused."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from node.certificates import key_id
from node.crypto import canonical_json
from node.replication.envelope import (
    ACCEPTED_VERSIONS,
    BROADCAST,
    PREVIOUS_VERSION,
    VERSION,
    EnvelopeRejected,
    open_envelope,
    seal_envelope,
)
from node.replication.kinds import Kind
from node.settings import Settings
from tests.inprocess import MiniFederation
from tests.replication.test_sequences import create_record

NODES = ("central", "shaanxi", "yanan")


def versions_sent(fed: MiniFederation, node_id: str) -> set[int]:
    return {e.document["v"] for e in fed.outbox(node_id, pending_only=False) if e.origin == node_id}


def has_record(fed: MiniFederation, node_id: str, record_id: str) -> bool:
    return bool(fed.rows(node_id, "SELECT id FROM records WHERE id = :id", id=record_id))


def test_a_node_on_the_previous_version_exchanges_every_class_both_ways(
    mini_federation: Callable[..., MiniFederation],
) -> None:
    assert ACCEPTED_VERSIONS == (1, 2)
    fed = mini_federation(*NODES, settings={"yanan": {"envelope_version": PREVIOUS_VERSION}})
    sent: dict[str, list[tuple[str, str]]] = {}
    for origin, other in (("yanan", "central"), ("central", "yanan")):
        general = create_record(fed[origin], f"{origin} 通报")
        restricted = create_record(
            fed[origin], f"{origin} 受限", classification="restricted", parties=[other]
        )
        secret = create_record(
            fed[origin], f"{origin} 秘密", classification="secret", parties=[other]
        )
        sent[origin] = [(general["id"], other), (restricted["id"], other), (secret["id"], other)]
    fed.pump()
    assert versions_sent(fed, "yanan") == {PREVIOUS_VERSION}
    assert versions_sent(fed, "central") == {VERSION}
    for origin, records in sent.items():
        for record_id, receiver in records:
            assert has_record(fed, receiver, record_id), (origin, record_id)
    # Every v1 envelope carries no key id; every v2 one names its signer's key.
    for envelope in fed.outbox("yanan", pending_only=False):
        assert "kid" not in envelope.document or envelope.origin != "yanan"
    for envelope in fed.outbox("central", pending_only=False):
        assert envelope.document["kid"] == key_id(fed.keys["central"].signing_public_b64)
    for node_id in NODES:
        assert fed.rows(node_id, "SELECT reason FROM dead_letters") == []


def test_unknown_version_and_a_key_id_of_another_key_are_refused(
    mini_federation: Callable[..., MiniFederation],
) -> None:
    fed = mini_federation("shaanxi")
    keys = fed.keys["yanan"]

    def sealed(version: int) -> dict[str, object]:
        _msg, raw = seal_envelope(
            keys=keys,
            topology=fed.topology,
            origin="yanan",
            kind=Kind.RECORD,
            dest=[BROADCAST],
            ref={"origin": "yanan", "record": "x"},
            payload={"title": "t"},
            encrypt=False,
            now=fed.clock.now(),
            version=version,
        )
        document: dict[str, object] = json.loads(raw)
        return document

    for version in ACCEPTED_VERSIONS:
        document = sealed(version)
        assert open_envelope(canonical_json(document), fed.topology, now=fed.clock.now())
    resigned = sealed(VERSION)
    resigned["v"] = 3
    del resigned["sig"]
    resigned["sig"] = keys.sign(canonical_json(resigned))
    with pytest.raises(EnvelopeRejected) as refused:
        open_envelope(canonical_json(resigned), fed.topology, now=fed.clock.now())
    assert refused.value.reason == "malformed"
    other_key = sealed(VERSION)
    other_key["kid"] = key_id(fed.keys["shaanxi"].signing_public_b64)
    del other_key["sig"]
    other_key["sig"] = keys.sign(canonical_json(other_key))
    with pytest.raises(EnvelopeRejected) as refused:
        open_envelope(canonical_json(other_key), fed.topology, now=fed.clock.now())
    assert refused.value.reason == "bad_signature"
    with pytest.raises(ValueError, match="version 3"):
        sealed(3)
    with pytest.raises(ValueError, match="envelope_version"):
        Settings(envelope_version=3)
