"""Each role sees exactly what policies/policy.csv grants: full content, a stub, or a refusal.

The node under test is the province ``shaanxi``. Its own records are created through the API;
records of other origins are stored as replication would store them (including a secret stub).
The expected table is written out by hand from policy.csv, so a change to the policy that alters
what a role sees fails here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from node.models import User
from tests.conftest import NodeUnderTest
from tests.factories import audit_entries, insert_grant, insert_record

FULL, STUB, DENY = "full", "stub", "deny"

# name: (origin, class, category, parties, is_stub)
SHAPES: dict[str, tuple[str, str, str, list[str], bool]] = {
    "own_general": ("shaanxi", "general", "policy", [], False),
    "other_general": ("central", "general", "practice", [], False),
    "own_restricted": ("shaanxi", "restricted", "supervision_check", ["yanan"], False),
    "party_restricted": ("yanan", "restricted", "inspection_finding", ["shaanxi"], False),
    "other_restricted": ("huanglong", "restricted", "accountability", ["yichuan"], False),
    "own_secret": ("shaanxi", "secret", "problem_clue", [], False),
    "party_secret": ("yanan", "secret", "evidence", ["shaanxi"], False),
    "secret_stub": ("yanan", "secret", "petition", [], True),
    "own_raised_to_secret": ("shaanxi", "secret", "work_requirement", [], False),
}

INSPECTOR_VIEW = {
    "own_general": FULL,
    "other_general": FULL,
    "own_restricted": FULL,
    "party_restricted": FULL,
    "other_restricted": DENY,
    "own_secret": FULL,
    "party_secret": STUB,
    "secret_stub": STUB,
    "own_raised_to_secret": FULL,
}
EXPECTED: dict[str, dict[str, str]] = {
    "inspector": INSPECTOR_VIEW,
    "approver": INSPECTOR_VIEW,
    "security_officer": {
        "own_general": FULL,
        "other_general": FULL,
        "own_restricted": STUB,
        "party_restricted": STUB,
        "other_restricted": STUB,
        "own_secret": STUB,
        "party_secret": STUB,
        "secret_stub": STUB,
        "own_raised_to_secret": STUB,
    },
    "admin": {
        "own_general": FULL,
        "other_general": FULL,
        "own_restricted": DENY,
        "party_restricted": DENY,
        "other_restricted": DENY,
        "own_secret": STUB,
        "party_secret": STUB,
        "secret_stub": STUB,
        "own_raised_to_secret": STUB,
    },
}
CONTENT_KEYS = {"title", "body", "author", "parties"}


def title_of(name: str) -> str:
    return f"标题《{name}》"


def seed(node: NodeUnderTest) -> dict[str, str]:
    """Make every shape at ``node``; return name -> record id."""
    ids: dict[str, str] = {}
    for name, (origin, cls, category, parties, is_stub) in SHAPES.items():
        if origin == node.ctx.node_id:
            response = node.client.post(
                "/api/v1/records",
                json={
                    "category": category,
                    "classification": cls,
                    "title": title_of(name),
                    "body": f"正文：{name}",
                    "parties": parties,
                },
                headers=node.auth("inspector"),
            )
            assert response.status_code == 201, response.text
            ids[name] = response.json()["id"]
        else:
            ids[name] = insert_record(
                node.ctx.sessions,
                origin=origin,
                classification=cls,
                category=category,
                parties=parties,
                is_stub=is_stub,
                title=title_of(name),
                body=f"正文：{name}",
            )
    return ids


def outcome(record: dict[str, Any]) -> str:
    if record.get("stub"):
        assert not CONTENT_KEYS & record.keys(), record
        return STUB
    assert CONTENT_KEYS <= record.keys(), record
    return FULL


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_role_reads_exactly_what_the_policy_allows(
    make_node: Callable[[str], NodeUnderTest], role: str
) -> None:
    node = make_node("shaanxi")
    ids = seed(node)
    headers = node.auth(role)
    user = f"shaanxi-{role}"
    for name, expected in EXPECTED[role].items():
        response = node.client.get(f"/api/v1/records/{ids[name]}", headers=headers)
        assert title_of(name) not in response.text or expected == FULL, (name, response.text)
        if expected == DENY:
            assert response.status_code == 403, (name, response.text)
            assert response.json()["error"] == "forbidden"
            denials = audit_entries(
                node.ctx.sessions, object_id=ids[name], actor=user, decision="deny"
            )
            assert [(d.action, d.role) for d in denials] == [("read", role)], name
            continue
        assert response.status_code == 200, (name, response.text)
        record = response.json()
        assert outcome(record) == expected, name
        assert record["id"] == ids[name]
        assert record["classification"] == SHAPES[name][1]
        if expected == FULL:
            assert record["title"] == title_of(name)
        allowed = audit_entries(node.ctx.sessions, object_id=ids[name], actor=user)
        assert [(a.action, a.decision) for a in allowed if a.action != "create"] == [
            ("read" if expected == FULL else "read-stub", "allow")
        ], name


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_listing_shows_the_same_as_reading(
    make_node: Callable[[str], NodeUnderTest], role: str
) -> None:
    node = make_node("shaanxi")
    ids = seed(node)
    names = {record_id: name for name, record_id in ids.items()}
    response = node.client.get("/api/v1/records", params={"limit": 200}, headers=node.auth(role))
    assert response.status_code == 200, response.text
    listed = {names[item["id"]]: outcome(item) for item in response.json()["items"]}
    expected = {name: seen for name, seen in EXPECTED[role].items() if seen != DENY}
    assert listed == expected
    for name, seen in EXPECTED[role].items():
        if seen != FULL:
            assert title_of(name) not in response.text, name


def test_grant_opens_a_secret_record_only_while_active(
    make_node: Callable[[str], NodeUnderTest],
) -> None:
    """Secret content held here (not a stub) is readable under an active grant, not otherwise:
    not when the grant expired, was revoked, has not started, or belongs to someone else."""
    node = make_node("shaanxi")
    inspector = node.auth("inspector")
    with node.ctx.sessions() as session:
        user_id = session.execute(
            select(User.id).where(User.name == "shaanxi-inspector")
        ).scalar_one()
    now = datetime.now(UTC)
    grants: dict[str, dict[str, Any]] = {
        "active": {},
        "expired": {"granted_at": now - timedelta(hours=3), "lasts": timedelta(hours=1)},
        "revoked": {"revoked": True},
        "not yet started": {"granted_at": now + timedelta(hours=1)},
        "someone else's": {"grantee_id": "another-user"},
        "another node's": {"grantee_node": "yanan"},
        "no grant": {},
    }
    ids: dict[str, str] = {}
    for label, grant in grants.items():
        ids[label] = insert_record(
            node.ctx.sessions,
            origin="yanan",
            classification="secret",
            category="case_analysis",
            title="案情分析标题",
        )
        if label == "no grant":
            continue
        insert_grant(
            node.ctx.sessions,
            record_id=ids[label],
            record_origin="yanan",
            grantee_id=grant.pop("grantee_id", user_id),
            grantee_name="shaanxi-inspector",
            grantee_node=grant.pop("grantee_node", "shaanxi"),
            **grant,
        )
    listed = node.client.get("/api/v1/records", headers=inspector).json()["items"]
    by_id = {item["id"]: item for item in listed}
    for label, record_id in ids.items():
        response = node.client.get(f"/api/v1/records/{record_id}", headers=inspector)
        assert response.status_code == 200, (label, response.text)
        actions = [
            entry.action
            for entry in audit_entries(
                node.ctx.sessions, object_id=record_id, actor="shaanxi-inspector"
            )
        ]
        if label == "active":
            assert actions == ["read"]
            assert by_id[record_id]["stub"] is False
            continue
        assert actions == ["read-stub"], label
        assert outcome(response.json()) == STUB, label
        assert "案情分析标题" not in response.text, label
        assert outcome(by_id[record_id]) == STUB, label
