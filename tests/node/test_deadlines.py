"""The one deadline/overdue model (``node.deadlines``): the Python answer and the SQL answer agree,
and each domain's model owes work in exactly its open states."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Column, DateTime, MetaData, String, Table, create_engine, insert, select

from node.deadlines import MAX_HORIZON, DeadlineModel, check_deadline
from node.errors import InvalidInput
from node.ledger.state import DEADLINES as LEDGER
from node.orders.state import DEADLINES as ORDERS
from node.orders.state import OPEN_STATES

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def test_python_and_sql_agree() -> None:
    model = DeadlineModel.owed_in(("issued", "returned"))
    metadata = MetaData()
    work = Table(
        "work",
        metadata,
        Column("id", String, primary_key=True),
        Column("state", String),
        Column("deadline", DateTime(timezone=True)),
    )
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    rows = [
        (f"{state}-{offset}", state, NOW + timedelta(seconds=offset))
        for state in ("issued", "returned", "reported", "closed")
        for offset in (-3600, -1, 1, 3600)
    ]
    with engine.begin() as conn:
        conn.execute(insert(work), [{"id": i, "state": s, "deadline": d} for i, s, d in rows])
        in_sql = set(
            conn.execute(
                select(work.c.id).where(model.overdue_clause(work.c.state, work.c.deadline, NOW))
            ).scalars()
        )
        counted = conn.execute(
            select(model.overdue_count(work.c.state, work.c.deadline, NOW))
        ).scalar_one()
    in_python = {i for i, s, d in rows if model.is_overdue(s, d, NOW)}
    assert in_python == in_sql == {"issued--3600", "issued--1", "returned--3600", "returned--1"}
    assert counted == 4


def test_each_domain_owes_in_its_open_states() -> None:
    past = NOW - timedelta(seconds=1)
    assert {
        s
        for s in (*OPEN_STATES, "reported", "accepted", "closed")
        if ORDERS.is_overdue(s, past, NOW)
    } == set(OPEN_STATES)
    assert [
        s for s in ("transferred", "responded", "closed") if LEDGER.is_overdue(s, past, NOW)
    ] == ["transferred"]
    assert not ORDERS.is_overdue("issued", NOW + timedelta(seconds=1), NOW)


def test_a_deadline_is_set_ahead_within_the_horizon() -> None:
    assert check_deadline(NOW + timedelta(hours=1), NOW) == NOW + timedelta(hours=1)
    with pytest.raises(InvalidInput) as past:
        check_deadline(NOW, NOW)
    assert past.value.code == "deadline_past"
    with pytest.raises(InvalidInput) as far:
        check_deadline(NOW + MAX_HORIZON + timedelta(seconds=1), NOW, what="feedback deadline")
    assert far.value.code == "deadline_too_far"
    assert "feedback deadline" in str(far.value)
