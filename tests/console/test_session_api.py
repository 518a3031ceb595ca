"""Console login over HTTP: the session cookie, CSRF on writes, expiry, logout, password change,
per-user lock-out; and that no password or session id reaches the audit chain."""

from __future__ import annotations

from collections.abc import Callable
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from node.cli import app as cli_app
from node.models import AuditEntry, LoginSession, User
from tests.conftest import NodeUnderTest
from tests.factories import insert_user

SESSION = "/api/v1/session"
PASSWORD = "巡察-secret-2024"
NEW_PASSWORD = "another-Secret-7"
RECORD = {"category": "work_requirement", "title": "工作要求", "body": "正文"}


def add_login_user(node: NodeUnderTest, name: str = "yanan-clerk", role: str = "inspector") -> str:
    return insert_user(
        node.ctx.sessions,
        name=name,
        role=role,
        node=node.ctx.node_id,
        now=node.clock.now(),
        password=PASSWORD,
    )


def log_in(
    client: TestClient, name: str = "yanan-clerk", password: str = PASSWORD
) -> dict[str, str]:
    """Log in; return the CSRF header for writes."""
    response = client.post(SESSION, json={"name": name, "password": password})
    assert response.status_code == 200, response.text
    return {"X-CSRF-Token": response.json()["csrf_token"]}


def audit_text(node: NodeUnderTest) -> str:
    with node.ctx.sessions() as session:
        entries = session.execute(select(AuditEntry)).scalars().all()
        return "\n".join(
            f"{e.actor} {e.action} {e.object_type} {e.object_id} {e.decision} {e.reason}"
            for e in entries
        )


@pytest.fixture
def node(make_node: Callable[..., NodeUnderTest]) -> NodeUnderTest:
    made = make_node("yanan", auth_failure_limit="1000/minute")
    add_login_user(made)
    return made


