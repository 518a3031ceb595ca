"""Detached bodies (``attachment-chunk``): the bytes follow the signed header, their length and
SHA-256 are signed with it, sealed bodies open only for the destinations, and nothing but the
exact signed bytes (and nothing at all for any other kind) is accepted."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from datetime import UTC, datetime
from typing import Any

import pytest

from node.crypto import NodeKeys, canonical_json
from node.records.wire import MAX_CHUNK_BYTES
from node.replication.envelope import (
    DETACHED_MAGIC,
    MAX_ENVELOPE_BYTES,
    MAX_HEADER_BYTES,
    Envelope,
    EnvelopeRejected,
    open_envelope,
    seal_envelope,
)
from node.replication.resend import RESEND_OVERHEAD, ResendWire
from node.topology import Topology

CHUNK = b"%PDF-1.7 " + os.urandom(64 * 1024) + b"CHUNKMARK-detached-body"
REF = {"record": "r", "attachment": "a", "chunk": 0, "grant": None}


# The sender's and the receiver's clock (inside the test certificates' validity).
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def chunk_envelope(
    keys: dict[str, NodeKeys], topology: Topology, *, encrypt: bool, body: bytes = CHUNK
) -> bytes:
    _msg_id, raw = seal_envelope(
        keys=keys["huanglong"],
        topology=topology,
        origin="huanglong",
        kind="attachment-chunk",
        dest=["shaanxi"],
        ref=REF,
        payload={"index": 0, "sha256": hashlib.sha256(body).hexdigest()},
        encrypt=encrypt,
        now=NOW,
        seq={"shaanxi": 1},
        body=body,
    )
    return raw


def split(raw: bytes) -> tuple[dict[str, Any], bytes]:
    assert raw.startswith(DETACHED_MAGIC)
    length = int.from_bytes(raw[4:8], "big")
    return json.loads(raw[8 : 8 + length]), raw[8 + length :]


def frame(document: dict[str, Any], body: bytes) -> bytes:
    header = canonical_json(document)
    return DETACHED_MAGIC + len(header).to_bytes(4, "big") + header + body


def signed(keys: NodeKeys, document: dict[str, Any]) -> dict[str, Any]:
    unsigned = {k: v for k, v in document.items() if k != "sig"}
    return dict(unsigned, sig=keys.sign(canonical_json(unsigned)))


def rejected(raw: bytes, topology: Topology) -> str:
    with pytest.raises(EnvelopeRejected) as caught:
        open_envelope(raw, topology, now=NOW)
    return caught.value.reason


def test_clear_body_travels_raw_with_its_signed_length_and_digest(
    demo_keys: dict[str, NodeKeys], demo_topology: Topology
) -> None:
    raw = chunk_envelope(demo_keys, demo_topology, encrypt=False)
    document, body = split(raw)
    assert body == CHUNK  # no base64: the bytes as they are
    assert document["body"] == {"len": len(CHUNK), "sha256": hashlib.sha256(CHUNK).hexdigest()}
    envelope = open_envelope(raw, demo_topology, now=NOW)
    assert envelope.body("shaanxi", demo_keys["shaanxi"]) == CHUNK
    assert envelope.payload("shaanxi", demo_keys["shaanxi"])["index"] == 0
    assert len(raw) < len(CHUNK) + 4096


def test_sealed_body_opens_only_for_its_destination(
    demo_keys: dict[str, NodeKeys], demo_topology: Topology
) -> None:
    raw = chunk_envelope(demo_keys, demo_topology, encrypt=True)
    assert b"CHUNKMARK" not in raw
    _document, body = split(raw)
    assert len(body) == len(CHUNK) + 16  # AES-GCM: ciphertext and tag, nothing else
    envelope = open_envelope(raw, demo_topology, now=NOW)  # a relay checks it without opening it
    assert envelope.body("shaanxi", demo_keys["shaanxi"]) == CHUNK
    assert envelope.payload("shaanxi", demo_keys["shaanxi"]) == {
        "index": 0,
        "sha256": hashlib.sha256(CHUNK).hexdigest(),
    }
    for node, keys in (("yanan", "yanan"), ("shaanxi", "yanan")):
        with pytest.raises(EnvelopeRejected, match="undecryptable"):
            envelope.body(node, demo_keys[keys])


@pytest.mark.parametrize("encrypt", [False, True])
def test_tampered_truncated_or_extended_bytes_are_refused(
    demo_keys: dict[str, NodeKeys], demo_topology: Topology, encrypt: bool
) -> None:
    raw = chunk_envelope(demo_keys, demo_topology, encrypt=encrypt)
    flipped = bytearray(raw)
    flipped[-100] ^= 0x01
    assert rejected(bytes(flipped), demo_topology) == "bad_signature"
    assert rejected(raw[:-1], demo_topology) == "bad_signature"
    assert rejected(raw + b"\x00", demo_topology) == "bad_signature"
    document, body = split(raw)
    assert rejected(frame(document, b""), demo_topology) == "bad_signature"
    # The header's claim about the body is signed: changing it breaks the signature.
    forged = dict(document, body={"len": len(body), "sha256": "0" * 64})
    assert rejected(frame(forged, body), demo_topology) == "bad_signature"
    # A frame cut inside its header, or claiming a header longer than itself.
    assert rejected(raw[:20], demo_topology) == "malformed"
    assert rejected(DETACHED_MAGIC + b"\x00\x00", demo_topology) == "malformed"


def test_signed_body_with_other_bytes_is_refused_even_if_resigned_by_another_node(
    demo_keys: dict[str, NodeKeys], demo_topology: Topology
) -> None:
    """A relay that swaps the bytes and fixes up the header can only sign it with its own key."""
    document, _body = split(chunk_envelope(demo_keys, demo_topology, encrypt=False))
    other = b"other bytes"
    claimed = {"len": len(other), "sha256": hashlib.sha256(other).hexdigest()}
    forged = signed(demo_keys["yanan"], dict(document, body=claimed))
    assert rejected(frame(forged, other), demo_topology) == "bad_signature"


def test_other_kinds_carry_no_trailing_bytes(
    demo_keys: dict[str, NodeKeys], demo_topology: Topology
) -> None:
    _msg_id, raw = seal_envelope(
        keys=demo_keys["huanglong"],
        topology=demo_topology,
        origin="huanglong",
        kind="record",
        dest=["shaanxi"],
        ref={"record": "r", "version": 1},
        payload={"title": "t"},
        encrypt=False,
        now=NOW,
    )
    assert not raw.startswith(DETACHED_MAGIC)
    assert isinstance(open_envelope(raw, demo_topology, now=NOW), Envelope)
    assert rejected(raw + b"\nextra", demo_topology) == "malformed"
    assert rejected(raw + b"\x00", demo_topology) == "malformed"
    # Signed by its origin, framed with a body: still refused (no other kind has one).
    document = json.loads(raw)
    extra = b"extra bytes"
    claimed = {"len": len(extra), "sha256": hashlib.sha256(extra).hexdigest()}
    framed = frame(signed(demo_keys["huanglong"], dict(document, body=claimed)), extra)
    assert rejected(framed, demo_topology) == "malformed"
    # A body claimed in the plain form, and a detached kind without its body.
    assert (
        rejected(
            canonical_json(signed(demo_keys["huanglong"], dict(document, body=claimed))),
            demo_topology,
        )
        == "malformed"
    )
    chunk_document, _ = split(chunk_envelope(demo_keys, demo_topology, encrypt=False))
    bare = {k: v for k, v in chunk_document.items() if k != "body"}
    assert (
        rejected(canonical_json(signed(demo_keys["huanglong"], bare)), demo_topology) == "malformed"
    )
    with pytest.raises(ValueError, match="body"):
        seal_envelope(
            keys=demo_keys["huanglong"],
            topology=demo_topology,
            origin="huanglong",
            kind="record",
            dest=["shaanxi"],
            ref={},
            payload={},
            encrypt=False,
            now=NOW,
            body=b"x",
        )


def test_oversized_is_refused_before_parsing(
    demo_keys: dict[str, NodeKeys], demo_topology: Topology
) -> None:
    raw = chunk_envelope(demo_keys, demo_topology, encrypt=False)
    padded = raw + b"\x00" * (MAX_ENVELOPE_BYTES - len(raw) + 1)
    assert rejected(padded, demo_topology) == "oversized"
    big_header = DETACHED_MAGIC + (MAX_HEADER_BYTES + 1).to_bytes(4, "big") + b"{" * 70_000
    assert rejected(big_header, demo_topology) == "malformed"
    document, body = split(raw)
    huge = dict(document, body={"len": MAX_ENVELOPE_BYTES + 1, "sha256": "0" * 64})
    assert rejected(frame(huge, body), demo_topology) == "malformed"


def test_the_largest_chunk_envelope_still_fits_a_resend(
    demo_keys: dict[str, NodeKeys], demo_topology: Topology
) -> None:
    chunk = os.urandom(MAX_CHUNK_BYTES)
    raw = chunk_envelope(demo_keys, demo_topology, encrypt=True, body=chunk)
    assert len(raw) * 16 // 9 + RESEND_OVERHEAD <= MAX_ENVELOPE_BYTES
    wire = ResendWire(
        channel="shaanxi",
        seq=1,
        msg_id=open_envelope(raw, demo_topology, now=NOW).msg_id,
        envelope=base64.b64encode(raw).decode("ascii"),
    )
    _msg_id, resent = seal_envelope(
        keys=demo_keys["huanglong"],
        topology=demo_topology,
        origin="huanglong",
        kind="resend",
        dest=["shaanxi"],
        ref=wire.envelope_ref(),
        payload=wire.payload(),
        encrypt=True,
        now=NOW,
    )
    assert len(resent) <= len(raw) * 16 // 9 + RESEND_OVERHEAD
    inner = open_envelope(resent, demo_topology, now=NOW).payload("shaanxi", demo_keys["shaanxi"])
    original = open_envelope(base64.b64decode(inner["envelope"]), demo_topology, now=NOW)
    assert original.body("shaanxi", demo_keys["shaanxi"]) == chunk
