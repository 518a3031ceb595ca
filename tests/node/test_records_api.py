"""The records API on one node: classes and categories, origin-only changes, tombstones, listing
filters and pagination, authentication, and the audit trail of every refusal."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from node.models import AuditEntry, OutboxMessage, Record
from tests.conftest import NodeUnderTest
from tests.factories import audit_entries, insert_record

RECORDS = "/api/v1/records"
NodeFactory = Callable[[str], NodeUnderTest]


@pytest.fixture
def node(make_node: NodeFactory) -> NodeUnderTest:
    return make_node("shaanxi")


def create(node: NodeUnderTest, body: dict[str, Any], role: str = "inspector") -> dict[str, Any]:
    response = node.client.post(RECORDS, json=body, headers=node.auth(role))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def refused(
    node: NodeUnderTest, method: str, path: str, role: str = "inspector", **kwargs: Any
) -> tuple[int, str]:
    response = node.client.request(method, path, headers=node.auth(role), **kwargs)
    assert response.status_code >= 400, response.text
    return response.status_code, response.json()["error"]


def stored(node: NodeUnderTest, record_id: str) -> Record:
    with node.ctx.sessions() as session:
        # The one record held under this id here, whatever its origin.
        record: Record = session.execute(select(Record).where(Record.id == record_id)).scalar_one()
        return record


# --- classes and categories ---------------------------------------------------------------


def test_class_defaults_to_the_category_minimum_and_may_be_raised(node: NodeUnderTest) -> None:
    assert create(node, {"category": "policy", "title": "政策"})["classification"] == "general"
    assert create(node, {"category": "problem_clue", "title": "线索"})["classification"] == "secret"
    raised = create(
        node,
        {
            "category": "practice",
            "classification": "restricted",
            "title": "经验",
            "parties": ["yanan"],
        },
    )
    assert raised["classification"] == "restricted"
    assert raised["category_label"] == "经验做法"
    assert (
        create(
            node, {"category": "supervision_check", "classification": "secret", "title": "监督"}
        )["classification"]
        == "secret"
    )


@pytest.mark.parametrize(
    ("category", "classification"),
    [
        ("supervision_check", "general"),
        ("problem_clue", "restricted"),
        ("personal_matter_report", "general"),
    ],
)
def test_class_below_the_category_minimum_is_refused(
    node: NodeUnderTest, category: str, classification: str
) -> None:
    body = {
        "category": category,
        "classification": classification,
        "title": "低密级",
        "parties": ["yanan"],
    }
    assert refused(node, "POST", RECORDS, json=body) == (422, "classification_below_minimum")
    assert node.client.get(RECORDS, headers=node.auth("inspector")).json()["items"] == []


def test_restricted_record_needs_a_party_the_topology_knows(node: NodeUnderTest) -> None:
    base = {"category": "inspection_finding", "title": "巡察发现"}
    assert refused(node, "POST", RECORDS, json=base) == (422, "parties_required")
    # Naming only itself names nobody else.
    assert refused(node, "POST", RECORDS, json={**base, "parties": ["shaanxi"]}) == (
        422,
        "parties_required",
    )
    assert refused(node, "POST", RECORDS, json={**base, "parties": ["yanan", "atlantis"]}) == (
        422,
        "unknown_party",
    )
    made = create(node, {**base, "parties": ["yichuan", "yanan", "yanan", "shaanxi"]})
    assert made["parties"] == ["yanan", "yichuan"]


def test_unknown_category_is_refused(node: NodeUnderTest) -> None:
    body = {"category": "gossip", "title": "闲谈"}
    assert refused(node, "POST", RECORDS, json=body) == (422, "unknown_category")


@pytest.mark.parametrize("role", ["approver", "security_officer", "admin"])
def test_only_inspectors_create_and_each_refusal_is_audited(node: NodeUnderTest, role: str) -> None:
    body = {"category": "policy", "title": "无权新建"}
    assert refused(node, "POST", RECORDS, role=role, json=body) == (403, "forbidden")
    denials = audit_entries(node.ctx.sessions, decision="deny", actor=f"shaanxi-{role}")
    assert [(d.action, d.object_type, d.reason) for d in denials] == [
        ("create", "record", "forbidden")
    ]
    with node.ctx.sessions() as session:
        assert session.execute(select(Record.id)).first() is None
        assert session.execute(select(OutboxMessage.id)).first() is None


# --- updates --------------------------------------------------------------------------------


def test_update_bumps_the_version_and_is_audited(node: NodeUnderTest) -> None:
    made = create(node, {"category": "policy", "title": "初稿", "body": "一"})
    response = node.client.patch(
        f"{RECORDS}/{made['id']}", json={"title": "二稿"}, headers=node.auth("inspector")
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert (updated["version"], updated["title"], updated["body"]) == (2, "二稿", "一")
    assert updated["updated_at"] >= made["updated_at"]
    assert updated["created_at"] == made["created_at"]
    again = node.client.patch(
        f"{RECORDS}/{made['id']}", json={"body": "二"}, headers=node.auth("inspector")
    ).json()
    assert again["version"] == 3
    assert stored(node, made["id"]).version == 3
    actions = [e.action for e in audit_entries(node.ctx.sessions, object_id=made["id"])]
    assert actions == ["create", "update", "update"]


def test_update_that_changes_nothing_keeps_the_version(node: NodeUnderTest) -> None:
    made = create(node, {"category": "policy", "title": "不变", "body": "正文"})
    path = f"{RECORDS}/{made['id']}"

    def outbox_rows() -> int:
        with node.ctx.sessions() as session:
            return len(session.execute(select(OutboxMessage.id)).all())

    queued = outbox_rows()
    assert queued > 0
    assert refused(node, "PATCH", path, json={}) == (422, "empty_update")
    same = node.client.patch(path, json={"title": "不变"}, headers=node.auth("inspector"))
    assert same.status_code == 200
    assert same.json()["version"] == 1
    assert outbox_rows() == queued
    changed = node.client.patch(path, json={"title": "变了"}, headers=node.auth("inspector"))
    assert changed.json()["version"] == 2
    assert outbox_rows() > queued


def test_only_the_origin_changes_a_record(node: NodeUnderTest) -> None:
    foreign = insert_record(
        node.ctx.sessions, origin="yanan", classification="general", category="policy"
    )
    stub = insert_record(
        node.ctx.sessions,
        origin="yanan",
        classification="secret",
        category="evidence",
        is_stub=True,
    )
    for record_id in (foreign, stub):
        path = f"{RECORDS}/{record_id}"
        assert refused(node, "PATCH", path, json={"title": "篡改"}) == (409, "not_origin")
        assert refused(node, "DELETE", path) == (409, "not_origin")
        assert stored(node, record_id).version == 1
        assert not stored(node, record_id).deleted


@pytest.mark.parametrize(
    ("role", "method"), [("approver", "PATCH"), ("admin", "DELETE"), ("security_officer", "PATCH")]
)
def test_other_roles_may_not_change_records(node: NodeUnderTest, role: str, method: str) -> None:
    made = create(node, {"category": "policy", "title": "原文"})
    kwargs: dict[str, Any] = {"json": {"title": "改"}} if method == "PATCH" else {}
    assert refused(node, method, f"{RECORDS}/{made['id']}", role=role, **kwargs) == (
        403,
        "forbidden",
    )
    action = "update" if method == "PATCH" else "delete"
    denials = audit_entries(node.ctx.sessions, object_id=made["id"], decision="deny")
    assert [(d.action, d.actor, d.role) for d in denials] == [(action, f"shaanxi-{role}", role)]
    record = stored(node, made["id"])
    assert (record.version, record.title, record.deleted) == (1, "原文", False)


def test_parties_can_be_added_never_removed(node: NodeUnderTest) -> None:
    made = create(node, {"category": "accountability", "title": "问责", "parties": ["yanan"]})
    path = f"{RECORDS}/{made['id']}"
    added = node.client.patch(
        path, json={"parties": ["yanan", "huanglong"]}, headers=node.auth("inspector")
    )
    assert added.status_code == 200, added.text
    assert (added.json()["parties"], added.json()["version"]) == (["huanglong", "yanan"], 2)
    assert refused(node, "PATCH", path, json={"parties": ["huanglong"]}) == (409, "parties_removed")
    assert refused(node, "PATCH", path, json={"parties": []}) == (409, "parties_removed")
    assert refused(node, "PATCH", path, json={"parties": ["yanan", "huanglong", "mars"]}) == (
        422,
        "unknown_party",
    )
    record = stored(node, made["id"])
    assert (record.party_ids, record.version) == (["huanglong", "yanan"], 2)


# --- tombstones -----------------------------------------------------------------------------


def test_delete_leaves_a_tombstone_without_content(node: NodeUnderTest) -> None:
    made = create(node, {"category": "policy", "title": "将被删除的标题", "body": "将被删除的正文"})
    path = f"{RECORDS}/{made['id']}"
    response = node.client.delete(path, headers=node.auth("inspector"))
    assert response.status_code == 200, response.text
    gone = response.json()
    assert (gone["deleted"], gone["status"], gone["version"]) == (True, "deleted", 2)
    assert "将被删除" not in response.text
    record = stored(node, made["id"])
    # Nulled in the database, not blanked beside the flag (the API still shows empty strings).
    assert (record.deleted, record.title, record.body, record.version) == (True, None, None, 2)
    fetched = node.client.get(path, headers=node.auth("admin")).json()
    assert (fetched["deleted"], fetched["title"], fetched["body"]) == (True, "", "")
    assert refused(node, "PATCH", path, json={"title": "复活"}) == (409, "record_deleted")
    assert refused(node, "DELETE", path) == (409, "record_deleted")
    inspector = node.auth("inspector")
    listed = node.client.get(RECORDS, headers=inspector).json()["items"]
    assert listed == []
    with_deleted = node.client.get(
        RECORDS, params={"include_deleted": "true"}, headers=inspector
    ).json()["items"]
    assert [(item["id"], item["deleted"]) for item in with_deleted] == [(made["id"], True)]


# --- listing --------------------------------------------------------------------------------


def test_list_filters(node: NodeUnderTest) -> None:
    own_general = create(node, {"category": "policy", "title": "本级政策"})["id"]
    own_secret = create(node, {"category": "petition", "title": "信访"})["id"]
    own_restricted = create(
        node, {"category": "supervision_check", "title": "监督", "parties": ["yanan"]}
    )["id"]
    central_general = insert_record(
        node.ctx.sessions, origin="central", classification="general", category="policy"
    )
    yanan_practice = insert_record(
        node.ctx.sessions, origin="yanan", classification="general", category="practice"
    )
    yanan_stub = insert_record(
        node.ctx.sessions,
        origin="yanan",
        classification="secret",
        category="petition",
        is_stub=True,
    )

    def ids(**params: Any) -> set[str]:
        response = node.client.get(RECORDS, params=params, headers=node.auth("inspector"))
        assert response.status_code == 200, response.text
        return {item["id"] for item in response.json()["items"]}

    assert ids() == {
        own_general,
        own_secret,
        own_restricted,
        central_general,
        yanan_practice,
        yanan_stub,
    }
    assert ids(**{"class": "general"}) == {own_general, central_general, yanan_practice}
    assert ids(**{"class": "secret"}) == {own_secret, yanan_stub}
    assert ids(**{"class": "restricted"}) == {own_restricted}
    assert ids(category="policy") == {own_general, central_general}
    assert ids(category="petition", origin="yanan") == {yanan_stub}
    assert ids(origin="shaanxi") == {own_general, own_secret, own_restricted}
    assert ids(origin="huanglong") == set()
    assert refused(node, "GET", RECORDS, params={"category": "gossip"}) == (422, "unknown_category")
    assert refused(node, "GET", RECORDS, params={"class": "top"}) == (422, "invalid_input")


def test_updated_since_compares_instants_whatever_the_offset(node: NodeUnderTest) -> None:
    morning = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    early = insert_record(
        node.ctx.sessions,
        origin="central",
        classification="general",
        category="policy",
        updated_at=morning,
    )
    late = insert_record(
        node.ctx.sessions,
        origin="central",
        classification="general",
        category="policy",
        updated_at=morning + timedelta(hours=2),
    )

    def ids(since: str) -> set[str]:
        response = node.client.get(
            RECORDS, params={"updated_since": since}, headers=node.auth("admin")
        )
        assert response.status_code == 200, response.text
        return {item["id"] for item in response.json()["items"]}

    # 11:00 UTC, spelt four ways: only the 12:00 record is newer.
    for spelling in (
        "2024-05-01T11:00:00Z",
        "2024-05-01T19:00:00+08:00",
        "2024-05-01T06:00:00-05:00",
        "2024-05-01T11:00:00",
    ):
        assert ids(spelling) == {late}, spelling
    assert ids("2024-05-01T17:59:00+08:00") == {early, late}
    assert ids("2024-05-01T20:00:00+08:00") == set()


def test_cursor_pagination_walks_every_visible_record_once(node: NodeUnderTest) -> None:
    visible = {create(node, {"category": "policy", "title": f"第{n}号"})["id"] for n in range(7)}
    visible.add(
        insert_record(
            node.ctx.sessions,
            origin="yanan",
            classification="secret",
            category="evidence",
            is_stub=True,
        )
    )
    # Not visible to an admin: restricted records, even its own node's.
    hidden = {
        insert_record(
            node.ctx.sessions,
            origin="yanan",
            classification="restricted",
            category="accountability",
            parties=["shaanxi"],
        )
        for _ in range(3)
    }
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = node.client.get(RECORDS, params=params, headers=node.auth("admin")).json()
        pages.append([item["id"] for item in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert cursor == pages[-1][-1]
    seen = [record_id for page in pages for record_id in page]
    assert [len(page) for page in pages] == [3, 3, 2]
    assert seen == sorted(visible, reverse=True)
    assert not hidden & set(seen)
    # Ids are case-insensitive: an upper-case cursor gives the same page, an upper-case id the
    # same record.
    upper = node.client.get(
        RECORDS, params={"limit": 3, "cursor": pages[0][-1].upper()}, headers=node.auth("admin")
    ).json()
    assert [item["id"] for item in upper["items"]] == pages[1]
    one = node.client.get(f"{RECORDS}/{pages[0][0].upper()}", headers=node.auth("admin"))
    assert (one.status_code, one.json()["id"]) == (200, pages[0][0])
    assert refused(node, "GET", RECORDS, params={"cursor": "not-a-cursor"}) == (
        422,
        "invalid_cursor",
    )


def test_list_and_reads_are_audited_without_content(node: NodeUnderTest) -> None:
    made = create(
        node, {"category": "case_analysis", "title": "绝密标题内容", "body": "绝密正文内容"}
    )
    node.client.get(f"{RECORDS}/{made['id']}", headers=node.auth("inspector"))
    node.client.get(f"{RECORDS}/{made['id']}", headers=node.auth("admin"))
    node.client.get(RECORDS, headers=node.auth("security_officer"))
    node.client.patch(
        f"{RECORDS}/{made['id']}", json={"title": "新的绝密标题"}, headers=node.auth("inspector")
    )
    node.client.delete(f"{RECORDS}/{made['id']}", headers=node.auth("inspector"))
    entries = audit_entries(node.ctx.sessions)
    assert [(e.actor, e.action) for e in entries] == [
        ("shaanxi-inspector", "create"),
        ("shaanxi-inspector", "read"),
        ("shaanxi-admin", "read-stub"),
        ("shaanxi-security_officer", "list"),
        ("shaanxi-inspector", "update"),
        ("shaanxi-inspector", "delete"),
    ]
    for entry in entries:
        values = " ".join(str(getattr(entry, column.key)) for column in AuditEntry.__table__.c)
        assert "绝密" not in values


# --- authentication -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer fs_not-a-real-token"},
        {"Authorization": "Basic dXNlcjpwdw=="},
        {"Authorization": "Bearer "},
        {"Authorization": "fs_token-without-scheme"},
    ],
    ids=["missing", "unknown", "basic", "empty", "no-scheme"],
)
def test_missing_or_bad_token_is_401_and_audited(
    node: NodeUnderTest, headers: dict[str, str]
) -> None:
    made = create(node, {"category": "policy", "title": "公开"})
    for method, path in (
        ("GET", RECORDS),
        ("GET", f"{RECORDS}/{made['id']}"),
        ("POST", RECORDS),
        ("DELETE", f"{RECORDS}/{made['id']}"),
    ):
        response = node.client.request(
            method, path, headers=headers, json={"category": "policy", "title": "x"}
        )
        assert response.status_code == 401, (method, path, response.text)
        assert response.json()["error"] == "unauthenticated"
    # The first denial is in the chain at once; the identical repeats are counted into one more
    # entry when the counted denials are flushed (every few seconds, and at shutdown).
    first = audit_entries(node.ctx.sessions, action="authenticate")
    assert [(d.decision, d.actor, d.occurrences) for d in first] == [("deny", "system", 1)]
    node.client.app.state.denials.flush()  # type: ignore[attr-defined]
    denials = audit_entries(node.ctx.sessions, action="authenticate")
    assert [(d.decision, d.actor, d.occurrences) for d in denials] == [
        ("deny", "system", 1),
        ("deny", "system", 3),
    ]
    assert {(d.object_type, d.object_id) for d in denials} == {("client", "testclient")}
    assert not stored(node, made["id"]).deleted


def test_disabled_user_is_refused(node: NodeUnderTest) -> None:
    from node.models import User

    headers = node.auth("inspector")
    with node.ctx.sessions() as session, session.begin():
        user = session.execute(select(User).where(User.name == "shaanxi-inspector")).scalar_one()
        user.disabled = True
    assert node.client.get(RECORDS, headers=headers).status_code == 401
