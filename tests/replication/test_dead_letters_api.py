"""``GET /api/v1/federation/dead-letters``: rejected envelopes, newest first, in cursor pages,
filtered by reason and origin, for admins and security officers; the listing is audited."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from node.ids import uuid7
from tests.helpers import call, error, ok
from tests.inprocess import MiniFederation

MakeFederation = Callable[..., MiniFederation]


def reject(fed: MiniFederation, origin: str) -> None:
    """A record claimed by a node outside shaanxi's line: dead-lettered at shaanxi."""
    record_id = uuid7()
    assert fed.send_as(
        origin,
        "shaanxi",
        kind="record",
        dest=["*"],
        ref={"record": record_id, "version": 1},
        payload={"id": record_id, "origin": "not-a-node"},
        encrypt=False,
    ).startswith("rejected:")


def test_dead_letters_in_pages_newest_first(mini_federation: MakeFederation) -> None:
    fed = mini_federation("shaanxi")
    for origin in ("yanan", "huanglong", "yanan"):
        reject(fed, origin)
    node = fed["shaanxi"]
    first = ok(call(node, "GET", "/api/v1/federation/dead-letters?limit=2", role="admin"))
    assert [item["origin"] for item in first["items"]] == ["yanan", "huanglong"]
    assert first["items"][0]["id"] > first["items"][1]["id"]
    assert first["items"][0]["reason"]
    assert first["next_cursor"]
    rest = ok(
        call(
            node,
            "GET",
            f"/api/v1/federation/dead-letters?limit=2&cursor={first['next_cursor']}",
            role="security_officer",
        )
    )
    assert [item["origin"] for item in rest["items"]] == ["yanan"]
    assert rest["next_cursor"] is None
    only = ok(call(node, "GET", "/api/v1/federation/dead-letters?origin=huanglong", role="admin"))
    assert len(only["items"]) == 1
    assert fed.rows(
        "shaanxi", "SELECT count(*) FROM audit_log WHERE object_type = 'dead_letter'"
    ) == [(3,)]
    error(
        call(node, "GET", "/api/v1/federation/dead-letters?cursor=x", role="admin"),
        422,
        "invalid_cursor",
    )


@pytest.mark.parametrize("role", ["inspector", "approver"])
def test_others_may_not_list_dead_letters(mini_federation: MakeFederation, role: str) -> None:
    fed = mini_federation("shaanxi")
    error(
        call(fed["shaanxi"], "GET", "/api/v1/federation/dead-letters", role=role), 403, "forbidden"
    )
