"""HTTP hardening: failed requests rate-limited per address, repeated denials counted in the
audit chain, security headers on every response, /metrics and the docs behind a token."""

from __future__ import annotations

import base64
import hashlib
import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select

from node.api.app import create_app
from node.audit.verify import verify_chain
from node.models import AuditEntry
from tests.conftest import NodeUnderTest
from tests.factories import audit_entries

ME = "/api/v1/me"
BAD = {"Authorization": "Bearer fs_not-a-token"}
MakeNode = Callable[..., NodeUnderTest]


@contextmanager
def statements(node: NodeUnderTest) -> Iterator[list[str]]:
    """The SQL statements the node runs inside the block."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(node.ctx.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(node.ctx.engine, "before_cursor_execute", record)


def chain_length(node: NodeUnderTest) -> int:
    with node.ctx.sessions() as session:
        return session.execute(select(func.count()).select_from(AuditEntry)).scalar_one()


def rate_limited_total(client: TestClient, admin: dict[str, str]) -> float:
    """Read from another address (this one is rate-limited by then), on the same running app."""
    text = (
        TestClient(client.app, client=("198.51.100.7", 40000)).get("/metrics", headers=admin).text
    )
    match = re.search(r"^fedshare_http_rate_limited_total (\S+)$", text, re.M)
    assert match is not None, text
    return float(match.group(1))


# -- rate limit ---------------------------------------------------------------------------------


def test_failures_past_the_budget_get_429_before_any_database_work(make_node: MakeNode) -> None:
    node = make_node("shaanxi")
    good = node.auth("inspector")
    first_failure_from = node.clock.now().timestamp()
    assert node.client.get(ME, headers=BAD).status_code == 401
    first_failure_by = node.clock.now().timestamp()
    for _ in range(19):
        assert node.client.get(ME, headers=BAD).status_code == 401
    before = chain_length(node)
    asked_from = node.clock.now().timestamp()
    with statements(node) as seen:
        refused = node.client.get(ME, headers=BAD)
        also_refused = node.client.get(ME, headers=good)
    asked_by = node.clock.now().timestamp()
    assert seen == []
    assert chain_length(node) == before
    # The window is a minute from the first failure: Retry-After is what is left of it when asked.
    earliest = math.ceil(first_failure_from + 60 - asked_by)
    latest = math.ceil(first_failure_by + 60 - asked_from)
    for response in (refused, also_refused):
        assert response.status_code == 429
        assert response.json()["error"] == "rate_limited"
        assert earliest <= int(response.headers["Retry-After"]) <= latest
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    # The window moves on the node's clock: a minute later the address may try again.
    node.clock.advance(61)
    assert node.client.get(ME, headers=good).status_code == 200
    assert node.client.get(ME, headers=BAD).status_code == 401


def test_successful_requests_spend_no_budget_and_other_addresses_are_untouched(
    make_node: MakeNode,
) -> None:
    node = make_node("shaanxi")
    good = node.auth("inspector")
    for _ in range(50):
        assert node.client.get(ME, headers=good).status_code == 200
    for _ in range(20):
        assert node.client.get(ME, headers=BAD).status_code == 401
    assert node.client.get(ME, headers=good).status_code == 429
    with TestClient(node.client.app, client=("203.0.113.9", 40000)) as other:
        assert other.get(ME, headers=good).status_code == 200
        assert other.get(ME, headers=BAD).status_code == 401


def test_forbidden_answers_spend_the_budget_too(make_node: MakeNode) -> None:
    node = make_node("shaanxi", auth_failure_limit="3/minute")
    inspector = node.auth("inspector")
    for _ in range(3):
        assert node.client.get("/api/v1/audit", headers=inspector).status_code == 403
    assert node.client.get("/api/v1/audit", headers=inspector).status_code == 429


@pytest.mark.parametrize("limit", ["20 per fortnight", "lots", ""])
def test_a_bad_limit_setting_is_refused_at_start_up(limit: str) -> None:
    from pydantic import ValidationError

    from node.settings import Settings

    with pytest.raises(ValidationError, match="not a rate limit"):
        Settings(auth_failure_limit=limit)


# -- denials counted in the audit chain ----------------------------------------------------------


def test_2000_bad_tokens_are_a_handful_of_audit_entries_whose_counts_add_up(
    make_node: MakeNode,
) -> None:
    node = make_node("shaanxi")
    admin = node.auth("admin")
    # A client of its own, so the shutdown of its app (which flushes counted denials) is seen.
    with TestClient(create_app(ctx=node.ctx)) as client:
        answers = [client.get(ME, headers=BAD).status_code for _ in range(2000)]
        limited = rate_limited_total(client, admin)
    assert answers.count(401) == 20
    assert answers.count(429) == 1980
    assert limited == 1980
    denials = audit_entries(node.ctx.sessions, decision="deny")
    assert 2 <= len(denials) <= 10
    by_action: dict[str, int] = {}
    for entry in denials:
        assert (entry.object_type, entry.object_id) == ("client", "testclient")
        by_action[entry.action] = by_action.get(entry.action, 0) + entry.occurrences
    assert by_action == {"authenticate": 20, "rate-limit": 1980}
    with node.ctx.sessions() as session:
        report = verify_chain(
            session, node="shaanxi", signing_public_key=node.ctx.keys.signing_public_b64
        )
    assert report.ok, report.problems


def test_repeated_denials_without_the_limiter_are_counted_not_copied(
    make_node: MakeNode,
) -> None:
    node = make_node("shaanxi", auth_failure_limit="100000/minute")
    with TestClient(create_app(ctx=node.ctx)) as client:
        for _ in range(2000):
            assert client.get(ME, headers=BAD).status_code == 401
    denials = audit_entries(node.ctx.sessions, action="authenticate")
    assert 2 <= len(denials) <= 10
    assert denials[0].occurrences == 1
    assert sum(entry.occurrences for entry in denials) == 2000
    assert {entry.reason for entry in denials} == {"invalid bearer token"}


def test_distinct_denials_are_each_in_the_chain_at_once(make_node: MakeNode) -> None:
    node = make_node("shaanxi")
    inspector = node.auth("inspector")
    node.client.get(ME)
    node.client.get(ME, headers=BAD)
    node.client.get("/api/v1/audit", headers=inspector)
    kinds = [(e.action, e.reason, e.occurrences) for e in audit_entries(node.ctx.sessions)]
    assert kinds == [
        ("authenticate", "missing bearer token", 1),
        ("authenticate", "invalid bearer token", 1),
        ("audit", "forbidden", 1),
    ]
    # A repeat after the window is a new first entry, not a count.
    node.client.get(ME, headers=BAD)
    node.clock.advance(61)
    node.client.get(ME, headers=BAD)
    entries = audit_entries(node.ctx.sessions, reason="invalid bearer token")
    assert [e.occurrences for e in entries] == [1, 1]
    node.client.app.state.denials.flush()  # type: ignore[attr-defined]
    entries = audit_entries(node.ctx.sessions, reason="invalid bearer token")
    assert sum(e.occurrences for e in entries) == 3


def test_a_tampered_count_breaks_the_chain(make_node: MakeNode) -> None:
    node = make_node("shaanxi", auth_failure_limit="1000/minute")
    for _ in range(5):
        node.client.get(ME, headers=BAD)
    node.client.app.state.denials.flush()  # type: ignore[attr-defined]
    with node.ctx.sessions() as session, session.begin():
        counted = session.execute(
            select(AuditEntry).where(AuditEntry.occurrences == 4)
        ).scalar_one()
        counted.occurrences = 1
    with node.ctx.sessions() as session:
        report = verify_chain(
            session, node="shaanxi", signing_public_key=node.ctx.keys.signing_public_b64
        )
    assert [p for p in report.problems if "entry modified" in p]


# -- security headers ---------------------------------------------------------------------------


def test_every_response_has_the_security_headers(make_node: MakeNode) -> None:
    node = make_node("shaanxi", auth_failure_limit="1/minute")
    client = node.client
    responses = {
        "console": client.get("/"),
        "api": client.get(ME, headers=node.auth("inspector")),
        "health": client.get("/healthz"),
        "not found": client.get("/nowhere"),
        "too large": client.post(
            "/api/v1/records", content=b"x" * (2 * 1024 * 1024), headers=node.auth("inspector")
        ),
        "unauthenticated": client.get(ME, headers=BAD),
        "rate limited": client.get(ME, headers=BAD),
    }
    assert responses["too large"].status_code == 413
    assert responses["rate limited"].status_code == 429
    for name, response in responses.items():
        headers = response.headers
        assert headers["X-Frame-Options"] == "DENY", name
        assert headers["X-Content-Type-Options"] == "nosniff", name
        assert headers["Referrer-Policy"] == "no-referrer", name
        assert headers["Cache-Control"] == "no-store", name
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], name
    api_csp = responses["api"].headers["Content-Security-Policy"]
    assert api_csp.startswith("default-src 'none'")
    console_csp = responses["console"].headers["Content-Security-Policy"]
    assert "script-src 'self';" in console_csp
    assert "style-src 'self';" in console_csp
    assert "unsafe-inline" not in console_csp


def test_the_console_runs_nothing_inline(make_node: MakeNode) -> None:
    """Its CSP allows scripts and styles from the node only: the page must not need more."""
    page = make_node("yanan").client.get("/").text
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page) is None
    assert "<style" not in page
    assert re.search(r"\sstyle=|\son[a-z]+=", page) is None


# -- /metrics and the docs behind a token -------------------------------------------------------


def test_metrics_need_an_admin_or_security_officer_token(make_node: MakeNode) -> None:
    node = make_node("shaanxi")
    assert node.client.get("/metrics").status_code == 401
    assert node.client.get("/metrics", headers=node.auth("inspector")).status_code == 403
    for role in ("admin", "security_officer"):
        response = node.client.get("/metrics", headers=node.auth(role))
        assert response.status_code == 200, role
        assert "fedshare_http_requests_total" in response.text
    refused = audit_entries(node.ctx.sessions, action="read-metrics")
    assert [(e.actor, e.decision) for e in refused] == [("shaanxi-inspector", "deny")]


def test_docs_need_a_token(make_node: MakeNode) -> None:
    node = make_node("shaanxi")
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert node.client.get(path).status_code == 401, path
        response = node.client.get(path, headers=node.auth("inspector"))
        assert response.status_code == 200, path
    schema = node.client.get("/openapi.json", headers=node.auth("inspector")).json()
    assert "/api/v1/users" in schema["paths"]
    assert "/metrics" not in schema["paths"]


def test_docs_page_csp_allows_its_one_inline_script_by_hash(make_node: MakeNode) -> None:
    node = make_node("shaanxi", docs_require_token=False)
    page = node.client.get("/docs")
    scripts = re.findall(r"<script>(.*?)</script>", page.text, re.S)
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    csp = page.headers["Content-Security-Policy"]
    assert f"'sha256-{digest}'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";", 1)[0]


def test_metrics_and_docs_can_be_left_open(make_node: MakeNode) -> None:
    node = make_node("shaanxi", metrics_require_token=False, docs_require_token=False)
    for path in ("/metrics", "/docs", "/redoc", "/openapi.json"):
        assert node.client.get(path).status_code == 200, path
