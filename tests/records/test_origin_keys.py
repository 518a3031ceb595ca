"""Records are identified by (origin, id) (DESIGN §2, §10): a node holding a valid key cannot
squat another origin's record id. Real nodes, real signatures, the production batch inbox."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from node.records.wire import RecordWire
from tests.helpers import call, error, ok
from tests.inprocess import MiniFederation

MakeFederation = Callable[..., MiniFederation]


def squat(
    fed: MiniFederation, attacker: str, target: str, victim: dict[str, Any], *, version: int = 5
) -> str:
    """``attacker``, signing with its real key, sends ``target`` a general record of its own
    under the id of ``victim`` (learnt as a named party), before the victim's record got there."""
    wire = RecordWire(
        id=victim["id"],
        origin=attacker,
        category="policy",
        classification="general",
        version=version,
        created_at=victim["created_at"],
        updated_at=victim["updated_at"],
        deleted=False,
        stub=False,
        author=f"{attacker}-inspector",
        title="冒名记录",
        body="冒名正文",
    )
    return fed.send_as(
        attacker,
        target,
        kind="record",
        dest=[target],
        ref=wire.envelope_ref(),
        payload=wire.payload(),
        encrypt=False,
    )


def test_an_origin_cannot_squat_another_origins_record_id(
    mini_federation: MakeFederation,
) -> None:
    fed = mini_federation("shaanxi", "huanglong", "yichuan")
    victim = ok(
        call(
            fed["shaanxi"],
            "POST",
            "/api/v1/records",
            json={
                "category": "supervision_check",
                "title": "真实的监督检查",
                "body": "真实正文",
                "parties": ["huanglong", "yichuan"],
            },
        ),
        201,
    )
    [genuine] = fed.outbox("shaanxi", kind="record")
    # The attacker is a named party: it holds the record, so it knows the id.
    assert fed.deliver("huanglong", genuine) == "applied"

    assert squat(fed, "huanglong", "yichuan", victim) == "applied"
    # The rightful record still arrives, as its own (origin, id), whatever came first.
    assert fed.deliver("yichuan", genuine) == "applied"

    rows = fed.rows(
        "yichuan",
        "SELECT origin, title, version FROM records WHERE id = :id ORDER BY origin",
        id=victim["id"],
    )
    assert rows == [("huanglong", "冒名记录", 5), ("shaanxi", "真实的监督检查", 1)]
    parties = fed.rows(
        "yichuan",
        "SELECT record_origin, node_id FROM record_parties WHERE record_id = :id "
        "ORDER BY record_origin, node_id",
        id=victim["id"],
    )
    assert parties == [("shaanxi", "huanglong"), ("shaanxi", "yichuan")]

    path = f"/api/v1/records/{victim['id']}"
    read = ok(call(fed["yichuan"], "GET", path, params={"origin": "shaanxi"}))
    assert (read["origin"], read["title"], read["body"], read["version"]) == (
        "shaanxi",
        "真实的监督检查",
        "真实正文",
        1,
    )
    assert read["parties"] == ["huanglong", "yichuan"]
    squatted = ok(call(fed["yichuan"], "GET", path, params={"origin": "huanglong"}))
    assert (squatted["origin"], squatted["title"]) == ("huanglong", "冒名记录")
    # Both are visible to this reader: without an origin the id alone names neither.
    ambiguous = call(fed["yichuan"], "GET", path)
    error(ambiguous, 409, "ambiguous_record_id")
    assert "真实" not in ambiguous.text
    assert "冒名" not in ambiguous.text

    # The squatter's later versions change only its own record.
    assert squat(fed, "huanglong", "yichuan", victim) == "rejected:stale_version"
    assert squat(fed, "huanglong", "yichuan", victim, version=6) == "applied"
    assert fed.rows(
        "yichuan",
        "SELECT origin, title, version FROM records WHERE id = :id ORDER BY origin",
        id=victim["id"],
    ) == [("huanglong", "冒名记录", 6), ("shaanxi", "真实的监督检查", 1)]
