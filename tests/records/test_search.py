"""``GET /api/v1/records?q=``: search over titles and bodies, through the API on a real node.

Chinese substrings of three characters and more (the trigram index) and of two (``LIKE`` on the
rows the policy lets through); every word required; each role finds exactly the records whose
content it may read (never a stub by its content, never a record it may not see); content
released under a grant found by its grantee only while the grant lasts; changes and tombstones
followed by the index; paging and the listing filters combined; bad queries refused with stable
codes, the search text never audited. Both SQLite strategies (index-driven and the ordered walk)
give the same answers.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from node.models import AuditEntry, Grant, User
from node.records import search
from node.release.models import ReleasedContent
from tests.conftest import NodeUnderTest
from tests.factories import audit_entries, insert_grant, insert_record
from tests.node.test_visibility import EXPECTED, FULL, SHAPES
from tests.support import wait_for

RECORDS = "/api/v1/records"


@pytest.fixture(params=["index", "walk"])
def strategy(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """``index``: SQLite reads the FTS5 matches (the default below 5,000 matches); ``walk``: it
    walks the records newest first testing each one (as for frequent terms). PostgreSQL plans
    for itself; both params run there too."""
    if request.param == "walk":
        monkeypatch.setattr(search, "INDEX_DRIVEN_MATCHES", -1)
    return str(request.param)


@pytest.fixture
def node(make_node: Callable[[str], NodeUnderTest], strategy: str) -> NodeUnderTest:
    return make_node("shaanxi")


def create(node: NodeUnderTest, role: str = "inspector", **body: Any) -> dict[str, Any]:
    body.setdefault("category", "policy")
    response = node.client.post(RECORDS, json=body, headers=node.auth(role))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def found(node: NodeUnderTest, q: str, role: str = "inspector", **params: Any) -> list[str]:
    """Ids of every match (all pages), newest first."""
    ids: list[str] = []
    cursor = None
    while True:
        query = {"q": q, **params, **({"cursor": cursor} if cursor else {})}
        response = node.client.get(RECORDS, params=query, headers=node.auth(role))
        assert response.status_code == 200, response.text
        page = response.json()
        for item in page["items"]:
            assert not item["stub"], item
        ids.extend(item["id"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return ids


def refused(node: NodeUnderTest, q: str) -> str:
    response = node.client.get(RECORDS, params={"q": q}, headers=node.auth("inspector"))
    assert response.status_code == 422, response.text
    assert q.strip() == "" or q not in response.text
    code: str = response.json()["error"]
    return code


def test_chinese_substrings_of_titles_and_bodies(node: NodeUnderTest) -> None:
    fund = create(node, title="黄龙县扶贫资金专项检查", body="发现挪用问题三起")
    school = create(node, title="学校食堂经费", body="扶贫资金未发现问题")
    other = create(node, title="巡察工作安排", body="Audit of ROAD works")

    assert found(node, "扶贫资金") == [school["id"], fund["id"]]  # newest first
    assert found(node, "龙县扶贫") == [fund["id"]]  # inside a word: no segmentation
    assert found(node, "挪用问题") == [fund["id"]]  # in the body
    assert found(node, "扶贫") == [school["id"], fund["id"]]  # two characters
    assert found(node, "扶贫 挪用") == [fund["id"]]  # every word required
    assert found(node, "扶贫 巡察") == []
    assert found(node, "road WORKS") == [other["id"]]  # Latin letters in either case
    assert found(node, "资金专项检查发现") == []  # never across title and body
    assert found(node, "不存在的词") == []


def test_like_wildcards_and_fts_syntax_are_plain_text(node: NodeUnderTest) -> None:
    percent = create(node, title="完成率100%的单位", body="正文")
    create(node, title="完成率1000的单位", body="正文")
    quoted = create(node, title='他说"整改"已完成', body="正文")
    create(node, title="下划线a_b测试", body="正文")
    create(node, title="下划线axb测试", body="正文")

    assert found(node, "100%") == [percent["id"]]
    assert found(node, '"整改"') == [quoted["id"]]
    assert len(found(node, "a_b")) == 1
    assert found(node, "OR NOT") == []
    assert found(node, "整改 AND") == []


def seed_shapes(node: NodeUnderTest) -> dict[str, str]:
    """Every shape of tests/node/test_visibility.py, each with its own words: name -> id."""
    ids: dict[str, str] = {}
    for index, (name, (origin, cls, category, parties, is_stub)) in enumerate(SHAPES.items()):
        title, body = f"标题第{index}号甲乙丙", f"正文第{index}号丁戊己"
        if origin == node.ctx.node_id:
            ids[name] = create(
                node,
                category=category,
                classification=cls,
                title=title,
                body=body,
                parties=parties,
            )["id"]
        else:
            ids[name] = insert_record(
                node.ctx.sessions,
                origin=origin,
                classification=cls,
                category=category,
                parties=parties,
                is_stub=is_stub,
                title=title,
                body=body,
            )
    return ids


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_each_role_finds_exactly_what_it_may_read(node: NodeUnderTest, role: str) -> None:
    ids = seed_shapes(node)
    readable = {ids[name] for name, view in EXPECTED[role].items() if view == FULL}
    for q in ("甲乙丙", "丁戊己", "甲乙", "正文第"):
        assert set(found(node, q, role)) == readable, q
    # By a record's own words: exactly the readable one, nothing for any other.
    for index, name in enumerate(SHAPES):
        hits = found(node, f"第{index}号甲乙", role)
        assert hits == ([ids[name]] if ids[name] in readable else []), name


def test_released_content_is_found_by_its_grantee_while_the_grant_lasts(
    node: NodeUnderTest,
) -> None:
    stub = insert_record(
        node.ctx.sessions,
        origin="yanan",
        classification="secret",
        category="petition",
        is_stub=True,
    )
    node.auth("inspector")
    node.auth("approver")
    with node.ctx.sessions() as session:
        user = session.execute(select(User).where(User.name == "shaanxi-inspector")).scalar_one()
    now = node.clock.now()
    grant_id = insert_grant(
        node.ctx.sessions,
        record_id=stub,
        record_origin="yanan",
        grantee_id=user.id,
        grantee_name=user.name,
        grantee_node="shaanxi",
        granted_at=now - timedelta(minutes=5),
        lasts=timedelta(hours=1),
    )
    with node.ctx.sessions() as session, session.begin():
        session.add(
            ReleasedContent(
                grant_id=grant_id,
                record_id=stub,
                record_origin="yanan",
                version=1,
                title="信访件：某局长收受礼金",
                body="经初核属实",
                received_at=now,
            )
        )
    response = node.client.get(RECORDS, params={"q": "收受礼金"}, headers=node.auth("inspector"))
    assert response.status_code == 200, response.text
    [item] = response.json()["items"]
    assert (item["id"], item["title"], item["stub"]) == (stub, "信访件：某局长收受礼金", False)
    assert found(node, "初核", "inspector") == [stub]
    # Another user at the same node, the same role: not their grant.
    assert found(node, "收受礼金", "approver") == []
    # Each search that showed it is a read under the grant, as a listing's is.
    reads = audit_entries(node.ctx.sessions, object_id=stub, action="read")
    assert [entry.grant_id for entry in reads] == [grant_id, grant_id]

    node.clock.advance(2 * 3600)
    assert found(node, "收受礼金", "inspector") == []
    with node.ctx.sessions() as session:
        assert session.get(Grant, grant_id) is not None


def test_the_index_follows_changes_and_tombstones(node: NodeUnderTest) -> None:
    record = create(node, title="原标题甲乙丙", body="原正文丁戊己")
    assert found(node, "甲乙丙") == [record["id"]]
    response = node.client.patch(
        f"{RECORDS}/{record['id']}",
        json={"title": "新标题庚辛壬", "body": "新正文癸子丑"},
        headers=node.auth("inspector"),
    )
    assert response.status_code == 200, response.text
    assert found(node, "甲乙丙") == []
    assert found(node, "丁戊己") == []
    assert found(node, "庚辛壬") == [record["id"]]
    response = node.client.patch(
        f"{RECORDS}/{record['id']}", json={"body": "再改寅卯辰"}, headers=node.auth("inspector")
    )
    assert response.status_code == 200, response.text
    assert found(node, "庚辛壬") == [record["id"]]
    assert found(node, "癸子丑") == []
    assert found(node, "寅卯辰") == [record["id"]]
    response = node.client.delete(f"{RECORDS}/{record['id']}", headers=node.auth("inspector"))
    assert response.status_code == 200, response.text
    assert found(node, "庚辛壬") == []
    assert found(node, "庚辛壬", include_deleted="true") == []
    assert found(node, "寅卯", include_deleted="true") == []


def test_paging_and_filters_combine_with_search(node: NodeUnderTest) -> None:
    made = [create(node, title=f"专项巡察第{i}轮", body="正文")["id"] for i in range(7)]
    restricted = create(
        node,
        category="supervision_check",
        title="专项巡察限定",
        body="正文",
        parties=["yanan"],
    )["id"]
    foreign = insert_record(
        node.ctx.sessions,
        origin="central",
        classification="general",
        category="practice",
        title="专项巡察中央",
    )
    newest_first = [foreign, restricted, *reversed(made)]
    assert found(node, "专项巡察", limit=3) == newest_first
    assert found(node, "专项", limit=2) == newest_first
    assert found(node, "专项巡察", limit=4, **{"class": "restricted"}) == [restricted]
    assert found(node, "专项巡察", origin="central") == [foreign]
    assert found(node, "专项巡察", category="policy", limit=5) == list(reversed(made))
    assert found(node, "第3轮 专项") == [made[3]]


@pytest.mark.parametrize(
    ("q", "code"),
    [
        ("", "query_too_short"),
        ("   ", "query_too_short"),
        ("巡", "query_too_short"),
        ("巡察 县", "query_too_short"),
        ("巡" * 101, "query_too_long"),
        (" ".join(f"巡察{i}" for i in range(9)), "query_too_long"),
        ("巡察\x00", "invalid_query"),
        ("巡察\x1b[31m", "invalid_query"),
        ("巡察\u200b工作", "invalid_query"),
        ("巡察\u202e工作", "invalid_query"),
    ],
)
def test_bad_queries_are_refused_with_stable_codes(node: NodeUnderTest, q: str, code: str) -> None:
    create(node, title="巡察工作", body="正文")
    assert refused(node, q) == code


def test_a_search_is_audited_without_its_text(node: NodeUnderTest) -> None:
    create(node, title="某某举报人姓名", body="正文")
    assert found(node, "举报人姓名") != []
    entries = audit_entries(node.ctx.sessions, action="search")
    assert [(e.object_type, e.reason) for e in entries] == [("record", "1 items")]
    with node.ctx.sessions() as session:
        reasons = session.execute(select(AuditEntry.reason)).scalars().all()
    assert not any("举报人" in (reason or "") for reason in reasons)


def test_a_tombstone_leaves_no_terms_in_the_search_index(node: NodeUnderTest) -> None:
    """FTS5 (SQLite before 3.42) keeps a deleted document's terms in its older segments until
    they merge; a tombstone owes a full merge, which the sweep makes in short steps, so the
    trigrams that would spell the text are gone."""
    if node.ctx.engine.dialect.name != "sqlite":
        pytest.skip("the FTS5 index is SQLite's")

    def index_bytes() -> bytes:
        with node.ctx.engine.connect() as conn:
            blocks = conn.exec_driver_sql("SELECT block FROM records_fts_data").scalars().all()
        return b"".join(bytes(block) for block in blocks if block)

    for i in range(5):
        create(node, title=f"其他记录{i}", body="正文")
    record = create(node, title="秘密qzxjv标记", body="正文wkpyh内容")
    assert b"qzx" in index_bytes()
    assert b"kpy" in index_bytes()
    response = node.client.delete(f"{RECORDS}/{record['id']}", headers=node.auth("inspector"))
    assert response.status_code == 200, response.text
    # The node's sweep merges the index in short steps; wait for it to finish.
    engine = node.ctx.engine
    if engine.dialect.name == "sqlite":
        wait_for(lambda: not search.merge_owed(engine), message="the purge's index merge")
    held = index_bytes()
    assert b"qzx" not in held
    assert b"kpy" not in held
    assert found(node, "其他记录") != []
