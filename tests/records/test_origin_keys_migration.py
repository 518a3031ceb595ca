"""Migration 0007 keys records by (origin, id) on a database that already holds data: records,
their parties, grants and what refers to records keep their rows, references get their origin,
the statistics rollup keeps counting, and one id may then be held under two origins."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from node.db import make_engine, upgrade_database
from node.ids import uuid7

NOW = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


def record_row(record_id: str, origin: str, classification: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": record_id,
        "origin": origin,
        "author": f"{origin}-inspector",
        "category": {"general": "policy", "restricted": "supervision_check"}.get(
            classification, "problem_clue"
        ),
        "classification": classification,
        "title": "标题",
        "body": "正文",
        "version": 1,
        "created_at": NOW,
        "updated_at": NOW,
        "deleted": False,
        "is_stub": False,
        **extra,
    }


def insert(conn: Any, table: str, row: dict[str, Any]) -> None:
    columns = ", ".join(row)
    values = ", ".join(f":{c}" for c in row)
    conn.execute(text(f"INSERT INTO {table} ({columns}) VALUES ({values})"), row)


def test_upgrade_keeps_records_parties_grants_and_references(database_url: str) -> None:
    for revision in ("0004", "0002", "0003", "0005_http"):
        upgrade_database(database_url, revision)
    general, restricted, secret, grant = uuid7(), uuid7(), uuid7(), uuid7()
    engine = make_engine(database_url)
    with engine.begin() as conn:
        insert(conn, "records", record_row(general, "yanan", "general"))
        insert(conn, "records", record_row(restricted, "shaanxi", "restricted"))
        stub = record_row(secret, "shaanxi", "secret", is_stub=True, title=None, body=None)
        insert(conn, "records", stub)
        for party in ("yanan", "huanglong"):
            insert(conn, "record_parties", {"record_id": restricted, "node_id": party})
        insert(
            conn,
            "grants",
            {
                "id": grant,
                "record_id": secret,
                "record_origin": "shaanxi",
                "grantee_id": "u1",
                "grantee_name": "yanan-inspector",
                "grantee_node": "yanan",
                "source": "approval",
                "granted_at": NOW,
                "expires_at": NOW.replace(year=2030),
            },
        )
        insert(
            conn,
            "released_content",
            {
                "grant_id": grant,
                "record_id": secret,
                "version": 1,
                "title": "释放标题",
                "body": "释放正文",
                "received_at": NOW,
            },
        )
        read = {
            "id": uuid7(),
            "grant_id": grant,
            "record_id": secret,
            "reader_name": "yanan-inspector",
            "reader_node": "yanan",
            "at": NOW,
        }
        insert(conn, "grant_reads", read)
        ledger = {
            "id": uuid7(),
            "node": "yanan",
            "held_as": "own",
            "title": "移交",
            "clue_record_id": restricted,
            "department": "纪委",
            "feedback_deadline": NOW,
            "status": "transferred",
            "created_at": NOW,
            "updated_at": NOW,
            "version": 1,
        }
        insert(conn, "ledger_items", ledger)
        order = uuid7()
        conn.execute(
            text(
                "INSERT INTO orders (id, issuer, issued_by, title, inspected_units, focus_issues,"
                " addressees, deadline, issued_at, held_as) VALUES (:id, 'yanan', 'x', 't',"
                " '[]', '[]', '[\"huanglong\"]', :now, :now, 'issuer')"
            ),
            {"id": order, "now": NOW},
        )
        attachment = {
            "order_id": order,
            "record_id": general,
            "record_origin": "yanan",
            "classification": "general",
            "category": "policy",
        }
        insert(conn, "order_attachments", attachment)
    stats_before = rows(engine, "SELECT origin, classification, n, stubs FROM record_stats")
    engine.dispose()

    upgrade_database(database_url)

    engine = make_engine(database_url)
    assert rows(engine, "SELECT origin, id, title FROM records") == sorted(
        [("yanan", general, "标题"), ("shaanxi", restricted, "标题"), ("shaanxi", secret, None)]
    )
    assert rows(engine, "SELECT record_origin, record_id, node_id FROM record_parties") == [
        ("shaanxi", restricted, "huanglong"),
        ("shaanxi", restricted, "yanan"),
    ]
    assert rows(engine, "SELECT id, record_origin, record_id FROM grants") == [
        (grant, "shaanxi", secret)
    ]
    assert rows(engine, "SELECT record_origin, record_id, title FROM released_content") == [
        ("shaanxi", secret, "释放标题")
    ]
    assert rows(engine, "SELECT record_origin, record_id FROM grant_reads") == [("shaanxi", secret)]
    assert rows(engine, "SELECT clue_record_origin, clue_record_id FROM ledger_items") == [
        ("shaanxi", restricted)
    ]
    assert rows(engine, "SELECT record_origin, record_id FROM order_attachments") == [
        ("yanan", general)
    ]
    assert rows(engine, "SELECT origin, classification, n, stubs FROM record_stats") == (
        stats_before
    )

    # Now one id may be held under two origins, and the rollup still counts every insert.
    with engine.begin() as conn:
        insert(conn, "records", record_row(general, "huanglong", "general"))
        insert(
            conn,
            "record_parties",
            {"record_origin": "huanglong", "record_id": general, "node_id": "yanan"},
        )
    assert rows(engine, "SELECT origin FROM records WHERE id = :id", id=general) == [
        ("huanglong",),
        ("yanan",),
    ]
    assert ("huanglong", "general", 1, 0) in rows(
        engine, "SELECT origin, classification, n, stubs FROM record_stats"
    )
    # Deleting a record still takes its parties with it (the composite foreign key cascades).
    with engine.begin() as conn:
        conn.execute(
            text("DELETE FROM records WHERE origin = 'shaanxi' AND id = :id"), {"id": restricted}
        )
    assert rows(engine, "SELECT count(*) FROM record_parties WHERE record_origin = 'shaanxi'") == [
        (0,)
    ]
    engine.dispose()


def rows(engine: Any, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(text(sql), params))
