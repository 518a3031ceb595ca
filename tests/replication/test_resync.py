"""Resync (issue 12 item 4) between real nodes in one process: real databases, signatures,
sealing, inbox and handlers; envelopes carried hop by hop along the tree as the streams carry
them, and a county's envelopes dropped while it is "offline" (as a stream drops what expired).
The county then resyncs from its parent and must hold exactly what it is entitled to; bad
requests and pages are refused. The real-NATS version with expiring streams is
tests/federation/test_resync_federation.py."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from node.models import OutboxMessage
from node.replication.apply import BatchApplier
from node.replication.envelope import open_envelope, seal_envelope
from tests.conftest import NodeUnderTest
from tests.inprocess import HeldMessage, MiniFederation

NODES = ("shaanxi", "yanan", "huanglong", "yichuan")
RESYNC = "/api/v1/federation/resync"
SECRET_BODY = "绝密线索正文-举报人李某"
HIDDEN_BODY = "只给宜川的受限正文"


class HopCarrier:
    """Carries each committed outbox row to the neighbour its subject names, through the
    production batch path; what is addressed to an ``offline`` node is dropped (expired)."""

    def __init__(self, fed: MiniFederation) -> None:
        self.fed = fed
        self.offline: set[str] = set()
        self.seqs: dict[str, int] = {}
        self.dropped = 0

    def target(self, sender: str, subject: str) -> str | None:
        parts = subject.split(".")
        if parts[2] == "up":
            return self.fed.topology.parent(sender)
        return parts[3]

    def pump(self, rounds: int = 60) -> int:
        moved_total = 0
        for _ in range(rounds):
            batches: dict[str, list[tuple[bytes, str]]] = {}
            for node_id, node in self.fed.nodes.items():
                if node_id in self.offline:
                    continue
                with node.ctx.sessions() as session, session.begin():
                    rows = (
                        session.execute(
                            select(OutboxMessage)
                            .where(OutboxMessage.sent_at.is_(None))
                            .order_by(OutboxMessage.id)
                        )
                        .scalars()
                        .all()
                    )
                    taken = [(row.envelope, row.subject) for row in rows]
                    node.ctx.outbox.prune_delivered(
                        session, [(row.id, row.msg_id) for row in rows], node.ctx.clock.now()
                    )
                for raw, subject in taken:
                    target = self.target(node_id, subject)
                    if target is None or target not in self.fed.nodes:
                        continue
                    if target in self.offline:
                        self.dropped += 1
                        continue
                    batches.setdefault(target, []).append((raw, subject))
            if not batches:
                return moved_total
            for target, batch in batches.items():
                node = self.fed[target]
                applier = BatchApplier(node.ctx, self.fed.metrics(target))
                deliveries = []
                for raw, subject in batch:
                    seq = self.seqs.get(target, 0) + 1
                    self.seqs[target] = seq
                    deliveries.append(applier.decode(HeldMessage(raw, subject, seq), seq))
                applier.apply(deliveries)
                moved_total += len(batch)
        raise AssertionError("envelopes kept flowing")


def post(node: NodeUnderTest, role: str, path: str, body: dict[str, Any]) -> Any:
    return node.client.post(path, json=body, headers=node.auth(role))


def record(node: NodeUnderTest, category: str, title: str, body: str, **extra: Any) -> str:
    response = post(
        node,
        "inspector",
        "/api/v1/records",
        {"category": category, "title": title, "body": body, **extra},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def records_of(fed: MiniFederation, node_id: str, where: str = "1=1") -> dict[tuple[str, str], Any]:
    rows = fed.rows(
        node_id,
        "SELECT origin, id, version, classification, is_stub, deleted, title, body FROM records "
        f"WHERE {where}",
    )
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}


def status(node: NodeUnderTest) -> dict[str, Any]:
    response = node.client.get("/api/v1/federation/status", headers=node.auth("admin"))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.fixture
def fed(mini_federation: Callable[..., MiniFederation]) -> MiniFederation:
    return mini_federation(*NODES)


def grant_approved_while_offline(fed: MiniFederation, carrier: HopCarrier) -> tuple[str, str, str]:
    """A case-secret record at yichuan names huanglong; huanglong asks for it while online. Then
    returns (record id, request id, category) after huanglong went offline."""
    yichuan, huanglong = fed["yichuan"], fed["huanglong"]
    record_id = record(yichuan, "evidence", "证据材料", SECRET_BODY, parties=["huanglong"])
    carrier.pump()
    assert records_of(fed, "huanglong", f"id = '{record_id}'")  # its stub
    asked = post(
        huanglong,
        "inspector",
        "/api/v1/access-requests",
        {"record_id": record_id, "reason": "核查该证据材料所涉问题", "duration_s": 3600},
    )
    assert asked.status_code == 201, asked.text
    carrier.pump()
    return record_id, str(asked.json()["id"]), "evidence"


def test_a_county_offline_past_retention_resyncs_to_exactly_its_due(fed: MiniFederation) -> None:
    carrier = HopCarrier(fed)
    shaanxi, yanan, huanglong, yichuan = (fed[n] for n in NODES)
    before = record(shaanxi, "practice", "离线前", "离线前的通用记录")
    record_id, request_id, _ = grant_approved_while_offline(fed, carrier)
    carrier.pump()

    carrier.offline.add("huanglong")
    for index, node_id in enumerate(("shaanxi", "yanan", "yichuan")):
        record(fed[node_id], "practice", f"通用{index}", f"通用正文{index}")
    updated = record(shaanxi, "policy", "将被更新", "第一版")
    patched = shaanxi.client.patch(
        f"/api/v1/records/{updated}", json={"body": "第二版"}, headers=shaanxi.auth("inspector")
    )
    assert patched.status_code == 200, patched.text
    deleted = record(yichuan, "practice", "将被删除", "删除前的正文")
    named = record(
        yichuan, "supervision_check", "点名黄龙", "给黄龙的受限正文", parties=["huanglong"]
    )
    hidden = record(yichuan, "supervision_check", "只给宜川", HIDDEN_BODY, parties=["yanan"])
    stub_for = record(yichuan, "case_analysis", "案情", SECRET_BODY, parties=["huanglong"])
    carrier.pump()
    assert yichuan.client.delete(
        f"/api/v1/records/{deleted}", headers=yichuan.auth("inspector")
    ).status_code in (200, 204)
    approved = post(
        yichuan, "approver", f"/api/v1/access-requests/{request_id}/approve", {"comment": "同意"}
    )
    assert approved.status_code == 200, approved.text
    order = post(
        yanan,
        "inspector",
        "/api/v1/orders",
        {
            "title": "交办核查",
            "addressees": ["huanglong", "yichuan"],
            "deadline": (fed.clock.now() + timedelta(days=10)).isoformat(),
        },
    )
    assert order.status_code == 201, order.text
    order_id = order.json()["id"]
    carrier.pump()
    assert carrier.dropped > 10

    # Back online: only the stream's new traffic would reach it; it has none of the above.
    carrier.offline.clear()
    assert not records_of(fed, "huanglong", f"id = '{named}'")
    started = post(huanglong, "admin", RESYNC, {})
    assert started.status_code == 202, started.text
    assert post(huanglong, "admin", RESYNC, {}).json()["error"] == "resync_under_way"
    carrier.pump()
    progress = huanglong.client.get(RESYNC, headers=huanglong.auth("admin")).json()
    assert progress["state"] == "complete", progress
    assert progress["refused"] == 0
    assert progress["received"] == progress["total"]
    assert status(huanglong)["resync"]["state"] == "complete"

    mine = records_of(fed, "huanglong")
    # Every general record, as yichuan (online all along) holds it.
    assert {k: v for k, v in mine.items() if v[1] == "general"} == {
        k: v for k, v in records_of(fed, "yichuan").items() if v[1] == "general"
    }
    assert mine[("shaanxi", updated)][0] == 2
    assert mine[("yichuan", deleted)][3] in (True, 1)
    assert mine[("yichuan", deleted)][5] is None
    assert mine[("yichuan", named)][4:] == ("点名黄龙", "给黄龙的受限正文")
    assert ("yichuan", hidden) not in mine
    assert mine[("yichuan", stub_for)][2] in (True, 1)
    assert mine[("yichuan", stub_for)][5] is None
    assert ("shaanxi", before) in mine
    # The order reached it (received there, which the issuer learns) and the grant with its
    # content, for the grantee.
    assert fed.rows(
        "huanglong", "SELECT state FROM order_targets WHERE order_id = :o", o=order_id
    ) == [("received",)]
    states = dict(
        fed.rows(
            "yanan", "SELECT addressee, state FROM order_targets WHERE order_id = :o", o=order_id
        )
    )
    assert states == {"huanglong": "received", "yichuan": "received"}
    read = huanglong.client.get(
        f"/api/v1/records/{record_id}?origin=yichuan", headers=huanglong.auth("inspector")
    )
    assert read.status_code == 200, read.text
    assert read.json()["body"] == SECRET_BODY
    # Nothing duplicated or refused, no gap left once the grace period is over.
    assert fed.rows("huanglong", "SELECT reason, count(*) FROM dead_letters GROUP BY reason") == []
    dupes = fed.rows(
        "huanglong",
        "SELECT origin, object_id, version, count(*) FROM inbox WHERE kind = 'record' "
        "GROUP BY origin, object_id, version HAVING count(*) > 1",
    )
    assert dupes == []
    fed.clock.advance(120)
    assert status(huanglong)["sequence_gaps"] == 0
    # Nothing it may not read: the restricted text not addressed to it is nowhere in its tables.
    assert not any(
        HIDDEN_BODY in str(row)
        for table in ("records", "outbox", "resync_envelopes", "inbox")
        for row in fed.rows("huanglong", f"SELECT * FROM {table}")
    )
    # Streaming goes on.
    after = record(yichuan, "practice", "恢复后", "恢复后的通用记录")
    carrier.pump()
    assert ("yichuan", after) in records_of(fed, "huanglong")
    assert fed.rows("huanglong", "SELECT count(*) FROM dead_letters") == [(0,)]


def test_a_second_resync_finds_everything_held(fed: MiniFederation) -> None:
    carrier = HopCarrier(fed)
    shaanxi, huanglong = fed["shaanxi"], fed["huanglong"]
    for index in range(7):
        record(shaanxi, "practice", f"记录{index}", "正文")
    carrier.pump()
    assert post(huanglong, "admin", RESYNC, {}).status_code == 202
    carrier.pump()
    latest = huanglong.client.get(RESYNC, headers=huanglong.auth("admin")).json()
    assert latest["state"] == "complete"
    assert latest["applied"] == 0
    assert latest["held"] == latest["received"] >= 7
    assert fed.rows("huanglong", "SELECT count(*) FROM dead_letters") == [(0,)]
    # The pages are not kept for resending at the parent (only the envelopes in them are).
    assert fed.rows("yanan", "SELECT count(*) FROM sent_sequence WHERE kind = 'resync-page'") == [
        (0,)
    ]


def test_pages_are_small_and_many_when_configured(
    mini_federation: Callable[..., MiniFederation],
) -> None:
    fed = mini_federation(
        "yanan", "huanglong", settings={"yanan": {"resync_page_envelopes": 3, "resync_window": 2}}
    )
    carrier = HopCarrier(fed)
    carrier.offline.add("huanglong")
    made = [record(fed["yanan"], "practice", f"分页{i}", "正文") for i in range(20)]
    carrier.pump()
    carrier.offline.clear()
    assert post(fed["huanglong"], "admin", RESYNC, {}).status_code == 202
    carrier.pump()
    latest = fed["huanglong"].client.get(RESYNC, headers=fed["huanglong"].auth("admin")).json()
    assert latest["state"] == "complete", latest
    assert latest["pages"] >= 7
    assert {("yanan", r) for r in made} <= set(records_of(fed, "huanglong"))


def test_only_admins_resync_and_the_root_cannot(fed: MiniFederation) -> None:
    huanglong = fed["huanglong"]
    denied = post(huanglong, "inspector", RESYNC, {})
    assert denied.status_code == 403
    assert huanglong.client.get(RESYNC, headers=huanglong.auth("admin")).json() == {"state": None}


def sealed(
    fed: MiniFederation, origin: str, kind: str, dest: list[str], payload: dict[str, Any]
) -> bytes:
    _msg, raw = seal_envelope(
        keys=fed.keys[origin],
        topology=fed.topology,
        origin=origin,
        kind=kind,
        dest=dest,
        ref={"session": payload["session"]},
        payload=payload,
        encrypt=kind == "resync-page",
        now=fed.clock.now(),
    )
    return raw


def deliver_raw(fed: MiniFederation, to: str, raw: bytes, subject: str) -> str:
    node = fed[to]
    applier = BatchApplier(node.ctx, fed.metrics(to))
    seq = 10_000 + len(fed.rows(to, "SELECT msg_id FROM inbox"))
    [outcome] = applier.apply([applier.decode(HeldMessage(raw, subject, seq), seq)])
    return f"rejected:{outcome.reason}" if outcome.status == "rejected" else outcome.status


def page(session: str, envelopes: list[bytes], after: str | None = None) -> dict[str, Any]:
    return {
        "session": session,
        "after": after,
        "upto": "1:99",
        "first": True,
        "window_end": "1:99",
        "more": False,
        "done": True,
        "total": len(envelopes),
        "envelopes": [base64.b64encode(raw).decode() for raw in envelopes],
    }


def test_bad_requests_and_pages_are_refused(fed: MiniFederation) -> None:
    carrier = HopCarrier(fed)
    yanan, huanglong = fed["yanan"], fed["huanglong"]
    session = "0190f0f0-0000-7000-8000-000000000001"
    # A resync request from a node that is not a child (a grandchild, straight to shaanxi).
    request = sealed(
        fed, "huanglong", "resync-request", ["shaanxi"], {"session": session, "pages": 2}
    )
    assert deliver_raw(fed, "shaanxi", request, "fs.yanan.up") == "rejected:not_a_child"
    # A page for no resync asked for.
    bogus = sealed(fed, "yanan", "resync-page", ["huanglong"], page(session, []))
    assert (
        deliver_raw(fed, "huanglong", bogus, "fs.yanan.down.huanglong") == "rejected:unknown_resync"
    )
    # A page from another node than the parent.
    other = sealed(fed, "shaanxi", "resync-page", ["huanglong"], page(session, []))
    assert (
        deliver_raw(fed, "huanglong", other, "fs.yanan.down.huanglong")
        == "rejected:not_from_parent"
    )
    # A real resync whose page is forged on the way: the tampered envelope inside is refused,
    # the genuine one applied; the page itself replayed is refused as a replay.
    general = record(yanan, "practice", "真实", "真实正文")
    with yanan.ctx.sessions() as s:
        raw = s.scalars(
            select(OutboxMessage.envelope).where(OutboxMessage.kind == "record")
        ).first()
    assert raw is not None
    carrier.pump()
    assert post(huanglong, "admin", RESYNC, {}).status_code == 202
    with huanglong.ctx.sessions() as s:
        active = s.scalars(
            select(OutboxMessage.envelope).where(OutboxMessage.kind == "resync-request")
        ).all()
    [opened] = [open_envelope(r, fed.topology, now=fed.clock.now()) for r in active]
    real_session = opened.document["payload"]["session"]
    document = json.loads(raw)
    document["payload"]["body"] = "篡改的正文"
    tampered = json.dumps(document, ensure_ascii=False).encode()
    forged = sealed(fed, "yanan", "resync-page", ["huanglong"], page(real_session, [tampered]))
    assert deliver_raw(fed, "huanglong", forged, "fs.yanan.down.huanglong") == "applied"
    reasons = dict(
        fed.rows("huanglong", "SELECT reason, count(*) FROM dead_letters GROUP BY reason")
    )
    assert reasons["resynced_bad_signature"] == 1
    assert deliver_raw(fed, "huanglong", forged, "fs.yanan.down.huanglong") == "rejected:replay"
    body = fed.rows("huanglong", "SELECT body FROM records WHERE id = :i", i=general)
    assert body == [("真实正文",)]
    audit = fed.rows("shaanxi", "SELECT reason FROM audit_log WHERE action = 'reject-envelope'")
    assert any("not_a_child" in r[0] for r in audit)
