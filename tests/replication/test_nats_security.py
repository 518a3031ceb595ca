"""Every NATS connection of the federation is authenticated and limited (DESIGN §10, issue 9).

Issue 9's attack, tried against the demo: a plain NATS client with no credentials, connected to a
county's client port, listed every node's streams through the JetStream domain API, deleted the
root's inbound stream and purged a province's outbound stream. Here each step of it, and each
thing a node's *real* credentials could be abused for, is refused by the server:

- no credentials, or forged ones, at every client port and every leaf port;
- a county's own node-service credentials on its own server: no other domain's API beyond the
  source watch's probe, no other node's subjects, no other node's consumer;
- a county's own leaf certificate, spoken over a bare leafnode connection (``tests/natswire``,
  so nothing but the parent's server checks it): no stream management, no other filter, no other
  consumer, no other node's subjects or deliveries, not its sibling's identity.

Records still flow afterwards.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
import nkeys
import pytest
from nats.errors import Error as NatsError

from node.federation import Federation, leaf_port_of
from node.pki import (
    init_ca,
    issue_node_certificates,
    node_subject_dn,
    write_node_certificates,
)
from tests.natswire import LeafRefused, RawLeaf
from tests.support import FederationClient, wait_for

pytestmark = pytest.mark.federation


@pytest.fixture(scope="module")
def fed(demo_federation: FederationClient) -> Federation:
    return demo_federation.federation


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _connect_fails(**options: Any) -> str:
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    try:
        nc = await nats.connect(
            allow_reconnect=False, connect_timeout=2, error_cb=on_error, **options
        )
    except (NatsError, OSError, TimeoutError) as exc:
        return f"{type(exc).__name__}: {exc} {errors}"
    await nc.close()
    raise AssertionError(f"connected with {options}")


async def _stream_state(options: dict[str, Any], stream: str) -> tuple[int, int]:
    nc = await nats.connect(**options)
    try:
        info = await nc.jetstream().stream_info(stream)
        return int(info.state.messages), int(info.state.last_seq)
    finally:
        await nc.close()


def stream_state(fed: Federation, node: str, stream: str) -> tuple[int, int]:
    """(messages, last sequence) of ``stream``, read with ``node``'s own credentials."""
    result: tuple[int, int] = run(_stream_state(fed.nats_options(node), stream))
    return result


def leaf(fed: Federation, parent: str, as_node: str, **kwargs: Any) -> RawLeaf:
    tls = fed.nodes[as_node].data_dir / "tls"
    return RawLeaf(
        leaf_port_of(fed.topology, parent),  # type: ignore[arg-type]
        cert=kwargs.pop("cert", tls / "client.crt"),
        key=kwargs.pop("key", tls / "node.key"),
        ca=fed.nodes[parent].data_dir / "tls" / "ca.crt",
        **kwargs,
    )


def assert_records_flow(client: FederationClient) -> None:
    up = client.create_record("huanglong", {"category": "practice", "title": "攻击之后上行"})
    down = client.create_record("central", {"category": "policy", "title": "攻击之后下行"})
    wait_for(lambda: client.record_version("central", up["id"]) == 1, message="up to central")
    wait_for(lambda: client.record_version("yichuan", down["id"]) == 1, message="down to yichuan")


# -- no credentials, wrong credentials ----------------------------------------------------------


def test_no_credentials_are_refused_at_every_port(fed: Federation) -> None:
    assert fed.topology is not None
    for node_id, info in fed.topology.nodes.items():
        refused = run(_connect_fails(servers=[info.nats]))
        assert "Authorization" in refused or "authorization" in refused.lower(), refused
        if fed.topology.children(node_id):
            port = leaf_port_of(fed.topology, node_id)
            with pytest.raises(LeafRefused):
                RawLeaf(port, cert=None, key=None, ca=Path("/dev/null"), tls=False)
            with pytest.raises(LeafRefused):  # TLS, but no client certificate
                RawLeaf(port, cert=None, key=None, ca=fed.ca_dir / "ca.crt")


