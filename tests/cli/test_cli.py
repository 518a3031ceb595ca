"""The ``fedshare`` CLI as an operator uses it: keys, schema, users (settings from the env)."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import select
from typer.testing import CliRunner

from node.cli import app
from node.crypto import load_keys
from node.db import make_engine, make_sessionmaker
from node.models import User
from node.settings import Settings


def fedshare(*args: str, env: dict[str, str]) -> Result:
    result = CliRunner().invoke(app, list(args), env=env)
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return {
        "FEDSHARE_DATA_DIR": str(tmp_path / "node"),
        "FEDSHARE_NODE_ID": "huanglong",
        "FEDSHARE_DATABASE_URL": database_url,
    }


@pytest.fixture
def node_env(env: dict[str, str]) -> dict[str, str]:
    """A node's keys and migrated schema: what user commands need (their changes are audited)."""
    assert fedshare("keys", "init", env=env).exit_code == 0
    assert fedshare("db", "upgrade", env=env).exit_code == 0
    return env


def key_files(env: dict[str, str]) -> dict[str, bytes]:
    keys_dir = Path(env["FEDSHARE_DATA_DIR"]) / "keys"
    return {path.name: path.read_bytes() for path in sorted(keys_dir.iterdir())}


def test_keys_init_writes_private_files_0600_and_prints_the_public_keys(
    env: dict[str, str],
) -> None:
    result = fedshare("keys", "init", env=env)
    assert result.exit_code == 0, result.output
    keys_dir = Path(env["FEDSHARE_DATA_DIR"]) / "keys"
    files = key_files(env)
    assert sorted(files) == ["encryption.key", "signing.key"]
    for name in files:
        assert stat.S_IMODE((keys_dir / name).stat().st_mode) == 0o600, name
    keys = load_keys(keys_dir)
    assert f'signing_key = "{keys.signing_public_b64}"' in result.output
    assert f'encryption_key = "{keys.encryption_public_b64}"' in result.output
    # The private halves never reach the terminal.
    for raw in files.values():
        assert raw.decode().strip() not in result.output


def test_keys_init_never_overwrites_without_force(env: dict[str, str]) -> None:
    assert fedshare("keys", "init", env=env).exit_code == 0
    before = key_files(env)
    again = fedshare("keys", "init", env=env)
    assert again.exit_code != 0
    assert "already exist" in again.output
    assert "--force" in again.output
    assert key_files(env) == before
    forced = fedshare("keys", "init", "--force", env=env)
    assert forced.exit_code == 0, forced.output
    after = key_files(env)
    assert after.keys() == before.keys()
    assert all(after[name] != before[name] for name in before)
    keys_dir = Path(env["FEDSHARE_DATA_DIR"]) / "keys"
    for name in after:
        assert stat.S_IMODE((keys_dir / name).stat().st_mode) == 0o600, name


def test_user_add_prints_a_token_stored_only_hashed(node_env: dict[str, str]) -> None:
    env = node_env
    result = fedshare("user", "add", "--role", "approver", "黄龙县审批人", env=env)
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    assert token.startswith("fs_")
    assert len(token) > 40
    settings = Settings(
        data_dir=Path(env["FEDSHARE_DATA_DIR"]), database_url=env["FEDSHARE_DATABASE_URL"]
    )
    engine = make_engine(settings.database_url)
    try:
        with make_sessionmaker(engine)() as session:
            users = list(session.execute(select(User)).scalars())
    finally:
        engine.dispose()
    assert [(u.name, u.role, u.node) for u in users] == [("黄龙县审批人", "approver", "huanglong")]
    assert users[0].token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in repr(vars(users[0]))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "wizard", "某人"], "unknown role 'wizard'"),
        (["--role", "Inspector", "某人"], "one of inspector, approver, security_officer, admin"),
        (["--role", "inspector", "   "], "user name must be 1 to 100 characters"),
    ],
    ids=["unknown-role", "wrong-case-role", "blank-name"],
)
def test_user_add_refuses_bad_input_with_a_clear_message(
    node_env: dict[str, str], args: list[str], message: str
) -> None:
    result = fedshare("user", "add", *args, env=node_env)
    assert result.exit_code != 0
    assert message in result.output
    assert "fs_" not in result.output


def test_user_add_refuses_a_duplicate_name(node_env: dict[str, str]) -> None:
    env = node_env
    assert fedshare("user", "add", "--role", "inspector", "同名", env=env).exit_code == 0
    again = fedshare("user", "add", "--role", "admin", "同名", env=env)
    assert again.exit_code != 0
    assert "already exists" in again.output


def test_bad_node_id_is_refused_at_start_up(env: dict[str, str]) -> None:
    result = fedshare(
        "user", "add", "--role", "inspector", "x", env={**env, "FEDSHARE_NODE_ID": "Huang Long"}
    )
    assert result.exit_code != 0
    assert "node id must match [a-z0-9-]+" in result.output