def test_login_sets_a_strict_http_only_cookie_and_tells_who_i_am(node: NodeUnderTest) -> None:
    response = node.client.post(SESSION, json={"name": "yanan-clerk", "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "yanan-clerk"
    assert (body["role"], body["role_label"]) == ("inspector", "巡视巡察干部")
    assert (body["node"], body["node_name"], body["tier"], body["tier_label"]) == (
        "yanan",
        "延安市",
        "city",
        "市级",
    )
    assert body["via"] == "cookie"
    cookies = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        cookies.load(header)
    session_cookie = cookies["fs_session"]
    assert session_cookie["httponly"]
    assert session_cookie["samesite"] == "strict"
    assert session_cookie["path"] == "/"
    assert not session_cookie["secure"]  # plain http here; Secure when served over https
    assert not cookies["fs_csrf"]["httponly"]
    assert cookies["fs_csrf"].value == body["csrf_token"]
    # The id is stored only as its digest.
    with node.ctx.sessions() as session:
        stored = session.execute(select(LoginSession.id_hash)).scalars().all()
    assert session_cookie.value not in stored
    assert len(stored) == 1
    me = node.client.get(SESSION)
    assert me.status_code == 200
    assert me.json()["csrf_token"] == body["csrf_token"]
    # Bearer tokens keep working, and win over a cookie.
    token = node.user("approver", name="yanan-approver")
    assert (
        node.client.get(SESSION, headers={"Authorization": f"Bearer {token}"}).json()["via"]
        == "token"
    )


def test_secure_cookie_over_https(make_node: Callable[..., NodeUnderTest]) -> None:
    node = make_node("yanan")
    add_login_user(node)
    client = TestClient(node.client.app, base_url="https://testserver")
    response = client.post(SESSION, json={"name": "yanan-clerk", "password": PASSWORD})
    assert response.status_code == 200
    assert all("Secure" in header for header in response.headers.get_list("set-cookie"))


def test_cookie_writes_need_the_csrf_token_bearer_writes_do_not(node: NodeUnderTest) -> None:
    csrf = log_in(node.client)
    refused = node.client.post("/api/v1/records", json=RECORD)
    assert refused.status_code == 403
    assert refused.json()["error"] == "csrf_failed"
    wrong = node.client.post("/api/v1/records", json=RECORD, headers={"X-CSRF-Token": "0" * 64})
    assert wrong.json()["error"] == "csrf_failed"
    made = node.client.post("/api/v1/records", json=RECORD, headers=csrf)
    assert made.status_code == 201, made.text
    assert node.client.get("/api/v1/records").status_code == 200  # reads need no token
    bearer = TestClient(node.client.app)
    assert (
        bearer.post("/api/v1/records", json=RECORD, headers=node.auth("inspector")).status_code
        == 201
    )
    assert "csrf" in audit_text(node)  # the refusal is audited


def test_logout_ends_the_session(node: NodeUnderTest) -> None:
    csrf = log_in(node.client)
    cookie = node.client.cookies.get("fs_session")
    assert node.client.delete(SESSION).json()["error"] == "csrf_failed"
    assert node.client.delete(SESSION, headers=csrf).status_code == 204
    replay = TestClient(node.client.app, cookies={"fs_session": cookie})
    refused = replay.get("/api/v1/records")
    assert refused.status_code == 401
    assert refused.json()["error"] == "session_expired"


def test_idle_and_absolute_expiry(make_node: Callable[..., NodeUnderTest]) -> None:
    node = make_node(
        "yanan",
        session_idle_timeout_s=600,
        session_lifetime_s=1800,
        auth_failure_limit="1000/minute",
    )
    add_login_user(node)
    log_in(node.client)
    for _ in range(3):  # used every 9 minutes: alive until the absolute limit (30 minutes)
        node.clock.advance(540)
        assert node.client.get(SESSION).status_code == 200
    node.clock.advance(540)  # 36 minutes after login
    assert node.client.get(SESSION).json()["error"] == "session_expired"
    log_in(node.client)
    node.clock.advance(601)
    assert node.client.get(SESSION).json()["error"] == "session_expired"


def test_lockout_after_repeated_failures_is_audited_and_ends(node: NodeUnderTest) -> None:
    for _ in range(5):
        wrong = node.client.post(SESSION, json={"name": "yanan-clerk", "password": "wrong-pass-1"})
        assert wrong.status_code == 401
        assert wrong.json()["error"] == "invalid_credentials"
    locked = node.client.post(SESSION, json={"name": "yanan-clerk", "password": PASSWORD})
    assert locked.status_code == 401
    assert locked.json()["error"] == "account_locked"
    unknown = node.client.post(SESSION, json={"name": "nobody", "password": PASSWORD})
    assert unknown.json()["error"] == "invalid_credentials"  # unknown names look the same
    node.client.app.state.denials.flush()
    text = audit_text(node)
    assert "user-lock" in text
    assert "login" in text
    assert "wrong user name or password" in text
    node.clock.advance(15 * 60 + 1)
    log_in(node.client)
    with node.ctx.sessions() as session:
        user = session.execute(select(User).where(User.name == "yanan-clerk")).scalar_one()
        assert user.login_failures == 0


def test_failures_outside_the_window_do_not_lock(node: NodeUnderTest) -> None:
    for _ in range(4):
        node.client.post(SESSION, json={"name": "yanan-clerk", "password": "wrong-pass-1"})
    node.clock.advance(15 * 60 + 1)
    for _ in range(4):
        node.client.post(SESSION, json={"name": "yanan-clerk", "password": "wrong-pass-1"})
    log_in(node.client)


def test_password_change_needs_the_old_one_and_ends_other_sessions(node: NodeUnderTest) -> None:
    other = TestClient(node.client.app)
    log_in(other)
    csrf = log_in(node.client)
    change = "/api/v1/session/password"
    wrong = node.client.post(
        change, json={"old_password": "not-it-at-all", "new_password": NEW_PASSWORD}, headers=csrf
    )
    assert (wrong.status_code, wrong.json()["error"]) == (403, "wrong_password")
    weak = node.client.post(
        change, json={"old_password": PASSWORD, "new_password": "aaaaaaaaa"}, headers=csrf
    )
    assert weak.json()["error"] == "weak_password"
    done = node.client.post(
        change, json={"old_password": PASSWORD, "new_password": NEW_PASSWORD}, headers=csrf
    )
    assert done.status_code == 204, done.text
    assert node.client.get(SESSION).status_code == 200  # this session stays
    assert other.get(SESSION).json()["error"] == "session_expired"  # the other one ended
    assert (
        node.client.post(SESSION, json={"name": "yanan-clerk", "password": PASSWORD}).json()[
            "error"
        ]
        == "invalid_credentials"
    )
    log_in(node.client, password=NEW_PASSWORD)
    assert "user-password" in audit_text(node)


def test_no_password_or_session_id_in_the_audit_chain_or_errors(node: NodeUnderTest) -> None:
    log_in(node.client)
    session_id = node.client.cookies.get("fs_session")
    wrong = node.client.post(SESSION, json={"name": "yanan-clerk", "password": "typed-secret-99"})
    assert "typed-secret-99" not in wrong.text
    too_long = node.client.post(SESSION, json={"name": "yanan-clerk", "password": "x" * 500})
    assert too_long.status_code == 422
    assert "xxxx" not in too_long.text
    node.client.app.state.denials.flush()
    text = audit_text(node)
    for secret in (PASSWORD, "typed-secret-99", session_id):
        assert secret not in text


def test_cli_sets_a_password_from_stdin(tmp_path: Path, database_url: str) -> None:
    from node.api.app import create_app
    from node.settings import Settings

    env = {
        "FEDSHARE_DATA_DIR": str(tmp_path / "node"),
        "FEDSHARE_NODE_ID": "huanglong",
        "FEDSHARE_DATABASE_URL": database_url,
    }
    runner = CliRunner()
    assert runner.invoke(cli_app, ["keys", "init"], env=env).exit_code == 0
    assert runner.invoke(cli_app, ["db", "upgrade"], env=env).exit_code == 0
    added = runner.invoke(
        cli_app,
        ["user", "add", "--role", "approver", "黄龙县审批人", "--password-stdin"],
        env=env,
        input=PASSWORD + "\n",
    )
    assert added.exit_code == 0, added.output
    assert PASSWORD not in added.output
    weak = runner.invoke(
        cli_app, ["user", "password", "黄龙县审批人", "--password-stdin"], env=env, input="abc\n"
    )
    assert weak.exit_code != 0
    changed = runner.invoke(
        cli_app,
        ["user", "password", "黄龙县审批人", "--password-stdin"],
        env=env,
        input=NEW_PASSWORD + "\n",
    )
    assert changed.exit_code == 0, changed.output
    settings = Settings(node_id="huanglong", data_dir=tmp_path / "node", database_url=database_url)
    with TestClient(create_app(settings)) as client:
        refused = client.post(SESSION, json={"name": "黄龙县审批人", "password": PASSWORD})
        assert refused.status_code == 401
        me = client.post(SESSION, json={"name": "黄龙县审批人", "password": NEW_PASSWORD})
        assert me.status_code == 200, me.text
        assert me.json()["tier_label"] == "中央"  # a lone node is its own tree's root


def test_records_filter_by_a_time_range(node: NodeUnderTest) -> None:
    from datetime import UTC, datetime

    from tests.factories import insert_record

    for month in (1, 3, 5):
        insert_record(
            node.ctx.sessions,
            origin="huanglong",
            classification="general",
            category="practice",
            title=f"{month}月经验",
            updated_at=datetime(2024, month, 10, tzinfo=UTC),
        )
    page = node.client.get(
        "/api/v1/records",
        params={
            "updated_since": "2024-02-01T00:00:00+08:00",
            "updated_before": "2024-04-01T00:00:00Z",
        },
        headers=node.auth("inspector"),
    )
    assert page.status_code == 200, page.text
    assert [item["title"] for item in page.json()["items"]] == ["3月经验"]
