"""Attaching a case-secret record to an order: an explicit, audited grant to the addressee's
handler for the order's life, with the content released sealed for that node and deleted there
when the order is closed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import node.release.handlers  # noqa: F401  (registers the release kinds in this process)
from node.clock import iso
from node.ids import uuid7
from tests.helpers import call, error, ok, order_body
from tests.inprocess import MiniFederation

MakeFederation = Callable[..., MiniFederation]
CLUE_TITLE = "关于县水利局负责人违规插手工程的问题线索"


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


def test_secret_attachment_is_granted_released_and_revoked(
    mini_federation: MakeFederation,
) -> None:
    fed = mini_federation("shaanxi", "huanglong")
    province, county = fed["shaanxi"], fed["huanglong"]
    clue = ok(
        call(
            province,
            "POST",
            "/api/v1/records",
            json={"category": "problem_clue", "title": CLUE_TITLE, "body": "举报人：李某"},
        ),
        201,
    )
    body = order_body("huanglong", attachments=[clue["id"]])
    error(call(province, "POST", "/api/v1/orders", json=body), 422, "grant_not_confirmed")
    order = ok(
        call(province, "POST", "/api/v1/orders", json=dict(body, grant_secret_attachments=True)),
        201,
    )
    assert order["attachments"] == [
        {
            "record_id": clue["id"],
            "origin": "shaanxi",
            "classification": "secret",
            "category": "problem_clue",
            "granted": True,
        }
    ]
    assert fed.rows("shaanxi", "SELECT object_id FROM audit_log WHERE action = 'order-grant'") == [
        (clue["id"],)
    ]
    fed.pump()
    # The addressee learns the record exists (a stub); nothing is granted before acknowledgement.
    stub = ok(call(county, "GET", f"/api/v1/records/{clue['id']}"))
    assert stub["stub"] is True
    assert "title" not in stub
    assert fed.rows("shaanxi", "SELECT count(*) FROM grants") == [(0,)]

    ok(call(county, "POST", f"/api/v1/orders/{order['id']}/acknowledge", json={}))
    fed.pump()
    grants = fed.rows(
        "shaanxi", "SELECT id, source, order_id, grantee_node, grantee_name, revoked_at FROM grants"
    )
    assert [g[1:] for g in grants] == [
        ("order", order["id"], "huanglong", "huanglong-inspector", None)
    ]
    grant_id = grants[0][0]
    assert sorted(
        fed.rows("shaanxi", "SELECT action FROM audit_log WHERE grant_id = :g", g=grant_id)
    ) == [("grant",), ("release",)]
    # The handler reads the clue at the county; another user there does not.
    shown = ok(call(county, "GET", f"/api/v1/records/{clue['id']}"))
    assert shown["title"] == CLUE_TITLE
    assert "title" not in ok(call(county, "GET", f"/api/v1/records/{clue['id']}", role="approver"))

    path = f"/api/v1/orders/{order['id']}"
    ok(call(county, "POST", f"{path}/progress", json={"note": "核查中"}))
    ok(call(county, "POST", f"{path}/report", json={"title": "核查报告"}))
    fed.pump()
    ok(call(province, "POST", f"{path}/accept", json={}))
    ok(call(province, "POST", f"{path}/close", json={}))
    revoked = fed.rows("shaanxi", "SELECT revoked_at FROM grants WHERE id = :g", g=grant_id)
    assert revoked[0][0] is not None
    fed.pump()
    # Closed: the content is gone from the county's database, and the record is a stub again.
    assert fed.rows("huanglong", "SELECT count(*) FROM released_content") == [(0,)]
    assert "title" not in ok(call(county, "GET", f"/api/v1/records/{clue['id']}"))
    # A later order granting the same record again: a new grant; the stub is not sent twice.
    again = ok(
        call(province, "POST", "/api/v1/orders", json=dict(body, grant_secret_attachments=True)),
        201,
    )
    assert fed.outbox("shaanxi", kind="record") == []
    fed.pump()
    ok(call(county, "POST", f"/api/v1/orders/{again['id']}/acknowledge", json={}))
    fed.pump()
    assert ok(call(county, "GET", f"/api/v1/records/{clue['id']}"))["title"] == CLUE_TITLE
    assert fed.rows("shaanxi", "SELECT count(*) FROM grants WHERE revoked_at IS NULL") == [(1,)]
    assert fed.rows("huanglong", "SELECT count(*) FROM dead_letters") == [(0,)]


def test_only_the_origin_grants(mini_federation: MakeFederation) -> None:
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
    # A county's clue held here as a stub cannot be granted to another county...
    error(
        call(
            province,
            "POST",
            "/api/v1/orders",
            json=order_body(
                "huanglong", attachments=[foreign["id"]], grant_secret_attachments=True
            ),
        ),
        422,
        "attachment_not_grantable",
    )
    # ...but may be sent back to its own origin as a reference (nothing to grant).
    order = ok(
        call(
            province,
            "POST",
            "/api/v1/orders",
            json=order_body("huanglong", attachments=[huanglong_clue["id"]]),
        ),
        201,
    )
    assert order["attachments"][0]["granted"] is False
    error(
        call(
            province, "POST", "/api/v1/orders", json=order_body("huanglong", attachments=[uuid7()])
        ),
        422,
        "attachment_not_found",
    )
    assert fed.rows("shaanxi", "SELECT count(*) FROM grants") == [(0,)]
