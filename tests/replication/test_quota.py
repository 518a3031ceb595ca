"""Per-origin inbound quotas (DESIGN §10): an origin that floods valid, signed envelopes has the
excess dead-lettered (``quota_exceeded``) while another origin's envelopes, even through the
same neighbour, still apply; the bucket refills as the clock moves (no sleeping). Refusals are
counted in ``/metrics`` and in the audit chain as one entry with a count, and stored dead
letters are capped per origin. The real inbox on an in-process federation."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from node.replication import resend
from tests.helpers import call, ok
from tests.inprocess import MiniFederation, mini_federation

__all__ = ["mini_federation"]

MakeFederation = Callable[..., MiniFederation]
BURST = 5


@pytest.fixture
def small_quota(monkeypatch: pytest.MonkeyPatch) -> None:
    # One envelope a minute, five at once; two stored dead letters an hour per origin.
    monkeypatch.setenv("FEDSHARE_INBOUND_QUOTA_PER_HOUR", "60")
    monkeypatch.setenv("FEDSHARE_INBOUND_QUOTA_BURST", str(BURST))
    monkeypatch.setenv("FEDSHARE_DEAD_LETTERS_PER_ORIGIN_PER_HOUR", "2")


def general_records(fed: MiniFederation, node_id: str, n: int) -> list[str]:
    made = []
    for i in range(n):
        record = ok(
            call(
                fed[node_id],
                "POST",
                "/api/v1/records",
                json={"category": "policy", "title": f"政策文件 {i}", "body": "略"},
            ),
            201,
        )
        made.append(str(record["id"]))
    return made


@pytest.mark.usefixtures("small_quota")
def test_a_flooding_origin_is_refused_while_another_still_applies(
    mini_federation: MakeFederation,
) -> None:
    fed = mini_federation("shaanxi", "yanan", "huanglong")
    flood_ids = general_records(fed, "yanan", BURST + 3)
    flood = fed.outbox("yanan", kind="record")
    assert len(flood) == BURST + 3
    outcomes = fed.deliver_batch("shaanxi", flood)
    assert outcomes == ["applied"] * BURST + ["rejected:quota_exceeded"] * 3
    held = {r[0] for r in fed.rows("shaanxi", "SELECT id FROM records WHERE origin = 'yanan'")}
    assert held == set(flood_ids[:BURST])

    # huanglong's envelope arrives through the same neighbour (yanan): its own quota, applied.
    [other] = general_records(fed, "huanglong", 1)
    [envelope] = fed.outbox("huanglong", kind="record")
    assert fed.arrival_subject("huanglong", "shaanxi") == fed.arrival_subject("yanan", "shaanxi")
    assert fed.deliver("shaanxi", envelope) == "applied"
    assert fed.rows("shaanxi", "SELECT origin FROM records WHERE id = :r", r=other) == [
        ("huanglong",)
    ]

    # Counted per origin; two dead-letter rows stored, the third only counted; no audit entry
    # each, one entry with their count once the counted denials are flushed.
    registry = fed.metrics("shaanxi").registry
    assert (
        registry.get_sample_value("fedshare_inbound_quota_rejections_total", {"origin": "yanan"})
        == 3
    )
    assert fed.rows("shaanxi", "SELECT reason, origin FROM dead_letters") == [
        ("quota_exceeded", "yanan"),
        ("quota_exceeded", "yanan"),
    ]
    audited = "SELECT occurrences FROM audit_log WHERE action = 'reject-envelope'"
    assert fed.rows("shaanxi", audited) == []
    fed["shaanxi"].client.app.state.denials.flush()
    assert fed.rows("shaanxi", audited) == [(3,)]

    # Time moves on: the bucket refills at one a minute, and yanan's next envelopes apply.
    fed.clock.advance(2 * 60 + 1)
    more = general_records(fed, "yanan", 3)
    outcomes = fed.deliver_batch("shaanxi", fed.outbox("yanan", kind="record")[-3:])
    assert outcomes == ["applied", "applied", "rejected:quota_exceeded"]
    assert fed.rows(
        "shaanxi", "SELECT count(*) FROM records WHERE id IN (:a, :b)", a=more[0], b=more[1]
    ) == [(2,)]


@pytest.mark.usefixtures("small_quota")
def test_what_the_quota_refused_is_filled_from_the_origin_once_it_refills(
    mini_federation: MakeFederation,
) -> None:
    """A refusal over quota is not counted as received on the origin's channel: the numbers stay
    missing, show as a gap once a later envelope arrives, and the origin's resend fills them when
    the bucket has refilled — a legitimate burst is delayed, never lost."""
    fed = mini_federation("shaanxi", "yanan")
    flood_ids = general_records(fed, "yanan", BURST + 3)
    outcomes = fed.deliver_batch("shaanxi", fed.outbox("yanan", kind="record"))
    assert outcomes.count("rejected:quota_exceeded") == 3

    fed.clock.advance(10 * 60)
    [later] = general_records(fed, "yanan", 1)
    assert fed.deliver_batch("shaanxi", fed.outbox("yanan", kind="record")[-1:]) == ["applied"]
    fed.clock.advance(fed["shaanxi"].ctx.settings.sequence_gap_grace_s + 1)
    assert resend.request_missing(fed["shaanxi"].ctx) == 1
    [request] = fed.outbox("shaanxi", kind="resend-request")
    assert fed.deliver("yanan", request) == "applied"
    resent = fed.outbox("yanan", kind="resend")
    assert fed.deliver_batch("shaanxi", resent) == ["applied"] * 3
    held = {r[0] for r in fed.rows("shaanxi", "SELECT id FROM records WHERE origin = 'yanan'")}
    assert held == {*flood_ids, later}
    assert fed.rows("shaanxi", "SELECT count(*) FROM inbox WHERE kind = 'record'") == [(BURST + 4,)]
