"""The federation's PKI: one CA, and per node X.509 certificates that carry the node's Ed25519 key.

DESIGN §10: one PKI for transport and identity. A node's certificates certify the very Ed25519
signing key that the topology lists for it (the key its envelopes are signed with), so issuing
needs only public material: the CA holder reads the node's public key from the topology and no
private key ever leaves its node. Each node gets

- a **server** certificate (EKU serverAuth) for its leafnode listener, with the host names and IP
  addresses of its ``leaf`` and ``nats`` addresses as SANs, and
- a **client** certificate (EKU clientAuth) whose subject ``CN=<node id>,O=fedshare`` names the
  node; the parent's leafnode listener verifies it against the CA and maps it (``verify_and_map``)
  to that child's NATS user, whose permissions are the child's alone.

Guarantees kept here: the CA key and every private key file are written mode 0600 and never
overwritten silently; a certificate is only ever issued for the key the topology lists for that
node id; certificates are short-lived enough to rotate (default two years, CA ten) and carry
their node id in the subject, so a certificate of one node cannot stand for another.

§11 grows this into a chain (root → central → province …, each node certifying its children);
``issue_node_certificates`` takes the issuing authority as an argument so that the root CA can
later be replaced by the parent's own certificate.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from node.crypto import b64d
from node.storage import private_dir
from node.topology import NodeInfo

CA_KEY_FILE = "ca.key"
CA_CERT_FILE = "ca.crt"
SERVER_CERT_FILE = "server.crt"
CLIENT_CERT_FILE = "client.crt"
NODE_KEY_FILE = "node.key"
ORGANIZATION = "fedshare"
CA_DAYS = 3650
NODE_DAYS = 730


class PkiError(Exception):
    """A CA or certificate that cannot be made or used as asked."""


def node_subject_dn(node_id: str) -> str:
    """The subject of a node's client certificate as nats-server prints it (RFC 4514 order):
    the user name that ``verify_and_map`` maps the certificate to."""
    return f"CN={node_id},O={ORGANIZATION}"


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def write_private(path: Path, data: bytes, *, force: bool = False) -> None:
    """Write a secret file with mode 0600 from the start (never briefly world-readable), in a
    0700 directory."""
    private_dir(path.parent)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    if not force:
        flags |= os.O_EXCL
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError as exc:
        raise PkiError(f"{path} exists; refusing to overwrite it") from exc
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(path, 0o600)


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class CertificateAuthority:
    """An issuing authority: its key and certificate (the federation CA today; §11: a parent)."""

    key: Ed25519PrivateKey
    cert: x509.Certificate

    @property
    def cert_pem(self) -> bytes:
        return cert_pem(self.cert)


def init_ca(
    directory: Path,
    *,
    name: str = "fedshare federation CA",
    days: int = CA_DAYS,
    force: bool = False,
    now: dt.datetime,
) -> CertificateAuthority:
    """Make a CA key (``ca.key``, 0600) and its self-signed certificate (``ca.crt``), valid from
    ``now`` (the caller's clock)."""
    ca = make_ca(name=name, days=days, now=now)
    private_dir(directory)
    write_private(directory / CA_KEY_FILE, private_key_pem(ca.key), force=force)
    write_private(directory / CA_CERT_FILE, cert_pem(ca.cert), force=True)
    return ca


def make_ca(*, name: str, days: int = CA_DAYS, now: dt.datetime) -> CertificateAuthority:
    """A fresh CA key and its self-signed certificate (nothing written)."""
    key = Ed25519PrivateKey.generate()
    subject = _name(name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, None)
    )
    return CertificateAuthority(key, cert)


def load_ca(directory: Path) -> CertificateAuthority:
    try:
        key = serialization.load_pem_private_key((directory / CA_KEY_FILE).read_bytes(), None)
        cert = x509.load_pem_x509_certificate((directory / CA_CERT_FILE).read_bytes())
    except FileNotFoundError as exc:
        raise PkiError(f"no CA in {directory}; run 'fedshare pki init-ca'") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise PkiError(f"{directory / CA_KEY_FILE} is not an Ed25519 key")
    return CertificateAuthority(key, cert)


