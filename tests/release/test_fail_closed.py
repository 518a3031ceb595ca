"""Access that cannot be audited is refused: with the audit table refusing writes (a trigger, on
SQLite or PostgreSQL), reading released content, requesting access and even a refusal all fail
with 503, and nothing of the attempt is stored or sent."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import text

from tests.inprocess import MiniFederation
from tests.release.test_release_inprocess import (
    REASON,
    REQUESTS,
    TITLE,
    auth,
    decide,
    post,
    request_access,
    secret_record,
)

SQLITE_TRIGGER = [
    "CREATE TRIGGER audit_refuses BEFORE INSERT ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit log unavailable'); END",
]
POSTGRES_TRIGGER = [
    "CREATE FUNCTION audit_refuses() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'audit log unavailable'; END $$",
    "CREATE TRIGGER audit_refuses BEFORE INSERT ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_refuses()",
]


def set_audit_writable(fed: MiniFederation, node_id: str, writable: bool) -> None:
    engine = fed[node_id].ctx.engine
    sqlite = engine.dialect.name == "sqlite"
    if writable:
        statements = ["DROP TRIGGER audit_refuses" + ("" if sqlite else " ON audit_log")]
    else:
        statements = SQLITE_TRIGGER if sqlite else POSTGRES_TRIGGER
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))


def counts(fed: MiniFederation) -> tuple[object, ...]:
    return tuple(
        fed.rows("shaanxi", f"SELECT count(*) FROM {table}")[0][0]
        for table in ("audit_log", "access_requests", "grant_reads", "outbox")
    )


def test_unauditable_access_is_refused_and_leaves_no_trace(
    mini_federation: Callable[..., MiniFederation],
) -> None:
    fed = mini_federation("huanglong", "yanan", "shaanxi")
    fed["huanglong"].tokens["approver2"] = fed["huanglong"].user("approver", name="second")
    record_id = secret_record(fed)
    other_id = secret_record(fed)
    request_id = request_access(fed, record_id)["id"]
    decide(fed, request_id, "approve")
    decide(fed, request_id, "approve", role="approver2")
    shaanxi = fed["shaanxi"]
    inspector = auth(shaanxi, "inspector")
    officer = auth(shaanxi, "security_officer")
    before = counts(fed)

    set_audit_writable(fed, "shaanxi", False)
    read = shaanxi.client.get(f"/api/v1/records/{record_id}", headers=inspector)
    assert read.status_code == 503
    assert read.json()["error"] == "audit_unavailable"
    assert TITLE not in read.text
    ask = post(
        shaanxi, "inspector", REQUESTS, {"record_id": other_id, "reason": REASON, "duration_s": 60}
    )
    assert ask.status_code == 503
    assert ask.json()["error"] == "audit_unavailable"
    refusal = post(
        shaanxi,
        "security_officer",
        REQUESTS,
        {"record_id": other_id, "reason": REASON, "duration_s": 60},
    )
    assert refusal.status_code == 503
    audit = shaanxi.client.get("/api/v1/audit", headers=officer)
    assert audit.status_code == 503
    assert counts(fed) == before

    set_audit_writable(fed, "shaanxi", True)
    read = shaanxi.client.get(f"/api/v1/records/{record_id}", headers=inspector)
    assert read.status_code == 200
    assert read.json()["title"] == TITLE
    assert counts(fed) != before
