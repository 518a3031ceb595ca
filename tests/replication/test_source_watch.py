"""Inbound sources resume after a start in the wrong order (node/replication/sources.py).

The county's node comes up before its parent's: the county's ``IN`` stream sources the parent's
``OUT`` stream, which does not exist yet, so the nats-server's own retry backs off (10 s, 20 s …).
The node's source watch notices the stuck source once the parent answers and resets it; the
counter of resets tells that it was the watch, not the server's backoff, that got it flowing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import FederationClient, prepared_federation, wait_for

pytestmark = pytest.mark.federation

PAIR = [("central", "中央", None), ("huanglong", "黄龙县", "central")]


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[FederationClient]:
    with prepared_federation(tmp_path / "fed", PAIR) as client:
        yield client


def source_resets(client: FederationClient, node: str, peer: str) -> float:
    text = httpx.get(client.url(node, "/metrics"), headers=client.headers(node, "admin")).text
    pattern = rf'^fedshare_inbound_source_resets_total{{peer="{peer}"}} ([0-9.e+]+)$'
    match = re.search(pattern, text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_stuck_source_is_reset_once_the_peer_answers(pair: FederationClient) -> None:
    federation = pair.federation
    for node_id in federation.nodes:
        federation.start_nats(node_id)
    # The county first: its IN stream sources OUT_central before that stream exists.
    federation.start_api("huanglong")
    assert source_resets(pair, "huanglong", "central") == 0
    federation.start_api("central")

    down = pair.create_record("central", {"category": "policy", "title": "中央下发文件"})
    up = pair.create_record("huanglong", {"category": "practice", "title": "县级经验做法"})
    wait_for(lambda: pair.record_version("huanglong", down["id"]) == 1, message="down the link")
    wait_for(lambda: pair.record_version("central", up["id"]) == 1, message="up the link")
    assert source_resets(pair, "huanglong", "central") >= 1
    dead = pair.db_rows("huanglong", "SELECT count(*) FROM dead_letters")
    assert dead == [(0,)]


def test_healthy_sources_are_left_alone(pair: FederationClient) -> None:
    federation = pair.federation
    federation.start()
    first = pair.create_record("huanglong", {"category": "practice", "title": "第一条"})
    wait_for(lambda: pair.record_version("central", first["id"]) == 1, message="first record")
    before = source_resets(pair, "central", "huanglong")
    # Several more records over a healthy link, spread over more than one watch pass: no reset.
    for index in range(20):
        record = pair.create_record("huanglong", {"category": "practice", "title": f"第{index}条"})
        wait_for(lambda r=record: pair.record_version("central", r["id"]) == 1, message="record")
    assert source_resets(pair, "central", "huanglong") == before
