"""``GET /api/v1/audit/verify``: the check ``fedshare audit verify --federation`` runs, for
security officers, on demand: an intact chain, a modified entry named, each subordinate reported,
the run itself audited; nobody else may run it."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import update

from node.models import AuditEntry
from tests.helpers import call, error, ok
from tests.inprocess import MiniFederation

MakeFederation = Callable[..., MiniFederation]


def test_security_officer_verifies_the_chain_and_sees_tampering(
    mini_federation: MakeFederation,
) -> None:
    fed = mini_federation("shaanxi", "yanan")
    node = fed["shaanxi"]
    ok(call(node, "POST", "/api/v1/records", json={"category": "policy", "title": "制度"}), 201)
    report = ok(call(node, "GET", "/api/v1/audit/verify", role="security_officer"))
    assert report["node"] == "shaanxi"
    assert report["ok"] is True
    assert report["problems"] == []
    assert report["entries"] >= 1
    assert report["subordinates_ok"] is True
    assert "yanan" in {f["node"] for f in report["findings"]}
    assert fed.rows("shaanxi", "SELECT action FROM audit_log WHERE action = 'verify'") == [
        ("verify",)
    ]

    with node.ctx.sessions.begin() as session:
        session.execute(update(AuditEntry).where(AuditEntry.seq == 1).values(reason="rewritten"))
    report = ok(call(node, "GET", "/api/v1/audit/verify", role="security_officer"))
    assert report["ok"] is False
    assert any(p.startswith("seq 1:") for p in report["problems"])


def test_only_security_officers_verify(mini_federation: MakeFederation) -> None:
    fed = mini_federation("shaanxi")
    for role in ("inspector", "approver", "admin"):
        error(call(fed["shaanxi"], "GET", "/api/v1/audit/verify", role=role), 403, "forbidden")
