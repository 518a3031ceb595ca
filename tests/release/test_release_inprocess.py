"""The release protocol between real nodes in one process: real databases through Alembic, real
signatures and sealing, the real inbox and handlers; envelopes carried by ``pump`` instead of NATS
(the NATS path is tests/release/test_release_federation.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from node.clock import iso
from node.ids import uuid7
from node.replication.envelope import EnvelopeRejected
from tests.conftest import NodeUnderTest
from tests.inprocess import MiniFederation

REQUESTS = "/api/v1/access-requests"
TITLE = "关于某局负责人违规收受礼金的问题线索"
BODY = "举报人:王某(联系方式略)。反映该负责人春节期间收受礼金。"
REASON = "省委巡视组核查该线索涉及的省管干部问题"


@pytest.fixture
def fed(mini_federation: Callable[..., MiniFederation]) -> MiniFederation:
    federation = mini_federation("huanglong", "yanan", "shaanxi")
    huanglong = federation["huanglong"]
    huanglong.tokens["approver2"] = huanglong.user("approver", name="huanglong-approver-2")
    return federation


def auth(node: NodeUnderTest, role: str) -> dict[str, str]:
    if role in node.tokens:
        return {"Authorization": f"Bearer {node.tokens[role]}"}
    return node.auth(role)


def post(node: NodeUnderTest, role: str, path: str, body: dict[str, Any]) -> Any:
    return node.client.post(path, json=body, headers=auth(node, role))


def secret_record(fed: MiniFederation, category: str = "problem_clue") -> str:
    created = post(
        fed["huanglong"],
        "inspector",
        "/api/v1/records",
        {"category": category, "title": TITLE, "body": BODY},
    )
    assert created.status_code == 201, created.text
    fed.pump()
    return str(created.json()["id"])


def request_access(fed: MiniFederation, record_id: str, **extra: Any) -> dict[str, Any]:
    body = {"record_id": record_id, "reason": REASON, "duration_s": 3600, **extra}
    response = post(fed["shaanxi"], "inspector", REQUESTS, body)
    assert response.status_code == 201, response.text
    fed.pump()
    result: dict[str, Any] = response.json()
    return result


def decide(
    fed: MiniFederation, request_id: str, verb: str, role: str = "approver", **extra: Any
) -> Any:
    response = post(
        fed["huanglong"],
        role,
        f"{REQUESTS}/{request_id}/{verb}",
        {"comment": "同意调阅" if verb == "approve" else "不予调阅", **extra},
    )
    fed.pump()
    return response


def read(fed: MiniFederation, record_id: str, role: str = "inspector") -> dict[str, Any]:
    response = fed["shaanxi"].client.get(
        f"/api/v1/records/{record_id}", headers=auth(fed["shaanxi"], role)
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_request_travels_sealed_and_approvers_see_metadata_only(fed: MiniFederation) -> None:
    record_id = secret_record(fed)
    mine = request_access(fed, record_id)
    assert mine["status"] == "pending"
    assert mine["reason"] == REASON
    # The reason crossed to the origin sealed: the envelope bytes never hold it.
    sent = fed.outbox("shaanxi", kind="access-request", pending_only=False)
    assert len(sent) == 1
    assert sent[0].dest == ["huanglong"]
    assert REASON.encode() not in sent[0].raw
    pending = (
        fed["huanglong"]
        .client.get(f"{REQUESTS}?status=pending", headers=auth(fed["huanglong"], "approver"))
        .json()
    )
    [item] = pending["items"]
    assert item["id"] == mine["id"]
    assert item["reason"] == REASON
    assert item["requester"] == "shaanxi-inspector"
    assert item["requester_node"] == "shaanxi"
    assert item["approvals_needed"] == 2  # problem clues need two (policies/categories.csv)
    text = str(pending)
    assert TITLE not in text
    assert BODY not in text
    # The ancestors in between learn of it as metadata: no reason.
    assert fed.rows("yanan", "SELECT reason, status FROM access_requests") == [(None, "pending")]
    # A second open request for the same record is refused.
    again = post(
        fed["shaanxi"],
        "inspector",
        REQUESTS,
        {"record_id": record_id, "reason": REASON, "duration_s": 60},
    )
    assert again.status_code == 409
    assert again.json()["error"] == "request_exists"


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        ("", "reason_required"),
        ("   \n\t ", "reason_required"),
        ("查一下", "reason_too_vague"),
        ("aaaaaaaaaaaa", "reason_too_vague"),
        ("........!!!!????", "reason_too_vague"),
    ],
)
def test_a_reason_must_say_something(fed: MiniFederation, reason: str, code: str) -> None:
    record_id = secret_record(fed)
    response = post(
        fed["shaanxi"],
        "inspector",
        REQUESTS,
        {"record_id": record_id, "reason": reason, "duration_s": 60},
    )
    assert response.status_code == 422
    assert response.json()["error"] == code
    missing = post(
        fed["shaanxi"], "inspector", REQUESTS, {"record_id": record_id, "duration_s": 60}
    )
    assert missing.status_code == 422
    assert missing.json()["error"] == "missing_field"
    assert fed.rows("shaanxi", "SELECT count(*) FROM access_requests") == [(0,)]
    assert fed.outbox("shaanxi", kind="access-request") == []


def test_who_may_request_what(fed: MiniFederation) -> None:
    record_id = secret_record(fed)
    # A role without the request permission: refused and audited.
    refused = post(
        fed["shaanxi"],
        "security_officer",
        REQUESTS,
        {"record_id": record_id, "reason": REASON, "duration_s": 60},
    )
    assert refused.status_code == 403
    assert fed.rows(
        "shaanxi",
        "SELECT decision FROM audit_log WHERE action = 'request' AND object_id = :id",
        id=record_id,
    ) == [("deny",)]
    # At the origin the record is readable already; a general record is not released on request.
    own = post(
        fed["huanglong"],
        "inspector",
        REQUESTS,
        {"record_id": record_id, "reason": REASON, "duration_s": 60},
    )
    assert own.status_code == 409
    assert own.json()["error"] == "already_readable"
    general = post(
        fed["huanglong"],
        "inspector",
        "/api/v1/records",
        {"category": "policy", "title": "公开的制度"},
    ).json()
    fed.pump()
    wrong = post(
        fed["shaanxi"],
        "inspector",
        REQUESTS,
        {"record_id": general["id"], "reason": REASON, "duration_s": 60},
    )
    assert wrong.status_code == 409
    assert wrong.json()["error"] == "not_case_secret"
    too_long = post(
        fed["shaanxi"],
        "inspector",
        REQUESTS,
        {"record_id": record_id, "reason": REASON, "duration_s": 30 * 24 * 3600},
    )
    assert too_long.status_code == 422


def test_two_different_approvers_then_release_to_the_grantee_only(fed: MiniFederation) -> None:
    record_id = secret_record(fed)
    request_id = request_access(fed, record_id, duration_s=3600)["id"]
    first = decide(fed, request_id, "approve", duration_s=600)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "pending"
    assert first.json()["approvals"] == 1
    # One approval of two releases nothing.
    assert fed.outbox("huanglong", kind="release", pending_only=False) == []
    assert "title" not in read(fed, record_id)
    blank = decide(fed, request_id, "approve", role="approver2", comment="  ")
    assert blank.status_code == 422
    assert blank.json()["error"] == "comment_required"
    again = decide(fed, request_id, "approve")
    assert again.status_code == 409
    assert again.json()["error"] == "already_decided"
    second = decide(fed, request_id, "approve", role="approver2")
    assert second.status_code == 200, second.text
    granted = second.json()
    assert granted["status"] == "active"
    assert granted["approvals"] == 2
    assert [d["approver"] for d in granted["decisions"]] == [
        "huanglong-approver",
        "huanglong-approver-2",
    ]
    # The shortest allowed length wins; the clock started at the deciding approval.
    assert fed.rows("huanglong", "SELECT count(*) FROM grants") == [(1,)]
    [release] = fed.outbox("huanglong", kind="release", pending_only=False)
    assert release.dest == ["shaanxi"]
    assert TITLE.encode() not in release.raw
    assert BODY.encode() not in release.raw
    with pytest.raises(EnvelopeRejected, match="undecryptable"):
        release.payload("yanan", fed.keys["yanan"])
    shown = read(fed, record_id)
    assert shown["title"] == TITLE
    assert shown["body"] == BODY
    grant_id = granted["grant_id"]
    lasted = fed.rows(
        "shaanxi", "SELECT granted_at, expires_at FROM grants WHERE id = :id", id=grant_id
    )
    assert lasted
    assert lasted[0][0] < lasted[0][1]
    # Only the grantee sees it, only at the grantee's node; plaintext nowhere else.
    assert "title" not in read(fed, record_id, role="approver")
    for node in ("yanan",):
        assert fed.rows(node, "SELECT count(*) FROM released_content") == [(0,)]
        assert fed.rows(node, "SELECT count(*) FROM records WHERE title = :t", t=TITLE) == [(0,)]
    # The read is audited at the grantee's node with the grant, and reported to the origin.
    assert fed.rows(
        "shaanxi", "SELECT actor FROM audit_log WHERE action = 'read' AND grant_id = :g", g=grant_id
    ) == [("shaanxi-inspector",)]
    fed.pump()
    assert fed.rows(
        "huanglong",
        "SELECT actor FROM audit_log WHERE action = 'read-released' AND grant_id = :g",
        g=grant_id,
    ) == [("shaanxi-inspector@shaanxi",)]
    assert fed.rows(
        "yanan", "SELECT reader_name FROM grant_reads WHERE grant_id = :g", g=grant_id
    ) == [("shaanxi-inspector",)]
    # Listing shows released content too, and counts as a read.
    listed = (
        fed["shaanxi"]
        .client.get("/api/v1/records", headers=auth(fed["shaanxi"], "inspector"))
        .json()
    )
    assert [i.get("title") for i in listed["items"] if i["id"] == record_id] == [TITLE]
    assert fed.rows("shaanxi", "SELECT count(*) FROM grant_reads") == [(2,)]
    # No audit entry anywhere holds content.
    for node in ("huanglong", "yanan", "shaanxi"):
        rows = fed.rows(
            node,
            "SELECT count(*) FROM audit_log WHERE reason LIKE :t OR reason LIKE :b",
            t=f"%{TITLE[:6]}%",
            b=f"%{BODY[:6]}%",
        )
        assert rows == [(0,)]


def test_deny_wins_over_an_earlier_approval(fed: MiniFederation) -> None:
    record_id = secret_record(fed)
    request_id = request_access(fed, record_id)["id"]
    assert decide(fed, request_id, "approve").status_code == 200
    denied = decide(fed, request_id, "deny", role="approver2")
    assert denied.status_code == 200
    assert denied.json()["status"] == "denied"
    late = decide(fed, request_id, "approve", role="approver2")
    assert late.status_code == 409
    assert late.json()["error"] == "request_not_pending"
    assert fed.rows("huanglong", "SELECT count(*) FROM grants") == [(0,)]
    mine = (
        fed["shaanxi"]
        .client.get(f"{REQUESTS}/{request_id}", headers=auth(fed["shaanxi"], "inspector"))
        .json()
    )
    assert mine["status"] == "denied"
    assert [d["decision"] for d in mine["decisions"]] == ["approve", "deny"]
    assert all(d["comment"] is None for d in mine["decisions"])  # comments stay at the origin


def test_forged_release_steps_are_rejected(fed: MiniFederation) -> None:
    record_id = secret_record(fed)
    user_id = fed.rows("shaanxi", "SELECT id FROM users WHERE name = 'shaanxi-inspector'")
    if not user_id:
        read(fed, record_id)
        user_id = fed.rows("shaanxi", "SELECT id FROM users WHERE name = 'shaanxi-inspector'")
    now = datetime.now(UTC)
    grant = {
        "id": uuid7(),
        "record_id": record_id,
        "record_origin": "huanglong",
        "grantee_id": user_id[0][0],
        "grantee_name": "shaanxi-inspector",
        "grantee_node": "shaanxi",
        "source": "approval",
        "granted_at": iso(now),
        "expires_at": iso(now.replace(year=now.year + 1)),
    }
    release = {
        "grant": grant,
        "record": {"id": record_id, "version": 1, "title": "伪造", "body": "伪造正文"},
    }
    # Content for a huanglong record, signed by yanan: not the origin.
    outcome = fed.send_as(
        "yanan",
        "shaanxi",
        kind="release",
        dest=["shaanxi"],
        ref={"grant": grant["id"]},
        payload=release,
    )
    assert outcome == "rejected:origin_mismatch"
    # ... nor by yanan claiming to be the record's origin: records are (origin, id), and no
    # stub (yanan, id) is held here.
    claimed = {**release, "grant": {**grant, "record_origin": "yanan"}}
    outcome = fed.send_as(
        "yanan",
        "shaanxi",
        kind="release",
        dest=["shaanxi"],
        ref={"grant": grant["id"]},
        payload=claimed,
    )
    assert outcome == "rejected:unknown_record"
    # A request from a node that holds no stub of the record (yichuan is not an ancestor).
    forged_request = {
        "id": uuid7(),
        "record_id": record_id,
        "record_origin": "huanglong",
        "category": "problem_clue",
        "requester_id": uuid7(),
        "requester_name": "x",
        "requester_role": "inspector",
        "requester_node": "yichuan",
        "wanted_s": 60,
        "approvals_needed": 1,
        "status": "pending",
        "created_at": iso(now),
        "expires_at": iso(now.replace(year=now.year + 1)),
        "revision": 1,
        "reason": REASON,
    }
    outcome = fed.send_as(
        "yichuan",
        "huanglong",
        kind="access-request",
        dest=["huanglong"],
        ref={"request": forged_request["id"]},
        payload=forged_request,
    )
    assert outcome == "rejected:not_entitled"
    # A revocation (or any snapshot) not from the record's origin.
    snapshot = {"event": "revoked", "grant": {**grant, "revoked_at": iso(now)}}
    outcome = fed.send_as(
        "yanan",
        "shaanxi",
        kind="grant-event",
        dest=["shaanxi"],
        ref={"grant": grant["id"]},
        payload=snapshot,
    )
    assert outcome == "rejected:origin_mismatch"
    assert fed.rows("shaanxi", "SELECT count(*) FROM released_content") == [(0,)]
    assert fed.rows("huanglong", "SELECT count(*) FROM access_requests") == [(0,)]
    # The genuine origin's release is applied once, however often it arrives.
    for _ in range(2):
        outcome = fed.send_as(
            "huanglong",
            "shaanxi",
            kind="release",
            dest=["shaanxi"],
            ref={"grant": grant["id"]},
            payload=release,
        )
        assert outcome == "applied"
    assert fed.rows("shaanxi", "SELECT count(*) FROM released_content") == [(1,)]
    # Its revocation deletes the content on receipt; a late copy of the release is discarded.
    outcome = fed.send_as(
        "huanglong",
        "shaanxi",
        kind="grant-event",
        dest=["shaanxi"],
        ref={"grant": grant["id"]},
        payload=snapshot,
    )
    assert outcome == "applied"
    assert fed.rows("shaanxi", "SELECT count(*) FROM released_content") == [(0,)]
    outcome = fed.send_as(
        "huanglong",
        "shaanxi",
        kind="release",
        dest=["shaanxi"],
        ref={"grant": grant["id"]},
        payload=release,
    )
    assert outcome == "applied"
    assert fed.rows("shaanxi", "SELECT count(*) FROM released_content") == [(0,)]
    assert fed.rows(
        "shaanxi", "SELECT action FROM audit_log WHERE grant_id = :g ORDER BY seq", g=grant["id"]
    ) == [("receive-release",), ("purge-release",), ("grant-event",), ("discard-release",)]


def test_a_deleted_record_takes_its_released_content_with_it(fed: MiniFederation) -> None:
    record_id = secret_record(fed, category="evidence")  # one approval suffices
    request_id = request_access(fed, record_id)["id"]
    assert decide(fed, request_id, "approve").json()["status"] == "active"
    assert read(fed, record_id)["title"] == TITLE
    deleted = fed["huanglong"].client.delete(
        f"/api/v1/records/{record_id}", headers=auth(fed["huanglong"], "inspector")
    )
    assert deleted.status_code == 200
    fed.pump()
    assert "title" not in read(fed, record_id)
    assert fed.rows("shaanxi", "SELECT count(*) FROM released_content") == [(0,)]
    assert fed.rows("shaanxi", "SELECT reason FROM audit_log WHERE action = 'purge-release'") == [
        ("record deleted",)
    ]


def test_the_api_is_documented(fed: MiniFederation) -> None:
    node = fed["shaanxi"]
    paths = node.client.get("/openapi.json", headers=node.auth("inspector")).json()["paths"]
    for path in (
        "/api/v1/access-requests",
        "/api/v1/access-requests/{request_id}/approve",
        "/api/v1/access-requests/{request_id}/deny",
        "/api/v1/grants",
        "/api/v1/grants/{grant_id}/revoke",
        "/api/v1/audit",
        "/api/v1/audit/checkpoints",
    ):
        assert path in paths
