"""Envelopes: canonical JSON, signed by the origin, relayed unchanged.

Guarantees:
- ``seal_envelope`` signs the canonical JSON of every field but ``sig`` with the origin's Ed25519
  key. Content of restricted and case-secret objects is encrypted for the destination nodes only
  (``crypto.seal``), with the routing header as associated data, so it cannot be re-addressed.
- An envelope the origin sends itself carries ``seq``: its number on each channel it travels
  (``{"<dest>": n, ...}``, or ``{"*": n}`` for a broadcast; ``node.replication.sequence``). The
  numbers are signed with the rest, so a relay can neither renumber nor hide what it dropped.
  Envelopes without ``seq`` (the previous format) are still accepted.
- ``open_envelope`` verifies the signature with the signing key of the claimed origin's
  certificate, and only if that certificate chains to the root key and every certificate on the
  chain is valid at the receiver's clock (``Topology.acceptable_signing_keys``; else
  ``uncertified_origin``, or ``revoked_origin`` if an ancestor revoked the origin or a node above
  it), before anything else looks at the payload; any failure raises ``EnvelopeRejected`` with a
  stable reason and no content. During a key rotation's overlap the origin's previous key
  verifies too.
- Versions (DESIGN §11, mixed versions): a node sends ``VERSION`` (or ``PREVIOUS_VERSION`` if so
  configured) and accepts both. Version 2 adds ``kid``, the key id (``certificates.key_id``) of
  the signing key, signed and bound to sealed content with the rest of the header: the receiver
  verifies with exactly that key, which must be one the origin may use now. Version 1 carries
  no key id: the receiver tries the origin's acceptable keys (at most two, during an overlap).

Detached bodies (``DETACHED_KINDS`` only: attachment chunks). Bulk bytes do not travel inside the
JSON (base64 would add a third, and every hop would sign, parse and store the bloated text):

    b"FSD1" || len(header) as 4 bytes, big-endian || header (canonical JSON) || body

The header is an ordinary envelope document plus ``"body": {"len": n, "sha256": hex}`` describing
the bytes that follow, signed with the rest; for a sealed envelope the body is encrypted under a
fresh AES-256-GCM key (the routing header as associated data) and that key and nonce travel in the
sealed part, for the destinations only, so a relay holds ciphertext it can check but not open.
``open_envelope`` takes this form only for a detached kind, and only when the body's length and
SHA-256 are the signed ones; every other kind keeps the plain JSON form, byte for byte, and a
detached kind never comes without its body.

A detached envelope is kept for resending without its body (``kept_form``): the sender can make
the body again from what it holds (``rebuild_detached``, byte for byte, its key being derived by
the sender from the message id: ``BodyKey``), so a file is not stored a second time.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from node.certificates import key_id
from node.clock import iso
from node.crypto import (
    CryptoError,
    NodeKeys,
    b64d,
    b64e,
    canonical_json,
    open_sealed,
    seal,
    verify_signature,
)
from node.ids import is_uuid, uuid7
from node.topology import RevokedNode, Topology, UncertifiedNode

VERSION = 2
PREVIOUS_VERSION = 1
ACCEPTED_VERSIONS = (PREVIOUS_VERSION, VERSION)
BROADCAST = "*"
HEADER_FIELDS = ("v", "id", "kind", "origin", "dest", "time", "ref")
KID_PATTERN = re.compile(r"^[0-9a-f]{16}$")

DETACHED_KINDS = frozenset({"attachment-chunk"})
"""The kinds whose envelopes carry a detached body (and nothing else does); the kind registry
checks that its specs agree (``KindSpec.detached``)."""
DETACHED_MAGIC = b"FSD1"
MAX_HEADER_BYTES = 64 * 1024
BODY_AAD = b"fedshare/v1/body|"
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


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
    body_offset: int | None = None
    """Where the detached body starts in ``raw`` (None: the envelope has none)."""

    @property
    def is_broadcast(self) -> bool:
        return self.dest == [BROADCAST]

    def addressed_to(self, node_id: str) -> bool:
        return self.is_broadcast or node_id in self.dest

    def reject(self, reason: str) -> EnvelopeRejected:
        """A refusal of this envelope, for the dead-letter table (a stable reason, no content)."""
        return EnvelopeRejected(reason, msg_id=self.msg_id, origin=self.origin, kind=self.kind)

    def _sealed(self, node_id: str, keys: NodeKeys) -> Any:
        """The sealed part, opened with this node's key (or, for what was sealed before this
        node's rotation, its previous one)."""
        for key in keys.encryption_keys():
            try:
                plaintext = open_sealed(self.document["enc"], node_id, key, aad=_aad(self.document))
                return json.loads(plaintext)
            except (CryptoError, ValueError):
                continue
        raise self.reject("undecryptable")

    def payload(self, node_id: str, keys: NodeKeys) -> dict[str, Any]:
        """The payload for ``node_id``: clear for general content, else decrypted with our key."""
        if "payload" in self.document:
            value = self.document["payload"]
        else:
            value = self._sealed(node_id, keys)
            if self.body_offset is not None:
                value = value.get("payload") if isinstance(value, dict) else None
        if not isinstance(value, dict):
            raise EnvelopeRejected("malformed", msg_id=self.msg_id, origin=self.origin)
        return value

    def body(self, node_id: str, keys: NodeKeys) -> bytes:
        """The detached body for ``node_id``: as it travelled for clear content, else decrypted
        with the key in the sealed part (``undecryptable`` if it does not open). Its length and
        SHA-256 as it travelled were checked against the signed header by ``open_envelope``."""
        if self.body_offset is None:
            raise self.reject("malformed")
        travelled = self.raw[self.body_offset :]
        if "payload" in self.document:
            return travelled
        inner = self._sealed(node_id, keys)
        try:
            data_key = b64d(inner["body_key"])
            nonce = b64d(inner["body_nonce"])
            return AESGCM(data_key).decrypt(nonce, travelled, BODY_AAD + _aad(self.document))
        except (KeyError, TypeError, ValueError, InvalidTag) as exc:
            raise self.reject("undecryptable") from exc


