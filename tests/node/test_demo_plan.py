"""The demo's history is planned the same whatever day and hour it is seeded at.

The history ends at the real time, so which records exist by a randomly drawn day moves with the
calendar; a story that finds no record for its day used to be dropped (seeded in the early
morning of 2 December Beijing time, the demo had no denied access request and
``test_demo_data`` failed). Here the plan alone (no process runs) is made for moments spread over
a week, every five hours, and must hold every story each time: every access request of the size
(the first eight are one of each outcome), and the same numbers of orders, ledger items,
rectification findings and rounds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from node import demo_data
from node.federation import Federation


def test_the_plan_holds_every_story_on_any_day(tmp_path: Path) -> None:
    federation = Federation(tmp_path / "fed", test_clock=True)
    size = demo_data.SIZES["small"]
    demo_data.rewind_clock(federation, size)
    federation.prepare()
    base = datetime.now(UTC)
    plans: dict[str, tuple[int, ...]] = {}
    for hours in range(0, 7 * 24, 5):
        now = base + timedelta(hours=hours)
        seeder = demo_data.Seeder(federation, size, seed=demo_data.SEED, log=lambda _line: None)
        try:
            seeder.start, seeder.end = demo_data.history_window(size, now=now)
            seeder.plan_records()
            plans[now.isoformat()] = (
                len(seeder.plan_orders()),
                len(seeder.plan_ledger()),
                len(seeder.plan_access()),
                len(seeder.plan_rectifications()),
                len(seeder.plan_rounds()),
            )
        finally:
            seeder.api.close()
    short = {at: plan for at, plan in plans.items() if plan[2] != size.access_requests}
    assert short == {}
    assert len(set(plans.values())) == 1, plans