def _address_sans(urls: list[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    seen: set[str] = set()
    for url in urls:
        host = urlparse(url).hostname
        if not host or host in seen:
            continue
        seen.add(host)
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _issue(
    ca: CertificateAuthority,
    public_key: Ed25519PublicKey,
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    sans: list[x509.GeneralName],
    *,
    days: int,
    now: dt.datetime,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca.key, None)


@dataclass(frozen=True)
class NodeCertificates:
    server: x509.Certificate
    client: x509.Certificate


def issue_node_certificates(
    ca: CertificateAuthority,
    node: NodeInfo,
    *,
    days: int = NODE_DAYS,
    now: dt.datetime,
) -> NodeCertificates:
    """Certify the Ed25519 key the topology lists for ``node``: a server certificate for its
    listeners (SANs from its ``leaf`` and ``nats`` addresses) and a client certificate naming it
    (``CN=<id>,O=fedshare``) for its leaf link to its parent. Valid from ``now``."""
    public_key = Ed25519PublicKey.from_public_bytes(b64d(node.signing_key))
    server = _issue(
        ca,
        public_key,
        _name(node.id),
        ExtendedKeyUsageOID.SERVER_AUTH,
        _address_sans([node.leaf, node.nats]),
        days=days,
        now=now,
    )
    client = _issue(
        ca, public_key, _name(node.id), ExtendedKeyUsageOID.CLIENT_AUTH, [], days=days, now=now
    )
    return NodeCertificates(server=server, client=client)


def write_node_certificates(
    ca: CertificateAuthority, certificates: NodeCertificates, directory: Path
) -> None:
    """Write the node's ``server.crt``, ``client.crt`` and the CA's ``ca.crt``: public, yet
    0600 like everything in a node's data directory."""
    private_dir(directory)
    write_private(directory / SERVER_CERT_FILE, cert_pem(certificates.server), force=True)
    write_private(directory / CLIENT_CERT_FILE, cert_pem(certificates.client), force=True)
    write_private(directory / CA_CERT_FILE, ca.cert_pem, force=True)


def write_node_tls_key(signing_key: Ed25519PrivateKey, directory: Path) -> Path:
    """The node's signing key in the PEM form nats-server reads (``node.key``, 0600): the key that
    its certificates certify. Rewritten on every call, so it follows a key rotation."""
    path = directory / NODE_KEY_FILE
    write_private(path, private_key_pem(signing_key), force=True)
    return path


def certificate_matches_key(cert: x509.Certificate, node: NodeInfo) -> bool:
    """Whether ``cert`` certifies the key the topology lists for ``node`` (a stale certificate
    after a key rotation does not)."""
    public = cert.public_key()
    if not isinstance(public, Ed25519PublicKey):
        return False
    return public.public_bytes_raw() == b64d(node.signing_key)


# -- each node's link CA (onboarding, issue 12 item 2) ------------------------------------------
#
# A running parent certifies a joining child's leaf link without the federation CA's key (which
# stays offline): every node keeps a CA of its own, the *link CA* (``link-ca.key``, 0600, and
# ``link-ca.crt``), which issues the client certificates of the children it admits. Only that
# node's leaf listener trusts it (its ``ca_file`` is ``leaf-ca.crt``: the federation CA plus its
# own link CA), so what it issues opens no other node's listener, and ``verify_and_map`` maps
# the subject only to a child that node has. A node that joined this way also serves its own
# listener with a certificate from its own link CA; its future children are told (in the signed
# join answer) which CAs verify their parent's listener.

LINK_CA_KEY_FILE = "link-ca.key"
LINK_CA_CERT_FILE = "link-ca.crt"
LEAF_CA_BUNDLE_FILE = "leaf-ca.crt"


def ensure_link_ca(tls_dir: Path, node_id: str, *, now: dt.datetime) -> CertificateAuthority:
    """This node's link CA, made on first use (key 0600, never overwritten)."""
    key_path = tls_dir / LINK_CA_KEY_FILE
    cert_path = tls_dir / LINK_CA_CERT_FILE
    if key_path.exists() and cert_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), None)
        if not isinstance(key, Ed25519PrivateKey):
            raise PkiError(f"{key_path} is not an Ed25519 key")
        return CertificateAuthority(key, x509.load_pem_x509_certificate(cert_path.read_bytes()))
    ca = make_ca(name=f"fedshare link CA {node_id}", now=now)
    write_private(key_path, private_key_pem(ca.key), force=True)
    write_private(cert_path, ca.cert_pem, force=True)
    return ca


def trusted_ca_pem(tls_dir: Path) -> bytes:
    """The CAs that verify this node's own listener: the federation CA (``ca.crt``, if the node
    was set up with ``fedshare pki``) and its link CA. A joining child gets these (signed)."""
    parts = [tls_dir / CA_CERT_FILE, tls_dir / LINK_CA_CERT_FILE]
    return b"".join(path.read_bytes() for path in parts if path.is_file())


def write_leaf_ca_bundle(tls_dir: Path, node_id: str, *, now: dt.datetime) -> Path:
    """``leaf-ca.crt``: what the leaf listener accepts client certificates from (the federation
    CA's and this node's link CA's). Rewritten only when it changes."""
    ensure_link_ca(tls_dir, node_id, now=now)
    bundle = trusted_ca_pem(tls_dir)
    path = tls_dir / LEAF_CA_BUNDLE_FILE
    if not path.is_file() or path.read_bytes() != bundle:
        write_private(path, bundle, force=True)
    return path


def issue_child_client_certificate(
    ca: CertificateAuthority,
    child_id: str,
    signing_key_b64: str,
    *,
    days: int = NODE_DAYS,
    now: dt.datetime,
) -> x509.Certificate:
    """A joining child's client certificate (``CN=<child>,O=fedshare``, clientAuth) for its
    certified signing key, issued by this node's link CA."""
    public_key = Ed25519PublicKey.from_public_bytes(b64d(signing_key_b64))
    return _issue(
        ca, public_key, _name(child_id), ExtendedKeyUsageOID.CLIENT_AUTH, [], days=days, now=now
    )


def issue_own_server_certificate(
    ca: CertificateAuthority,
    node_id: str,
    signing_key_b64: str,
    addresses: list[str],
    *,
    days: int = NODE_DAYS,
    now: dt.datetime,
) -> x509.Certificate:
    """A joined node's server certificate for its own listeners (SANs from ``addresses``),
    issued by its own link CA, for its certified signing key."""
    public_key = Ed25519PublicKey.from_public_bytes(b64d(signing_key_b64))
    return _issue(
        ca,
        public_key,
        _name(node_id),
        ExtendedKeyUsageOID.SERVER_AUTH,
        _address_sans(addresses),
        days=days,
        now=now,
    )
