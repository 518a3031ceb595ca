"""Attachments over real nats-servers (leaf links, JetStream, an API process per node): a
restricted record's file travels county -> province -> central in sealed chunks, survives a leaf
link cut in the middle of the transfer (the chunks already at central are kept, the rest follow
when the link returns), and leaves no plaintext in any file of the relaying province (database,
WAL, JetStream store, log) nor in the origin's or the party's databases (sealed at rest)."""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.federation import leaf_port_of
from tests.release.test_reporter_federation import files_holding
from tests.support import FederationClient, LinkProxy, prepared_federation, wait_for

pytestmark = pytest.mark.federation

CHAIN = [
    ("central", "中央", None),
    ("shaanxi", "陕西省", "central"),
    ("huanglong", "黄龙县", "shaanxi"),
]
CHUNK = 16 * 1024
SIZE = 2 * 1024 * 1024


@pytest.fixture
def chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FederationClient]:
    # Small chunks: a 2 MiB file in 128 envelopes, so that a cut falls in the middle of it.
    monkeypatch.setenv("FEDSHARE_ATTACHMENT_CHUNK_BYTES", str(CHUNK))
    with prepared_federation(tmp_path / "fed", CHAIN) as client:
        yield client


def chunks_at(client: FederationClient, node: str, attachment_id: str) -> int:
    rows = client.db_rows(
        node,
        "SELECT count(*) FROM attachment_chunks c JOIN attachments a ON a.key = c.attachment_key "
        "WHERE a.attachment_id = :a",
        a=attachment_id,
    )
    return int(rows[0][0])


def test_a_cut_link_resumes_and_relays_hold_no_plaintext(chain: FederationClient) -> None:
    federation = chain.federation
    assert federation.topology is not None
    proxy = LinkProxy(leaf_port_of(federation.topology, "shaanxi"))
    federation.reroute_leaf("huanglong", proxy.url)
    try:
        federation.start()
        marker = f"ATTMARK{uuid.uuid4().hex.upper()}".encode()
        data = b"%PDF-1.7\n" + os.urandom(SIZE // 2) + marker + os.urandom(SIZE // 2)
        needles = [marker] + [base64.b64encode(b"\x00" * s + marker)[4:-4] for s in range(3)]
        record = chain.create_record(
            "huanglong",
            {"category": "supervision_check", "title": "巡察扫描件", "parties": ["central"]},
        )
        wait_for(lambda: chain.record_version("central", record["id"]) == 1, message="record")
        uploaded = chain.http.post(
            chain.url("huanglong", f"/api/v1/records/{record['id']}/attachments"),
            params={"filename": "巡察发现问题扫描件.pdf"},
            content=data,
            headers={**chain.headers("huanglong", "inspector"), "Content-Type": "application/pdf"},
        )
        assert uploaded.status_code == 201, uploaded.text
        attachment_id = uploaded.json()["id"]
        total = uploaded.json()["size"] // CHUNK + 1
        # The link drops as soon as the first chunks are in at central.
        wait_for(lambda: chunks_at(chain, "central", attachment_id) > 0, message="first chunks")
        proxy.cut()
        path = f"/api/v1/records/{record['id']}/attachments/{attachment_id}"
        # While incomplete, the file is refused as such. (On a quiet machine the chunks that had
        # crossed before the cut may all be applied by now: then the file is whole already.)
        early = chain.get("central", "inspector", path)
        if early.status_code != 200:
            assert early.status_code == 409, early.text
            assert early.json()["error"] == "attachment_incomplete"
        else:
            assert chunks_at(chain, "central", attachment_id) == total
        proxy.heal()

        def complete() -> bool:
            listed = chain.get(
                "central", "inspector", f"/api/v1/records/{record['id']}/attachments"
            )
            return bool(listed.status_code == 200 and listed.json()["items"][0]["complete"])

        wait_for(complete, timeout=120, message="the attachment complete at central")
        assert chunks_at(chain, "central", attachment_id) == total
        got = chain.get("central", "inspector", path)
        assert got.status_code == 200
        assert hashlib.sha256(got.content).hexdigest() == hashlib.sha256(data).hexdigest()
        # Nothing was applied twice, nothing dead-lettered.
        assert chain.db_rows("central", "SELECT count(*) FROM dead_letters") == [(0,)]
        # The province relayed ciphertext only: no plaintext in any of its files; the origin and
        # the party keep the file sealed.
        nodes = federation.nodes
        assert files_holding(nodes["shaanxi"].data_dir, needles) == {}
        for node in ("huanglong", "central"):
            hits = files_holding(nodes[node].data_dir, needles)
            assert hits == {}, (node, hits)
        assert chain.db_rows("shaanxi", "SELECT count(*) FROM attachments") == [(0,)]
    finally:
        proxy.close()
