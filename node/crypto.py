"""Node keys, canonical JSON, signatures and per-recipient encryption.

Guarantees:
- ``canonical_json`` is deterministic: sorted keys, no whitespace, UTF-8, so a signature made at the
  origin verifies byte for byte at every tier that relays the envelope unchanged.
- ``seal`` encrypts one plaintext under a fresh AES-256-GCM data key and wraps that key for each
  recipient with X25519 (ephemeral sender key) + HKDF-SHA256 + AES-GCM key wrap. Only holders of a
  recipient's private X25519 key can open it; a relay sees ciphertext only.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from node.storage import private_dir

SIGNING_KEY_FILE = "signing.key"
ENCRYPTION_KEY_FILE = "encryption.key"
WRAP_INFO = b"fedshare/v1/wrap"


class CryptoError(Exception):
    """A signature or ciphertext did not verify. Never carries plaintext."""


def b64e(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64d(text: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError) as exc:
        raise CryptoError("bad base64") from exc


def canonical_json(value: Any) -> bytes:
    """Canonical JSON: sorted keys, compact separators, UTF-8 (non-ASCII kept as is)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


@dataclass(eq=False)
class NodeKeys:
    """A node's private keys. Loaded once at start-up and handed down; never logged.

    One object per node, shared by everything that signs or opens: a key rotation
    (``switch_to``) changes it in place, so every holder signs with the new key at once, and
    the previous encryption keys stay here to open what was sealed to them before."""

    signing: Ed25519PrivateKey
    encryption: X25519PrivateKey
    previous_encryption: tuple[X25519PrivateKey, ...] = ()
    # Public signing keys used before a rotation: the audit head may still carry a signature
    # made with one until its next entry.
    previous_signing_public: tuple[str, ...] = ()

    def switch_to(self, next_keys: NodeKeys) -> None:
        """Sign with ``next_keys`` from now on; keep the current encryption key for opening
        what was sealed to it (DESIGN §11: nothing in flight is lost)."""
        if next_keys.signing_public_b64 == self.signing_public_b64:
            return
        self.previous_encryption = (self.encryption, *self.previous_encryption)[:4]
        self.previous_signing_public = (
            self.signing_public_b64,
            *self.previous_signing_public,
        )[:4]
        self.encryption = next_keys.encryption
        self.signing = next_keys.signing

    def encryption_keys(self) -> tuple[X25519PrivateKey, ...]:
        """The current encryption key, then the previous ones (newest first)."""
        return (self.encryption, *self.previous_encryption)

    @property
    def signing_public_b64(self) -> str:
        return b64e(self.signing.public_key().public_bytes_raw())

    @property
    def encryption_public_b64(self) -> str:
        return b64e(self.encryption.public_key().public_bytes_raw())

    def sign(self, message: bytes) -> str:
        return b64e(self.signing.sign(message))


def generate_keys() -> NodeKeys:
    return NodeKeys(Ed25519PrivateKey.generate(), X25519PrivateKey.generate())


def write_keys(keys: NodeKeys, directory: Path, *, force: bool = False) -> None:
    """Write private keys with mode 0600 in a 0700 directory; refuse to overwrite existing keys
    unless ``force``."""
    private_dir(directory)
    targets = {
        SIGNING_KEY_FILE: keys.signing.private_bytes_raw(),
        ENCRYPTION_KEY_FILE: keys.encryption.private_bytes_raw(),
    }
    if not force:
        existing = [name for name in targets if (directory / name).exists()]
        if existing:
            raise FileExistsError(", ".join(existing))
    for name, raw in targets.items():
        path = directory / name
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        fd = os.open(path, flags, 0o600)
        try:
            os.write(fd, b64e(raw).encode("ascii") + b"\n")
        finally:
            os.close(fd)
        os.chmod(path, 0o600)


def load_keys(directory: Path) -> NodeKeys:
    try:
        signing_raw = b64d((directory / SIGNING_KEY_FILE).read_text().strip())
        encryption_raw = b64d((directory / ENCRYPTION_KEY_FILE).read_text().strip())
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"no node keys in {directory}; run 'fedshare keys init'") from exc
    return NodeKeys(
        Ed25519PrivateKey.from_private_bytes(signing_raw),
        X25519PrivateKey.from_private_bytes(encryption_raw),
    )


def verify_signature(public_b64: str, message: bytes, signature_b64: str) -> None:
    """Raise ``CryptoError`` unless ``signature_b64`` is the Ed25519 signature of ``message``."""
    try:
        Ed25519PublicKey.from_public_bytes(b64d(public_b64)).verify(b64d(signature_b64), message)
    except (InvalidSignature, ValueError) as exc:
        raise CryptoError("bad signature") from exc


def _wrap_key(shared: bytes, salt: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=WRAP_INFO).derive(shared)


def seal(plaintext: bytes, recipients: dict[str, str], *, aad: bytes) -> dict[str, Any]:
    """Encrypt ``plaintext`` for each recipient node (id -> X25519 public key, base64).

    A fresh data key per call; ``aad`` (the envelope's routing header) is bound to the ciphertext.
    """
    data_key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(12)
    ciphertext = AESGCM(data_key).encrypt(nonce, plaintext, aad)
    ephemeral = X25519PrivateKey.generate()
    epk = ephemeral.public_key().public_bytes_raw()
    wrapped: dict[str, str] = {}
    for node_id in sorted(recipients):
        peer = X25519PublicKey.from_public_bytes(b64d(recipients[node_id]))
        kek = _wrap_key(ephemeral.exchange(peer), epk)
        wrap_nonce = os.urandom(12)
        sealed_key = AESGCM(kek).encrypt(wrap_nonce, data_key, node_id.encode())
        wrapped[node_id] = b64e(wrap_nonce + sealed_key)
    return {
        "alg": "x25519-hkdf-aesgcm",
        "epk": b64e(epk),
        "nonce": b64e(nonce),
        "ct": b64e(ciphertext),
        "keys": wrapped,
    }


def open_sealed(
    sealed: dict[str, Any], node_id: str, key: X25519PrivateKey, *, aad: bytes
) -> bytes:
    """Decrypt a ``seal`` result addressed to ``node_id``; ``CryptoError`` if not possible."""
    try:
        wrapped = b64d(sealed["keys"][node_id])
        epk = b64d(sealed["epk"])
        kek = _wrap_key(key.exchange(X25519PublicKey.from_public_bytes(epk)), epk)
        data_key = AESGCM(kek).decrypt(wrapped[:12], wrapped[12:], node_id.encode())
        return AESGCM(data_key).decrypt(b64d(sealed["nonce"]), b64d(sealed["ct"]), aad)
    except (KeyError, TypeError, ValueError, AttributeError, InvalidTag) as exc:
        raise CryptoError("cannot open sealed payload") from exc


def public_key_text(keys: NodeKeys) -> str:
    return (
        f'signing_key = "{keys.signing_public_b64}"\n'
        f'encryption_key = "{keys.encryption_public_b64}"\n'
    )
