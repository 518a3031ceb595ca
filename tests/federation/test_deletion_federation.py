"""What is deleted is gone, on a running federation (real nats-servers with JetStream, API
processes, SQLite files): the outbox keeps nothing once the local server acknowledged it, a
tombstone leaves no copy of the content in the origin's or the receiver's files (the JetStream
store included for a restricted record, which only ever travels sealed), and every file a node
has is its own (0600 in 0700 directories, nats-server's store included)."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import (
    FederationClient,
    content_markers,
    files_containing,
    prepared_federation,
    wait_for,
)

pytestmark = pytest.mark.federation

PAIR = [("shaanxi", "陕西省", None), ("yanan", "延安市", "shaanxi")]
NODES = ("shaanxi", "yanan")


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[FederationClient]:
    with prepared_federation(tmp_path / "fed", PAIR, start=True) as client:
        yield client


def data_dir(client: FederationClient, node: str) -> Path:
    return Path(client.federation.nodes[node].data_dir)


def outbox_rows(client: FederationClient, node: str) -> int:
    return int(client.db_rows(node, "SELECT count(*) FROM outbox")[0][0])


def test_delivered_then_deleted_content_leaves_no_copy(pair: FederationClient) -> None:
    general_title, general_needles = content_markers("一般")
    restricted_title, restricted_needles = content_markers("限定")
    general = pair.create_record(
        "yanan", {"category": "policy", "title": general_title, "body": general_title}
    )
    restricted = pair.create_record(
        "yanan",
        {
            "category": "inspection_finding",
            "title": restricted_title,
            "body": restricted_title,
            "parties": ["shaanxi"],
        },
    )
    for record in (general, restricted):
        wait_for(
            lambda record=record: pair.record_version("shaanxi", record["id"]) == 1,
            message="record at the parent",
        )
    # Delivered: the rows went on PubAck, their count stayed.
    wait_for(lambda: outbox_rows(pair, "yanan") == 0, message="outbox pruned after PubAck")
    assert pair.db_rows("yanan", "SELECT delivered FROM outbox_stats")[0][0] >= 2
    status = pair.get("yanan", "admin", "/api/v1/federation/status").json()
    assert status["outbox_backlog"] == 0
    assert status["outbox_delivered"] >= 2
    # The scan sees what is there.
    assert files_containing(data_dir(pair, "shaanxi"), restricted_needles)

    for record in (general, restricted):
        deleted = pair.request("DELETE", "yanan", "inspector", f"/api/v1/records/{record['id']}")
        assert deleted.status_code == 200, deleted.text
    for record in (general, restricted):
        wait_for(
            lambda record=record: pair.record_version("shaanxi", record["id"]) == 2,
            message="tombstone at the parent",
        )
    wait_for(lambda: outbox_rows(pair, "yanan") == 0, message="tombstones delivered")
    for node in NODES:
        # Restricted content travels sealed: not in any file, the JetStream store included.
        assert files_containing(data_dir(pair, node), restricted_needles) == []
        # General records are public by class and stay in the streams until their retention
        # (deploy/README.md); nothing else of the node's keeps them.
        assert files_containing(data_dir(pair, node), general_needles, skip=("jetstream",)) == []


def test_every_file_of_a_node_is_its_own(pair: FederationClient) -> None:
    record = pair.create_record("yanan", {"category": "policy", "title": "权限", "body": "正文"})
    wait_for(lambda: pair.record_version("shaanxi", record["id"]) == 1, message="record")
    for node in NODES:
        root = data_dir(pair, node)
        paths = [root, *root.rglob("*")]
        names = {str(p.relative_to(root)) for p in paths}
        assert {"node.db", "node.db-wal", "keys", "tls", "nats.conf", "jetstream"} <= names
        assert any(name.startswith("jetstream/") and "/" in name[10:] for name in names)
        checked = 0
        for path in paths:
            try:
                if path.is_symlink():
                    continue
                st_mode = path.stat().st_mode
            except FileNotFoundError:
                continue  # the running nats-server renamed it (``*.tmp``) since the listing
            checked += 1
            mode = stat.S_IMODE(st_mode)
            wanted = 0o700 if stat.S_ISDIR(st_mode) else 0o600
            assert mode == wanted, f"{node}/{path.name}: {oct(mode)}"
        assert checked >= len(paths) - 5, f"{node}: most files vanished while being checked"