def test_forged_credentials_are_refused(fed: Federation, tmp_path: Path) -> None:
    assert fed.topology is not None
    # A well-formed nkey the server does not know.
    seed = tmp_path / "forged.nk"
    seed.write_bytes(bytes(nkeys.encode_seed(b"\x01" * 32, nkeys.PREFIX_BYTE_USER)))
    options = dict(fed.nats_options("huanglong"), nkeys_seed=str(seed))
    assert "uthorization" in run(_connect_fails(**options))
    # A leaf user's name (the certificate subject) is not a password for the client port.
    for node in ("huanglong", "yanan"):
        address = fed.topology.get(node).nats
        refused = run(_connect_fails(servers=[address], user=node_subject_dn("huanglong")))
        assert "uthorization" in refused

    # A certificate for yichuan's very key and name, from another CA.
    now = datetime.now(UTC)
    rogue = init_ca(tmp_path / "rogue-ca", now=now)
    write_node_certificates(
        rogue,
        issue_node_certificates(rogue, fed.topology.get("yichuan"), now=now),
        tmp_path / "rogue",
    )
    with pytest.raises(LeafRefused):
        leaf(fed, "yanan", "yichuan", cert=tmp_path / "rogue" / "client.crt")
    # A valid child certificate at a server that is not its parent: no user there.
    with pytest.raises(LeafRefused):
        leaf(fed, "shaanxi", "huanglong")
    with pytest.raises(LeafRefused):
        leaf(fed, "central", "huanglong")
    # A node's server certificate is not a client certificate.
    with pytest.raises(LeafRefused):
        leaf(fed, "yanan", "huanglong", cert=fed.nodes["huanglong"].data_dir / "tls/server.crt")


# -- a county's own node-service credentials -----------------------------------------------------


async def _try_publish(options: dict[str, Any], subject: str, payload: bytes = b"") -> str:
    """Publish with ``options``; the server's refusal (a permission violation), or ``""``."""
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    nc = await nats.connect(error_cb=on_error, **options)
    try:
        try:
            await nc.request(subject, payload, timeout=1.5)
        except NatsError as exc:
            errors.append(type(exc).__name__)
        # The server answers -ERR before the flush's PONG, and the client hands errors to
        # error_cb before it reads on: once the flush returns, any refusal is recorded.
        await nc.flush()
    finally:
        await nc.close()
    return " ".join(errors)


ISSUE_9_ATTACK = [
    # Issue 9, step by step, from a county: list every node's streams, delete the root's inbound
    # stream, purge a province's outbound stream.
    "$JS.central.API.STREAM.NAMES",
    "$JS.central.API.STREAM.LIST",
    "$JS.central.API.STREAM.DELETE.IN_central",
    "$JS.shaanxi.API.STREAM.PURGE.OUT_shaanxi",
    "$JS.yanan.API.STREAM.DELETE.IN_yanan",
    "$JS.yanan.API.STREAM.PURGE.OUT_yanan",
    "$JS.yanan.API.STREAM.UPDATE.OUT_yanan",
    "$JS.yanan.API.STREAM.INFO.IN_yanan",
    "$JS.yanan.API.CONSUMER.CREATE.OUT_yanan.x.fs.yanan.down.yichuan",
    "$JS.yanan.API.CONSUMER.MSG.NEXT.IN_yanan.apply_yanan",
    "$JS.yanan.API.CONSUMER.DELETE.IN_yanan.apply_yanan",
    "$JS.yanan.API.STREAM.MSG.GET.OUT_yanan",
    "$JS.yichuan.API.STREAM.INFO.OUT_yichuan",
    "$JS.ACK.IN_yanan.apply_yanan.1.1.1.1.0",
    "fs.yanan.down.yichuan",
    "fs.yichuan.up",
    "fs.central.up",
]


