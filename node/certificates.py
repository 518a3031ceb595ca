"""Node certificates: the identity chain of DESIGN §11 (root → central → province → … → county).

A certificate binds a node id to its Chinese name, its parent, its Ed25519 signing key and X25519
encryption key, with a serial and a validity window, and names its issuer: the parent node (whose
*certified* signing key signed it) or, for the central node only, the offline root key
(``ROOT_ISSUER``). Every node is installed with the root public key and nothing else it must
trust: a node's envelopes verify only with the signing key of a certificate that chains to it.

Format: canonical JSON (``node.crypto.canonical_json``) signed with Ed25519, the same encoding and
primitive as envelopes. Chosen over X.509 (which ``node.pki`` uses for the TLS of leaf links)
because it is verified with the one primitive every node already runs per envelope, travels in an
envelope's JSON payload as is (no DER/PEM inside JSON), carries exactly the fields §11 names (a
Chinese name and an X25519 key, which X.509 would need private extensions for), and its whole
parser is ``from_document`` below. The TLS certificates of ``node.pki`` certify the very same
Ed25519 signing key, so the two can later be issued together by the same parent.

Guarantees:
- The signature covers the canonical JSON of every field but ``sig``, behind a domain label
  (``SIGNING_CONTEXT``): a node's key signs envelopes and its children's certificates, and no
  signature made for one can stand for the other.
- ``from_document`` accepts only the exact shape (every field, right types, a node id that
  matches ``[a-z0-9-]+``, 32-byte keys, ``not_before < not_after``) and ``CertificateError``
  otherwise; what it returns re-encodes to the very bytes that were signed.
- ``verify_issued`` passes only if the issuer named is the certificate's parent (the root for a
  node without one) and the signature verifies with the issuer key given.
- The root's private key file is written mode 0600 and never overwritten (``init_root``).
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.clock import iso, parse_iso
from node.crypto import CryptoError, b64d, b64e, canonical_json, verify_signature
from node.settings import NODE_ID_PATTERN
from node.storage import private_dir

CERTIFICATE_VERSION = 1
ROOT_ISSUER = "@root"
"""The issuer of the central node's certificate: the offline root key (never a node id)."""
SIGNING_CONTEXT = b"fedshare/v1/node-certificate\n"
ROOT_KEY_FILE = "root.key"
ROOT_PUBLIC_FILE = "root.pub"
FIELDS = (
    "v",
    "node",
    "name",
    "parent",
    "signing_key",
    "encryption_key",
    "serial",
    "not_before",
    "not_after",
    "issuer",
    "sig",
)

VALID = "valid"
EXPIRED = "expired"
NOT_YET_VALID = "not_yet_valid"


