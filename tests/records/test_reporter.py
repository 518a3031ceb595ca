"""The reporter (举报人) of a petition or problem clue, between real nodes in one process (real
databases through Alembic, real sealing, the real inbox; ``pump`` instead of NATS — the NATS path
is tests/release/test_reporter_federation.py).

Where it must not appear: the record's columns, its envelopes (full or stub), any other node's
database, lists, stubs, statistics, error messages, logs, audit entries, and any release that did
not ask for it. Who reads it: the record's author and the origin's approvers; a grantee only
under a grant whose request asked for it and was approved by the category's approvers plus a
security officer; gone from the grantee when the grant ends."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from alembic import command
from sqlalchemy import inspect, text

from node.db import alembic_config, make_engine, upgrade_database
from node.release.tasks import sweep_once
from tests.factories import insert_record
from tests.helpers import call, error, ok, order_body
from tests.inprocess import MiniFederation

MakeFederation = Callable[..., MiniFederation]
REQUESTS = "/api/v1/access-requests"
RECORDS = "/api/v1/records"
TITLE = "关于某局负责人违规收受礼金的信访件"
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


def held_bytes(fed: MiniFederation, node_id: str) -> bytes:
    """Everything a node's database holds: every row of every table, and for SQLite the database
    file and its WAL as they are on disk."""
    node = fed[node_id]
    parts: list[bytes] = []
    with node.ctx.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        parts.append(bytes(value))
                    else:
                        parts.append(str(value).encode())
    for path in sorted(node.data_dir.glob("node.db*")):
        parts.append(path.read_bytes())
    return b"\n".join(parts)


def found(data: bytes | str) -> list[bytes]:
    raw = data.encode() if isinstance(data, str) else data
    return [needle for needle in NEEDLES if needle in raw]


def petition(
    fed: MiniFederation, node_id: str = "huanglong", *, reporter: bool = True, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"category": "petition", "title": TITLE, "body": "反映收受礼金问题"}
    if reporter:
        body["reporter"] = REPORTER
    body.update(extra)
    created = ok(call(fed[node_id], "POST", RECORDS, json=body), 201)
    fed.pump()
    return created


def reporter_of(fed: MiniFederation, node_id: str, record_id: str, role: str) -> Any:
    return call(fed[node_id], "GET", f"{RECORDS}/{record_id}/reporter", role)


def audit_rows(fed: MiniFederation, node_id: str, action: str) -> list[tuple[Any, ...]]:
    return fed.rows(
        node_id,
        "SELECT actor, decision, grant_id, reason FROM audit_log WHERE action = :a ORDER BY seq",
        a=action,
    )


@pytest.fixture
def fed(mini_federation: MakeFederation) -> MiniFederation:
    federation = mini_federation("huanglong", "yanan", "shaanxi")
    county = federation["huanglong"]
    county.tokens["approver2"] = county.user("approver", name="huanglong-approver-2")
    county.tokens["approver3"] = county.user("approver", name="huanglong-approver-3")
    county.tokens["inspector2"] = county.user("inspector", name="huanglong-inspector-2")
    return federation


def test_the_reporter_is_sealed_at_the_origin_and_held_nowhere_else(
    mini_federation: MakeFederation, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fed = mini_federation("huanglong", "yanan", "shaanxi", "central", "yichuan")
    control = ok(
        call(fed["huanglong"], "POST", RECORDS, json={"category": "policy", "title": "对照CTRL"}),
        201,
    )
    created = petition(fed)
    record_id = created["id"]
    # The answer to the author says there is one, and nothing of it.
    assert created["has_reporter"] is True
    assert found(str(created)) == []
    # At the origin: one sealed row, nothing in the record's own columns.
    [(sealed,)] = fed.rows(
        "huanglong", "SELECT sealed FROM record_reporters WHERE record_id = :r", r=record_id
    )
    assert '"ct"' in sealed
    assert found(sealed) == []
    assert found(held_bytes(fed, "huanglong")) == []
    assert b"CTRL" in held_bytes(fed, "huanglong")  # the scan sees what is stored in clear
    # The record envelope (a stub, to the ancestors) carries nothing of it, not even a flag.
    [envelope] = [
        e
        for e in fed.outbox("huanglong", kind="record", pending_only=False)
        if e.ref.get("record") == record_id
    ]
    assert found(envelope.raw) == []
    stub = fed.opened(envelope, "yanan")
    assert "reporter" not in str(stub)
    assert "title" not in stub
    # No other node holds any of it; the control record shows the scan finds clear text there.
    for node_id in ("yanan", "shaanxi", "central", "yichuan"):
        data = held_bytes(fed, node_id)
        assert found(data) == [], node_id
        assert b"CTRL" in data, node_id
        assert fed.rows(node_id, "SELECT count(*) FROM record_reporters") == [(0,)]
    # Not in lists, stubs or statistics anywhere, for any role; no has_reporter in a list.
    for node_id in ("huanglong", "yanan", "shaanxi", "central"):
        for role in ("inspector", "approver", "security_officer", "admin"):
            listed = call(fed[node_id], "GET", RECORDS, role)
            assert listed.status_code == 200
            assert found(listed.text) == []
            assert "has_reporter" not in listed.text
            one = call(fed[node_id], "GET", f"{RECORDS}/{record_id}", role)
            assert found(one.text) == []
            stats = call(fed[node_id], "GET", "/api/v1/stats", role)
            assert found(stats.text) == []
    stub_read = ok(call(fed["shaanxi"], "GET", f"{RECORDS}/{record_id}"))
    assert stub_read["stub"] is True
    assert "has_reporter" not in stub_read
    assert control["id"]
    # Nothing logged it, nothing audited it.
    assert caplog.records
    assert found(caplog.text) == []
    for node_id in fed.nodes:
        reasons = fed.rows(node_id, "SELECT coalesce(reason, '') FROM audit_log")
        assert found(str(reasons)) == []
    assert audit_rows(fed, "huanglong", "set-reporter") == [
        ("huanglong-inspector", "allow", None, None)
    ]


def test_who_reads_the_reporter_at_the_origin(fed: MiniFederation) -> None:
    record_id = petition(fed)["id"]
    # The author and the approvers read it; each read is audited as such.
    for role in ("inspector", "approver"):
        shown = ok(reporter_of(fed, "huanglong", record_id, role))
        assert (shown["name"], shown["contact"], shown["relationship"]) == (
            REPORTER["name"],
            REPORTER["contact"],
            REPORTER["relationship"],
        )
        assert shown["grant_id"] is None
    assert [r[:2] for r in audit_rows(fed, "huanglong", "read-reporter")] == [
        ("huanglong-inspector", "allow"),
        ("huanglong-approver", "allow"),
    ]
    # Anyone else at the origin: a 403, audited, which says nothing of the reporter.
    for role in ("inspector2", "security_officer", "admin"):
        refused = reporter_of(fed, "huanglong", record_id, role)
        assert refused.status_code == 403, role
        assert found(refused.text) == []
    denials = [r for r in audit_rows(fed, "huanglong", "read-reporter") if r[1] == "deny"]
    assert len(denials) == 3
    # ... and the flag only for those who may read it.
    assert ok(call(fed["huanglong"], "GET", f"{RECORDS}/{record_id}"))["has_reporter"] is True
    other = ok(call(fed["huanglong"], "GET", f"{RECORDS}/{record_id}", "inspector2"))
    assert "has_reporter" not in other
    assert other["title"] == TITLE
    # Elsewhere, without a grant that released it: 403 reporter_not_granted, audited there.
    for node_id in ("yanan", "shaanxi"):
        for role in ("inspector", "approver"):
            error(reporter_of(fed, node_id, record_id, role), 403, "reporter_not_granted")
        assert [r[1:] for r in audit_rows(fed, node_id, "read-reporter")] == [
            ("deny", None, "reporter_not_granted"),
            ("deny", None, "reporter_not_granted"),
        ]
    # None named: 404 for those who may read one (after the permission check).
    bare = petition(fed, reporter=False)["id"]
    assert ok(call(fed["huanglong"], "GET", f"{RECORDS}/{bare}"))["has_reporter"] is False
    error(reporter_of(fed, "huanglong", bare, "approver"), 404, "reporter_not_found")
    assert reporter_of(fed, "huanglong", bare, "inspector2").status_code == 403
    error(reporter_of(fed, "huanglong", "not-a-uuid", "approver"), 422, "invalid_id")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"category": "evidence"}, 422, "reporter_not_allowed"),
        ({"category": "personal_matter_report"}, 422, "reporter_not_allowed"),
        ({"category": "policy"}, 422, "reporter_not_allowed"),
        ({"reporter": {**REPORTER, "name": "蔺" * 101}}, 422, "invalid_input"),
        ({"reporter": {**REPORTER, "name": "   "}}, 422, "invalid_input"),
        ({"reporter": {**REPORTER, "contact": "枣" * 201}}, 422, "invalid_input"),
        ({"reporter": {**REPORTER, "relationship": "职" * 101}}, 422, "invalid_input"),
        ({"reporter": {**REPORTER, "contact": "CONTACT-9K2P\x00"}}, 422, "invalid_text"),
        ({"reporter": {**REPORTER, "id_number": "RPTR-7Q3X"}}, 422, "invalid_input"),
        ({"reporter": {"contact": REPORTER["contact"]}}, 422, "missing_field"),
    ],
)
def test_bad_reporter_input_is_refused_and_nothing_stored(
    fed: MiniFederation, body: dict[str, Any], status: int, code: str
) -> None:
    full = {"category": "petition", "title": TITLE, "reporter": REPORTER, **body}
    refused = call(fed["huanglong"], "POST", RECORDS, json=full)
    error(refused, status, code)
    assert found(refused.text) == []
    assert fed.rows("huanglong", "SELECT count(*) FROM records") == [(0,)]
    assert fed.rows("huanglong", "SELECT count(*) FROM record_reporters") == [(0,)]
    assert fed.outbox("huanglong") == []


def test_changing_the_reporter_is_the_authors_and_tells_no_other_node(fed: MiniFederation) -> None:
    record_id = petition(fed, reporter=False)["id"]
    sent = len(fed.outbox("huanglong", pending_only=False))
    path = f"{RECORDS}/{record_id}"
    # Another inspector of the origin may edit the record, not name its reporter.
    refused = call(fed["huanglong"], "PATCH", path, "inspector2", json={"reporter": REPORTER})
    error(refused, 403, "reporter_author_only")
    assert fed.rows("huanglong", "SELECT count(*) FROM record_reporters") == [(0,)]
    assert fed.rows(
        "huanglong",
        "SELECT decision, reason FROM audit_log WHERE action = 'set-reporter'",
    ) == [("deny", "reporter_author_only")]
    # The author names one: no new version, nothing sent.
    named = ok(call(fed["huanglong"], "PATCH", path, json={"reporter": REPORTER}))
    assert named["version"] == 1
    assert named["has_reporter"] is True
    assert len(fed.outbox("huanglong", pending_only=False)) == sent
    # ... and replaces it; the old block is gone, from the database file and its WAL too.
    [(old,)] = fed.rows("huanglong", "SELECT sealed FROM record_reporters")
    new = {"name": "匿名举报人", "contact": "", "relationship": ""}
    ok(call(fed["huanglong"], "PATCH", path, json={"reporter": new}))
    assert json.loads(old)["ct"].encode() not in held_bytes(fed, "huanglong")
    assert ok(reporter_of(fed, "huanglong", record_id, "inspector"))["name"] == "匿名举报人"
    assert fed.rows("huanglong", "SELECT revision FROM record_reporters") == [(2,)]
    assert found(held_bytes(fed, "huanglong")) == []
    # A category without a reporter, and a record held elsewhere, refuse it.
    clue = ok(
        call(fed["huanglong"], "POST", RECORDS, json={"category": "evidence", "title": "证据"}),
        201,
    )
    assert "has_reporter" not in clue
    error(
        call(fed["huanglong"], "PATCH", f"{RECORDS}/{clue['id']}", json={"reporter": REPORTER}),
        422,
        "reporter_not_allowed",
    )
    fed.pump()
    error(call(fed["shaanxi"], "PATCH", path, json={"reporter": REPORTER}), 409, "not_origin")
    # The tombstone takes it.
    ok(call(fed["huanglong"], "DELETE", path))
    assert fed.rows("huanglong", "SELECT count(*) FROM record_reporters") == [(0,)]
    error(reporter_of(fed, "huanglong", record_id, "approver"), 404, "reporter_not_found")
    assert audit_rows(fed, "huanglong", "delete-reporter")[0][:2] == (
        "huanglong-inspector",
        "allow",
    )


def request_access(
    fed: MiniFederation, record_id: str, role: str = "inspector", **extra: Any
) -> dict[str, Any]:
    body = {"record_id": record_id, "reason": REASON, "duration_s": 3600, **extra}
    created = ok(call(fed["shaanxi"], "POST", REQUESTS, role, json=body), 201)
    fed.pump()
    return created


def decide(fed: MiniFederation, request_id: str, verb: str, role: str) -> Any:
    comment = "同意调阅" if verb == "approve" else "不予调阅"
    response = call(
        fed["huanglong"], "POST", f"{REQUESTS}/{request_id}/{verb}", role, json={"comment": comment}
    )
    fed.pump()
    return response


def released_payload(fed: MiniFederation, grant_id: str) -> dict[str, Any]:
    [release] = [
        e
        for e in fed.outbox("huanglong", kind="release", pending_only=False)
        if e.ref.get("grant") == grant_id
    ]
    assert found(release.raw) == []
    return fed.opened(release, "shaanxi")


def test_a_release_that_did_not_ask_never_carries_the_reporter(fed: MiniFederation) -> None:
    record_id = petition(fed)["id"]
    request_id = request_access(fed, record_id)["id"]
    # A security officer decides only requests that ask for the reporter.
    assert decide(fed, request_id, "approve", "security_officer").status_code == 403
    ok(decide(fed, request_id, "approve", "approver"))
    granted = ok(decide(fed, request_id, "approve", "approver2"))
    assert (granted["status"], granted["include_reporter"]) == ("active", False)
    payload = released_payload(fed, granted["grant_id"])
    assert payload.get("reporter") is None
    assert found(str(payload)) == []
    # The grantee reads the content, never the reporter.
    assert ok(call(fed["shaanxi"], "GET", f"{RECORDS}/{record_id}"))["title"] == TITLE
    error(reporter_of(fed, "shaanxi", record_id, "inspector"), 403, "reporter_not_granted")
    assert fed.rows("shaanxi", "SELECT count(*) FROM released_reporters") == [(0,)]
    assert audit_rows(fed, "huanglong", "release-reporter") == []
    # Asking for the reporter of a record whose category has none: 422, nothing stored.
    evidence = ok(
        call(fed["huanglong"], "POST", RECORDS, json={"category": "evidence", "title": "证据"}), 201
    )
    fed.pump()
    before = fed.rows("shaanxi", "SELECT count(*) FROM access_requests")
    refused = call(
        fed["shaanxi"],
        "POST",
        REQUESTS,
        "approver",
        json={
            "record_id": evidence["id"],
            "reason": REASON,
            "duration_s": 60,
            "include_reporter": True,
        },
    )
    error(refused, 422, "reporter_not_allowed")
    assert fed.rows("shaanxi", "SELECT count(*) FROM access_requests") == before


def test_the_reporter_needs_the_categorys_approvals_plus_a_security_officer(
    fed: MiniFederation, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    record_id = petition(fed)["id"]
    asked = request_access(fed, record_id, include_reporter=True)
    assert asked["include_reporter"] is True
    request_id = asked["id"]
    # Approvers' approvals count toward the category's two, however many: no release yet.
    ok(decide(fed, request_id, "approve", "approver"))
    ok(decide(fed, request_id, "approve", "approver2"))
    third = ok(decide(fed, request_id, "approve", "approver3"))
    assert (third["status"], third["approvals"], third["reporter_approvals"]) == ("pending", 3, 0)
    assert fed.rows("huanglong", "SELECT count(*) FROM grants") == [(0,)]
    assert fed.outbox("huanglong", kind="release", pending_only=False) == []
    error(reporter_of(fed, "shaanxi", record_id, "inspector"), 403, "reporter_not_granted")
    # A security officer sees it to decide, and their approval settles it.
    to_decide = ok(call(fed["huanglong"], "GET", REQUESTS, "security_officer"))["items"]
    assert [item["id"] for item in to_decide] == [request_id]
    granted = ok(decide(fed, request_id, "approve", "security_officer"))
    assert (granted["status"], granted["reporter_approvals"]) == ("active", 1)
    assert [d["counts_for"] for d in granted["decisions"]] == [
        "category",
        "category",
        "category",
        "reporter",
    ]
    grant_id = granted["grant_id"]
    payload = released_payload(fed, grant_id)
    assert payload["reporter"]["keys"].keys() == {"shaanxi"}
    assert found(str(payload)) == []  # sealed once more, for the grantee's node alone
    # The grantee reads it, audited at both ends; nobody else at the grantee's node does.
    shown = ok(reporter_of(fed, "shaanxi", record_id, "inspector"))
    assert (shown["name"], shown["contact"], shown["grant_id"]) == (
        REPORTER["name"],
        REPORTER["contact"],
        grant_id,
    )
    error(reporter_of(fed, "shaanxi", record_id, "approver"), 403, "reporter_not_granted")
    assert [r[:3] for r in audit_rows(fed, "shaanxi", "read-reporter") if r[1] == "allow"] == [
        ("shaanxi-inspector", "allow", grant_id)
    ]
    fed.pump()
    assert [r[:3] for r in audit_rows(fed, "huanglong", "read-reporter")] == [
        ("shaanxi-inspector@shaanxi", "allow", grant_id)
    ]
    assert fed.rows("yanan", "SELECT what FROM grant_reads") == [("reporter",)]
    grants = ok(call(fed["yanan"], "GET", "/api/v1/grants", "security_officer"))["items"]
    assert [(g["include_reporter"], [r["what"] for r in g["reads"]]) for g in grants] == [
        (True, ["reporter"])
    ]
    assert audit_rows(fed, "huanglong", "release-reporter")[0][2:] == (
        grant_id,
        "sealed for shaanxi",
    )
    # Stored sealed at the grantee; nowhere in between.
    assert fed.rows("shaanxi", "SELECT count(*) FROM released_reporters") == [(1,)]
    assert fed.rows("yanan", "SELECT count(*) FROM released_reporters") == [(0,)]
    for node_id in ("shaanxi", "yanan"):
        assert found(held_bytes(fed, node_id)) == []
    # The grant ends: never shown again; gone from the grantee with the content at the next
    # read of the record (or the next sweep).
    fed.clock.advance(3601)
    error(reporter_of(fed, "shaanxi", record_id, "inspector"), 403, "reporter_not_granted")
    assert "title" not in ok(call(fed["shaanxi"], "GET", f"{RECORDS}/{record_id}"))
    assert fed.rows("shaanxi", "SELECT count(*) FROM released_reporters") == [(0,)]
    assert fed.rows("shaanxi", "SELECT count(*) FROM released_content") == [(0,)]
    assert audit_rows(fed, "shaanxi", "purge-reporter")[0][2:] == (grant_id, "expired")
    assert found(caplog.text) == []


def test_a_security_officer_first_then_approvers_and_deny_wins(fed: MiniFederation) -> None:
    record_id = petition(fed)["id"]
    request_id = request_access(fed, record_id, include_reporter=True)["id"]
    first = ok(decide(fed, request_id, "approve", "security_officer"))
    assert (first["status"], first["approvals"], first["reporter_approvals"]) == ("pending", 0, 1)
    error(decide(fed, request_id, "approve", "security_officer"), 409, "already_decided")
    ok(decide(fed, request_id, "approve", "approver"))
    assert ok(decide(fed, request_id, "approve", "approver2"))["status"] == "active"
    assert ok(reporter_of(fed, "shaanxi", record_id, "inspector"))["name"] == REPORTER["name"]
    # Another request (by the province's approver): a security officer's deny wins.
    denied_id = request_access(fed, record_id, role="approver", include_reporter=True)["id"]
    ok(decide(fed, denied_id, "approve", "approver"))
    ok(decide(fed, denied_id, "approve", "approver2"))
    assert ok(decide(fed, denied_id, "deny", "security_officer"))["status"] == "denied"
    error(decide(fed, denied_id, "approve", "approver3"), 409, "request_not_pending")
    error(reporter_of(fed, "shaanxi", record_id, "approver"), 403, "reporter_not_granted")
    assert fed.rows("huanglong", "SELECT count(*) FROM grants") == [(1,)]


def test_the_reporter_is_named_by_origin_when_its_id_is_shared(fed: MiniFederation) -> None:
    """Records are identified by (origin, id): the reporter route takes ``?origin=`` like the
    record's own, and a record of another origin under the same id is another record (with no
    reporter of its own, and no grant of the real one's)."""
    record_id = petition(fed)["id"]
    # The same id held under another origin at the origin and at the grantee's node.
    insert_record(
        fed["huanglong"].ctx.sessions,
        record_id=record_id,
        origin="shaanxi",
        classification="general",
        category="policy",
    )
    insert_record(
        fed["shaanxi"].ctx.sessions,
        record_id=record_id,
        origin="yanan",
        classification="secret",
        category="petition",
        is_stub=True,
    )
    path = f"{RECORDS}/{record_id}/reporter"
    county = fed["huanglong"]
    refused = call(county, "GET", path)
    error(refused, 409, "ambiguous_record_id")
    assert found(refused.text) == []
    shown = ok(call(county, "GET", path, params={"origin": "huanglong"}))
    assert (shown["origin"], shown["name"]) == ("huanglong", REPORTER["name"])
    error(call(county, "GET", path, params={"origin": "shaanxi"}), 404, "reporter_not_found")
    error(call(county, "GET", path, params={"origin": "central"}), 404, "record_not_found")
    record_path = f"{RECORDS}/{record_id}"
    error(
        call(county, "PATCH", record_path, json={"reporter": REPORTER}), 409, "ambiguous_record_id"
    )
    named = call(
        county, "PATCH", record_path, params={"origin": "huanglong"}, json={"reporter": REPORTER}
    )
    assert ok(named)["has_reporter"] is True
    assert fed.rows("huanglong", "SELECT revision FROM record_reporters") == [(2,)]
    # At the grantee's node: released under a grant of huanglong's record, not of yanan's.
    body = {"record_origin": "huanglong", "include_reporter": True}
    request_id = request_access(fed, record_id, **body)["id"]
    for role in ("approver", "approver2", "security_officer"):
        granted = ok(decide(fed, request_id, "approve", role))
    province = fed["shaanxi"]
    error(call(province, "GET", path), 409, "ambiguous_record_id")
    shown = ok(call(province, "GET", path, params={"origin": "huanglong"}))
    assert (shown["origin"], shown["grant_id"]) == ("huanglong", granted["grant_id"])
    refused = call(province, "GET", path, params={"origin": "yanan"})
    error(refused, 403, "reporter_not_granted")
    assert found(refused.text) == []
    assert fed.rows("shaanxi", "SELECT record_origin FROM grant_reads") == [("huanglong",)]
    # The tombstone at the origin names the record by origin too; the other one stays.
    ok(call(county, "DELETE", record_path, params={"origin": "huanglong"}))
    assert fed.rows("huanglong", "SELECT count(*) FROM record_reporters") == [(0,)]
    fed.pump()
    assert fed.rows("shaanxi", "SELECT count(*) FROM released_reporters") == [(0,)]
    assert fed.rows("shaanxi", "SELECT deleted FROM records WHERE origin = 'yanan'") == [(False,)]


