"""``/api/v1/users``: admins manage a node's users; tokens expire; every change is audited."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.conftest import NodeUnderTest
from tests.factories import audit_entries

USERS = "/api/v1/users"
ME = "/api/v1/me"


@pytest.fixture
def node(make_node: Callable[..., NodeUnderTest]) -> NodeUnderTest:
    return make_node("shaanxi", auth_failure_limit="1000/minute")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def add(node: NodeUnderTest, **body: object) -> dict[str, object]:
    response = node.client.post(USERS, json=body, headers=node.auth("admin"))
    assert response.status_code == 201, response.text
    made: dict[str, object] = response.json()
    return made


def test_admin_adds_a_user_whose_token_works_and_expires(node: NodeUnderTest) -> None:
    made = add(node, name="延安巡察员", role="inspector", expires_in="1h")
    token = str(made["token"])
    assert token.startswith("fs_")
    user = made["user"]
    assert isinstance(user, dict)
    assert (user["name"], user["role"], user["status"]) == ("延安巡察员", "inspector", "active")
    assert node.client.get(ME, headers=bearer(token)).json()["name"] == "延安巡察员"
    node.clock.advance(3601)
    refused = node.client.get(ME, headers=bearer(token))
    assert refused.status_code == 401
    assert refused.json()["error"] == "token_expired"
    listed = {u["name"]: u for u in node.client.get(USERS, headers=node.auth("admin")).json()}
    assert listed["延安巡察员"]["status"] == "expired"
    assert all("token" not in u and "token_hash" not in u for u in listed.values())


def test_default_lifetime_comes_from_the_settings_and_never_means_never(
    node: NodeUnderTest,
) -> None:
    default = add(node, name="a", role="inspector")["user"]
    never = add(node, name="b", role="inspector", expires_in="never")["user"]
    assert isinstance(default, dict)
    assert isinstance(never, dict)
    assert default["token_expires_at"] is not None
    assert never["token_expires_at"] is None
    token = add(node, name="c", role="inspector", expires_in="never")["token"]
    node.clock.advance(10 * 365 * 86400)
    assert node.client.get(ME, headers=bearer(str(token))).status_code == 200


def test_rotate_disable_enable_and_every_change_audited(node: NodeUnderTest) -> None:
    made = add(node, name="审批人", role="approver")
    user = made["user"]
    assert isinstance(user, dict)
    old = str(made["token"])
    rotated = node.client.post(
        f"{USERS}/{user['id']}/rotate-token", json={"expires_in": "30d"}, headers=node.auth("admin")
    )
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["token"]
    assert new != old
    assert node.client.get(ME, headers=bearer(old)).json()["error"] == "unauthenticated"
    assert node.client.get(ME, headers=bearer(new)).status_code == 200

    disabled = node.client.post(f"{USERS}/{user['id']}/disable", headers=node.auth("admin"))
    assert disabled.json()["status"] == "disabled"
    refused = node.client.get(ME, headers=bearer(new))
    assert (refused.status_code, refused.json()["error"]) == (401, "user_disabled")
    enabled = node.client.post(f"{USERS}/{user['id']}/enable", headers=node.auth("admin"))
    assert enabled.json()["status"] == "active"
    assert node.client.get(ME, headers=bearer(new)).status_code == 200

    changes = [
        (e.actor, e.action, e.object_id)
        for e in audit_entries(node.ctx.sessions, object_type="user")
        if e.action != "list"
    ]
    assert changes == [
        ("shaanxi-admin", action, user["id"])
        for action in ("user-add", "user-rotate-token", "user-disable", "user-enable")
    ]
    for entry in audit_entries(node.ctx.sessions):
        for value in (entry.reason, entry.object_id, entry.actor):
            assert old not in str(value)
            assert new not in str(value)


def test_only_admins_manage_users_and_refusals_are_audited(node: NodeUnderTest) -> None:
    for role in ("inspector", "approver", "security_officer"):
        headers = node.auth(role)
        assert node.client.get(USERS, headers=headers).status_code == 403
        response = node.client.post(USERS, json={"name": "x", "role": "admin"}, headers=headers)
        assert response.status_code == 403
    denied = audit_entries(node.ctx.sessions, action="manage-users")
    assert {e.role for e in denied} == {"inspector", "approver", "security_officer"}
    assert node.client.get(USERS).status_code == 401


def test_an_admin_cannot_disable_themselves(node: NodeUnderTest) -> None:
    me = next(
        u for u in node.client.get(USERS, headers=node.auth("admin")).json() if u["role"] == "admin"
    )
    response = node.client.post(f"{USERS}/{me['id']}/disable", headers=node.auth("admin"))
    assert (response.status_code, response.json()["error"]) == (409, "cannot_disable_self")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"name": "x", "role": "wizard"}, 422, "unknown_role"),
        ({"name": "x", "role": "inspector", "expires_in": "5y"}, 422, "invalid_input"),
        ({"name": "x", "role": "inspector", "expires_in": "0d"}, 422, "invalid_input"),
        ({"name": "", "role": "inspector"}, 422, "invalid_input"),
        ({"name": "x", "role": "inspector", "token": "fs_mine"}, 422, "invalid_input"),
        ({"role": "inspector"}, 422, "missing_field"),
    ],
    ids=["unknown-role", "bad-lifetime", "zero-lifetime", "blank-name", "own-token", "no-name"],
)
def test_bad_input_is_a_clear_4xx(
    node: NodeUnderTest, body: dict[str, object], status: int, code: str
) -> None:
    response = node.client.post(USERS, json=body, headers=node.auth("admin"))
    assert (response.status_code, response.json()["error"]) == (status, code), response.text


def test_unknown_and_duplicate_users(node: NodeUnderTest) -> None:
    admin = node.auth("admin")
    missing = node.client.post(
        f"{USERS}/0190d1a0-0000-7000-8000-000000000000/disable", headers=admin
    )
    assert (missing.status_code, missing.json()["error"]) == (404, "unknown_user")
    add(node, name="重名", role="inspector")
    again = node.client.post(USERS, json={"name": "重名", "role": "admin"}, headers=admin)
    assert (again.status_code, again.json()["error"]) == (409, "user_exists")
