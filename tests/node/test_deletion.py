"""What is deleted is gone: after a tombstone or the end of a grant, no file of the node (database,
its WAL and shared memory, keys) holds the content any more, and the node's files are its own.

The nodes run in one process (``tests/inprocess.py``): real SQLite files through Alembic, real
envelopes, inbox and handlers. The scans read the files themselves, as anyone with access to the
disk could; on PostgreSQL only the database-level checks run (its files are the server's).
"""

from __future__ import annotations

import logging
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from node.release.tasks import sweep_once
from tests.conftest import NodeUnderTest
from tests.inprocess import MiniFederation, mini_federation
from tests.support import content_markers, files_containing

__all__ = ["mini_federation"]

NODES = ("huanglong", "yanan", "shaanxi")
REQUESTS = "/api/v1/access-requests"


@pytest.fixture
def fed(mini_federation: Callable[..., MiniFederation]) -> MiniFederation:
    return mini_federation(*NODES)


def on_sqlite(fed: MiniFederation) -> bool:
    return fed["huanglong"].ctx.engine.dialect.name == "sqlite"


def post(node: NodeUnderTest, role: str, path: str, body: dict[str, Any]) -> Any:
    return node.client.post(path, json=body, headers=node.auth(role))


def create(fed: MiniFederation, body: dict[str, Any]) -> str:
    created = post(fed["huanglong"], "inspector", "/api/v1/records", body)
    assert created.status_code == 201, created.text
    fed.pump()
    return str(created.json()["id"])


def copies(fed: MiniFederation, needles: list[bytes], *nodes: str) -> list[str]:
    return [
        f"{node}/{hit}"
        for node in nodes or NODES
        for hit in files_containing(fed[node].data_dir, needles)
    ]


def test_a_tombstone_leaves_no_copy_in_any_file(fed: MiniFederation) -> None:
    general_title, general_needles = content_markers("一般")
    general_body, general_body_needles = content_markers("一般正文")
    restricted_title, restricted_needles = content_markers("限定")
    restricted_body, restricted_body_needles = content_markers("限定正文")
    needles = general_needles + general_body_needles + restricted_needles + restricted_body_needles
    general = create(fed, {"category": "policy", "title": general_title, "body": general_body})
    restricted = create(
        fed,
        {
            "category": "inspection_finding",
            "title": restricted_title,
            "body": restricted_body,
            "parties": ["shaanxi"],
        },
    )
    assert fed.rows("yanan", "SELECT title FROM records WHERE id = :i", i=general) == [
        (general_title,)
    ]
    assert fed.rows("shaanxi", "SELECT body FROM records WHERE id = :i", i=restricted) == [
        (restricted_body,)
    ]
    if on_sqlite(fed):
        # The scan sees what is there: both records are in the origin's files, the general one
        # at every node, the restricted one at its named party.
        assert copies(fed, general_needles, *NODES)
        assert copies(fed, restricted_needles, "huanglong", "shaanxi")

    for record_id in (general, restricted):
        deleted = fed["huanglong"].client.delete(
            f"/api/v1/records/{record_id}", headers=fed["huanglong"].auth("inspector")
        )
        assert deleted.status_code == 200, deleted.text
    fed.pump()

    for node in NODES:
        # Nulled, not blanked beside a flag; and no outbox row left carrying either record.
        rows = fed.rows(
            node,
            "SELECT deleted, title, body FROM records WHERE id IN (:g, :r) ORDER BY id",
            g=general,
            r=restricted,
        )
        assert len(rows) == (1 if node == "yanan" else 2)
        assert all(bool(gone) and title is None and body is None for gone, title, body in rows)
        assert fed.rows(node, "SELECT count(*) FROM outbox") == [(0,)]
    if on_sqlite(fed):
        assert copies(fed, needles) == []


def test_a_tombstone_takes_unsent_envelopes_of_earlier_versions_with_it(
    fed: MiniFederation,
) -> None:
    title, needles = content_markers("未发出")
    created = post(
        fed["huanglong"], "inspector", "/api/v1/records", {"category": "policy", "title": title}
    )
    record_id = created.json()["id"]
    # Not delivered yet (the link is down, say): the create envelope waits in the outbox.
    assert fed.rows(
        "huanglong", "SELECT kind, object_id FROM outbox WHERE object_id = :i", i=record_id
    ) == [("record", record_id)]
    fed["huanglong"].client.delete(
        f"/api/v1/records/{record_id}", headers=fed["huanglong"].auth("inspector")
    )
    # Only the tombstone is left to send, and it carries no content.
    [tombstone] = fed.outbox("huanglong")
    assert tombstone.ref == {"record": record_id, "version": 2}
    assert all(needle not in tombstone.raw for needle in needles)
    fed.pump()
    [(deleted, stored_title)] = fed.rows(
        "yanan", "SELECT deleted, title FROM records WHERE id = :i", i=record_id
    )
    assert bool(deleted)
    assert stored_title is None
    if on_sqlite(fed):
        assert copies(fed, needles) == []


