"""Bad input never causes a 500: each case gets a 4xx with a stable error code, and no error
body echoes the submitted title or body."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from node.api.app import MAX_REQUEST_BYTES
from node.models import Record
from tests.conftest import NodeUnderTest

RECORDS = "/api/v1/records"
SECRET_TITLE = "绝密标题SECRET-TITLE-7f3a"
SECRET_BODY = "绝密正文SECRET-BODY-7f3a"
JSON = {"content-type": "application/json"}
MISSING_ID = "01900000-0000-7000-8000-000000000000"


def raw(text: str) -> bytes:
    """A request body written by hand, so escapes like \\ud800 reach the server as sent."""
    return text.encode("utf-8")


def chunks(total: int) -> Iterator[bytes]:
    """A body with no Content-Length (chunked), so only the streaming check can catch its size."""
    piece = b'{"title": "' + b"x" * 65_536
    sent = 0
    while sent < total:
        yield piece
        sent += len(piece)


# (id, method, path, request kwargs, status, error code)
CASES: list[tuple[str, str, str, dict[str, Any], int, str]] = [
    (
        "malformed-json",
        "POST",
        RECORDS,
        {"content": raw('{"category": "policy", "title": "' + SECRET_TITLE), "headers": JSON},
        422,
        "malformed_json",
    ),
    (
        "trailing-garbage",
        "POST",
        RECORDS,
        {
            "content": raw('{"category": "policy", "title": "' + SECRET_TITLE + '"} x'),
            "headers": JSON,
        },
        422,
        "malformed_json",
    ),
    ("json-array", "POST", RECORDS, {"json": [SECRET_TITLE]}, 422, "invalid_input"),
    ("json-string", "POST", RECORDS, {"json": SECRET_TITLE}, 422, "invalid_input"),
    ("empty-body", "POST", RECORDS, {"content": b"", "headers": JSON}, 422, "missing_field"),
    (
        "not-json-content-type",
        "POST",
        RECORDS,
        {
            "content": raw('{"category":"policy","title":"' + SECRET_TITLE + '"}'),
            "headers": {"content-type": "text/plain"},
        },
        422,
        "invalid_input",
    ),
    (
        "wrong-types",
        "POST",
        RECORDS,
        {
            "json": {
                "category": 7,
                "title": [SECRET_TITLE],
                "body": {"x": SECRET_BODY},
                "parties": "yanan",
            }
        },
        422,
        "invalid_input",
    ),
    (
        "title-null",
        "POST",
        RECORDS,
        {"json": {"category": "policy", "title": None}},
        422,
        "invalid_input",
    ),
    (
        "missing-title",
        "POST",
        RECORDS,
        {"json": {"category": "policy", "body": SECRET_BODY}},
        422,
        "missing_field",
    ),
    (
        "unknown-field",
        "POST",
        RECORDS,
        {"json": {"category": "policy", "title": SECRET_TITLE, "owner": SECRET_BODY}},
        422,
        "invalid_input",
    ),
    (
        "long-unknown-key",
        "POST",
        RECORDS,
        {"json": {"category": "policy", "title": "t", "k" * 5000 + SECRET_TITLE: 1}},
        422,
        "invalid_input",
    ),
    (
        "unknown-category",
        "POST",
        RECORDS,
        {"json": {"category": "gossip", "title": SECRET_TITLE}},
        422,
        "unknown_category",
    ),
    (
        "malformed-category",
        "POST",
        RECORDS,
        {"json": {"category": "Policy; DROP TABLE records", "title": SECRET_TITLE}},
        422,
        "invalid_input",
    ),
    (
        "unknown-class",
        "POST",
        RECORDS,
        {"json": {"category": "policy", "classification": "top_secret", "title": SECRET_TITLE}},
        422,
        "invalid_input",
    ),
    (
        "unknown-party",
        "POST",
        RECORDS,
        {"json": {"category": "accountability", "title": SECRET_TITLE, "parties": ["mars"]}},
        422,
        "unknown_party",
    ),
    (
        "malformed-party",
        "POST",
        RECORDS,
        {"json": {"category": "accountability", "title": SECRET_TITLE, "parties": ["Yan An"]}},
        422,
        "invalid_input",
    ),
    (
        "too-many-parties",
        "POST",
        RECORDS,
        {
            "json": {
                "category": "accountability",
                "title": SECRET_TITLE,
                "parties": [f"n{i}" for i in range(65)],
            }
        },
        422,
        "invalid_input",
    ),
    (
        "empty-title",
        "POST",
        RECORDS,
        {"json": {"category": "policy", "title": ""}},
        422,
        "invalid_input",
    ),
    (
        "title-too-long",
        "POST",
        RECORDS,
        {"json": {"category": "policy", "title": SECRET_TITLE + "标" * 500}},
        422,
        "invalid_input",
    ),
    (
        "body-too-long",
        "POST",
        RECORDS,
        {"json": {"category": "policy", "title": SECRET_TITLE, "body": "正" * 100_001}},
        422,
        "invalid_input",
    ),
    (
        "request-over-cap",
        "POST",
        RECORDS,
        {
            "content": raw(
                '{"category":"policy","title":"'
                + SECRET_TITLE
                + '","body":"'
                + "x" * MAX_REQUEST_BYTES
                + '"}'
            ),
            "headers": JSON,
        },
        413,
        "payload_too_large",
    ),
    (
        "chunked-over-cap",
        "POST",
        RECORDS,
        {"content": lambda: chunks(MAX_REQUEST_BYTES + 1), "headers": JSON},
        413,
        "payload_too_large",
    ),
    (
        "lone-surrogate-title",
        "POST",
        RECORDS,
        {
            "content": raw('{"category":"policy","title":"' + SECRET_TITLE + '\\ud800"}'),
            "headers": JSON,
        },
        422,
        "invalid_unicode",
    ),
    (
        "lone-low-surrogate-body",
        "POST",
        RECORDS,
        {
            "content": raw('{"category":"policy","title":"t","body":"' + SECRET_BODY + '\\udfff"}'),
            "headers": JSON,
        },
        422,
        "invalid_unicode",
    ),
    (
        "surrogate-as-key",
        "POST",
        RECORDS,
        {
            "content": raw('{"category":"policy","title":"' + SECRET_TITLE + '","\\ud83d":1}'),
            "headers": JSON,
        },
        422,
        "invalid_unicode",
    ),
    (
        "encoded-surrogate-bytes",
        "POST",
        RECORDS,
        {
            "content": b'{"category":"policy","title":"\xed\xa0\x80'
            + SECRET_TITLE.encode()
            + b'"}',
            "headers": JSON,
        },
        422,
        "invalid_unicode",
    ),
    (
        "invalid-utf8-bytes",
        "POST",
        RECORDS,
        {
            "content": b'{"category":"policy","title":"\xff\xfe' + SECRET_TITLE.encode() + b'"}',
            "headers": JSON,
        },
        400,
        "malformed_body",
    ),
    (
        "nul-in-title",
        "POST",
        RECORDS,
        {"json": {"category": "policy", "title": SECRET_TITLE + "\u0000"}},
        422,
        "invalid_text",
    ),
    (
        "escaped-nul-in-body",
        "POST",
        RECORDS,
        {
            "content": raw('{"category":"policy","title":"t","body":"' + SECRET_BODY + '\\u0000"}'),
            "headers": JSON,
        },
        422,
        "invalid_text",
    ),
    (
        "bell-in-body",
        "POST",
        RECORDS,
        {"json": {"category": "policy", "title": "t", "body": SECRET_BODY + "\u0007"}},
        422,
        "invalid_text",
    ),
    (
        "huge-number",
        "POST",
        RECORDS,
        {
            "content": raw(
                '{"category":"policy","title":"'
                + SECRET_TITLE
                + '","parties":['
                + "9" * 5000
                + "]}"
            ),
            "headers": JSON,
        },
        400,
        "malformed_body",
    ),
    (
        "deep-nesting",
        "POST",
        RECORDS,
        {"content": b"[" * 100_000 + b"]" * 100_000, "headers": JSON},
        400,
        "malformed_body",
    ),
    (
        "nan",
        "POST",
        RECORDS,
        {"content": raw('{"category":"policy","title":NaN}'), "headers": JSON},
        422,
        "invalid_input",
    ),
    ("id-not-uuid", "GET", f"{RECORDS}/not-a-uuid", {}, 422, "invalid_id"),
    ("id-nul", "GET", f"{RECORDS}/%00", {}, 422, "invalid_id"),
    ("id-very-long", "GET", f"{RECORDS}/{'a' * 5000}", {}, 422, "invalid_id"),
    ("id-unicode", "GET", f"{RECORDS}/记录", {}, 422, "invalid_id"),
    ("id-not-found", "GET", f"{RECORDS}/{MISSING_ID}", {}, 404, "record_not_found"),
    (
        "patch-bad-id",
        "PATCH",
        f"{RECORDS}/1%20OR%201=1",
        {"json": {"title": SECRET_TITLE}},
        422,
        "invalid_id",
    ),
    (
        "patch-not-found",
        "PATCH",
        f"{RECORDS}/{MISSING_ID}",
        {"json": {"title": SECRET_TITLE}},
        404,
        "record_not_found",
    ),
    (
        "patch-malformed",
        "PATCH",
        f"{RECORDS}/{MISSING_ID}",
        {"content": raw('{"title": "' + SECRET_TITLE), "headers": JSON},
        422,
        "malformed_json",
    ),
    (
        "patch-surrogate",
        "PATCH",
        f"{RECORDS}/{MISSING_ID}",
        {"content": raw('{"title":"' + SECRET_TITLE + '\\udc00"}'), "headers": JSON},
        422,
        "invalid_unicode",
    ),
    (
        "patch-extra-field",
        "PATCH",
        f"{RECORDS}/{MISSING_ID}",
        {"json": {"classification": "general"}},
        422,
        "invalid_input",
    ),
    ("delete-bad-id", "DELETE", f"{RECORDS}/12345", {}, 422, "invalid_id"),
    ("delete-path-traversal", "DELETE", f"{RECORDS}/..%2F..%2Fetc", {}, 404, "not_found"),
    ("list-bad-cursor", "GET", RECORDS, {"params": {"cursor": "zzz"}}, 422, "invalid_cursor"),
    ("list-long-cursor", "GET", RECORDS, {"params": {"cursor": "z" * 500}}, 422, "invalid_input"),
    ("list-limit-zero", "GET", RECORDS, {"params": {"limit": 0}}, 422, "invalid_input"),
    ("list-limit-huge", "GET", RECORDS, {"params": {"limit": "9" * 40}}, 422, "invalid_input"),
    ("list-limit-text", "GET", RECORDS, {"params": {"limit": "fifty"}}, 422, "invalid_input"),
    (
        "list-bad-date",
        "GET",
        RECORDS,
        {"params": {"updated_since": "yesterday"}},
        422,
        "invalid_input",
    ),
    ("list-bad-class", "GET", RECORDS, {"params": {"class": "top"}}, 422, "invalid_input"),
    (
        "list-unknown-category",
        "GET",
        RECORDS,
        {"params": {"category": "gossip\u0000"}},
        422,
        "unknown_category",
    ),
    ("list-bad-origin", "GET", RECORDS, {"params": {"origin": "Shaan Xi"}}, 422, "invalid_input"),
    (
        "list-bad-bool",
        "GET",
        RECORDS,
        {"params": {"include_deleted": "perhaps"}},
        422,
        "invalid_input",
    ),
    (
        "method-not-allowed",
        "PUT",
        f"{RECORDS}/{MISSING_ID}",
        {"json": {}},
        405,
        "method_not_allowed",
    ),
    ("no-such-route", "GET", "/api/v1/nothing-here", {}, 404, "not_found"),
]


@pytest.fixture
def node(make_node: Callable[[str], NodeUnderTest]) -> NodeUnderTest:
    return make_node("shaanxi")


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_bad_input_gets_a_stable_4xx_without_echo(
    node: NodeUnderTest, method: str, path: str, kwargs: dict[str, Any], status: int, code: str
) -> None:
    kwargs = dict(kwargs)  # the case table is shared by every backend's run
    headers = {**node.auth("inspector"), **kwargs.pop("headers", {})}
    if callable(kwargs.get("content")):
        kwargs["content"] = kwargs["content"]()
    response = node.client.request(method, path, headers=headers, **kwargs)
    assert (response.status_code, response.json().get("error")) == (status, code), response.text
    assert set(response.json()) == {"error", "detail"}
    assert "SECRET-TITLE" not in response.text
    assert "SECRET-BODY" not in response.text
    with node.ctx.sessions() as session:
        assert session.execute(select(func.count()).select_from(Record)).scalar_one() == 0


def test_oversized_request_does_not_disturb_the_next_one(node: NodeUnderTest) -> None:
    headers = node.auth("inspector")
    too_big = node.client.post(
        RECORDS, content=chunks(MAX_REQUEST_BYTES * 2), headers={**headers, **JSON}
    )
    assert too_big.status_code == 413
    # The largest body the schema allows still fits under the request cap.
    body = "正" * 100_000
    fine = node.client.post(
        RECORDS, json={"category": "policy", "title": "正常", "body": body}, headers=headers
    )
    assert fine.status_code == 201, fine.text
    assert fine.json()["body"] == body
