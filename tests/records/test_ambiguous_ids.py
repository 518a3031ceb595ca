"""Naming a record by id alone, when records of several origins share the id: the API resolves the
one the user may see, answers 409 ``ambiguous_record_id`` (with nothing of either record) when
they may see more than one, and takes the origin where it is given."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import text

from node.ids import uuid7
from tests.conftest import NodeUnderTest
from tests.factories import insert_record
from tests.helpers import call, error, later, ok, order_body

MakeNode = Callable[..., NodeUnderTest]


@pytest.fixture
def node(make_node: MakeNode) -> NodeUnderTest:
    return make_node("yanan")


def shared(node: NodeUnderTest, *origins: str, **fields: str) -> str:
    """One id held under each of ``origins``, as replication would store them."""
    record_id = uuid7()
    for origin in origins:
        insert_record(
            node.ctx.sessions,
            record_id=record_id,
            origin=origin,
            title=f"{origin} 的记录",
            body=f"{origin} 的正文",
            **{"classification": "general", "category": "policy", **fields},
        )
    return record_id


def test_an_ambiguous_id_is_409_and_an_origin_picks_the_record(node: NodeUnderTest) -> None:
    record_id = shared(node, "shaanxi", "huanglong")
    path = f"/api/v1/records/{record_id}"
    response = call(node, "GET", path)
    error(response, 409, "ambiguous_record_id")
    assert "的记录" not in response.text
    assert "的正文" not in response.text
    for origin in ("shaanxi", "huanglong"):
        record = ok(call(node, "GET", path, params={"origin": origin}))
        assert (record["origin"], record["title"]) == (origin, f"{origin} 的记录")
    error(call(node, "GET", path, params={"origin": "central"}), 404, "record_not_found")
    error(call(node, "GET", path, params={"origin": "Not An Origin"}), 422, "invalid_input")


def test_an_id_the_user_may_see_under_one_origin_only_is_not_ambiguous(
    node: NodeUnderTest,
) -> None:
    record_id = shared(node, "shaanxi")
    # The same id under another origin, restricted to nodes other than this one: not visible.
    insert_record(
        node.ctx.sessions,
        record_id=record_id,
        origin="huanglong",
        classification="restricted",
        category="supervision_check",
        parties=["yichuan"],
    )
    record = ok(call(node, "GET", f"/api/v1/records/{record_id}"))
    assert (record["origin"], record["title"]) == ("shaanxi", "shaanxi 的记录")


def test_changes_name_the_record_by_origin_when_the_id_is_shared(node: NodeUnderTest) -> None:
    own = ok(
        call(node, "POST", "/api/v1/records", json={"category": "policy", "title": "本级"}), 201
    )
    insert_record(
        node.ctx.sessions,
        record_id=own["id"],
        origin="huanglong",
        classification="general",
        category="policy",
    )
    path = f"/api/v1/records/{own['id']}"
    error(call(node, "PATCH", path, json={"title": "改"}), 409, "ambiguous_record_id")
    changed = ok(call(node, "PATCH", path, params={"origin": "yanan"}, json={"title": "改"}))
    assert (changed["origin"], changed["title"], changed["version"]) == ("yanan", "改", 2)
    error(
        call(node, "DELETE", path, params={"origin": "huanglong"}),
        409,
        "not_origin",
    )


def test_access_requests_take_the_record_origin(node: NodeUnderTest) -> None:
    record_id = shared(
        node, "shaanxi", "huanglong", classification="secret", category="problem_clue"
    )
    with node.ctx.sessions() as session, session.begin():
        session.execute(
            text("UPDATE records SET is_stub = true, title = NULL, body = NULL, author = ''")
        )
    body = {"record_id": record_id, "reason": "核查问题线索需要查阅原件", "duration_s": 3600}
    error(call(node, "POST", "/api/v1/access-requests", json=body), 409, "ambiguous_record_id")
    made = ok(
        call(
            node,
            "POST",
            "/api/v1/access-requests",
            json={**body, "record_origin": "huanglong"},
        ),
        201,
    )
    assert (made["record_id"], made["record_origin"]) == (record_id, "huanglong")


def test_order_attachments_take_the_record_origin(node: NodeUnderTest) -> None:
    record_id = shared(node, "shaanxi", "huanglong")
    body = order_body("huanglong", attachments=[record_id], deadline_s=86400, now=node.clock.now())
    error(call(node, "POST", "/api/v1/orders", json=body), 409, "ambiguous_record_id")
    body["attachments"] = [{"record_id": record_id, "record_origin": "huanglong"}]
    order = ok(call(node, "POST", "/api/v1/orders", json=body), 201)
    assert [(a["record_id"], a["origin"]) for a in order["attachments"]] == [
        (record_id, "huanglong")
    ]


def test_ledger_clues_take_the_record_origin(node: NodeUnderTest) -> None:
    record_id = shared(node, "shaanxi", "huanglong")
    body = {
        "title": "移交线索",
        "department": "县纪委监委第三监督检查室",
        "responsible": "张三",
        "feedback_deadline": later(86400, now=node.clock.now()),
        "clue_record_id": record_id,
    }
    error(call(node, "POST", "/api/v1/ledger", json=body), 409, "ambiguous_record_id")
    item = ok(
        call(node, "POST", "/api/v1/ledger", json={**body, "clue_record_origin": "shaanxi"}), 201
    )
    assert (item["clue_record_id"], item["clue_record_origin"]) == (record_id, "shaanxi")