def _aad(document: dict[str, Any]) -> bytes:
    header = {k: document[k] for k in HEADER_FIELDS}
    if "kid" in document:
        header["kid"] = document["kid"]
    return canonical_json(header)


BodyKey = Callable[[str], tuple[bytes, bytes]]
"""The AES-256-GCM key and nonce of a sealed body, from the message id: derived by the sender
from a secret of its own, so that it can seal the same body again, byte for byte, when it must be
resent (``rebuild_detached``). Each message id has its own key."""


def _seal_body(
    document: dict[str, Any], body: bytes, body_key: BodyKey | None
) -> tuple[bytes, dict[str, Any]]:
    """The body sealed (bound to the routing header) and what the sealed part says of its key."""
    if body_key is None:
        data_key, nonce = AESGCM.generate_key(bit_length=256), os.urandom(12)
    else:
        data_key, nonce = body_key(document["id"])
    sealed = AESGCM(data_key).encrypt(nonce, body, BODY_AAD + _aad(document))
    return sealed, {"body_key": b64e(data_key), "body_nonce": b64e(nonce)}


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
    body: bytes | None = None,
    body_key: BodyKey | None = None,
    version: int = VERSION,
) -> tuple[str, bytes]:
    """Build and sign an envelope of ``version`` sent at ``now`` (numbered ``seq`` on its
    channels, if given); return (message id, bytes to publish). Sealed content goes to each
    destination's certified encryption key, never to a revoked node's. ``body`` (detached kinds
    only) follows the signed header; sealed with the payload when ``encrypt``, its length and
    SHA-256 as it travels are signed in the header; its key comes from ``body_key`` if given,
    else it is random."""
    if version not in ACCEPTED_VERSIONS:
        raise ValueError(f"envelope version {version} is not one of {ACCEPTED_VERSIONS}")
    if (body is not None) != (kind in DETACHED_KINDS):
        raise ValueError(f"a {kind!r} envelope {'carries' if body is None else 'has no'} body")
    msg_id = uuid7()
    document: dict[str, Any] = {
        "v": version,
        "id": msg_id,
        "kind": kind,
        "origin": origin,
        "dest": sorted(dest) if dest != [BROADCAST] else [BROADCAST],
        "time": iso(now),
        "ref": ref,
    }
    if version >= 2:
        document["kid"] = key_id(keys.signing_public_b64)
    if seq is not None:
        document["seq"] = seq
    inner: dict[str, Any] = payload
    if body is not None and encrypt:
        body, key_fields = _seal_body(document, body, body_key)
        inner = {"payload": payload, **key_fields}
    if body is not None:
        document["body"] = {"len": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    if encrypt:
        recipients = {
            node: topology.get(node).encryption_key
            for node in document["dest"]
            if not topology.is_revoked(node)
        }
        document["enc"] = seal(canonical_json(inner), recipients, aad=_aad(document))
    else:
        document["payload"] = payload
    document["sig"] = keys.sign(canonical_json(document))
    if body is None:
        return msg_id, canonical_json(document)
    header = canonical_json(document)
    return msg_id, b"".join((DETACHED_MAGIC, len(header).to_bytes(4, "big"), header, body))


def kept_form(raw: bytes) -> bytes:
    """What the sender keeps of its envelope ``raw`` for resending: all of it, except the body of
    a detached one (made again by ``rebuild_detached``)."""
    _header, body_offset = _split_detached(raw)
    return raw if body_offset is None else raw[:body_offset]


def kept_header(kept: bytes) -> dict[str, Any] | None:
    """The header of a detached envelope kept without its body (``kept_form``); None for any
    other envelope (kept whole)."""
    try:
        header, body_offset = _split_detached(kept)
    except EnvelopeRejected:
        return None
    if body_offset is None or body_offset != len(kept):
        return None
    document = json.loads(header)
    return document if isinstance(document, dict) and "body" in document else None


def rebuild_detached(kept: bytes, plaintext: bytes, body_key: BodyKey) -> bytes | None:
    """The sender's envelope again, from its kept header and the body's plaintext: sealed again
    with the same derived key when it was sealed. None unless the result is the body the header
    signed (the plaintext, or the key, is not the one it was sent with)."""
    document = kept_header(kept)
    if document is None:
        return None
    body = plaintext if "payload" in document else _seal_body(document, plaintext, body_key)[0]
    claimed = document["body"]
    if len(body) != claimed["len"] or hashlib.sha256(body).hexdigest() != claimed["sha256"]:
        return None
    return kept + body


def _split_detached(raw: bytes) -> tuple[bytes, int | None]:
    """(the JSON document, where the body starts) of an envelope as it travels; the plain form
    has no body. ``malformed`` if the detached frame does not hold together."""
    if not raw.startswith(DETACHED_MAGIC):
        return raw, None
    start = len(DETACHED_MAGIC) + 4
    length = int.from_bytes(raw[len(DETACHED_MAGIC) : start], "big")
    if len(raw) < start or length > MAX_HEADER_BYTES or start + length > len(raw):
        raise EnvelopeRejected("malformed")
    return raw[start : start + length], start + length


MAX_ENVELOPE_BYTES = 4 * 1024 * 1024


def open_envelope(raw: bytes, topology: Topology, *, now: datetime) -> Envelope:
    """Parse and verify an envelope at ``now`` (the receiver's clock): size, shape, known origin,
    its certificate chain, then the origin's signature with the certified key. Any
    input, however hostile, ends in an ``Envelope`` or ``EnvelopeRejected`` (deep nesting makes
    the C decoder raise ``RecursionError`` at once, taken as malformed)."""
    if len(raw) > MAX_ENVELOPE_BYTES:
        raise EnvelopeRejected("oversized")
    header, body_offset = _split_detached(raw)
    try:
        document = json.loads(header)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise EnvelopeRejected("malformed") from exc
    if not isinstance(document, dict):
        raise EnvelopeRejected("malformed")
    msg_id = document.get("id") if isinstance(document.get("id"), str) else None
    origin = document.get("origin") if isinstance(document.get("origin"), str) else None
    kind = document.get("kind") if isinstance(document.get("kind"), str) else None
    version = document.get("v")
    kid = document.get("kid")
    shape_ok = (
        type(version) is int
        and version in ACCEPTED_VERSIONS
        and (
            ("kid" not in document)
            if version == PREVIOUS_VERSION
            else (isinstance(kid, str) and KID_PATTERN.fullmatch(kid) is not None)
        )
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
        and _body_shape_ok(document, kind, body_offset)
    )
    if not shape_ok:
        raise EnvelopeRejected("malformed", msg_id=msg_id, origin=origin, kind=kind)
    assert msg_id is not None
    assert origin is not None
    assert kind is not None
    if origin not in topology:
        raise EnvelopeRejected("unknown_origin", msg_id=msg_id, origin=origin, kind=kind)
    try:
        signing_keys = topology.acceptable_signing_keys(origin, now)
    except RevokedNode as exc:
        raise EnvelopeRejected("revoked_origin", msg_id=msg_id, origin=origin, kind=kind) from exc
    except UncertifiedNode as exc:
        raise EnvelopeRejected(
            "uncertified_origin", msg_id=msg_id, origin=origin, kind=kind
        ) from exc
    if kid is not None:
        # Version 2 names its key: exactly that one, if the origin may use it now.
        signing_keys = [key for key in signing_keys if key_id(key) == kid]
    unsigned = canonical_json({k: v for k, v in document.items() if k != "sig"})
    if not any(_verifies(key, unsigned, document["sig"]) for key in signing_keys):
        raise EnvelopeRejected("bad_signature", msg_id=msg_id, origin=origin, kind=kind)
    dest = document["dest"]
    if dest != [BROADCAST] and any(d not in topology for d in dest):
        raise EnvelopeRejected("unknown_destination", msg_id=msg_id, origin=origin, kind=kind)
    seq = document.get("seq")
    if seq is not None and not _valid_seq(seq, dest):
        raise EnvelopeRejected("malformed", msg_id=msg_id, origin=origin, kind=kind)
    if body_offset is not None:
        # The bytes after the header are not the ones the origin signed: a truncation, an
        # addition or a substitution on the way.
        claimed = document["body"]
        body = memoryview(raw)[body_offset:]
        if len(body) != claimed["len"] or hashlib.sha256(body).hexdigest() != claimed["sha256"]:
            raise EnvelopeRejected("bad_signature", msg_id=msg_id, origin=origin, kind=kind)
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
        body_offset=body_offset,
    )


def _body_shape_ok(document: dict[str, Any], kind: str | None, body_offset: int | None) -> bool:
    """A detached kind comes framed with its body described in the header; no other kind does."""
    if body_offset is None:
        return "body" not in document and kind not in DETACHED_KINDS
    body = document.get("body")
    return (
        kind in DETACHED_KINDS
        and isinstance(body, dict)
        and set(body) == {"len", "sha256"}
        and type(body["len"]) is int
        and 0 <= body["len"] <= MAX_ENVELOPE_BYTES
        and isinstance(body["sha256"], str)
        and _SHA256_HEX.fullmatch(body["sha256"]) is not None
    )


def _verifies(public_b64: str, message: bytes, signature_b64: str) -> bool:
    try:
        verify_signature(public_b64, message, signature_b64)
    except CryptoError:
        return False
    return True


MAX_SEQ = 2**62


def _valid_seq(seq: object, dest: list[str]) -> bool:
    """One positive number per destination (or for ``*``), no more, no less."""
    return (
        isinstance(seq, dict)
        and set(seq) == set(dest)
        and all(type(n) is int and 1 <= n <= MAX_SEQ for n in seq.values())
    )
