"""Case-secret release across the running demo federation: a nats-server and an API process
per node (central > shaanxi > yanan > huanglong, yichuan), real databases, and a test clock the
tests move to end grants and requests instead of waiting for them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.support import FederationClient, barrier, wait_for

pytestmark = pytest.mark.federation

REQUESTS = "/api/v1/access-requests"
REASON = "省委巡视组核查该线索涉及的省管干部问题"


def clue(fed: FederationClient, title: str, category: str = "problem_clue") -> str:
    """A case-secret record at huanglong, once its stub has reached shaanxi."""
    record = fed.create_record(
        "huanglong", {"category": category, "title": title, "body": f"{title}。举报人:王某。"}
    )
    wait_for(lambda: fed.record_version("shaanxi", record["id"]) == 1, message="stub at shaanxi")
    return str(record["id"])


def ask(fed: FederationClient, record_id: str, **extra: Any) -> str:
    response = fed.post(
        "shaanxi",
        "inspector",
        REQUESTS,
        json={"record_id": record_id, "reason": REASON, "duration_s": 600, **extra},
    )
    assert response.status_code == 201, response.text
    request_id = str(response.json()["id"])
    wait_for(
        lambda: fed.get("huanglong", "approver", f"{REQUESTS}/{request_id}").status_code == 200,
        message="the request at the origin",
    )
    return request_id


def decide(
    fed: FederationClient, request_id: str, verb: str, role: str = "approver", **extra: Any
) -> Any:
    return fed.post(
        "huanglong",
        role,
        f"{REQUESTS}/{request_id}/{verb}",
        json={"comment": "同意" if verb == "approve" else "理由不充分", **extra},
    )


def status_at(fed: FederationClient, node: str, role: str, request_id: str) -> str:
    response = fed.get(node, role, f"{REQUESTS}/{request_id}")
    return str(response.json()["status"]) if response.status_code == 200 else ""


def released_rows(fed: FederationClient, node: str, record_id: str) -> int:
    return int(
        fed.db_rows(
            node, "SELECT count(*) FROM released_content WHERE record_id = :r", r=record_id
        )[0][0]
    )


def shown(fed: FederationClient, record_id: str, role: str = "inspector") -> dict[str, Any]:
    response = fed.get("shaanxi", role, f"/api/v1/records/{record_id}")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def grants_seen_by(fed: FederationClient, at: str, **query: str) -> list[dict[str, Any]]:
    response = fed.get(at, "security_officer", "/api/v1/grants", params=query)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_county_clue_released_to_the_province_then_gone(
    release_federation: FederationClient,
) -> None:
    fed = release_federation
    title = "关于某局负责人违规收受礼金的问题线索"
    record_id = clue(fed, title)
    # Long enough that every check below sees the grant still running on a loaded CI machine;
    # the test moves the clock past it when it wants it over.
    request_id = ask(fed, record_id, duration_s=600)
    pending = fed.get("huanglong", "approver", f"{REQUESTS}?status=pending").json()["items"]
    assert [p["id"] for p in pending if p["record_id"] == record_id] == [request_id]
    assert title not in str(pending)

    one = decide(fed, request_id, "approve")
    assert one.status_code == 200
    assert one.json()["status"] == "pending"
    assert "title" not in shown(fed, record_id)  # one approval of two releases nothing
    two = decide(fed, request_id, "approve", role="approver2")
    assert two.status_code == 200, two.text
    grant_id = two.json()["grant_id"]
    assert two.json()["status"] == "active"

    wait_for(lambda: shown(fed, record_id).get("title") == title, message="released content")
    assert released_rows(fed, "shaanxi", record_id) == 1
    assert "title" not in shown(fed, record_id, role="approver")  # only the grantee
    barrier(fed, "huanglong", "central", "yanan", "yichuan")
    for node in ("central", "yanan", "yichuan"):
        assert released_rows(fed, node, record_id) == 0
        assert fed.db_rows(node, "SELECT count(*) FROM records WHERE title = :t", t=title) == [(0,)]

    # Audit at both ends: the grant and release at the origin, the receipt and read here, and
    # the read reported back to the origin.
    def actions(node: str) -> set[str]:
        rows = fed.db_rows(node, "SELECT action FROM audit_log WHERE grant_id = :g", g=grant_id)
        return {str(r[0]) for r in rows}

    wait_for(
        lambda: {"grant", "release", "read-released"} <= actions("huanglong"),
        message="origin audit",
    )
    assert {"receive-release", "read"} <= actions("shaanxi")
    # The security officer at the centre sees it, as metadata.
    [grant] = wait_for(
        lambda: grants_seen_by(fed, "central", record_id=record_id), message="the grant at central"
    )
    assert grant["status"] == "active"
    assert grant["requester"] == "shaanxi-inspector"
    assert [d["approver"] for d in grant["decisions"]] == [
        "huanglong-approver",
        "huanglong-approver2",
    ]
    assert grant["reason"] is None
    assert title not in str(grant)

    # The grant runs out: the periodic sweep deletes the content from shaanxi's database,
    # with no read needed to trigger it.
    fed.federation.advance_clock(601)
    wait_for(
        lambda: released_rows(fed, "shaanxi", record_id) == 0, message="content deleted at shaanxi"
    )
    assert fed.db_rows(
        "shaanxi", "SELECT count(*) FROM released_content WHERE grant_id = :g", g=grant_id
    ) == [(0,)]
    assert "title" not in shown(fed, record_id)
    assert status_at(fed, "shaanxi", "inspector", request_id) == "expired"
    [grant] = wait_for(
        lambda: [
            g for g in grants_seen_by(fed, "central", record_id=record_id) if g["read_count"] >= 1
        ],
        message="the read reported to central",
    )
    assert grant["status"] == "expired"
    assert grant["reads"][0]["reader"] == "shaanxi-inspector"
    wait_for(lambda: "grant-expired" in actions("huanglong"), message="expiry audited at origin")
    assert "purge-release" in actions("shaanxi")


def test_the_requester_never_approves_their_own_request(
    release_federation: FederationClient,
) -> None:
    fed = release_federation
    record_id = clue(fed, "自审批测试线索")
    response = fed.post(
        "shaanxi",
        "approver",
        REQUESTS,
        json={"record_id": record_id, "reason": REASON, "duration_s": 60},
    )
    assert response.status_code == 201
    request_id = response.json()["id"]
    own = fed.post(
        "shaanxi", "approver", f"{REQUESTS}/{request_id}/approve", json={"comment": "自己批准"}
    )
    assert own.status_code == 403
    assert own.json()["error"] == "self_approval"
    denial = fed.db_rows(
        "shaanxi",
        "SELECT decision, reason FROM audit_log WHERE action = 'approve' AND object_id = :r",
        r=request_id,
    )
    assert denial == [("deny", "self_approval")]
    # Nobody but the origin's approvers decides: another approver here is told so.
    elsewhere = fed.post(
        "shaanxi", "inspector", f"{REQUESTS}/{request_id}/approve", json={"comment": "越权批准"}
    )
    assert elsewhere.status_code in (403, 409)


def test_deny_after_approve(release_federation: FederationClient) -> None:
    fed = release_federation
    record_id = clue(fed, "驳回测试线索")
    request_id = ask(fed, record_id)
    assert decide(fed, request_id, "approve").status_code == 200
    denied = decide(fed, request_id, "deny", role="approver2")
    assert denied.status_code == 200
    assert denied.json()["status"] == "denied"
    wait_for(
        lambda: status_at(fed, "shaanxi", "inspector", request_id) == "denied",
        message="denial at the requester's node",
    )
    barrier(fed, "huanglong", "shaanxi")
    assert fed.db_rows(
        "shaanxi", "SELECT count(*) FROM grants WHERE record_id = :r", r=record_id
    ) == [(0,)]
    assert released_rows(fed, "shaanxi", record_id) == 0
    # Once a grant stands, a deny is an illegal state change (revoke instead).
    evidence = clue(fed, "证据材料测试", category="evidence")  # one approval suffices
    granted_id = ask(fed, evidence)
    assert decide(fed, granted_id, "approve").json()["status"] == "active"
    late = decide(fed, granted_id, "deny", role="approver2")
    assert late.status_code == 409
    assert late.json()["error"] == "request_not_pending"


def test_revoke_mid_grant(release_federation: FederationClient) -> None:
    fed = release_federation
    title = "撤销测试证据材料"
    record_id = clue(fed, title, category="evidence")
    request_id = ask(fed, record_id, duration_s=600)
    grant_id = decide(fed, request_id, "approve").json()["grant_id"]
    wait_for(lambda: shown(fed, record_id).get("title") == title, message="released content")
    not_here = fed.post("shaanxi", "approver", f"/api/v1/grants/{grant_id}/revoke")
    assert not_here.status_code == 409
    assert not_here.json()["error"] == "not_origin"
    inspector = fed.post("huanglong", "inspector", f"/api/v1/grants/{grant_id}/revoke")
    assert inspector.status_code == 403
    revoked = fed.post("huanglong", "approver", f"/api/v1/grants/{grant_id}/revoke")
    assert revoked.status_code == 200
    assert revoked.json()["status"] == "revoked"
    wait_for(
        lambda: released_rows(fed, "shaanxi", record_id) == 0, message="content deleted at shaanxi"
    )
    assert "title" not in shown(fed, record_id)
    again = fed.post("huanglong", "approver", f"/api/v1/grants/{grant_id}/revoke")
    assert again.status_code == 409
    assert again.json()["error"] == "grant_revoked"
    [seen] = wait_for(
        lambda: [
            g
            for g in grants_seen_by(fed, "central", record_id=record_id)
            if g["status"] == "revoked"
        ],
        message="revocation at central",
    )
    assert seen["revoked_by"] == "huanglong-approver@huanglong"


def test_an_undecided_request_expires(release_federation: FederationClient) -> None:
    fed = release_federation
    record_id = clue(fed, "过期申请测试线索")
    request_id = ask(fed, record_id, respond_within_s=600)
    fed.federation.advance_clock(601)
    late = decide(fed, request_id, "approve")
    assert late.status_code == 409
    assert late.json()["error"] == "request_expired"
    wait_for(
        lambda: status_at(fed, "shaanxi", "inspector", request_id) == "request_expired",
        message="expiry at the requester's node",
    )
    wait_for(
        lambda: (
            fed.db_rows(
                "huanglong", "SELECT status FROM access_requests WHERE id = :i", i=request_id
            )
            == [("expired",)]
        ),
        message="swept at the origin",
    )
    # The requester may ask again.
    assert (
        fed.post(
            "shaanxi",
            "inspector",
            REQUESTS,
            json={"record_id": record_id, "reason": REASON, "duration_s": 60},
        ).status_code
        == 201
    )


def test_security_officers_filter_grants_across_their_subtree(
    release_federation: FederationClient,
) -> None:
    fed = release_federation
    since = fed.federation.now().isoformat()
    record_id = clue(fed, "审计筛选测试证据", category="evidence")
    granted = ask(fed, record_id)
    decide(fed, granted, "approve")
    denied_record = clue(fed, "审计筛选驳回证据", category="evidence")
    denied = ask(fed, denied_record)
    decide(fed, denied, "deny")

    def both_seen_at(at: str) -> Callable[[], bool]:
        def check() -> bool:
            seen = grants_seen_by(fed, at, node="shaanxi")
            ours = {g["status"] for g in seen if g["record_id"] in (record_id, denied_record)}
            return ours == {"active", "denied"}

        return check

    for node in ("central", "shaanxi", "yanan", "huanglong"):
        wait_for(both_seen_at(node), message=f"both at {node}")

    def central(**query: str) -> set[str]:
        return {str(g["id"]) for g in grants_seen_by(fed, "central", **query)}

    assert central(record_id=record_id) == {granted}
    assert central(status="denied", node="huanglong") >= {denied}
    assert granted not in central(status="denied")
    assert {granted, denied} <= central(user="huanglong-approver")
    assert granted not in central(user="huanglong-approver2")
    assert {granted, denied} <= central(user="shaanxi-inspector")
    assert central(node="yichuan") & {granted, denied} == set()
    assert {granted, denied} <= central(since=since)
    assert central(until=since) & {granted, denied} == set()
    # yichuan is outside this subtree: it never hears of these requests.
    barrier(fed, "shaanxi", "yichuan")
    barrier(fed, "huanglong", "yichuan")
    assert fed.db_rows("yichuan", "SELECT count(*) FROM access_requests") == [(0,)]
    assert grants_seen_by(fed, "yichuan") == []
    # Only security officers query grants; the audit trail records who looked.
    assert fed.get("central", "inspector", "/api/v1/grants").status_code == 403
    entries = fed.get(
        "central",
        "security_officer",
        "/api/v1/audit",
        params={"action": "list", "actor": "central-security_officer"},
    ).json()
    assert any(e["object_type"] == "grant" for e in entries["items"])
