"""``fedshare user list|disable|enable|rotate-token`` and token expiry, seen through the node's API
(an app on the same data directory and database) and its audit chain."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from node.api.app import create_app
from node.clock import write_clock_offset
from node.settings import Settings
from tests.cli.test_cli import fedshare
from tests.factories import audit_entries

ME = "/api/v1/me"


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> dict[str, str]:
    env = {
        "FEDSHARE_DATA_DIR": str(tmp_path / "node"),
        "FEDSHARE_NODE_ID": "huanglong",
        "FEDSHARE_DATABASE_URL": database_url,
        "FEDSHARE_TEST_CLOCK_FILE": str(tmp_path / "clock-offset"),
    }
    assert fedshare("keys", "init", env=env).exit_code == 0
    assert fedshare("db", "upgrade", env=env).exit_code == 0
    return env


@pytest.fixture
def api(env: dict[str, str]) -> Iterator[TestClient]:
    settings = Settings(
        node_id=env["FEDSHARE_NODE_ID"],
        data_dir=Path(env["FEDSHARE_DATA_DIR"]),
        database_url=env["FEDSHARE_DATABASE_URL"],
        test_clock_file=Path(env["FEDSHARE_TEST_CLOCK_FILE"]),
        auth_failure_limit="1000/minute",
    )
    with TestClient(create_app(settings)) as client:
        yield client


def add(env: dict[str, str], name: str, *args: str) -> str:
    result = fedshare("user", "add", "--role", "inspector", name, *args, env=env)
    assert result.exit_code == 0, result.output
    return result.output.strip()


def me(api: TestClient, token: str) -> tuple[int, str]:
    response = api.get(ME, headers={"Authorization": f"Bearer {token}"})
    body = response.json()
    return response.status_code, body.get("error") or body["name"]


def listed(env: dict[str, str]) -> dict[str, list[str]]:
    result = fedshare("user", "list", env=env)
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].split("\t") == ["name", "role", "status", "token expires"]
    return {line.split("\t")[0]: line.split("\t")[1:] for line in lines[1:]}


def test_expiry_rotation_and_disabling_through_the_cli(
    env: dict[str, str], api: TestClient
) -> None:
    first = add(env, "黄龙县巡察员", "--expires-in", "1h")
    assert me(api, first) == (200, "黄龙县巡察员")
    assert listed(env)["黄龙县巡察员"][:2] == ["inspector", "active"]

    write_clock_offset(Path(env["FEDSHARE_TEST_CLOCK_FILE"]), 2 * 3600)
    assert me(api, first) == (401, "token_expired")
    assert listed(env)["黄龙县巡察员"][1] == "expired"

    rotated = fedshare("user", "rotate-token", "黄龙县巡察员", "--expires-in", "never", env=env)
    assert rotated.exit_code == 0, rotated.output
    second = rotated.output.strip()
    assert me(api, first) == (401, "unauthenticated")
    assert me(api, second) == (200, "黄龙县巡察员")
    assert listed(env)["黄龙县巡察员"] == ["inspector", "active", "never"]

    disabled = fedshare("user", "disable", "黄龙县巡察员", env=env)
    assert disabled.exit_code == 0
    assert "disabled" in disabled.output
    assert me(api, second) == (401, "user_disabled")
    again = fedshare("user", "disable", "黄龙县巡察员", env=env)
    assert again.exit_code == 0
    assert "already disabled" in again.output
    assert fedshare("user", "enable", "黄龙县巡察员", env=env).exit_code == 0
    assert me(api, second) == (200, "黄龙县巡察员")

    # Every change is in the chain, by the operator, and no token is anywhere in it.
    ctx = api.app.state.ctx  # type: ignore[attr-defined]
    changes = [
        e.action
        for e in audit_entries(ctx.sessions, object_type="user")
        if e.action.startswith("user-")
    ]
    assert changes == ["user-add", "user-rotate-token", "user-disable", "user-enable"]
    for entry in audit_entries(ctx.sessions):
        assert entry.actor.startswith("cli:") or entry.action != "user-add"
        for token in (first, second):
            assert token not in f"{entry.reason} {entry.object_id} {entry.actor}"
    verified = fedshare("audit", "verify", env=env)
    assert verified.exit_code == 0, verified.output


def test_default_lifetime_is_the_setting(env: dict[str, str]) -> None:
    add(env, "默认")
    add(env, "短期", "--expires-in", "12h")
    never = fedshare(
        "user", "add", "--role", "admin", "永久", env={**env, "FEDSHARE_TOKEN_LIFETIME": "never"}
    )
    assert never.exit_code == 0, never.output
    users = listed(env)
    assert users["默认"][2] != "never"
    assert users["默认"][2] > users["短期"][2] != "never"
    assert users["永久"][2] == "never"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["disable", "无此人"], "no user named '无此人'"),
        (["enable", "无此人"], "no user named '无此人'"),
        (["rotate-token", "无此人"], "no user named '无此人'"),
        (["add", "--role", "inspector", "x", "--expires-in", "5y"], "--expires-in"),
        (["rotate-token", "x", "--expires-in", "0h"], "more than 0"),
    ],
    ids=["disable", "enable", "rotate", "add-lifetime", "rotate-lifetime"],
)
def test_bad_input_exits_non_zero_with_a_clear_message(
    env: dict[str, str], args: list[str], message: str
) -> None:
    result = fedshare("user", *args, env=env)
    assert result.exit_code != 0
    assert message in result.output
    assert "fs_" not in result.output


def test_a_bad_lifetime_setting_is_refused(env: dict[str, str]) -> None:
    result = fedshare("user", "list", env={**env, "FEDSHARE_TOKEN_LIFETIME": "forever"})
    assert result.exit_code != 0
    assert "token_lifetime" in result.output


def test_user_changes_need_the_node_keys(tmp_path: Path, database_url: str) -> None:
    env = {
        "FEDSHARE_DATA_DIR": str(tmp_path / "keyless"),
        "FEDSHARE_NODE_ID": "huanglong",
        "FEDSHARE_DATABASE_URL": database_url,
    }
    assert fedshare("db", "upgrade", env=env).exit_code == 0
    result = fedshare("user", "add", "--role", "admin", "甲", env=env)
    assert result.exit_code != 0
    assert "fedshare keys init" in result.output
