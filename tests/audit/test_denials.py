"""Counted denials: nothing counted is lost to a failed flush, and memory stays bounded."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from node.audit.chain import SYSTEM_ACTOR
from node.audit.denials import OVERFLOW_OBJECT, Denial, DenialAudit
from tests.conftest import NodeUnderTest
from tests.factories import audit_entries

BAD = {"Authorization": "Bearer fs_not-a-token"}


class DatabaseDown:
    def append(self, *_args: Any, **_kwargs: Any) -> None:
        raise OperationalError("INSERT", {}, Exception("database is down"))


def test_a_failed_flush_keeps_its_counts_for_the_next(
    make_node: Callable[..., NodeUnderTest],
) -> None:
    node = make_node("shaanxi", auth_failure_limit="1000/minute")
    for _ in range(5):
        assert node.client.get("/api/v1/me", headers=BAD).status_code == 401
    denials: DenialAudit = node.client.app.state.denials  # type: ignore[attr-defined]
    assert denials.pending() == 4
    audit = denials.audit
    denials.audit = DatabaseDown()  # type: ignore[assignment]
    with pytest.raises(OperationalError):
        denials.flush()
    assert denials.pending() == 4
    denials.audit = audit
    assert denials.flush() == 4
    assert denials.pending() == 0
    counts = [e.occurrences for e in audit_entries(node.ctx.sessions, action="authenticate")]
    assert counts == [1, 4]


def test_kinds_past_the_bound_are_counted_under_one_overflow_kind(
    make_node: Callable[..., NodeUnderTest],
) -> None:
    node = make_node("shaanxi")
    denials = DenialAudit(
        node.ctx.audit, node.ctx.sessions, node.ctx.clock, window_s=60, max_kinds=2
    )
    for index in range(10):
        denials.count(Denial(SYSTEM_ACTOR, "rate-limit", "client", f"192.0.2.{index}", "x"))
    assert denials.flush() == 10
    entries = audit_entries(node.ctx.sessions, action="rate-limit")
    assert [(e.object_id, e.occurrences) for e in entries] == [
        ("192.0.2.0", 1),
        ("192.0.2.1", 1),
        (OVERFLOW_OBJECT, 8),
    ]