class CertificateError(ValueError):
    """A certificate that cannot be accepted; ``reason`` is a stable code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def key_id(public_b64: str) -> str:
    """A short, stable name for a public key: the first 16 hex digits of SHA-256 of its bytes."""
    return hashlib.sha256(b64d(public_b64)).hexdigest()[:16]


class SignedDocument:
    """What the signed documents here share: the fields (``unsigned``) and the signature make
    the document as it travels; its canonical JSON is its text and its SHA-256 its identity."""

    signature: str

    def unsigned(self) -> dict[str, Any]:
        raise NotImplementedError

    def document(self) -> dict[str, Any]:
        """The document as it travels (in envelopes, the topology file, files on disk)."""
        return {**self.unsigned(), "sig": self.signature}

    def to_json(self) -> str:
        return canonical_json(self.document()).decode("utf-8")

    @cached_property
    def digest(self) -> str:
        """SHA-256 of the signed document (computed once)."""
        return hashlib.sha256(canonical_json(self.document())).hexdigest()


@dataclass(frozen=True)
class NodeCertificate(SignedDocument):
    node: str
    name: str
    parent: str | None
    signing_key: str
    encryption_key: str
    serial: int
    not_before: datetime
    not_after: datetime
    issuer: str
    signature: str

    def unsigned(self) -> dict[str, Any]:
        return {
            "v": CERTIFICATE_VERSION,
            "node": self.node,
            "name": self.name,
            "parent": self.parent,
            "signing_key": self.signing_key,
            "encryption_key": self.encryption_key,
            "serial": self.serial,
            "not_before": iso(self.not_before),
            "not_after": iso(self.not_after),
            "issuer": self.issuer,
        }

    def status(self, now: datetime) -> str:
        """``valid``, ``expired`` or ``not_yet_valid`` at ``now`` (not_after is exclusive)."""
        if now < self.not_before:
            return NOT_YET_VALID
        if now >= self.not_after:
            return EXPIRED
        return VALID

    @classmethod
    def from_document(cls, document: object) -> NodeCertificate:
        """Parse a certificate document (its signature is checked by ``verify_issued``)."""
        if not isinstance(document, dict) or set(document) != set(FIELDS):
            raise CertificateError("malformed", "certificate: wrong set of fields")
        if document["v"] != CERTIFICATE_VERSION:
            raise CertificateError("malformed", "certificate: unknown version")
        node, parent, issuer = document["node"], document["parent"], document["issuer"]
        if not isinstance(node, str) or len(node) > 64 or not NODE_ID_PATTERN.fullmatch(node):
            raise CertificateError("malformed", "certificate: bad node id")
        if parent is not None and (
            not isinstance(parent, str) or not NODE_ID_PATTERN.fullmatch(parent)
        ):
            raise CertificateError("malformed", f"certificate of {node}: bad parent")
        if not isinstance(issuer, str) or not (
            issuer == ROOT_ISSUER or NODE_ID_PATTERN.fullmatch(issuer)
        ):
            raise CertificateError("malformed", f"certificate of {node}: bad issuer")
        name, serial, sig = document["name"], document["serial"], document["sig"]
        if not isinstance(name, str) or not 0 < len(name) <= 200:
            raise CertificateError("malformed", f"certificate of {node}: bad name")
        if type(serial) is not int or not 0 < serial < 2**62:
            raise CertificateError("malformed", f"certificate of {node}: bad serial")
        for label in ("signing_key", "encryption_key"):
            if not _is_key(document[label]):
                raise CertificateError("malformed", f"certificate of {node}: bad {label}")
        if not isinstance(sig, str):
            raise CertificateError("malformed", f"certificate of {node}: bad signature field")
        try:
            not_before = parse_iso(document["not_before"])
            not_after = parse_iso(document["not_after"])
        except (TypeError, ValueError) as exc:
            raise CertificateError("malformed", f"certificate of {node}: bad validity") from exc
        if not not_before < not_after:
            raise CertificateError("malformed", f"certificate of {node}: empty validity")
        certificate = cls(
            node=node,
            name=name,
            parent=parent,
            signing_key=document["signing_key"],
            encryption_key=document["encryption_key"],
            serial=serial,
            not_before=not_before,
            not_after=not_after,
            issuer=issuer,
            signature=sig,
        )
        if certificate.document() != document:
            # A time written another way (another offset, other precision) would not re-encode
            # to the signed bytes.
            raise CertificateError("malformed", f"certificate of {node}: not in canonical form")
        return certificate


def _is_key(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return len(base64.b64decode(value, validate=True)) == 32
    except ValueError:
        return False


def expected_issuer(certificate: NodeCertificate) -> str:
    """Who must have signed ``certificate``: its parent, or the root for the central node."""
    return certificate.parent if certificate.parent is not None else ROOT_ISSUER


def issue_certificate(
    *,
    issuer_key: Ed25519PrivateKey,
    issuer: str,
    node: str,
    name: str,
    parent: str | None,
    signing_key: str,
    encryption_key: str,
    serial: int,
    not_before: datetime,
    not_after: datetime,
) -> NodeCertificate:
    """Sign a certificate. Only public keys of the subject are needed: its private keys never
    leave it. The issuer must be the parent (the root for a node without one)."""
    unsigned = NodeCertificate(
        node=node,
        name=name,
        parent=parent,
        signing_key=signing_key,
        encryption_key=encryption_key,
        serial=serial,
        # Whole seconds: what ``iso`` writes is what is signed and parsed back.
        not_before=not_before.replace(microsecond=0),
        not_after=not_after.replace(microsecond=0),
        issuer=issuer,
        signature="",
    )
    if issuer != expected_issuer(unsigned):
        raise CertificateError("not_parent", f"{issuer} may not certify {node}")
    signature = b64e(issuer_key.sign(SIGNING_CONTEXT + canonical_json(unsigned.unsigned())))
    certificate = replace(unsigned, signature=signature)
    # Round-trip through the parser: what is issued is what every node will accept.
    return NodeCertificate.from_document(certificate.document())


def verify_issued(certificate: NodeCertificate, issuer_public_b64: str) -> None:
    """Raise ``CertificateError`` unless ``certificate`` names its parent (or the root) as
    issuer and its signature verifies with ``issuer_public_b64``."""
    if certificate.issuer != expected_issuer(certificate):
        raise CertificateError(
            "not_parent",
            f"certificate of {certificate.node} is signed by {certificate.issuer}, "
            f"not by its parent {expected_issuer(certificate)}",
        )
    try:
        verify_signature(
            issuer_public_b64,
            SIGNING_CONTEXT + canonical_json(certificate.unsigned()),
            certificate.signature,
        )
    except CryptoError as exc:
        raise CertificateError(
            "forged", f"certificate of {certificate.node}: signature does not verify"
        ) from exc


def public_key_b64(key: Ed25519PrivateKey) -> str:
    return b64e(key.public_key().public_bytes_raw())


def init_root(directory: Path) -> Ed25519PrivateKey:
    """Make the offline root key: ``root.key`` (mode 0600, never overwritten) and ``root.pub``
    (the public key every node is installed with)."""
    private_dir(directory)
    key_path = directory / ROOT_KEY_FILE
    key = Ed25519PrivateKey.generate()
    try:
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise FileExistsError(f"{key_path} exists; refusing to overwrite the root key") from exc
    try:
        os.write(fd, b64e(key.private_bytes_raw()).encode("ascii") + b"\n")
    finally:
        os.close(fd)
    os.chmod(key_path, 0o600)
    write_root_public(directory / ROOT_PUBLIC_FILE, public_key_b64(key))
    return key


def write_root_public(path: Path, public_b64: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(public_b64 + "\n", encoding="ascii")


def load_root_key(directory: Path) -> Ed25519PrivateKey:
    try:
        raw = b64d((directory / ROOT_KEY_FILE).read_text().strip())
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"no root key in {directory}; run 'fedshare root init'") from exc
    return Ed25519PrivateKey.from_private_bytes(raw)


def read_root_public(path: Path) -> str:
    """The root public key a node is installed with (base64, one line)."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError as exc:
        raise FileNotFoundError(
            f"no root public key at {path}: install the federation's root.pub there"
        ) from exc
    if not _is_key(text):
        raise ValueError(f"{path} does not hold a 32-byte base64 public key")
    return text


