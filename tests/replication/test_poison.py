"""An inbox never stalls: a flood of poison on a county's upward subject is dead-lettered at the
province, one row per message, nothing is redelivered, and records keep flowing within seconds.

The poison is what an attacker on the county's server can publish: not JSON, deeply nested JSON,
a JSON list, oversized messages, envelope-shaped garbage with hostile ids (NUL bytes, overlong
strings), envelopes signed by a key the topology does not know, and envelopes properly signed
by the county itself but of an unknown kind.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
import pytest

from node.crypto import generate_keys, load_keys
from node.federation import Federation
from node.ids import is_uuid, uuid7
from node.replication.envelope import MAX_ENVELOPE_BYTES, seal_envelope
from node.replication.service import consumer_name, in_stream
from tests.support import FederationClient, prepared_federation, wait_for

pytestmark = pytest.mark.federation

PAIR = [("shaanxi", "陕西省", None), ("huanglong", "黄龙县", "shaanxi")]
SUBJECT = "fs.huanglong.up"
FLOOD = 2000


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[FederationClient]:
    with prepared_federation(tmp_path / "fed", PAIR, start=True) as client:
        yield client


def poison(federation: Federation) -> list[bytes]:
    """``FLOOD`` hostile messages of every shape."""
    county_keys = load_keys(federation.nodes["huanglong"].data_dir / "keys")
    stranger = generate_keys()
    topology = federation.topology
    assert topology is not None
    now = datetime.now(UTC)
    shapes: list[bytes] = []
    for index in range(FLOOD):
        match index % 8:
            case 0:
                shapes.append(b"\xff\xfe not json at all \x00")
            case 1:
                shapes.append(b"[" * 50_000)
            case 2:
                shapes.append(b'{"a":' * 20_000 + b"1" + b"}" * 20_000)
            case 3:
                shapes.append(json.dumps([1, 2, 3]).encode())
            case 4:
                hostile: dict[str, Any] = {
                    "v": 1,
                    "id": "\u0000" * 10 + "x" * 500,
                    "kind": "k\u0000" * 300,
                    "origin": "o" * 1000,
                    "dest": ["*"],
                    "time": "2026",
                    "ref": {},
                    "sig": "AAAA",
                    "payload": {},
                }
                shapes.append(json.dumps(hostile).encode())
            case 5:
                shapes.append(
                    seal_envelope(
                        keys=stranger,  # claims to be the county, signed by a stranger
                        topology=topology,
                        origin="huanglong",
                        kind="record",
                        dest=["*"],
                        ref={"record": uuid7()},
                        payload={"x": 1},
                        encrypt=False,
                        now=now,
                    )[1]
                )
            case 6:
                shapes.append(
                    seal_envelope(
                        keys=county_keys,
                        topology=topology,
                        origin="huanglong",
                        kind="no_such_kind",
                        dest=["*"],
                        ref={"x": uuid7()},
                        payload={"x": index},
                        encrypt=False,
                        now=now,
                    )[1]
                )
            case _:
                shapes.append(b"{" + b" " * 100 + b"}")
    # A few oversized ones, in place of not-JSON ones (the server's max_payload is larger
    # than the envelope cap).
    for index in (0, 8, 16):
        shapes[index] = b'"' + b"x" * (MAX_ENVELOPE_BYTES + 10) + b'"'
    return shapes


async def publish_all(options: dict[str, Any], messages: list[bytes]) -> None:
    nc = await nats.connect(**options)
    try:
        js = nc.jetstream()
        futures = [await js.publish_async(SUBJECT, data) for data in messages]
        await asyncio.gather(*futures)
    finally:
        await nc.close()


async def consumer_state(options: dict[str, Any], node: str) -> tuple[int, int, int]:
    nc = await nats.connect(**options)
    try:
        info = await nc.jetstream().consumer_info(in_stream(node), consumer_name(node))
        return int(info.num_pending or 0), int(info.num_ack_pending), int(info.num_redelivered)
    finally:
        await nc.close()


def test_flood_of_poison_is_dead_lettered_and_records_still_flow(pair: FederationClient) -> None:
    federation = pair.federation
    assert federation.topology is not None
    # The county's own credentials: a county whose node is compromised floods its own subject.
    county_url = federation.nats_options("huanglong")
    province_url = federation.nats_options("shaanxi")
    first = pair.create_record("huanglong", {"category": "practice", "title": "洪水前"})
    wait_for(lambda: pair.record_version("shaanxi", first["id"]) == 1, message="first record")

    messages = poison(federation)
    asyncio.run(publish_all(county_url, messages))
    after = pair.create_record("huanglong", {"category": "practice", "title": "洪水后"})
    # The record sent after the flood is behind 2,000 poison messages in the same stream.
    wait_for(lambda: pair.record_version("shaanxi", after["id"]) == 1, message="record after")

    rows = pair.db_rows("shaanxi", "SELECT reason, count(*) FROM dead_letters GROUP BY reason")
    reasons = {str(reason): int(count) for reason, count in rows}
    assert sum(reasons.values()) == FLOOD, reasons
    assert reasons.get("oversized") == 3
    assert reasons.get("bad_signature") == FLOOD // 8
    assert reasons.get("unknown_kind") == FLOOD // 8
    assert set(reasons) <= {"malformed", "oversized", "bad_signature", "unknown_kind"}
    # Every one was handled once: nothing left pending, nothing waiting for an ack, and no
    # message was delivered twice.
    assert asyncio.run(consumer_state(province_url, "shaanxi")) == (0, 0, 0)
    # What the dead letters keep of the hostile fields: nothing that is not well-formed.
    for msg_id, origin, kind in pair.db_rows(
        "shaanxi", "SELECT DISTINCT msg_id, origin, kind FROM dead_letters"
    ):
        assert msg_id is None or is_uuid(msg_id)
        assert origin in (None, "huanglong")
        assert kind in (None, "record", "no_such_kind")
