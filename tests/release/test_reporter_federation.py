"""The reporter (举报人) across the running demo federation (a nats-server and an API process per
node, real databases, a test clock): a petition with a reporter at a county leaves no plaintext of
it in any file of any node — databases with their WAL, JetStream stores, logs — neither before
nor after an explicit release to the province, which works only with the category's approvals
plus a security officer's, and is gone from the province once the grant ends."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import FederationClient, barrier, wait_for

pytestmark = pytest.mark.federation

ALL = ["central", "shaanxi", "yanan", "huanglong", "yichuan"]
REQUESTS = "/api/v1/access-requests"
REASON = "省委巡视组核查该信访件反映的省管干部问题"
REPORTER = {
    "name": "蔺晓雯RPTR-7Q3X",
    "contact": "延安市宝塔区枣园路17号 CONTACT-9K2P",
    "relationship": "该局退休职工",
}
NEEDLES = [
    "蔺晓雯".encode(),
    b"RPTR-7Q3X",
    "枣园路17号".encode(),
    b"CONTACT-9K2P",
    "该局退休职工".encode(),
]
CONTROL = b"CTRL-5J8W"


def files_holding(root: Path, needles: list[bytes]) -> dict[str, list[str]]:
    """Every file under ``root`` (databases and their -wal, JetStream stores, logs) that holds
    one of ``needles``: relative path -> the needles found."""
    hits: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        try:
            data = path.read_bytes()
        except OSError:
            continue  # removed while we looked (a store compacting)
        found = [n.decode() for n in needles if n in data]
        if found:
            hits[str(path.relative_to(root))] = found
    return hits


def test_the_reporter_leaves_no_plaintext_in_any_nodes_files(
    release_federation: FederationClient,
) -> None:
    fed = release_federation
    nodes = fed.federation.nodes
    # A general record in clear: the scan must find it where it is stored.
    control = fed.create_record(
        "huanglong", {"category": "practice", "title": f"对照记录 {CONTROL.decode()}"}
    )
    petition = fed.create_record(
        "huanglong",
        {"category": "petition", "title": "关于某局负责人收受礼金的信访件", "reporter": REPORTER},
    )
    record_id = petition["id"]
    assert petition["has_reporter"] is True
    assert not [n for n in NEEDLES if n in str(petition).encode()]
    wait_for(lambda: fed.record_version("shaanxi", record_id) == 1, message="stub at shaanxi")
    barrier(fed, "huanglong", *ALL)
    assert fed.record_version("central", control["id"]) == 1

    # Nowhere on the API of another node: stubs, lists, stats; the reporter itself refused.
    for node in ("central", "shaanxi", "yanan"):
        for path in ("/api/v1/records", f"/api/v1/records/{record_id}", "/api/v1/stats"):
            shown = fed.get(node, "inspector", path)
            assert not [n for n in NEEDLES if n in shown.content], (node, path)
            assert "has_reporter" not in shown.text
        refused = fed.get(node, "inspector", f"/api/v1/records/{record_id}/reporter")
        assert (refused.status_code, refused.json()["error"]) == (403, "reporter_not_granted")

    # A release that did not ask for it: the content, never the reporter.
    plain = fed.post(
        "shaanxi",
        "inspector",
        REQUESTS,
        json={"record_id": record_id, "reason": REASON, "duration_s": 600},
    )
    assert plain.status_code == 201, plain.text
    plain_id = plain.json()["id"]
    wait_for(
        lambda: fed.get("huanglong", "approver", f"{REQUESTS}/{plain_id}").status_code == 200,
        message="the plain request at the origin",
    )
    for role in ("approver", "approver2"):
        decided = fed.post(
            "huanglong", role, f"{REQUESTS}/{plain_id}/approve", json={"comment": "同意"}
        )
        assert decided.status_code == 200, decided.text
    wait_for(
        lambda: "title" in fed.get("shaanxi", "inspector", f"/api/v1/records/{record_id}").json(),
        message="content released to shaanxi",
    )
    refused = fed.get("shaanxi", "inspector", f"/api/v1/records/{record_id}/reporter")
    assert (refused.status_code, refused.json()["error"]) == (403, "reporter_not_granted")

    # The explicit path: the category's two approvals, then a security officer's.
    asked = fed.post(
        "shaanxi",
        "approver",
        REQUESTS,
        json={
            "record_id": record_id,
            "reason": REASON,
            "duration_s": 600,
            "include_reporter": True,
        },
    )
    assert asked.status_code == 201, asked.text
    asked_id = asked.json()["id"]
    wait_for(
        lambda: fed.get("huanglong", "approver", f"{REQUESTS}/{asked_id}").status_code == 200,
        message="the reporter request at the origin",
    )
    for role in ("approver", "approver2"):
        decided = fed.post(
            "huanglong", role, f"{REQUESTS}/{asked_id}/approve", json={"comment": "同意"}
        )
        assert decided.json()["status"] == "pending"
    decided = fed.post(
        "huanglong", "security_officer", f"{REQUESTS}/{asked_id}/approve", json={"comment": "同意"}
    )
    assert decided.json()["status"] == "active", decided.text
    grant_id = decided.json()["grant_id"]

    def reporter_shown() -> dict[str, str] | None:
        answer = fed.get("shaanxi", "approver", f"/api/v1/records/{record_id}/reporter")
        return answer.json() if answer.status_code == 200 else None  # type: ignore[no-any-return]

    shown = wait_for(reporter_shown, message="the reporter at shaanxi")
    assert (shown["name"], shown["contact"]) == (REPORTER["name"], REPORTER["contact"])
    wait_for(
        lambda: (
            fed.db_rows(
                "huanglong",
                "SELECT count(*) FROM audit_log WHERE action = 'read-reporter' AND grant_id = :g",
                g=grant_id,
            )
            == [(1,)]
        ),
        message="the grantee's read audited at the origin",
    )
    barrier(fed, "huanglong", *ALL)
    barrier(fed, "shaanxi", *ALL)

    # No file of any node holds it in plaintext: not even the origin's database (it is sealed),
    # nor the province's, which holds it sealed for itself while the grant lasts.
    for node in ALL:
        assert files_holding(nodes[node].data_dir, NEEDLES) == {}, node
    assert fed.db_rows("shaanxi", "SELECT count(*) FROM released_reporters") == [(1,)]
    assert fed.db_rows("huanglong", "SELECT count(*) FROM record_reporters") == [(1,)]
    for node in ("central", "yanan", "yichuan"):
        assert fed.db_rows(node, "SELECT count(*) FROM released_reporters") == [(0,)]
        assert fed.db_rows(node, "SELECT count(*) FROM record_reporters") == [(0,)]
    # ... while the same scan finds the clear control record in other nodes' databases and
    # JetStream stores; each node's log (its API's whole output) is among the files scanned.
    for node in ("central", "yichuan"):
        held = files_holding(nodes[node].data_dir, [CONTROL])
        assert any("jetstream" in path for path in held), (node, held)
        assert any(path.startswith("node.db") for path in held), (node, held)
    for node in ALL:
        assert (nodes[node].data_dir / "api.log").is_file(), node

    # The grant ends: gone from the province (the sweep), never shown again.
    fed.federation.advance_clock(601)
    wait_for(
        lambda: fed.db_rows("shaanxi", "SELECT count(*) FROM released_reporters") == [(0,)],
        message="the released reporter purged at shaanxi",
    )
    refused = fed.get("shaanxi", "approver", f"/api/v1/records/{record_id}/reporter")
    assert (refused.status_code, refused.json()["error"]) == (403, "reporter_not_granted")
    assert fed.db_rows(
        "shaanxi",
        "SELECT count(*) FROM audit_log WHERE action = 'purge-reporter' AND grant_id = :g",
        g=grant_id,
    ) == [(1,)]
    for node in ALL:
        assert files_holding(nodes[node].data_dir, NEEDLES) == {}, node
