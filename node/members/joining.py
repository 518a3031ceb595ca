"""Joining the federation (issue 12 item 2): the join request a new node signs, the join answer
its parent signs on approval, and installing a verified answer at the new node.

A **join request** names the new node (id, Chinese name, the parent it asks to join), its public
signing and encryption keys and its addresses, with a time and a random nonce, signed with the
new node's signing key behind a domain label (``REQUEST_CONTEXT``): it proves that whoever sent
it holds that key. It travels with the one-time code the parent's admin gave out of band; the
code is never part of the signed document (nor stored anywhere but as a hash at the parent).

A **join answer** is what the parent hands back once its admin approved: the node's certificate
(issued by the parent, as ``fedshare node certify`` would), every certificate the parent holds
(parents first) with the addresses it knows, the revocations in force, the TLS client certificate
for the node's leaf link (issued by the parent's link CA, ``node.pki``) and the CAs that verify
the parent's leaf listener; all signed with the parent's certified signing key behind
``ANSWER_CONTEXT`` and bound to the request's digest.

Guarantees (``verify_answer``): the new node accepts an answer only if every certificate in it
chains to the root key it was installed with (out of band), the parent's signature verifies with
the parent's certified key, the answer is for its own request (digest), and its certificate names
exactly its id, name, parent and keys. So whoever answers the county's polls (a proxy, an
attacker on the network) cannot hand it another federation, other keys or a CA of their own.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlparse

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from node.certificates import CertificateError, NodeCertificate, Revocation
from node.clock import iso, parse_iso
from node.crypto import CryptoError, b64e, canonical_json, verify_signature
from node.membership import Membership
from node.settings import NODE_ID_PATTERN
from node.topology import NodeInfo, Topology, TopologyError

JOIN_VERSION = 1
REQUEST_CONTEXT = b"fedshare/v1/join-request\n"
ANSWER_CONTEXT = b"fedshare/v1/join-answer\n"
REQUEST_FIELDS = frozenset(
    {
        "v",
        "kind",
        "node",
        "name",
        "parent",
        "signing_key",
        "encryption_key",
        "api",
        "nats",
        "leaf",
        "time",
        "nonce",
        "sig",
    }
)
ANSWER_FIELDS = frozenset(
    {
        "v",
        "kind",
        "request",
        "node",
        "parent",
        "certificate",
        "members",
        "addresses",
        "revocations",
        "client_cert",
        "ca",
        "time",
        "sig",
    }
)
# How far a request's time may be from the parent's clock (the request is refused as stale).
REQUEST_MAX_SKEW = timedelta(minutes=10)
ADDRESS_SCHEMES = {"api": ("http", "https"), "nats": ("nats",), "leaf": ("nats-leaf", "tls")}
MAX_ADDRESS = 300
NONCE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


class JoinError(ValueError):
    """A join request or answer that cannot be accepted; ``reason`` is a stable code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _is_key(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return len(base64.b64decode(value, validate=True)) == 32
    except ValueError:
        return False


def _address(kind: str, value: object) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ADDRESS:
        raise JoinError("malformed", f"join request: bad {kind} address")
    parsed = urlparse(value)
    if (
        parsed.scheme not in ADDRESS_SCHEMES[kind]
        or not parsed.hostname
        or parsed.port is None
        or any(c in value for c in '"\\ \n\r\t')
    ):
        raise JoinError("malformed", f"join request: bad {kind} address")
    return value


@dataclass(frozen=True)
class JoinRequest:
    document: dict[str, Any]

    @property
    def node(self) -> str:
        return str(self.document["node"])

    @property
    def name(self) -> str:
        return str(self.document["name"])

    @property
    def parent(self) -> str:
        return str(self.document["parent"])

    @property
    def signing_key(self) -> str:
        return str(self.document["signing_key"])

    @property
    def encryption_key(self) -> str:
        return str(self.document["encryption_key"])

    @property
    def time(self) -> datetime:
        return parse_iso(str(self.document["time"]))

    def address(self, kind: str) -> str:
        return str(self.document[kind])

    @property
    def digest(self) -> str:
        return hashlib.sha256(canonical_json(self.document)).hexdigest()

    def to_json(self) -> str:
        return canonical_json(self.document).decode("utf-8")

    @classmethod
    def parse(cls, document: object) -> JoinRequest:
        """The exact shape, or ``JoinError("malformed")``; then the signature (``forged``)."""
        if not isinstance(document, dict) or set(document) != REQUEST_FIELDS:
            raise JoinError("malformed", "join request: wrong set of fields")
        if document["v"] != JOIN_VERSION or document["kind"] != "join-request":
            raise JoinError("malformed", "join request: unknown version or kind")
        for label in ("node", "parent"):
            value = document[label]
            if not isinstance(value, str) or not 0 < len(value) <= 64:
                raise JoinError("malformed", f"join request: bad {label}")
            if not NODE_ID_PATTERN.fullmatch(value):
                raise JoinError("malformed", f"join request: bad {label}")
        name = document["name"]
        if not isinstance(name, str) or not 0 < len(name.strip()) <= 200:
            raise JoinError("malformed", "join request: bad name")
        for label in ("signing_key", "encryption_key"):
            if not _is_key(document[label]):
                raise JoinError("malformed", f"join request: bad {label}")
        for kind in ADDRESS_SCHEMES:
            _address(kind, document[kind])
        if not isinstance(document["nonce"], str) or not NONCE_PATTERN.match(document["nonce"]):
            raise JoinError("malformed", "join request: bad nonce")
        if not isinstance(document["sig"], str):
            raise JoinError("malformed", "join request: bad signature field")
        try:
            when = parse_iso(document["time"])
        except (TypeError, ValueError) as exc:
            raise JoinError("malformed", "join request: bad time") from exc
        if iso(when) != document["time"]:
            raise JoinError("malformed", "join request: time not in canonical form")
        unsigned = {k: v for k, v in document.items() if k != "sig"}
        try:
            verify_signature(
                document["signing_key"], REQUEST_CONTEXT + canonical_json(unsigned), document["sig"]
            )
        except CryptoError as exc:
            raise JoinError("forged", "join request: signature does not verify") from exc
        return cls(dict(document))


def make_request(
    *,
    signing: Ed25519PrivateKey,
    node: str,
    name: str,
    parent: str,
    signing_key: str,
    encryption_key: str,
    api: str,
    nats: str,
    leaf: str,
    time: datetime,
) -> JoinRequest:
    """The new node's signed join request (checked by the same parser the parent uses)."""
    unsigned = {
        "v": JOIN_VERSION,
        "kind": "join-request",
        "node": node,
        "name": name,
        "parent": parent,
        "signing_key": signing_key,
        "encryption_key": encryption_key,
        "api": api,
        "nats": nats,
        "leaf": leaf,
        "time": iso(time.replace(microsecond=0)),
        "nonce": secrets.token_urlsafe(18),
    }
    signature = b64e(signing.sign(REQUEST_CONTEXT + canonical_json(unsigned)))
    return JoinRequest.parse({**unsigned, "sig": signature})


def sign_answer(
    *,
    signing: Ed25519PrivateKey,
    request: JoinRequest,
    certificate: NodeCertificate,
    members: list[NodeCertificate],
    addresses: dict[str, dict[str, str]],
    revocations: list[Revocation],
    client_cert_pem: str,
    ca_pem: str,
    time: datetime,
) -> dict[str, Any]:
    """The parent's answer to an approved request, signed with its signing key."""
    unsigned = {
        "v": JOIN_VERSION,
        "kind": "join-answer",
        "request": request.digest,
        "node": request.node,
        "parent": request.parent,
        "certificate": certificate.document(),
        "members": [member.document() for member in members],
        "addresses": addresses,
        "revocations": [revocation.document() for revocation in revocations],
        "client_cert": client_cert_pem,
        "ca": ca_pem,
        "time": iso(time.replace(microsecond=0)),
    }
    return {**unsigned, "sig": b64e(signing.sign(ANSWER_CONTEXT + canonical_json(unsigned)))}


@dataclass(frozen=True)
class VerifiedAnswer:
    certificate: NodeCertificate
    # Every member with the addresses the parent knows (those without stay out of the topology
    # file and are installed as learned certificates).
    topology: Topology
    learned: list[NodeCertificate]
    revocations: list[Revocation]
    client_cert_pem: bytes
    ca_pem: bytes


def _addresses(answer: dict[str, Any], node: str) -> dict[str, str] | None:
    entry = answer["addresses"].get(node) if isinstance(answer["addresses"], dict) else None
    if not isinstance(entry, dict):
        return None
    if not all(isinstance(entry.get(k), str) and entry.get(k) for k in ("api", "nats", "leaf")):
        return None
    return {k: str(entry[k]) for k in ("api", "nats", "leaf")}


def verify_answer(
    answer: object, request: JoinRequest, *, root_key: str, now: datetime
) -> VerifiedAnswer:
    """Accept the parent's answer only if it chains to ``root_key`` and is signed by the
    request's parent for this very request (``JoinError`` with a stable reason otherwise)."""
    if not isinstance(answer, dict) or set(answer) != ANSWER_FIELDS:
        raise JoinError("malformed", "join answer: wrong set of fields")
    if answer["v"] != JOIN_VERSION or answer["kind"] != "join-answer":
        raise JoinError("malformed", "join answer: unknown version or kind")
    if answer["request"] != request.digest or answer["node"] != request.node:
        raise JoinError("not_ours", "join answer: for another request")
    if answer["parent"] != request.parent:
        raise JoinError("not_ours", "join answer: from another parent")
    if not isinstance(answer["members"], list) or not isinstance(answer["revocations"], list):
        raise JoinError("malformed", "join answer: bad member list")
    try:
        certificate = NodeCertificate.from_document(answer["certificate"])
        members = [NodeCertificate.from_document(doc) for doc in answer["members"]]
        revocations = [Revocation.from_document(doc) for doc in answer["revocations"]]
    except CertificateError as exc:
        raise JoinError("malformed", f"join answer: {exc}") from exc
    if (
        certificate.node,
        certificate.name,
        certificate.parent,
        certificate.signing_key,
        certificate.encryption_key,
    ) != (
        request.node,
        request.name,
        request.parent,
        request.signing_key,
        request.encryption_key,
    ):
        raise JoinError("not_ours", "join answer: the certificate names another node or keys")
    by_id = {member.node: member for member in members}
    by_id[certificate.node] = certificate
    # Parents first: a member whose parent is not (yet) placed waits for it.
    ordered: list[NodeCertificate] = []
    placed: set[str | None] = {None}
    pending = list(by_id.values())
    while pending:
        ready = [c for c in pending if c.parent in placed]
        if not ready:
            raise JoinError("unchained", "join answer: a certificate whose parent is missing")
        for member in ready:
            ordered.append(member)
            placed.add(member.node)
        pending = [c for c in pending if c.node not in placed]
    try:
        full = Topology(
            [NodeInfo.certified(member) for member in ordered], root_key=root_key, now=now
        )
    except TopologyError as exc:
        raise JoinError("unchained", f"join answer: {exc}") from exc
    membership = Membership(full)
    for revocation in revocations:
        try:
            membership.revoke(revocation, now)
        except CertificateError as exc:
            raise JoinError("unchained", f"join answer: revocation: {exc}") from exc
    if membership.topology.is_revoked(request.parent):
        raise JoinError("unchained", "join answer: the parent is revoked")
    unsigned = {k: v for k, v in answer.items() if k != "sig"}
    try:
        parent_key = full.certified_signing_key(request.parent, now)
        verify_signature(parent_key, ANSWER_CONTEXT + canonical_json(unsigned), str(answer["sig"]))
    except (CryptoError, ValueError, TypeError) as exc:
        raise JoinError("forged", "join answer: the parent's signature does not verify") from exc
    except Exception as exc:
        raise JoinError("unchained", f"join answer: {exc}") from exc
    # The topology file: the members with addresses (a tree: their parents have addresses too).
    infos: list[NodeInfo] = []
    learned: list[NodeCertificate] = []
    addressed: set[str] = set()
    for member in ordered:
        found = _addresses(answer, member.node)
        if found is not None and (member.parent is None or member.parent in addressed):
            infos.append(NodeInfo.certified(member, **found))
            addressed.add(member.node)
        else:
            learned.append(member)
    if request.node not in addressed or request.parent not in addressed:
        raise JoinError("malformed", "join answer: no addresses for the node or its parent")
    for label in ("client_cert", "ca"):
        if not isinstance(answer[label], str) or "BEGIN CERTIFICATE" not in answer[label]:
            raise JoinError("malformed", f"join answer: bad {label}")
    try:
        client = x509.load_pem_x509_certificate(answer["client_cert"].encode("ascii"))
        x509.load_pem_x509_certificates(answer["ca"].encode("ascii"))
    except ValueError as exc:
        raise JoinError("malformed", "join answer: unreadable TLS certificates") from exc
    public = client.public_key()
    if not isinstance(public, Ed25519PublicKey) or b64e(public.public_bytes_raw()) != (
        request.signing_key
    ):
        raise JoinError("not_ours", "join answer: the client certificate is for another key")
    return VerifiedAnswer(
        certificate=certificate,
        topology=Topology(infos, root_key=root_key, now=now),
        learned=learned,
        revocations=revocations,
        client_cert_pem=answer["client_cert"].encode("ascii"),
        ca_pem=answer["ca"].encode("ascii"),
    )
