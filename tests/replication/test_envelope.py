"""Envelopes: signatures verify end to end; sealed content opens only for its recipients."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from node.crypto import NodeKeys, canonical_json
from node.replication.envelope import EnvelopeRejected, open_envelope, seal_envelope
from node.topology import Topology

SECRET = "举报人:王某,联系电话略"


def sealed(demo_keys: dict[str, NodeKeys], topology: Topology, dest: list[str]) -> bytes:
    _msg_id, raw = seal_envelope(
        keys=demo_keys["huanglong"],
        topology=topology,
        origin="huanglong",
        kind="record",
        dest=dest,
        ref={"record": "r", "version": 1},
        payload={"title": SECRET},
        encrypt=True,
        now=datetime.now(UTC),
    )
    return raw


def test_sealed_content_opens_only_for_recipients(
    demo_keys: dict[str, NodeKeys], demo_topology: Topology
) -> None:
    raw = sealed(demo_keys, demo_topology, ["shaanxi"])
    assert SECRET.encode() not in raw
    envelope = open_envelope(raw, demo_topology, now=datetime.now(UTC))
    assert envelope.payload("shaanxi", demo_keys["shaanxi"]) == {"title": SECRET}
    # The relaying tier (yanan) holds the bytes but cannot open them, even with its own key.
    with pytest.raises(EnvelopeRejected, match="undecryptable"):
        envelope.payload("yanan", demo_keys["yanan"])
    with pytest.raises(EnvelopeRejected, match="undecryptable"):
        envelope.payload("shaanxi", demo_keys["yanan"])


def test_any_change_breaks_the_signature(
    demo_keys: dict[str, NodeKeys], demo_topology: Topology
) -> None:
    document = json.loads(sealed(demo_keys, demo_topology, ["shaanxi"]))
    for field, value in (
        ("dest", ["yanan"]),
        ("kind", "order"),
        ("origin", "yichuan"),
        ("ref", {"record": "r", "version": 2}),
    ):
        tampered = dict(document, **{field: value})
        with pytest.raises(EnvelopeRejected) as caught:
            open_envelope(canonical_json(tampered), demo_topology, now=datetime.now(UTC))
        assert caught.value.reason == "bad_signature"


@pytest.mark.parametrize(
    "raw", [b"not json", b"[]", b'{"v": 1}', "\ud800".encode("utf-8", "surrogatepass")]
)
def test_malformed_bytes_are_rejected(raw: bytes, demo_topology: Topology) -> None:
    with pytest.raises(EnvelopeRejected, match="malformed"):
        open_envelope(raw, demo_topology, now=datetime.now(UTC))