def test_a_revocation_and_a_tombstone_take_the_released_reporter(fed: MiniFederation) -> None:
    record_id = petition(fed)["id"]
    request_id = request_access(fed, record_id, include_reporter=True)["id"]
    for role in ("approver", "approver2", "security_officer"):
        granted = ok(decide(fed, request_id, "approve", role))
    ok(reporter_of(fed, "shaanxi", record_id, "inspector"))
    ok(call(fed["huanglong"], "POST", f"/api/v1/grants/{granted['grant_id']}/revoke", "approver"))
    fed.pump()
    assert fed.rows("shaanxi", "SELECT count(*) FROM released_reporters") == [(0,)]
    error(reporter_of(fed, "shaanxi", record_id, "inspector"), 403, "reporter_not_granted")
    # Granted again, then the origin deletes the record: the grantee loses it with the content.
    again = request_access(fed, record_id, role="approver", include_reporter=True)["id"]
    for role in ("approver", "approver2", "security_officer"):
        ok(decide(fed, again, "approve", role))
    ok(reporter_of(fed, "shaanxi", record_id, "approver"))
    [(stored,)] = fed.rows("huanglong", "SELECT sealed FROM record_reporters")
    [(released,)] = fed.rows("shaanxi", "SELECT sealed FROM released_reporters")
    ciphertexts = [json.loads(stored)["ct"].encode(), json.loads(released)["ct"].encode()]
    ok(call(fed["huanglong"], "DELETE", f"{RECORDS}/{record_id}"))
    # At the origin the tombstone deletes the sealed row in the transaction that purges the
    # record's content: no copy of it stays in the database file or its WAL.
    assert fed.rows("huanglong", "SELECT count(*) FROM record_reporters") == [(0,)]
    assert [c for c in ciphertexts if c in held_bytes(fed, "huanglong")] == []
    assert audit_rows(fed, "huanglong", "delete-reporter") != []
    fed.pump()
    # At the grantee the tombstone purges the released content and the reporter on arrival,
    # before any read or sweep.
    assert fed.rows("shaanxi", "SELECT count(*) FROM released_reporters") == [(0,)]
    assert [c for c in ciphertexts if c in held_bytes(fed, "shaanxi")] == []
    assert reporter_of(fed, "shaanxi", record_id, "approver").status_code == 403
    assert sweep_once(fed["shaanxi"].ctx) == 0


