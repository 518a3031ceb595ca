"""Small helpers shared by the order, ledger, release and statistics tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from docx.oxml.ns import qn
from sqlalchemy import Engine, text

from tests.conftest import NodeUnderTest


def later(seconds: float, *, now: datetime | None = None) -> str:
    """``seconds`` after ``now`` (the nodes' time; real time if not given), as ISO 8601."""
    return ((now or datetime.now(UTC)) + timedelta(seconds=seconds)).isoformat()


def order_body(
    *addressees: str, deadline_s: float = 7 * 86400, now: datetime | None = None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "关于对县水利局开展专项巡察的督办指令",
        "addressees": list(addressees),
        "inspected_units": ["县水利局"],
        "focus_issues": ["工程招投标", "专项资金使用"],
        "deadline": later(deadline_s, now=now),
    }
    body.update(extra)
    return body


def call(
    node: NodeUnderTest, method: str, path: str, role: str = "inspector", **kwargs: Any
) -> httpx.Response:
    response: httpx.Response = node.client.request(method, path, headers=node.auth(role), **kwargs)
    return response


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    data: dict[str, Any] = response.json()
    return data


def error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == code, response.text


def target(order: dict[str, Any], addressee: str) -> dict[str, Any]:
    found: dict[str, Any] = next(t for t in order["targets"] if t["addressee"] == addressee)
    return found


def refuse_inserts(engine: Engine, table: str, *, constraint: bool = True) -> None:
    """Make the database refuse every insert into ``table`` (a trigger), as a fault would.

    ``constraint`` refusals reach SQLAlchemy as ``IntegrityError`` on both backends; otherwise
    PostgreSQL raises a plain exception (``InternalError``). SQLite trigger refusals are always
    constraint failures.
    """
    if engine.dialect.name == "sqlite":
        statements = [
            f"CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} "
            "BEGIN SELECT RAISE(ABORT, 'refused by a test trigger'); END"
        ]
    else:
        errcode = " USING ERRCODE = 'unique_violation'" if constraint else ""
        statements = [
            f"CREATE FUNCTION refuse_{table}() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION 'refused by a test trigger'{errcode}; END $$",
            f"CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION refuse_{table}()",
        ]
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))


def approve_order_requests(fed: Any, order_id: str, origin: str = "shaanxi") -> None:
    """The origin's two approvers approve every access request an order filed (an in-process
    ``MiniFederation``; the second approver is made on first use)."""
    node = fed[origin]
    if "approver2" not in node.tokens:
        node.tokens["approver2"] = node.user("approver", name=f"{origin}-approver-2")
    rows = fed.rows(origin, "SELECT id FROM access_requests WHERE order_id = :o", o=order_id)
    assert rows, "the order filed no access request"
    for (request_id,) in rows:
        for role in ("approver", "approver2"):
            path = f"/api/v1/access-requests/{request_id}/approve"
            ok(call(node, "POST", path, role, json={"comment": "同意交办核查"}))


def docx_tables(document: Any) -> dict[str, list[list[str]]]:
    """A python-docx document's tables by caption (the paragraph ``表N　<caption>`` before each),
    each as rows of cell texts; a caption with no table after it (a bulletin's "（本期无。）") maps
    to no rows."""
    found: dict[str, list[list[str]]] = {}
    caption = ""
    for element in document.element.body.iterchildren():
        if element.tag == qn("w:p"):
            text = "".join(t.text or "" for t in element.iter(qn("w:t")))
            if text.startswith("表"):
                caption = text.split("　", 1)[1]
                found[caption] = []
        elif element.tag == qn("w:tbl"):
            found[caption] = [
                [
                    "".join(t.text or "" for t in cell.iter(qn("w:t")))
                    for cell in row.iter(qn("w:tc"))
                ]
                for row in element.iter(qn("w:tr"))
            ]
    return found
