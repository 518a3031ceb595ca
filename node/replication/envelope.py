"""Envelopes: canonical JSON, signed by the origin, relayed unchanged.

Guarantees:
- ``seal_envelope`` signs the canonical JSON of every field but ``sig`` with the origin's Ed25519
  key. Content of restricted and case-secret objects is encrypted for the destination nodes only
  (``crypto.seal``), with the routing header as associated data, so it cannot be re-addressed.
- An envelope the origin sends itself carries ``seq``: its number on each channel it travels
  (``{"<dest>": n, ...}``, or ``{"*": n}`` for a broadcast; ``node.replication.sequence``). The
  numbers are signed with the rest, so a relay can neither renumber nor hide what it dropped.
  Envelopes without ``seq`` (the previous format) are still accepted.
- ``open_envelope`` verifies the signature against the topology's key for the claimed origin
  before anything else looks at the payload; any failure raises ``EnvelopeRejected`` with a stable
  reason and no content.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from node.clock import iso
from node.crypto import CryptoError, NodeKeys, canonical_json, open_sealed, seal, verify_signature
from node.ids import is_uuid, uuid7
from node.topology import Topology

VERSION = 1
BROADCAST = "*"
HEADER_FIELDS = ("v", "id", "kind", "origin", "dest", "time", "ref")


class EnvelopeRejected(Exception):
    """Why an envelope was refused: a stable reason code (no content)."""

    def __init__(
        self,
        reason: str,
        *,
        msg_id: str | None = None,
        origin: str | None = None,
        kind: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.msg_id = msg_id
        self.origin = origin
        self.kind = kind


@dataclass(frozen=True)
class Envelope:
    msg_id: str
    kind: str
    origin: str
    dest: list[str]
    time: str
    ref: dict[str, Any]
    raw: bytes
    document: dict[str, Any]
    seq: dict[str, int] | None = None

    @property
    def is_broadcast(self) -> bool:
        return self.dest == [BROADCAST]

    def addressed_to(self, node_id: str) -> bool:
        return self.is_broadcast or node_id in self.dest

    def reject(self, reason: str) -> EnvelopeRejected:
        """A refusal of this envelope, for the dead-letter table (a stable reason, no content)."""
        return EnvelopeRejected(reason, msg_id=self.msg_id, origin=self.origin, kind=self.kind)

    def payload(self, node_id: str, keys: NodeKeys) -> dict[str, Any]:
        """The payload for ``node_id``: clear for general content, else decrypted with our key."""
        if "payload" in self.document:
            value = self.document["payload"]
        else:
            try:
                plaintext = open_sealed(
                    self.document["enc"], node_id, keys.encryption, aad=_aad(self.document)
                )
                value = json.loads(plaintext)
            except (CryptoError, ValueError) as exc:
                raise EnvelopeRejected(
                    "undecryptable", msg_id=self.msg_id, origin=self.origin, kind=self.kind
                ) from exc
        if not isinstance(value, dict):
            raise EnvelopeRejected("malformed", msg_id=self.msg_id, origin=self.origin)
        return value


def _aad(document: dict[str, Any]) -> bytes:
    return canonical_json({k: document[k] for k in HEADER_FIELDS})


def seal_envelope(
    *,
    keys: NodeKeys,
    topology: Topology,
    origin: str,
    kind: str,
    dest: list[str],
    ref: dict[str, Any],
    payload: dict[str, Any],
    encrypt: bool,
    now: datetime,
    seq: dict[str, int] | None = None,
) -> tuple[str, bytes]:
    """Build and sign an envelope sent at ``now`` (numbered ``seq`` on its channels, if given);
    return (message id, bytes to publish)."""
    msg_id = uuid7()
    document: dict[str, Any] = {
        "v": VERSION,
        "id": msg_id,
        "kind": kind,
        "origin": origin,
        "dest": sorted(dest) if dest != [BROADCAST] else [BROADCAST],
        "time": iso(now),
        "ref": ref,
    }
    if seq is not None:
        document["seq"] = seq
    if encrypt:
        recipients = {node: topology.get(node).encryption_key for node in document["dest"]}
        document["enc"] = seal(canonical_json(payload), recipients, aad=_aad(document))
    else:
        document["payload"] = payload
    document["sig"] = keys.sign(canonical_json(document))
    return msg_id, canonical_json(document)


MAX_ENVELOPE_BYTES = 4 * 1024 * 1024


def open_envelope(raw: bytes, topology: Topology) -> Envelope:
    """Parse and verify an envelope: size, shape, known origin, then the origin's signature. Any
    input, however hostile, ends in an ``Envelope`` or ``EnvelopeRejected`` (deep nesting makes
    the C decoder raise ``RecursionError`` at once, taken as malformed)."""
    if len(raw) > MAX_ENVELOPE_BYTES:
        raise EnvelopeRejected("oversized")
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise EnvelopeRejected("malformed") from exc
    if not isinstance(document, dict):
        raise EnvelopeRejected("malformed")
    msg_id = document.get("id") if isinstance(document.get("id"), str) else None
    origin = document.get("origin") if isinstance(document.get("origin"), str) else None
    kind = document.get("kind") if isinstance(document.get("kind"), str) else None
    shape_ok = (
        document.get("v") == VERSION
        and msg_id is not None
        and is_uuid(msg_id)
        and kind is not None
        and origin is not None
        and isinstance(document.get("dest"), list)
        and all(isinstance(d, str) for d in document["dest"])
        and isinstance(document.get("time"), str)
        and isinstance(document.get("ref"), dict)
        and isinstance(document.get("sig"), str)
        and (("payload" in document) != ("enc" in document))
    )
    if not shape_ok:
        raise EnvelopeRejected("malformed", msg_id=msg_id, origin=origin, kind=kind)
    assert msg_id is not None
    assert origin is not None
    assert kind is not None
    if origin not in topology:
        raise EnvelopeRejected("unknown_origin", msg_id=msg_id, origin=origin, kind=kind)
    unsigned = {k: v for k, v in document.items() if k != "sig"}
    try:
        verify_signature(
            topology.get(origin).signing_key, canonical_json(unsigned), document["sig"]
        )
    except CryptoError as exc:
        raise EnvelopeRejected("bad_signature", msg_id=msg_id, origin=origin, kind=kind) from exc
    dest = document["dest"]
    if dest != [BROADCAST] and any(d not in topology for d in dest):
        raise EnvelopeRejected("unknown_destination", msg_id=msg_id, origin=origin, kind=kind)
    seq = document.get("seq")
    if seq is not None and not _valid_seq(seq, dest):
        raise EnvelopeRejected("malformed", msg_id=msg_id, origin=origin, kind=kind)
    return Envelope(
        msg_id=msg_id,
        kind=kind,
        origin=origin,
        dest=dest,
        time=document["time"],
        ref=document["ref"],
        raw=raw,
        document=document,
        seq=seq,
    )


MAX_SEQ = 2**62


def _valid_seq(seq: object, dest: list[str]) -> bool:
    """One positive number per destination (or for ``*``), no more, no less."""
    return (
        isinstance(seq, dict)
        and set(seq) == set(dest)
        and all(type(n) is int and 1 <= n <= MAX_SEQ for n in seq.values())
    )
