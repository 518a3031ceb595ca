"""Synchronised rounds (同步展开) across in-process nodes (real databases, signatures, sealing,
inbox and handlers; no NATS): the province launches a round on a theme for two counties; each
receives it, links a round of its own, starts it and reports problems found; the province sees
who started, who is late and the problems per node. Forged and out-of-role envelopes are
dead-lettered and change nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from tests.helpers import call, error, ok
from tests.inprocess import MiniFederation
from tests.rounds.test_rounds import ROUNDS, add_unit, round_body

MakeFederation = Callable[..., MiniFederation]
LAUNCHES = f"{ROUNDS}/launches"


def launch_body(now: datetime, *addressees: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "special",
        "title": "全省乡村振兴领域专项巡察同步展开",
        "theme": "乡村振兴领域资金使用和作风问题",
        "requirements": "各县同步开展专项巡察，按期报送发现问题情况",
        "addressees": list(addressees),
        "start_by": (now + timedelta(days=1)).isoformat(),
        "deadline": (now + timedelta(days=30)).isoformat(),
    }
    body.update(extra)
    return body


def part(launch: dict[str, Any], addressee: str) -> dict[str, Any]:
    found: dict[str, Any] = next(t for t in launch["targets"] if t["addressee"] == addressee)
    return found


def test_province_launches_counties_start_linked_rounds_and_report(
    mini_federation: MakeFederation,
) -> None:
    fed = mini_federation("central", "shaanxi", "yanan", "huanglong", "yichuan")
    province, huanglong, yichuan = fed["shaanxi"], fed["huanglong"], fed["yichuan"]
    launch = ok(
        call(province, "POST", LAUNCHES, json=launch_body(fed.clock.now(), "huanglong", "yichuan")),
        201,
    )
    assert (launch["held_as"], launch["kind_label"], launch["started"]) == (
        "launcher",
        "专项巡察",
        0,
    )
    assert [t["state_label"] for t in launch["targets"]] == ["已下发", "已下发"]
    fed.pump()

    # Each county holds the launch and its part in it, received; the province knows.
    for county in (huanglong, yichuan):
        [received] = ok(call(county, "GET", LAUNCHES, params={"box": "received"}))["items"]
        assert (received["id"], received["held_as"], received["theme"]) == (
            launch["id"],
            "addressee",
            launch["theme"],
        )
        assert [t["state"] for t in received["targets"]] == ["received"]
    at_province = ok(call(province, "GET", f"{LAUNCHES}/{launch['id']}"))
    assert {t["addressee"]: t["state"] for t in at_province["targets"]} == {
        "huanglong": "received",
        "yichuan": "received",
    }
    # The city and the centre hold no launch.
    for node in ("yanan", "central"):
        assert fed.rows(node, "SELECT count(*) FROM round_launches") == [(0,)]

    # huanglong plans its round answering the launch, starts it, reports 5 problems.
    units = [add_unit(huanglong, n) for n in ("县农业农村局", "县乡村振兴局")]
    body = round_body(huanglong, units, kind="special", launch_id=launch["id"])
    linked = ok(call(huanglong, "POST", ROUNDS, json=body), 201)
    assert (linked["launch_id"], linked["launch_origin"]) == (launch["id"], "shaanxi")
    ok(call(huanglong, "POST", f"{ROUNDS}/{linked['id']}/start"))
    ok(call(huanglong, "POST", f"{ROUNDS}/{linked['id']}/progress", json={"problems_found": 5}))
    # yichuan plans a round first and links it afterwards, without starting it.
    unit = add_unit(yichuan, "县农业农村局")
    own = ok(call(yichuan, "POST", ROUNDS, json=round_body(yichuan, [unit], kind="special")), 201)
    relinked = ok(
        call(yichuan, "POST", f"{ROUNDS}/{own['id']}/link", json={"launch_id": launch["id"]})
    )
    assert relinked["launch_id"] == launch["id"]
    error(
        call(yichuan, "POST", f"{ROUNDS}/{own['id']}/link", json={"launch_id": launch["id"]}),
        409,
        "already_linked",
    )
    second = ok(call(yichuan, "POST", ROUNDS, json=round_body(yichuan, [unit])), 201)
    error(
        call(yichuan, "POST", f"{ROUNDS}/{second['id']}/link", json={"launch_id": launch["id"]}),
        409,
        "already_linked",
    )
    fed.pump()

    at_province = ok(call(province, "GET", f"{LAUNCHES}/{launch['id']}"))
    hl, yc = part(at_province, "huanglong"), part(at_province, "yichuan")
    assert (hl["state"], hl["state_label"], hl["problems_found"], hl["round_id"]) == (
        "started",
        "已启动",
        5,
        linked["id"],
    )
    assert (yc["state"], yc["state_label"], yc["round_id"]) == ("linked", "已关联", own["id"])
    assert (hl["late"], yc["late"], at_province["late"], at_province["started"]) == (
        False,
        False,
        0,
        1,
    )

    # Past the start date: yichuan, not started, is late; huanglong is not.
    fed.clock.advance(2 * 86400)
    at_province = ok(call(province, "GET", f"{LAUNCHES}/{launch['id']}"))
    assert (part(at_province, "huanglong")["late"], part(at_province, "yichuan")["late"]) == (
        False,
        True,
    )
    assert (at_province["late"], at_province["overdue"]) == (1, 0)
    stats = ok(call(province, "GET", "/api/v1/stats"))["rounds"]["launches"]
    assert stats == {
        "launched": 1,
        "targets": 2,
        "started": 1,
        "late": 1,
        "overdue": 0,
        "problems_found": 5,
    }

    # yichuan starts late, finds 3 problems and completes; huanglong completes with 6.
    ok(call(yichuan, "POST", f"{ROUNDS}/{own['id']}/start"))
    ok(call(yichuan, "POST", f"{ROUNDS}/{own['id']}/complete", json={"problems_found": 3}))
    ok(call(huanglong, "POST", f"{ROUNDS}/{linked['id']}/complete", json={"problems_found": 6}))
    fed.pump()
    at_province = ok(call(province, "GET", f"{LAUNCHES}/{launch['id']}"))
    assert {t["addressee"]: (t["state"], t["problems_found"]) for t in at_province["targets"]} == {
        "huanglong": ("completed", 6),
        "yichuan": ("completed", 3),
    }
    assert (at_province["started"], at_province["late"], at_province["problems_found"]) == (2, 0, 9)
    assert part(at_province, "yichuan")["started_at"] > part(at_province, "huanglong")["started_at"]
    # Every tier above the counties holds their linked rounds as summaries.
    for node in ("yanan", "shaanxi", "central"):
        rounds = ok(call(fed[node], "GET", ROUNDS, params={"launch_id": launch["id"]}))["items"]
        assert sorted((r["node"], r["problems_found"]) for r in rounds) == [
            ("huanglong", 6),
            ("yichuan", 3),
        ]
    for node in fed.nodes:
        assert fed.rows(node, "SELECT reason FROM dead_letters WHERE reason != 'replay'") == []
    actions = fed.rows(
        "shaanxi",
        "SELECT action, count(*) FROM audit_log WHERE object_type = 'round-launch' "
        "AND action != 'read' GROUP BY action",
    )
    assert dict(actions) == {
        "round-launch": 1,
        "round-launch-received": 2,
        "round-launch-linked": 2,
        "round-launch-started": 3,
        "round-launch-completed": 2,
    }


def test_a_city_launches_for_its_whole_subtree(mini_federation: MakeFederation) -> None:
    fed = mini_federation("yanan", "huanglong", "yichuan")
    launch = ok(
        call(fed["yanan"], "POST", LAUNCHES, json=launch_body(fed.clock.now(), whole_subtree=True)),
        201,
    )
    assert launch["addressees"] == ["huanglong", "yichuan"]
    fed.pump()
    for county in ("huanglong", "yichuan"):
        assert fed.rows(county, "SELECT held_as, state FROM round_launch_targets") == [
            ("addressee", "received")
        ]


def test_launch_input_and_roles(mini_federation: MakeFederation) -> None:
    fed = mini_federation("shaanxi", "huanglong")
    province = fed["shaanxi"]
    now = fed.clock.now()
    for addressee, status, code in (
        ("shaanxi", 403, "addressee_not_in_subtree"),
        ("central", 403, "addressee_not_in_subtree"),
        ("nowhere", 422, "unknown_addressee"),
    ):
        error(call(province, "POST", LAUNCHES, json=launch_body(now, addressee)), status, code)
    error(
        call(fed["huanglong"], "POST", LAUNCHES, json=launch_body(now, "yichuan")),
        403,
        "addressee_not_in_subtree",
    )
    error(call(province, "POST", LAUNCHES, json=launch_body(now)), 422, "addressees_required")
    error(
        call(province, "POST", LAUNCHES, json=launch_body(now, "huanglong", whole_subtree=True)),
        422,
        "addressees_ambiguous",
    )
    past = launch_body(now, "huanglong", start_by=(now - timedelta(hours=1)).isoformat())
    error(call(province, "POST", LAUNCHES, json=past), 422, "deadline_past")
    backwards = launch_body(now, "huanglong", deadline=(now + timedelta(hours=1)).isoformat())
    error(call(province, "POST", LAUNCHES, json=backwards), 422, "deadline_before_start")
    for role in ("approver", "security_officer"):
        error(
            call(province, "POST", LAUNCHES, role=role, json=launch_body(now, "huanglong")),
            403,
            "forbidden",
        )
    error(
        call(province, "GET", f"{LAUNCHES}/0190aaaa-0000-7000-8000-000000000001"),
        404,
        "launch_not_found",
    )
    assert fed.rows("shaanxi", "SELECT count(*) FROM round_launches") == [(0,)]
    assert fed.outbox("shaanxi", kind="round-launch") == []
    ok(call(province, "POST", LAUNCHES, role="admin", json=launch_body(now, "huanglong")), 201)
    for role in ("inspector", "approver", "security_officer", "admin"):
        assert len(ok(call(province, "GET", LAUNCHES, role=role))["items"]) == 1


def _progress(payload: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return dict(payload, **changes)


def test_forged_and_out_of_role_launch_envelopes_are_dead_lettered(
    mini_federation: MakeFederation,
) -> None:
    fed = mini_federation("shaanxi", "yanan", "huanglong", "yichuan")
    province, huanglong = fed["shaanxi"], fed["huanglong"]
    now = fed.clock.now()
    launch = ok(
        call(province, "POST", LAUNCHES, json=launch_body(now, "huanglong", "yichuan")), 201
    )
    [launch_env] = fed.outbox("shaanxi", kind="round-launch")
    wire = fed.opened(launch_env, "huanglong")
    fed.pump()
    unit = add_unit(huanglong, "县农业农村局")
    body = round_body(huanglong, [unit], launch_id=launch["id"])
    linked = ok(call(huanglong, "POST", ROUNDS, json=body), 201)
    ok(call(huanglong, "POST", f"{ROUNDS}/{linked['id']}/start"))
    [*_, progress_env] = fed.outbox("huanglong", kind="round-launch-progress")
    progress = fed.opened(progress_env, "shaanxi")
    fed.pump()
    assert (
        part(ok(call(province, "GET", f"{LAUNCHES}/{launch['id']}")), "huanglong")["state"]
        == "started"
    )

    def send(origin: str, to: str, kind: str, ref: dict[str, Any], payload: dict[str, Any]) -> str:
        return fed.send_as(origin, to, kind=kind, dest=[to], ref=ref, payload=payload)

    other = "0190aaaa-0000-7000-8000-000000000002"
    # Launches: from a peer, from below, under another launcher's name, not addressed.
    peer = dict(wire, id=other, launcher="yichuan", addressees=["huanglong"])
    assert send("yichuan", "huanglong", "round-launch", {"launch": other}, peer) == (
        "rejected:not_in_subtree"
    )
    upward = dict(wire, id=other, launcher="huanglong", addressees=["yanan"])
    assert send("huanglong", "yanan", "round-launch", {"launch": other}, upward) == (
        "rejected:not_in_subtree"
    )
    posing = dict(wire, id=other, addressees=["huanglong"])  # says shaanxi; signed by yanan
    assert send("yanan", "huanglong", "round-launch", {"launch": other}, posing) == (
        "rejected:origin_mismatch"
    )
    elsewhere = dict(wire, id=other, addressees=["yichuan"])
    assert send("shaanxi", "huanglong", "round-launch", {"launch": other}, elsewhere) == (
        "rejected:not_addressed"
    )
    # Progress: another node's part, a node not addressed, an unknown launch, backwards, another
    # round, a state without a round, a negative count.
    ref = dict(progress_env.ref)
    higher = progress["version"] + 1
    assert send(
        "yichuan", "shaanxi", "round-launch-progress", ref, _progress(progress, version=higher)
    ) == ("rejected:not_permitted")
    as_city = _progress(progress, addressee="yanan", version=higher)
    assert send(
        "yanan", "shaanxi", "round-launch-progress", dict(ref, addressee="yanan"), as_city
    ) == ("rejected:not_addressed")
    unknown = _progress(progress, launch_id=other, version=higher)
    assert send(
        "huanglong", "shaanxi", "round-launch-progress", dict(ref, launch=other), unknown
    ) == ("rejected:unknown_launch")
    back = _progress(progress, state="received", round_id=None, version=higher)
    assert (
        send("huanglong", "shaanxi", "round-launch-progress", ref, back)
        == "rejected:illegal_transition"
    )
    swapped = _progress(progress, round_id=other, version=higher)
    assert send("huanglong", "shaanxi", "round-launch-progress", ref, swapped) == (
        "rejected:illegal_transition"
    )
    roundless = _progress(progress, round_id=None, version=higher)
    assert (
        send("huanglong", "shaanxi", "round-launch-progress", ref, roundless)
        == "rejected:malformed"
    )
    negative = _progress(progress, problems_found=-3, version=higher)
    assert (
        send("huanglong", "shaanxi", "round-launch-progress", ref, negative) == "rejected:malformed"
    )

    # Nothing changed; every refusal is a dead letter.
    assert fed.rows("huanglong", "SELECT count(*) FROM round_launches") == [(1,)]
    at_province = ok(call(province, "GET", f"{LAUNCHES}/{launch['id']}"))
    assert (
        part(at_province, "huanglong")["state"],
        part(at_province, "huanglong")["round_id"],
    ) == (
        "started",
        linked["id"],
    )
    assert sorted(r[0] for r in fed.rows("shaanxi", "SELECT reason FROM dead_letters")) == sorted(
        [
            "not_permitted",
            "not_addressed",
            "unknown_launch",
            "illegal_transition",
            "illegal_transition",
            "malformed",
            "malformed",
        ]
    )
    assert sorted(r[0] for r in fed.rows("huanglong", "SELECT reason FROM dead_letters")) == [
        "not_addressed",
        "not_in_subtree",
        "origin_mismatch",
    ]
    assert fed.rows("yanan", "SELECT reason FROM dead_letters WHERE kind = 'round-launch'") == [
        ("not_in_subtree",)
    ]