def test_a_countys_service_credentials_reach_nothing_of_other_nodes(
    demo_federation: FederationClient, fed: Federation
) -> None:
    before = {
        ("central", "IN_central"): stream_state(fed, "central", "IN_central"),
        ("shaanxi", "OUT_shaanxi"): stream_state(fed, "shaanxi", "OUT_shaanxi"),
        ("yanan", "IN_yanan"): stream_state(fed, "yanan", "IN_yanan"),
        ("yanan", "OUT_yanan"): stream_state(fed, "yanan", "OUT_yanan"),
    }
    county = fed.nats_options("huanglong")
    for subject in ISSUE_9_ATTACK:
        refusal = run(_try_publish(county, subject, b"{}"))
        assert "permissions violation" in refusal.lower(), (subject, refusal)
    # What the source watch needs does answer: STREAM.INFO of the parent's OUT.
    assert run(_try_publish(county, "$JS.yanan.API.STREAM.INFO.OUT_yanan")) == ""
    for (node, stream), (messages, last_seq) in before.items():
        now_messages, now_last = stream_state(fed, node, stream)
        assert now_last >= last_seq, (node, stream)
        assert now_messages >= messages, (node, stream)
    assert_records_flow(demo_federation)


# -- a county's own leaf certificate, on a bare leaf connection ----------------------------------


LEAF_ATTACKS = [
    # as huanglong at yanan: stream management of the parent's streams
    "$JS.yanan.API.STREAM.DELETE.IN_yanan",
    "$JS.yanan.API.STREAM.PURGE.OUT_yanan",
    "$JS.yanan.API.STREAM.UPDATE.IN_yanan",
    "$JS.yanan.API.STREAM.CREATE.OUT_yanan",
    "$JS.yanan.API.STREAM.NAMES",
    "$JS.yanan.API.STREAM.MSG.DELETE.OUT_yanan",
    # ... and of the root's, through the parent
    "$JS.central.API.STREAM.DELETE.IN_central",
    "$JS.shaanxi.API.STREAM.PURGE.OUT_shaanxi",
    # another filter on the parent's OUT: the sibling's traffic, or everything
    "$JS.yanan.API.CONSUMER.CREATE.OUT_yanan.x.fs.yanan.down.yichuan",
    "$JS.yanan.API.CONSUMER.CREATE.OUT_yanan.x.fs.yanan.up",
    "$JS.yanan.API.CONSUMER.CREATE.OUT_yanan.x",
    "$JS.yanan.API.CONSUMER.DURABLE.CREATE.OUT_yanan.x",
    # the parent's own consumer: read it, ack it, delete it
    "$JS.yanan.API.CONSUMER.MSG.NEXT.IN_yanan.apply_yanan",
    "$JS.yanan.API.CONSUMER.DELETE.IN_yanan.apply_yanan",
    "$JS.yanan.API.CONSUMER.INFO.IN_yanan.apply_yanan",
    # other nodes' subjects and deliveries
    "fs.yanan.up",
    "fs.yanan.down.yichuan",
    "fs.yichuan.up",
    "fsrc.yanan.yichuan.S.x",
    "fsrc.yichuan.yanan.S.x",
    "_INBOX.yanan.x",
]


@pytest.mark.parametrize("subject", LEAF_ATTACKS)
def test_a_childs_leaf_certificate_cannot(fed: Federation, subject: str) -> None:
    conn = leaf(fed, "yanan", "huanglong")
    try:
        conn.publish(subject, b"{}", reply="_INBOX.huanglong.attack")
        refusal = conn.wait_for(lambda f: f.op == "-ERR", timeout=3)
        assert refusal is not None, subject
        assert "Permissions Violation for Publish" in refusal.text, refusal.text
    finally:
        conn.close()


async def _fetch_without_ack(options: dict[str, Any], stream: str, durable: str) -> Any:
    nc = await nats.connect(**options)
    sub = await nc.jetstream().pull_subscribe_bind(durable, stream)
    msgs = await sub.fetch(1, timeout=10)
    return nc, msgs[0]


async def _ack_pending(options: dict[str, Any], stream: str, durable: str) -> int:
    nc = await nats.connect(**options)
    try:
        info = await nc.jetstream().consumer_info(stream, durable)
        return int(info.num_ack_pending)
    finally:
        await nc.close()


