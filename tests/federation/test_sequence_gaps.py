"""A relay that drops an envelope is noticed and the envelope is filled from its origin, over
real NATS: the province deletes what it relays down to a county from its own outbound stream
before the county sources it (with the province's own credentials, as a compromised or broken
relay could); the county shows the gap in its federation status and /metrics once the grace
period has passed, asks the origin, and the origin resends it through the same relay."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest

from node.replication.routing import down_subject, out_stream
from tests.support import FederationClient, prepared_federation, wait_for

pytestmark = pytest.mark.federation

CHAIN = [
    ("central", "中央", None),
    ("shaanxi", "陕西省", "central"),
    ("huanglong", "黄龙县", "shaanxi"),
]
GRACE_S = 30.0


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[FederationClient]:
    with prepared_federation(tmp_path / "fed", CHAIN, start=True, test_clock=True) as client:
        yield client


def drop_last_relayed(options: dict[str, Any], record_id: str) -> int:
    """Delete from shaanxi's outbound stream the envelope it relays down to huanglong about
    ``record_id``; its broadcast number."""

    async def go() -> int:
        nc = await nats.connect(**options)
        try:
            js = nc.jetstream()
            stream = out_stream("shaanxi")
            stored = await js.get_last_msg(stream, down_subject("shaanxi", "huanglong"))
            document = json.loads(stored.data)
            assert document["ref"]["record"] == record_id
            assert await js.delete_msg(stream, stored.seq)
            number: int = document["seq"]["*"]
            return number
        finally:
            await nc.close()

    return asyncio.run(go())


def relayed(client: FederationClient, node: str, record_id: str) -> bool:
    """``record_id`` is at ``node`` and ``node`` has published everything it queued."""
    pending = client.db_rows(node, "SELECT count(*) FROM outbox WHERE sent_at IS NULL")
    return client.record_version(node, record_id) == 1 and pending == [(0,)]


def star_channel(client: FederationClient) -> dict[str, Any]:
    status = client.get("huanglong", "admin", "/api/v1/federation/status").json()
    [found] = [c for c in status["sequences"]["central"] if c["channel"] == "*"]
    found["total_gaps"] = status["sequence_gaps"]
    result: dict[str, Any] = found
    return result


def metric(client: FederationClient, name: str) -> float | None:
    text = client.get("huanglong", "admin", "/metrics").text
    for line in text.splitlines():
        if line.startswith(f'{name}{{origin="central"}} '):
            return float(line.split()[-1])
    return None


def test_relay_drop_shows_as_gap_and_is_filled_from_the_origin(chain: FederationClient) -> None:
    fed = chain.federation
    first = chain.create_record("central", {"category": "practice", "title": "链路正常"})
    wait_for(lambda: chain.record_version("huanglong", first["id"]) == 1, message="first")

    # The county is away: what the province relays down waits in the province's stream.
    fed.stop_nats("huanglong")
    lost = chain.create_record("central", {"category": "practice", "title": "被中继丢弃"})
    wait_for(lambda: relayed(chain, "shaanxi", lost["id"]), message="lost relayed by shaanxi")
    number = drop_last_relayed(fed.nats_options("shaanxi"), lost["id"])
    kept = chain.create_record("central", {"category": "practice", "title": "之后的记录"})
    wait_for(lambda: relayed(chain, "shaanxi", kept["id"]), message="kept relayed by shaanxi")
    # The origin does not answer yet, so that the gap can be looked at before it is filled.
    fed.stop_api("central")
    fed.start_nats("huanglong")
    wait_for(lambda: chain.record_version("huanglong", kept["id"]) == 1, timeout=60)
    assert chain.record_version("huanglong", lost["id"]) is None

    star = star_channel(chain)
    assert (star["received_through"], star["highest"], star["pending"]) == (
        number - 1,
        number + 1,
        1,
    )
    assert star["gaps"] == []  # within the grace period it may still be on its way

    fed.advance_clock(GRACE_S + 1)
    star = star_channel(chain)
    assert [(g["from"], g["to"]) for g in star["gaps"]] == [(number, number)]
    assert star["total_gaps"] == 1
    assert metric(chain, "fedshare_inbound_sequence_gaps") == 1.0
    wait_for(
        lambda: star_channel(chain)["resend_requested_at"] is not None,
        message="a resend request from huanglong",
    )

    fed.start_api("central")
    wait_for(
        lambda: chain.record_version("huanglong", lost["id"]) == 1,
        timeout=60,
        message="the lost record, resent by central",
    )
    wait_for(lambda: star_channel(chain)["gaps"] == [], message="gap closed")
    star = star_channel(chain)
    assert (star["received_through"], star["pending"], star["filled"], star["voided"]) == (
        number + 1,
        0,
        1,
        0,
    )
    assert metric(chain, "fedshare_inbound_sequence_gaps") == 0.0
    assert metric(chain, "fedshare_inbound_sequence_gaps_filled_total") == 1.0
    # Applied once, under its original message id, and nothing was refused on the way.
    applied = chain.db_rows(
        "huanglong",
        "SELECT count(*) FROM inbox WHERE kind = 'record' AND object_id = :i",
        i=lost["id"],
    )
    assert applied == [(1,)]
    for node in ("shaanxi", "huanglong"):
        assert chain.db_rows(node, "SELECT reason FROM dead_letters") == [], node
