"""A time that has no UTC equivalent, or a sequence number past any the log can hold, is a 422 at
every endpoint that takes one, never a 500 (security review M2): each datetime a request carries
is ``node.clock.UtcDateTime``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from node.clock import parse_iso, to_utc
from tests.conftest import NodeUnderTest

# Year 9999 behind UTC, and year 1 ahead of it: neither fits in a UTC datetime.
LATE = "9999-12-31T23:59:59-23:59"
EARLY = "0001-01-01T00:00:00+23:59"

# (role, method, path, query, JSON body)
PROBES: list[tuple[str, str, str, dict[str, str] | None, dict[str, Any] | None]] = [
    ("inspector", "GET", "/api/v1/records", {"updated_since": LATE}, None),
    ("inspector", "GET", "/api/v1/records", {"updated_since": EARLY}, None),
    ("security_officer", "GET", "/api/v1/grants", {"since": EARLY}, None),
    ("security_officer", "GET", "/api/v1/grants", {"until": LATE}, None),
    ("security_officer", "GET", "/api/v1/audit", {"since": LATE}, None),
    ("security_officer", "GET", "/api/v1/audit", {"until": EARLY}, None),
    ("security_officer", "GET", "/api/v1/audit", {"after_seq": "9" * 30}, None),
    (
        "inspector",
        "POST",
        "/api/v1/orders",
        None,
        {"title": "督办", "addressees": ["yanan"], "deadline": LATE},
    ),
    (
        "inspector",
        "POST",
        "/api/v1/ledger",
        None,
        {"title": "台账", "department": "部门", "responsible": "张三", "feedback_deadline": LATE},
    ),
]


@pytest.mark.parametrize(
    ("role", "method", "path", "query", "body"),
    PROBES,
    ids=[f"{m} {p} {next(iter((q or b or {}).keys()))}" for _r, m, p, q, b in PROBES],
)
def test_an_unrepresentable_time_is_a_422(
    make_node: Callable[[str], NodeUnderTest],
    role: str,
    method: str,
    path: str,
    query: dict[str, str] | None,
    body: dict[str, Any] | None,
) -> None:
    node = make_node("shaanxi")
    node.client.raise_server_exceptions = False
    response = node.client.request(method, path, params=query, json=body, headers=node.auth(role))
    assert response.status_code == 422, response.text


def test_times_are_brought_to_utc() -> None:
    assert to_utc(datetime(2026, 1, 1, 8)) == datetime(2026, 1, 1, 8, tzinfo=UTC)
    assert parse_iso("2026-01-01T08:00:00+08:00") == datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="out of range"):
        parse_iso(LATE)