def validity(
    now: datetime, days: float, *, backdate: timedelta | None = None
) -> tuple[datetime, datetime]:
    """A validity window starting ``backdate`` before ``now`` (default: a day, for clock skew)
    and lasting ``days`` from ``now``."""
    start = now - (backdate if backdate is not None else timedelta(days=1))
    return start, now + timedelta(days=days)


REVOCATION_VERSION = 1
REVOCATION_CONTEXT = b"fedshare/v1/node-revocation\n"
REVOCATION_FIELDS = ("v", "node", "serials", "time", "reason", "issuer", "sig")
MAX_REVOKED_SERIALS = 64


@dataclass(frozen=True)
class Revocation(SignedDocument):
    """An ancestor's signed statement that ``node``'s certificates with the ``serials`` listed
    (and every earlier serial) are revoked from ``time`` on, for ``reason``.

    Every earlier serial too: a certificate issued before the compromise but learned after the
    revocation must not bring the node back. Only a certificate with a higher serial, which only
    the parent can issue, re-admits the node (with new keys)."""

    node: str
    serials: tuple[int, ...]
    time: datetime
    reason: str
    issuer: str
    signature: str

    @property
    def up_to_serial(self) -> int:
        return max(self.serials)

    def unsigned(self) -> dict[str, Any]:
        return {
            "v": REVOCATION_VERSION,
            "node": self.node,
            "serials": list(self.serials),
            "time": iso(self.time),
            "reason": self.reason,
            "issuer": self.issuer,
        }

    @classmethod
    def from_document(cls, document: object) -> Revocation:
        """Parse a revocation document (its signature is checked by ``verify_revocation``)."""
        if not isinstance(document, dict) or set(document) != set(REVOCATION_FIELDS):
            raise CertificateError("malformed", "revocation: wrong set of fields")
        if document["v"] != REVOCATION_VERSION:
            raise CertificateError("malformed", "revocation: unknown version")
        node, issuer, serials = document["node"], document["issuer"], document["serials"]
        for label, value in (("node", node), ("issuer", issuer)):
            valid_id = isinstance(value, str) and len(value) <= 64
            if not valid_id or not NODE_ID_PATTERN.fullmatch(value):
                raise CertificateError("malformed", f"revocation: bad {label}")
        if (
            not isinstance(serials, list)
            or not 0 < len(serials) <= MAX_REVOKED_SERIALS
            or not all(type(s) is int and 0 < s < 2**62 for s in serials)
            or serials != sorted(set(serials))
        ):
            raise CertificateError("malformed", "revocation: bad serials")
        reason, sig = document["reason"], document["sig"]
        if not isinstance(reason, str) or not 0 < len(reason) <= 500:
            raise CertificateError("malformed", "revocation: bad reason")
        if not isinstance(sig, str):
            raise CertificateError("malformed", "revocation: bad signature field")
        try:
            time = parse_iso(document["time"])
        except (TypeError, ValueError) as exc:
            raise CertificateError("malformed", "revocation: bad time") from exc
        revocation = cls(
            node=node,
            serials=tuple(serials),
            time=time,
            reason=reason,
            issuer=issuer,
            signature=sig,
        )
        if revocation.document() != document:
            raise CertificateError("malformed", "revocation: not in canonical form")
        return revocation