def test_an_order_attachment_never_releases_the_reporter(
    mini_federation: MakeFederation,
) -> None:
    fed = mini_federation("shaanxi", "huanglong")
    province, county = fed["shaanxi"], fed["huanglong"]
    province.tokens["approver2"] = province.user("approver", name="shaanxi-approver-2")
    body = {"category": "petition", "title": TITLE, "reporter": REPORTER}
    record = ok(call(province, "POST", RECORDS, json=body), 201)
    order = ok(
        call(
            province,
            "POST",
            "/api/v1/orders",
            json=order_body("huanglong", attachments=[record["id"]], request_secret_access=True),
        ),
        201,
    )
    [(request_id, include)] = fed.rows(
        "shaanxi",
        "SELECT id, include_reporter FROM access_requests WHERE order_id = :o",
        o=order["id"],
    )
    assert not include
    fed.pump()
    ok(call(county, "POST", f"/api/v1/orders/{order['id']}/acknowledge", json={}))
    fed.pump()
    path = f"{REQUESTS}/{request_id}/approve"
    assert (
        call(province, "POST", path, "security_officer", json={"comment": "同意"}).status_code
        == 403
    )
    ok(call(province, "POST", path, "approver", json={"comment": "同意"}))
    ok(call(province, "POST", path, "approver2", json={"comment": "同意"}))
    fed.pump()
    assert "title" in ok(call(county, "GET", f"{RECORDS}/{record['id']}"))
    error(call(county, "GET", f"{RECORDS}/{record['id']}/reporter"), 403, "reporter_not_granted")
    [release] = fed.outbox("shaanxi", kind="release", pending_only=False)
    assert fed.opened(release, "huanglong").get("reporter") is None
    assert found(held_bytes(fed, "huanglong")) == []


def test_migration_0011_goes_down_and_up(database_url: str) -> None:
    upgrade_database(database_url)
    config = alembic_config(database_url)
    engine = make_engine(database_url)

    def schema() -> tuple[set[str], set[str]]:
        with engine.connect() as conn:
            found = inspect(conn)
            tables = set(found.get_table_names())
            columns = {c["name"] for c in found.get_columns("access_requests")}
        return tables, columns

    try:
        tables, columns = schema()
        assert {"record_reporters", "released_reporters"} <= tables
        assert "include_reporter" in columns
        command.downgrade(config, "0010_no_side_door")
        tables, columns = schema()
        assert not {"record_reporters", "released_reporters"} & tables
        assert "include_reporter" not in columns
        command.upgrade(config, "heads")
        assert "record_reporters" in schema()[0]
    finally:
        engine.dispose()
