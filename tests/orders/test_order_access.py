"""Attaching a case-secret record to an order is no side door (DESIGN §6): it files an access
request for each addressee, decided by the origin's approvers with the category's number of
approvals (distinct approvers, no self-approval, deny wins); the addressee's handler reads the
content only once approved, and at the latest until the order closes for them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from alembic import command
from sqlalchemy import create_engine, text

import node.release.handlers  # noqa: F401  (registers the release kinds in this process)
from node.clock import iso
from node.db import alembic_config
from node.ids import uuid7
from node.release.tasks import sweep_once
from tests.helpers import call, error, ok, order_body
from tests.inprocess import MiniFederation

MakeFederation = Callable[..., MiniFederation]
CLUE_TITLE = "关于县水利局负责人违规插手工程的问题线索"
REQUESTS = "/api/v1/access-requests"


def stub_payload(origin: str, category: str = "problem_clue") -> dict[str, Any]:
    now = iso(datetime.now(UTC))
    return {
        "id": uuid7(),
        "origin": origin,
        "category": category,
        "classification": "secret",
        "version": 1,
        "created_at": now,
        "updated_at": now,
        "deleted": False,
        "stub": True,
    }


def new_clue(fed: MiniFederation) -> dict[str, Any]:
    body = {"category": "problem_clue", "title": CLUE_TITLE, "body": "举报人：李某"}
    return ok(call(fed["shaanxi"], "POST", "/api/v1/records", json=body), 201)


def issue(fed: MiniFederation, clue: dict[str, Any], *addressees: str) -> dict[str, Any]:
    body = order_body(*addressees, attachments=[clue["id"]], request_secret_access=True)
    return ok(call(fed["shaanxi"], "POST", "/api/v1/orders", json=body), 201)


def order_request(fed: MiniFederation, order_id: str, addressee: str = "huanglong") -> str:
    rows = fed.rows(
        "shaanxi",
        "SELECT id FROM access_requests WHERE order_id = :o AND for_node = :a",
        o=order_id,
        a=addressee,
    )
    assert len(rows) == 1
    return str(rows[0][0])


def decide(fed: MiniFederation, request_id: str, verb: str, role: str = "approver") -> Any:
    comment = "同意交办核查" if verb == "approve" else "不宜扩大知悉范围"
    return call(
        fed["shaanxi"], "POST", f"{REQUESTS}/{request_id}/{verb}", role, json={"comment": comment}
    )


def second_approver(fed: MiniFederation) -> None:
    province = fed["shaanxi"]
    province.tokens["approver2"] = province.user("approver", name="shaanxi-approver-2")


def finish(fed: MiniFederation, order_id: str) -> None:
    """The county works the order through to its report; the province accepts and closes it."""
    county, path = fed["huanglong"], f"/api/v1/orders/{order_id}"
    fed.pump()
    if ok(call(county, "GET", path))["targets"][0]["state"] == "received":
        ok(call(county, "POST", f"{path}/acknowledge", json={}))
    ok(call(county, "POST", f"{path}/progress", json={"note": "核查中"}))
    ok(call(county, "POST", f"{path}/report", json={"title": "核查报告"}))
    fed.pump()
    ok(call(fed["shaanxi"], "POST", f"{path}/accept", json={}))
    ok(call(fed["shaanxi"], "POST", f"{path}/close", json={}))


def county_reads(fed: MiniFederation, record_id: str, role: str = "inspector") -> bool:
    shown = ok(call(fed["huanglong"], "GET", f"/api/v1/records/{record_id}", role))
    return "title" in shown


def test_an_order_files_requests_and_the_county_reads_only_after_the_approvals(
    mini_federation: MakeFederation,
) -> None:
    fed = mini_federation("shaanxi", "huanglong")
    second_approver(fed)
    province, county = fed["shaanxi"], fed["huanglong"]
    clue = new_clue(fed)
    body = order_body("huanglong", attachments=[clue["id"]])
    error(call(province, "POST", "/api/v1/orders", json=body), 422, "access_request_not_confirmed")
    # The withdrawn confirmation flag is refused, not silently taken as a grant.
    legacy = dict(body, grant_secret_attachments=True)
    assert call(province, "POST", "/api/v1/orders", json=legacy).status_code == 422
    assert fed.rows("shaanxi", "SELECT count(*) FROM orders") == [(0,)]

    order = issue(fed, clue, "huanglong")
    assert order["attachments"][0]["access_requested"] is True
    request_id = order_request(fed, order["id"])
    request = ok(call(province, "GET", f"{REQUESTS}/{request_id}", "approver"))
    assert (request["status"], request["approvals_needed"]) == ("pending", 2)
    # The approvers see whose order it is for (the console: 交办 … 为 <node> 申请).
    assert (request["order_id"], request["for_node"]) == (order["id"], "huanglong")
    assert fed.rows("shaanxi", "SELECT count(*) FROM grants") == [(0,)]
    fed.pump()
    # The county learns the record exists (a stub) and acknowledges: it reads nothing yet.
    ok(call(county, "POST", f"/api/v1/orders/{order['id']}/acknowledge", json={}))
    fed.pump()
    assert not county_reads(fed, clue["id"])
    assert fed.rows("shaanxi", "SELECT count(*) FROM grants") == [(0,)]
    assert fed.rows("huanglong", "SELECT count(*) FROM released_content") == [(0,)]

    # The issuer cannot decide (no approver role, and it is their request); one approval of two
    # grants nothing; an approver decides once.
    assert decide(fed, request_id, "approve", role="inspector").status_code == 403
    ok(decide(fed, request_id, "approve"))
    error(decide(fed, request_id, "approve"), 409, "already_decided")
    fed.pump()
    assert not county_reads(fed, clue["id"])
    assert fed.rows("shaanxi", "SELECT count(*) FROM grants") == [(0,)]
    # The second, distinct approver: the handler who acknowledged reads it; nobody else there.
    ok(decide(fed, request_id, "approve", role="approver2"))
    fed.pump()
    grants = fed.rows(
        "shaanxi", "SELECT id, source, order_id, request_id, grantee_node, grantee_name FROM grants"
    )
    assert [g[1:] for g in grants] == [
        ("approval", order["id"], request_id, "huanglong", "huanglong-inspector")
    ]
    assert county_reads(fed, clue["id"])
    assert not county_reads(fed, clue["id"], role="approver")
    assert fed.rows("shaanxi", "SELECT count(*) FROM audit_log WHERE action = 'order-grant'") == [
        (0,)
    ]

    # Closing the order ends the grant; the county's copy of the content is deleted.
    finish(fed, order["id"])
    assert fed.rows("shaanxi", "SELECT revoked_at IS NOT NULL FROM grants") == [(True,)]
    fed.pump()
    assert fed.rows("huanglong", "SELECT count(*) FROM released_content") == [(0,)]
    assert not county_reads(fed, clue["id"])
    assert fed.rows("huanglong", "SELECT count(*) FROM dead_letters") == [(0,)]


def test_approval_before_acknowledgement_deny_wins_and_closing_withdraws(
    mini_federation: MakeFederation,
) -> None:
    fed = mini_federation("shaanxi", "huanglong")
    second_approver(fed)
    province, county = fed["shaanxi"], fed["huanglong"]
    clue = new_clue(fed)

    # Approved before the county acknowledges: granted to the handler when they do.
    early = issue(fed, clue, "huanglong")
    request_id = order_request(fed, early["id"])
    ok(decide(fed, request_id, "approve"))
    ok(decide(fed, request_id, "approve", role="approver2"))
    assert fed.rows("shaanxi", "SELECT count(*) FROM grants") == [(0,)]
    fed.pump()
    ok(call(county, "POST", f"/api/v1/orders/{early['id']}/acknowledge", json={}))
    fed.pump()
    assert fed.rows("shaanxi", "SELECT request_id FROM grants") == [(request_id,)]
    assert county_reads(fed, clue["id"])
    finish(fed, early["id"])
    fed.pump()
    assert not county_reads(fed, clue["id"])

    # One approval, then a deny: denied, whatever came before; acknowledging grants nothing.
    denied = issue(fed, clue, "huanglong")
    request_id = order_request(fed, denied["id"])
    ok(decide(fed, request_id, "approve"))
    ok(decide(fed, request_id, "deny", role="approver2"))
    fed.pump()
    ok(call(county, "POST", f"/api/v1/orders/{denied['id']}/acknowledge", json={}))
    fed.pump()
    assert ok(call(province, "GET", f"{REQUESTS}/{request_id}", "approver"))["status"] == "denied"
    assert not county_reads(fed, clue["id"])
    assert fed.rows("shaanxi", "SELECT count(*) FROM grants WHERE revoked_at IS NULL") == [(0,)]

    # Closed before anyone decided: the request is withdrawn and can no longer be approved.
    withdrawn = issue(fed, clue, "huanglong")
    request_id = order_request(fed, withdrawn["id"])
    finish(fed, withdrawn["id"])
    error(decide(fed, request_id, "approve"), 409, "request_expired")
    assert fed.rows(
        "shaanxi", "SELECT count(*) FROM audit_log WHERE action = 'request-withdrawn'"
    ) == [(1,)]


def test_only_the_origin_files_requests(mini_federation: MakeFederation) -> None:
    fed = mini_federation("shaanxi")
    province = fed["shaanxi"]
    foreign = stub_payload("yichuan")
    huanglong_clue = stub_payload("huanglong", "petition")
    for stub in (foreign, huanglong_clue):
        assert (
            fed.send_as(
                stub["origin"],
                "shaanxi",
                kind="record",
                dest=["shaanxi"],
                ref={"record": stub["id"], "version": 1},
                payload=stub,
            )
            == "applied"
        )
    # A county's clue held here as a stub cannot be passed on to another county...
    body = order_body("huanglong", attachments=[foreign["id"]], request_secret_access=True)
    error(call(province, "POST", "/api/v1/orders", json=body), 422, "attachment_not_grantable")
    # ...but may be sent back to its own origin as a reference (nothing to request).
    order = ok(
        call(
            province,
            "POST",
            "/api/v1/orders",
            json=order_body("huanglong", attachments=[huanglong_clue["id"]]),
        ),
        201,
    )
    assert order["attachments"][0]["access_requested"] is False
    error(
        call(
            province, "POST", "/api/v1/orders", json=order_body("huanglong", attachments=[uuid7()])
        ),
        422,
        "attachment_not_found",
    )
    assert fed.rows("shaanxi", "SELECT count(*) FROM grants") == [(0,)]
    assert fed.rows("shaanxi", "SELECT count(*) FROM access_requests") == [(0,)]


def test_a_forged_order_request_from_another_node_is_refused(
    mini_federation: MakeFederation,
) -> None:
    fed = mini_federation("shaanxi")
    clue = new_clue(fed)
    now = iso(datetime.now(UTC))
    request = {
        "id": uuid7(),
        "record_id": clue["id"],
        "record_origin": "shaanxi",
        "category": "problem_clue",
        "requester_id": uuid7(),
        "requester_name": "huanglong-inspector",
        "requester_role": "inspector",
        "requester_node": "huanglong",
        "wanted_s": 3600,
        "approvals_needed": 1,
        "status": "pending",
        "created_at": now,
        "expires_at": now,
        "revision": 1,
        "reason": "交办督办核查需要查阅该线索材料",
        "order_id": uuid7(),
        "for_node": "yichuan",
    }
    outcome = fed.send_as(
        "huanglong",
        "shaanxi",
        kind="access-request",
        dest=["shaanxi"],
        ref={"request": request["id"]},
        payload=request,
    )
    assert outcome == "rejected:not_permitted"
    assert fed.rows("shaanxi", "SELECT count(*) FROM access_requests") == [(0,)]


def test_grants_made_by_the_withdrawn_shortcut_are_ended_by_the_migration(
    mini_federation: MakeFederation,
) -> None:
    """A grant the old ``order-grant`` shortcut made (no request, no approver) at the origin and
    its copy with released content at the grantee: after the migration, the origin's sweep revokes
    it, audited and announced; the grantee deletes the content."""
    fed = mini_federation("shaanxi", "huanglong")
    clue = new_clue(fed)
    order = issue(fed, clue, "huanglong")
    fed.pump()
    now = datetime.now(UTC)
    grant_id = uuid7()
    for node_id in ("shaanxi", "huanglong"):
        engine = create_engine(fed[node_id].ctx.settings.database_url)
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO grants (id, record_id, record_origin, grantee_id, grantee_name, "
                    "grantee_node, source, request_id, order_id, granted_at, expires_at) VALUES "
                    "(:id, :r, 'shaanxi', 'u1', 'huanglong-inspector', 'huanglong', 'order', "
                    "NULL, :o, :now, :until)"
                ),
                {
                    "id": grant_id,
                    "r": clue["id"],
                    "o": order["id"],
                    "now": now,
                    "until": now.replace(year=now.year + 1),
                },
            )
            if node_id == "huanglong":
                conn.execute(
                    text(
                        "INSERT INTO released_content (grant_id, record_id, version, title, body, "
                        "received_at) VALUES (:g, :r, 1, :t, '举报人：李某', :now)"
                    ),
                    {"g": grant_id, "r": clue["id"], "t": CLUE_TITLE, "now": now},
                )
        engine.dispose()
        # Back to before the migration, then up again: it marks the shortcut's grant.
        config = alembic_config(fed[node_id].ctx.settings.database_url)
        command.downgrade(config, "0010_no_side_door-1")
        command.upgrade(config, "heads")
        assert fed.rows(node_id, "SELECT source FROM grants") == [("order-legacy",)]

    # The nodes' own sweep may have run already; one more pass makes sure (it is idempotent).
    sweep_once(fed["shaanxi"].ctx)
    sweep_once(fed["huanglong"].ctx)
    # The grantee deleted the content without waiting for the origin.
    assert fed.rows("huanglong", "SELECT count(*) FROM released_content") == [(0,)]
    revoked = fed.rows("shaanxi", "SELECT revoked_at IS NOT NULL, ended_at IS NOT NULL FROM grants")
    assert revoked == [(True, True)]
    reasons = fed.rows(
        "shaanxi",
        "SELECT action, reason FROM audit_log WHERE grant_id = :g",
        g=grant_id,
    )
    assert ("revoke", "order-grant shortcut withdrawn: no approval") in reasons
    assert fed.rows(
        "huanglong", "SELECT action FROM audit_log WHERE grant_id = :g", g=grant_id
    ) == [("purge-release",)]
    fed.pump()
    assert not county_reads(fed, clue["id"])
    assert fed.rows("huanglong", "SELECT count(*) FROM dead_letters") == [(0,)]