def test_a_childs_leaf_cannot_ack_the_parents_consumer(
    demo_federation: FederationClient, fed: Federation
) -> None:
    """nats-server forwards ``$JS.ACK.*`` from a leaf without checking any permission; the
    child's link lands in an account of its own, where no consumer of the parent's is."""
    yanan = fed.nats_options("yanan")
    fed.stop_api("yanan")
    try:
        record = demo_federation.create_record(
            "huanglong", {"category": "practice", "title": "等待延安处理"}
        )

        async def scenario() -> tuple[int, int]:
            nc, msg = await _fetch_without_ack(yanan, "IN_yanan", "apply_yanan")
            try:
                # The stopped API may have left a delivery of its own unacknowledged: count
                # what is pending now, with ours among it, and require the same count after.
                pending_before = await _ack_pending(yanan, "IN_yanan", "apply_yanan")
                assert pending_before >= 1
                # The exact ack subject of the delivered message, sent over huanglong's link.
                conn = leaf(fed, "yanan", "huanglong")
                try:
                    conn.publish(msg.reply, b"+ACK")
                    conn.publish(msg.reply, b"")
                    conn.round_trip()  # the hub has handled both acks before we look
                finally:
                    conn.close()
                pending_after = await _ack_pending(yanan, "IN_yanan", "apply_yanan")
                await msg.nak()
                return pending_before, pending_after
            finally:
                await nc.close()

        before, after = run(scenario())
        assert after == before, "a forged ack reached the parent's consumer"
    finally:
        fed.start_api("yanan")
    wait_for(lambda: demo_federation.record_version("central", record["id"]) == 1)
    assert_records_flow(demo_federation)


def test_a_childs_leaf_does_what_sourcing_needs_and_no_more(
    demo_federation: FederationClient, fed: Federation
) -> None:
    before = stream_state(fed, "yanan", "IN_yanan")
    conn = leaf(fed, "yanan", "huanglong")
    try:
        # Positive control: the same bare connection gets real answers where sourcing needs them.
        info = conn.request("$JS.yanan.API.STREAM.INFO.OUT_yanan", "_INBOX.huanglong")
        assert info is not None
        assert info.op in ("LMSG", "HMSG"), info
        assert json.loads(info.payload)["config"]["name"] == "OUT_yanan"
        # Listening for what is addressed to others: the sibling's deliveries, the parent's
        # replies and inbox, every node's subjects. Subscribing is refused, or nothing arrives.
        for subject in ("fsrc.yichuan.yanan.>", "_INBOX.yanan.>", "fs.>", "$JS.ACK.>", ">"):
            conn.subscribe(subject)
        record = demo_federation.create_record(
            "central", {"category": "policy", "title": "只给宜川看的通知"}
        )
        wait_for(lambda: demo_federation.record_version("yichuan", record["id"]) == 1)
        leaked = conn.wait_for(
            lambda f: (
                f.op in ("LMSG", "HMSG")
                and (f.subject.startswith(("fsrc.yichuan", "_INBOX.yanan", "fs.", "$JS.ACK")))
            ),
            timeout=2,
        )
        assert leaked is None, leaked
    finally:
        conn.close()
    # Impersonating the sibling with one's own certificate: the user comes from the
    # certificate, so yichuan's sourcing subject is refused to huanglong.
    conn = leaf(fed, "yanan", "huanglong")
    try:
        conn.publish(
            "$JS.yanan.API.CONSUMER.CREATE.OUT_yanan.x.fs.yanan.down.yichuan",
            b"{}",
            reply="_INBOX.huanglong.x",
        )
        refusal = conn.wait_for(lambda f: f.op == "-ERR", timeout=3)
        assert refusal is not None
        assert "Permissions Violation" in refusal.text
    finally:
        conn.close()
    messages, last_seq = stream_state(fed, "yanan", "IN_yanan")
    assert last_seq >= before[1]
    assert messages >= before[0]
    assert_records_flow(demo_federation)