def issue_revocation(
    *,
    issuer_key: Ed25519PrivateKey,
    issuer: str,
    node: str,
    serials: list[int],
    time: datetime,
    reason: str,
) -> Revocation:
    """Sign a revocation of ``node``'s certificates ``serials`` (and every earlier one) as
    ``issuer``, which must be one of its ancestors (checked where it is learned, against the
    tree)."""
    unsigned = Revocation(
        node=node,
        serials=tuple(sorted(set(serials))),
        time=time.replace(microsecond=0),
        reason=reason,
        issuer=issuer,
        signature="",
    )
    signature = b64e(issuer_key.sign(REVOCATION_CONTEXT + canonical_json(unsigned.unsigned())))
    return Revocation.from_document(replace(unsigned, signature=signature).document())


def verify_revocation(revocation: Revocation, issuer_public_b64: str) -> None:
    """Raise ``CertificateError("forged")`` unless the revocation's signature verifies with
    ``issuer_public_b64`` (whether the issuer may revoke the node is the tree's question)."""
    try:
        verify_signature(
            issuer_public_b64,
            REVOCATION_CONTEXT + canonical_json(revocation.unsigned()),
            revocation.signature,
        )
    except CryptoError as exc:
        raise CertificateError(
            "forged", f"revocation of {revocation.node}: signature does not verify"
        ) from exc


ANNOUNCEMENT_VERSION = 1
ANNOUNCEMENT_CONTEXT = b"fedshare/v1/key-announcement\n"
ANNOUNCEMENT_FIELDS = ("v", "node", "signing_key", "encryption_key", "time", "sig")


@dataclass(frozen=True)
class KeyAnnouncement(SignedDocument):
    """A node's announcement of its next keys, signed by its current (certified) signing key:
    what its parent needs to certify them (``fedshare node certify --announcement``)."""

    node: str
    signing_key: str
    encryption_key: str
    time: datetime
    signature: str

    def unsigned(self) -> dict[str, Any]:
        return {
            "v": ANNOUNCEMENT_VERSION,
            "node": self.node,
            "signing_key": self.signing_key,
            "encryption_key": self.encryption_key,
            "time": iso(self.time),
        }

    @classmethod
    def from_document(cls, document: object) -> KeyAnnouncement:
        if not isinstance(document, dict) or set(document) != set(ANNOUNCEMENT_FIELDS):
            raise CertificateError("malformed", "key announcement: wrong set of fields")
        node = document["node"]
        if (
            document["v"] != ANNOUNCEMENT_VERSION
            or not isinstance(node, str)
            or not NODE_ID_PATTERN.fullmatch(node)
            or not _is_key(document["signing_key"])
            or not _is_key(document["encryption_key"])
            or not isinstance(document["sig"], str)
        ):
            raise CertificateError("malformed", "key announcement: bad field")
        try:
            time = parse_iso(document["time"])
        except (TypeError, ValueError) as exc:
            raise CertificateError("malformed", "key announcement: bad time") from exc
        return cls(
            node=node,
            signing_key=document["signing_key"],
            encryption_key=document["encryption_key"],
            time=time,
            signature=document["sig"],
        )


def announce_next_keys(
    *, current: Ed25519PrivateKey, node: str, signing_key: str, encryption_key: str, time: datetime
) -> KeyAnnouncement:
    """The announcement of ``node``'s next public keys, signed by its current signing key."""
    unsigned = KeyAnnouncement(
        node=node,
        signing_key=signing_key,
        encryption_key=encryption_key,
        time=time.replace(microsecond=0),
        signature="",
    )
    signature = b64e(current.sign(ANNOUNCEMENT_CONTEXT + canonical_json(unsigned.unsigned())))
    return replace(unsigned, signature=signature)


def verify_announcement(announcement: KeyAnnouncement, current_public_b64: str) -> None:
    """Raise ``CertificateError("forged")`` unless the announcement was signed by the node's
    current certified signing key ``current_public_b64``."""
    try:
        verify_signature(
            current_public_b64,
            ANNOUNCEMENT_CONTEXT + canonical_json(announcement.unsigned()),
            announcement.signature,
        )
    except CryptoError as exc:
        raise CertificateError(
            "forged", f"key announcement of {announcement.node}: not signed by its current key"
        ) from exc