def test_a_pubacked_row_whose_id_was_reused_does_not_take_the_tombstone_with_it(
    fed: MiniFederation,
) -> None:
    """The relay read a row and published it; meanwhile the record was deleted, which purged that
    row and queued the tombstone, possibly under the same row id (SQLite reuses the highest id of
    an emptied table). The first row's PubAck must not delete the tombstone unsent."""
    node = fed["huanglong"]
    created = post(node, "inspector", "/api/v1/records", {"category": "policy", "title": "在途"})
    record_id = created.json()["id"]
    [(row_id, msg_id)] = fed.rows("huanglong", "SELECT id, msg_id FROM outbox")
    node.client.delete(f"/api/v1/records/{record_id}", headers=node.auth("inspector"))
    [(tombstone_row, tombstone_msg)] = fed.rows("huanglong", "SELECT id, msg_id FROM outbox")
    if on_sqlite(fed):
        assert tombstone_row == row_id  # the id was reused: the case this guards
    with node.ctx.sessions() as session, session.begin():
        node.ctx.outbox.prune_delivered(session, [(row_id, msg_id)], node.ctx.clock.now())
    assert fed.rows("huanglong", "SELECT msg_id FROM outbox") == [(tombstone_msg,)]


def test_delivered_outbox_rows_are_deleted_and_counted(fed: MiniFederation) -> None:
    create(fed, {"category": "policy", "title": "送达即删", "body": "正文"})
    for node in NODES:
        assert fed.rows(node, "SELECT count(*) FROM outbox") == [(0,)]
    # Origin: one row up; the city relays it up; the province has no one else here to send to.
    assert fed.rows("huanglong", "SELECT delivered FROM outbox_stats")[0][0] >= 1
    assert fed.rows("yanan", "SELECT delivered FROM outbox_stats")[0][0] >= 1
    status = fed["huanglong"].client.get(
        "/api/v1/federation/status", headers=fed["huanglong"].auth("admin")
    )
    assert status.status_code == 200, status.text
    assert status.json()["outbox_backlog"] == 0
    assert status.json()["outbox_delivered"] >= 1


def grant_secret(fed: MiniFederation, title: str, body: str) -> tuple[str, str]:
    """A case-secret record at huanglong released to shaanxi's inspector: (record, grant)."""
    record_id = create(fed, {"category": "evidence", "title": title, "body": body})
    requested = post(
        fed["shaanxi"],
        "inspector",
        REQUESTS,
        {"record_id": record_id, "reason": "省委巡视组核查该线索", "duration_s": 3600},
    )
    assert requested.status_code == 201, requested.text
    fed.pump()
    approved = post(
        fed["huanglong"],
        "approver",
        f"{REQUESTS}/{requested.json()['id']}/approve",
        {"comment": "同意调阅"},
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "active"
    fed.pump()
    shown = fed["shaanxi"].client.get(
        f"/api/v1/records/{record_id}", headers=fed["shaanxi"].auth("inspector")
    )
    assert shown.json()["title"] == title
    return record_id, str(approved.json()["grant_id"])


def test_released_content_is_gone_from_the_grantee_when_the_grant_expires(
    fed: MiniFederation,
) -> None:
    title, needles = content_markers("到期")
    body, body_needles = content_markers("到期正文")
    grant_secret(fed, title, body)
    if on_sqlite(fed):
        assert copies(fed, needles + body_needles, "shaanxi")
    fed.clock.advance(3601)
    sweep_once(fed["shaanxi"].ctx)
    assert fed.rows("shaanxi", "SELECT count(*) FROM released_content") == [(0,)]
    if on_sqlite(fed):
        assert copies(fed, needles + body_needles, "shaanxi", "yanan") == []


def test_released_content_is_gone_from_the_grantee_when_the_grant_is_revoked(
    fed: MiniFederation,
) -> None:
    title, needles = content_markers("撤销")
    body, body_needles = content_markers("撤销正文")
    _record_id, grant_id = grant_secret(fed, title, body)
    revoked = post(fed["huanglong"], "approver", f"/api/v1/grants/{grant_id}/revoke", {})
    assert revoked.status_code == 200, revoked.text
    fed.pump()
    assert fed.rows("shaanxi", "SELECT count(*) FROM released_content") == [(0,)]
    if on_sqlite(fed):
        assert copies(fed, needles + body_needles, "shaanxi", "yanan") == []


def modes(directory: Path) -> dict[str, int]:
    return {
        str(path.relative_to(directory)): stat.S_IMODE(path.stat().st_mode)
        for path in [directory, *directory.rglob("*")]
    }


def test_a_node_s_files_are_its_own(
    make_node: Callable[..., NodeUnderTest], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A data directory left readable by others (an older version, a careless copy).
    data_dir = tmp_path / "shaanxi"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)
    stray = data_dir / "notes.txt"
    stray.write_text("x")
    stray.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="fedshare.storage"):
        node = make_node("shaanxi")
    assert any("tightened" in r.getMessage() for r in caplog.records)
    created = node.client.post(
        "/api/v1/records",
        json={"category": "policy", "title": "权限", "body": "正文"},
        headers=node.auth("inspector"),
    )
    assert created.status_code == 201
    found = modes(data_dir)
    assert {"keys", "keys/signing.key", "notes.txt"} <= set(found), found
    for name, mode in found.items():
        assert mode == (0o700 if (data_dir / name).is_dir() else 0o600), f"{name}: {oct(mode)}"
    if node.ctx.engine.dialect.name == "sqlite":
        database = Path(str(node.ctx.engine.url.database))
        for suffix in ("", "-wal", "-shm"):
            path = database.with_name(database.name + suffix)
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
