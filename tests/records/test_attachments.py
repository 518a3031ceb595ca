"""Attachments between real nodes in one process (real databases through Alembic, real sealing,
the real inbox; ``pump`` instead of NATS — the NATS path, with a cut link, is
tests/federation/test_attachments_federation.py).

What must hold: upload and download through the API with the type checked from the bytes and the
SHA-256 signed with the record's version; every bad input a stable 4xx with nothing stored; the
file follows the record's class exactly (general everywhere, restricted only at named parties,
case-secret only at the origin and at a grantee's node while the grant lasts); sealed at rest
(no byte of it in any node's database files); chunks kept across an interrupted transfer; every
download audited; gone everywhere with the record's tombstone."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from node.records import attachment_store
from node.release.tasks import sweep_once
from node.replication import resend
from node.replication.apply import BatchApplier
from node.replication.envelope import kept_form
from node.replication.kinds import Kind
from tests.helpers import call, error, ok
from tests.inprocess import HeldMessage, MiniFederation
from tests.records.test_reporter import held_bytes
from tests.replication.test_sequences import take_outbox

MakeFederation = Callable[..., MiniFederation]
RECORDS = "/api/v1/records"
REQUESTS = "/api/v1/access-requests"
CHUNK = 4096
PNG_HEADER = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x02\x00\x00\x00"
)
FILENAME = "信访件扫描件 第1页.png"


@pytest.fixture
def fed(mini_federation: MakeFederation, monkeypatch: pytest.MonkeyPatch) -> MiniFederation:
    # Small chunks, so that a small file travels in several.
    monkeypatch.setenv("FEDSHARE_ATTACHMENT_CHUNK_BYTES", str(CHUNK))
    monkeypatch.setenv("FEDSHARE_ATTACHMENT_MAX_BYTES", str(64 * 1024))
    return mini_federation("huanglong", "yanan", "shaanxi")


def scan_png(size: int = 3 * CHUNK + 100) -> tuple[bytes, list[bytes]]:
    """A PNG-typed file with a unique marker inside, and the byte strings that would betray a
    copy of it: the marker, and its base64 forms at each alignment (in case a copy is encoded)."""
    marker = f"ATTMARK{uuid.uuid4().hex.upper()}".encode()
    filler = bytes(range(256)) * (size // 256 + 1)
    data = (PNG_HEADER + filler[: CHUNK + 7] + marker + filler)[:size]
    needles = [marker]
    for shift in range(3):
        encoded = base64.b64encode(b"\x00" * shift + marker)
        needles.append(encoded[4:-4])
    return data, needles


def record(fed: MiniFederation, category: str, **extra: Any) -> str:
    body = {"category": category, "title": "关于某局违规问题的记录", "body": "正文", **extra}
    created = ok(call(fed["huanglong"], "POST", RECORDS, json=body), 201)
    fed.pump()
    return str(created["id"])


def upload(
    fed: MiniFederation,
    record_id: str,
    data: bytes,
    *,
    node: str = "huanglong",
    role: str = "inspector",
    content_type: str = "image/png",
    filename: str = FILENAME,
) -> Any:
    return fed[node].client.post(
        f"{RECORDS}/{record_id}/attachments",
        params={"filename": filename},
        content=data,
        headers={**fed[node].auth(role), "Content-Type": content_type},
    )


def stored(fed: MiniFederation, node: str) -> tuple[int, int]:
    [(copies,)] = fed.rows(node, "SELECT count(*) FROM attachments")
    [(chunks,)] = fed.rows(node, "SELECT count(*) FROM attachment_chunks")
    return copies, chunks


def download(fed: MiniFederation, node: str, record_id: str, attachment_id: str) -> Any:
    return call(fed[node], "GET", f"{RECORDS}/{record_id}/attachments/{attachment_id}")


def test_upload_list_download(fed: MiniFederation) -> None:
    record_id = record(fed, "practice")
    data, needles = scan_png()
    created = ok(upload(fed, record_id, data), 201)
    assert created["sha256"] == hashlib.sha256(data).hexdigest()
    assert (created["size"], created["content_type"], created["filename"]) == (
        len(data),
        "image/png",
        FILENAME,
    )
    assert created["version"] == 2
    assert created["complete"] is True
    assert ok(call(fed["huanglong"], "GET", f"{RECORDS}/{record_id}"))["version"] == 2
    listed = ok(call(fed["huanglong"], "GET", f"{RECORDS}/{record_id}/attachments"))["items"]
    assert [a["id"] for a in listed] == [created["id"]]
    got = download(fed, "huanglong", record_id, created["id"])
    assert got.status_code == 200
    assert got.content == data
    assert got.headers["content-type"] == "image/png"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert "filename*=UTF-8''%E4%BF%A1" in got.headers["content-disposition"]
    # The signed record version names it, with its SHA-256 and chunking.
    [envelope] = [
        e
        for e in fed.outbox("huanglong", kind=Kind.RECORD, pending_only=False)
        if e.ref["version"] == 2
    ]
    [entry] = envelope.document["payload"]["attachments"]
    assert (entry["sha256"], entry["chunk_count"]) == (created["sha256"], 4)
    # Sealed at rest: no byte of it in the attachment tables (a general record's envelopes, kept
    # for resending, are as public as its body; the restricted and case-secret tests below scan
    # every table and file).
    chunks = b"".join(
        bytes(r[0]) for r in fed.rows("huanglong", "SELECT sealed FROM attachment_chunks")
    )
    assert len(chunks) > len(data)
    assert [n for n in needles if n in chunks] == []
    # Audited without the filename: the upload and the download.
    actions = fed.rows(
        "huanglong",
        "SELECT action, reason FROM audit_log WHERE object_id = :r ORDER BY seq",
        r=record_id,
    )
    assert ("download-attachment", f"attachment {created['id']}") in actions
    assert any(action == "attach" for action, _ in actions)
    assert not any(FILENAME in str(reason) for _, reason in actions)


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("empty", 422, "attachment_empty"),
        ("oversized", 413, "attachment_too_large"),
        ("oversized_unannounced", 413, "attachment_too_large"),
        ("mislabelled", 415, "attachment_type_mismatch"),
        ("not_allowed", 415, "attachment_type_not_allowed"),
        ("no_permission", 403, "forbidden"),
        ("bad_filename", 422, "invalid_filename"),
    ],
)
def test_bad_input_stores_nothing(fed: MiniFederation, case: str, status: int, code: str) -> None:
    record_id = record(fed, "practice")
    png, _ = scan_png()
    kwargs: dict[str, Any] = {}
    data = png
    if case == "empty":
        data = b""
    elif case == "oversized":
        data = PNG_HEADER + b"\x00" * (64 * 1024)
    elif case == "mislabelled":
        kwargs["content_type"] = "application/pdf"
    elif case == "not_allowed":
        data = b"MZ\x90\x00" + b"\x00" * 200  # a Windows executable
        kwargs["content_type"] = "application/octet-stream"
    elif case == "no_permission":
        kwargs["role"] = "security_officer"
    elif case == "bad_filename":
        kwargs["filename"] = "../"
    if case == "oversized_unannounced":
        # No Content-Length: the cap is enforced as the bytes stream in.
        def body() -> Any:
            yield PNG_HEADER
            for _ in range(20):
                yield b"\x00" * 4096

        response = fed["huanglong"].client.post(
            f"{RECORDS}/{record_id}/attachments",
            params={"filename": "a.png"},
            content=body(),
            headers=fed["huanglong"].auth("inspector"),
        )
    else:
        response = upload(fed, record_id, data, **kwargs)
    error(response, status, code)
    assert stored(fed, "huanglong") == (0, 0)
    assert ok(call(fed["huanglong"], "GET", f"{RECORDS}/{record_id}"))["version"] == 1
    assert fed.outbox("huanglong", kind=Kind.ATTACHMENT_CHUNK) == []
    spool = fed["huanglong"].data_dir / "tmp"
    assert not spool.exists() or list(spool.iterdir()) == []


def test_no_attachment_to_a_stub_or_elsewhere_than_the_origin(fed: MiniFederation) -> None:
    secret_id = record(fed, "evidence")
    general_id = record(fed, "practice")
    png, _ = scan_png()
    error(upload(fed, secret_id, png, node="shaanxi"), 409, "attachment_to_stub")
    error(upload(fed, general_id, png, node="shaanxi"), 409, "not_origin")
    error(upload(fed, str(uuid.uuid4()), png), 404, "record_not_found")
    for node in ("shaanxi", "huanglong"):
        assert stored(fed, node) == (0, 0)


def test_general_everywhere_restricted_only_at_named_parties(fed: MiniFederation) -> None:
    general_id = record(fed, "practice")
    restricted_id = record(fed, "supervision_check", parties=["shaanxi"])
    general, _ = scan_png()
    restricted, needles = scan_png(2 * CHUNK + 5)
    g = ok(upload(fed, general_id, general), 201)
    r = ok(upload(fed, restricted_id, restricted, content_type="application/octet-stream"), 201)
    fed.pump()
    for node in ("yanan", "shaanxi"):
        assert download(fed, node, general_id, g["id"]).content == general
    assert download(fed, "shaanxi", restricted_id, r["id"]).content == restricted
    # The city relays the restricted file sealed for the province: it holds nothing of it.
    assert fed.rows(
        "yanan", "SELECT count(*) FROM attachments WHERE record_id = :r", r=restricted_id
    ) == [(0,)]
    assert [n for n in needles if n in held_bytes(fed, "yanan")] == []
    for node in ("huanglong", "shaanxi"):  # sealed at rest, and on the wire
        assert [n for n in needles if n in held_bytes(fed, node)] == [], node
    # Chunks of a restricted record travel sealed, for the named party only.
    chunks = [
        e
        for e in fed.outbox("huanglong", kind=Kind.ATTACHMENT_CHUNK, pending_only=False)
        if e.ref["record"] == restricted_id
    ]
    assert len(chunks) == 3
    assert all("enc" in e.document and e.dest == ["shaanxi"] for e in chunks)


def test_case_secret_only_at_the_origin_and_the_grantee_while_the_grant_lasts(
    fed: MiniFederation,
) -> None:
    record_id = record(fed, "evidence")  # one approval
    data, needles = scan_png()
    attachment = ok(upload(fed, record_id, data), 201)
    fed.pump()
    assert fed.outbox("huanglong", kind=Kind.ATTACHMENT_CHUNK, pending_only=False) == []
    for node in ("yanan", "shaanxi"):
        assert stored(fed, node) == (0, 0)
        error(call(fed[node], "GET", f"{RECORDS}/{record_id}/attachments"), 403, "forbidden")
        # The stub names nothing of it (a filename is content).
        stub = ok(call(fed[node], "GET", f"{RECORDS}/{record_id}"))
        assert stub["stub"] is True
        assert "attachments" not in stub
    requested = ok(
        call(
            fed["shaanxi"],
            "POST",
            REQUESTS,
            json={
                "record_id": record_id,
                "reason": "核查该证据材料所涉问题线索",
                "duration_s": 600,
            },
        ),
        201,
    )
    fed.pump()
    decided = ok(
        call(
            fed["huanglong"],
            "POST",
            f"{REQUESTS}/{requested['id']}/approve",
            role="approver",
            json={"comment": "同意"},
        )
    )
    assert decided["status"] == "active"
    fed.pump()
    [listed] = ok(call(fed["shaanxi"], "GET", f"{RECORDS}/{record_id}/attachments"))["items"]
    assert listed["grant_id"] == decided["grant_id"]
    assert listed["complete"] is True
    assert download(fed, "shaanxi", record_id, attachment["id"]).content == data
    # Another user of the grantee's node has no grant: refused.
    error(
        call(fed["shaanxi"], "GET", f"{RECORDS}/{record_id}/attachments", role="approver"),
        403,
        "forbidden",
    )
    assert stored(fed, "yanan") == (0, 0)
    for node in ("huanglong", "yanan", "shaanxi"):
        assert [n for n in needles if n in held_bytes(fed, node)] == [], node
    audited = fed.rows(
        "shaanxi",
        "SELECT grant_id FROM audit_log WHERE action = 'download-attachment' AND object_id = :r",
        r=record_id,
    )
    assert audited == [(decided["grant_id"],)]
    # The grant ends: refused at once; the released copy goes with the sweep.
    fed.clock.advance(601)
    error(call(fed["shaanxi"], "GET", f"{RECORDS}/{record_id}/attachments"), 403, "forbidden")
    # This sweep, or the node's own sweep loop (every second) if it got there first.
    sweep_once(fed["shaanxi"].ctx)
    assert stored(fed, "shaanxi") == (0, 0)
    assert [n for n in needles if n in held_bytes(fed, "shaanxi")] == []
    assert fed.rows(
        "shaanxi", "SELECT count(*) FROM audit_log WHERE action = 'purge-attachments'"
    ) == [(1,)]


def test_an_interrupted_transfer_keeps_its_chunks_and_completes(fed: MiniFederation) -> None:
    record_id = record(fed, "practice")
    data, _ = scan_png()
    attachment = ok(upload(fed, record_id, data), 201)
    pending = fed.outbox("huanglong")
    version = next(e for e in pending if e.kind == Kind.RECORD)
    chunks = [e for e in pending if e.kind == Kind.ATTACHMENT_CHUNK]
    assert len(chunks) == 4
    # The link drops after the version and two chunks reached the city.
    assert fed.deliver_batch("yanan", [version, chunks[0], chunks[1]]) == ["applied"] * 3
    [listed] = ok(call(fed["yanan"], "GET", f"{RECORDS}/{record_id}/attachments"))["items"]
    assert listed["complete"] is False
    error(download(fed, "yanan", record_id, attachment["id"]), 409, "attachment_incomplete")
    assert stored(fed, "yanan") == (1, 2)
    # The link is back: the rest arrives, the chunks held are kept, the file completes.
    assert fed.deliver_batch("yanan", chunks[2:]) == ["applied", "applied"]
    assert stored(fed, "yanan") == (1, 4)
    assert download(fed, "yanan", record_id, attachment["id"]).content == data


def test_the_tombstone_purges_attachments_everywhere(fed: MiniFederation) -> None:
    record_id = record(fed, "practice")
    data, _ = scan_png()
    ok(upload(fed, record_id, data), 201)
    fed.pump()
    assert stored(fed, "shaanxi") == (1, 4)
    ok(call(fed["huanglong"], "DELETE", f"{RECORDS}/{record_id}"))
    fed.pump()
    for node in ("huanglong", "yanan", "shaanxi"):
        assert stored(fed, node) == (0, 0), node
        assert ok(call(fed[node], "GET", f"{RECORDS}/{record_id}/attachments"))["items"] == []
    assert fed.outbox("huanglong", kind=Kind.ATTACHMENT_CHUNK) == []
    assert fed.rows(
        "huanglong", "SELECT count(*) FROM sent_sequence WHERE kind = 'attachment-chunk'"
    ) == [(0,)]


def test_a_replayed_or_tampered_chunk_is_applied_once_and_dead_lettered_without_its_bytes(
    fed: MiniFederation,
) -> None:
    record_id = record(fed, "practice")
    data, needles = scan_png()
    ok(upload(fed, record_id, data), 201)
    pending = fed.outbox("huanglong")
    version = next(e for e in pending if e.kind == Kind.RECORD)
    chunks = [e for e in pending if e.kind == Kind.ATTACHMENT_CHUNK]
    # The bytes travel detached after the signed header, not base64 inside it.
    assert all(e.body_offset is not None for e in chunks)
    assert chunks[0].body("yanan", fed["yanan"].ctx.keys) == data[:CHUNK]
    assert fed.deliver_batch("yanan", [version, chunks[0]]) == ["applied"] * 2
    # Replayed later, or twice in one batch: applied once, the copy is refused as a replay.
    assert fed.deliver("yanan", chunks[0]) == "rejected:replay"
    assert fed.deliver_batch("yanan", [chunks[1], chunks[1]]) == ["applied", "rejected:replay"]
    assert stored(fed, "yanan") == (1, 2)
    # A chunk whose bytes were changed on the way is refused before any handler sees it.
    tampered = bytearray(chunks[2].raw)
    tampered[-1] ^= 0x01
    node = fed["yanan"]
    applier = BatchApplier(node.ctx, fed.metrics("yanan"))
    message = HeldMessage(
        data=bytes(tampered), subject=fed.arrival_subject("huanglong", "yanan"), stream_seq=10_000
    )
    [outcome] = applier.apply([applier.decode(message, 10_000)])
    assert (outcome.status, outcome.reason) == ("rejected", "bad_signature")
    assert stored(fed, "yanan") == (1, 2)
    [letter] = fed.rows("yanan", "SELECT * FROM dead_letters WHERE reason = 'bad_signature'")
    assert not any(n in str(letter).encode() for n in needles)
    assert not any(isinstance(value, bytes) and len(value) > 64 for value in letter)
    # The genuine chunks complete the file.
    assert fed.deliver_batch("yanan", chunks[2:]) == ["applied", "applied"]
    attachment_id = str(chunks[0].ref["attachment"])
    assert download(fed, "yanan", record_id, attachment_id).content == data


def test_a_chunk_lost_on_the_way_is_rebuilt_by_the_origin_byte_for_byte(
    fed: MiniFederation,
) -> None:
    """Chunk envelopes are kept for resending without their bytes; a resend makes the envelope
    again from the origin's sealed copy, identical to the one that was lost."""
    record_id = record(fed, "supervision_check", parties=["shaanxi"])
    data, needles = scan_png(2 * CHUNK + 5)
    attachment = ok(upload(fed, record_id, data), 201)
    envelopes = take_outbox(fed, "huanglong")
    chunks = [e for e in envelopes if e.kind == Kind.ATTACHMENT_CHUNK]
    assert len(chunks) == 3
    kept = fed.rows(
        "huanglong", "SELECT envelope FROM sent_sequence WHERE kind = 'attachment-chunk'"
    )
    assert sorted(bytes(k) for (k,) in kept) == sorted(kept_form(c.raw) for c in chunks)
    assert all(len(bytes(k)) < CHUNK for (k,) in kept)  # the header only
    node = fed["huanglong"]
    with node.ctx.sessions() as session:
        for chunk in chunks:
            rebuilt = attachment_store.rebuild_chunk(session, node.ctx, kept_form(chunk.raw))
            assert rebuilt == chunk.raw
    # The second chunk is lost on the way to the province; the rest arrives.
    lost = chunks[1]
    arriving = [e for e in envelopes if e.addressed_to("shaanxi") and e.msg_id != lost.msg_id]
    assert set(fed.deliver_batch("shaanxi", arriving)) == {"applied"}
    assert stored(fed, "shaanxi") == (1, 2)
    fed.clock.advance(fed["shaanxi"].ctx.settings.sequence_gap_grace_s + 1)
    assert resend.request_missing(fed["shaanxi"].ctx) == 1
    fed.pump()
    assert stored(fed, "shaanxi") == (1, 3)
    assert download(fed, "shaanxi", record_id, attachment["id"]).content == data
    assert fed.rows("shaanxi", "SELECT reason FROM dead_letters") == []
    assert fed.rows("shaanxi", "SELECT count(*) FROM inbox WHERE msg_id = :m", m=lost.msg_id) == [
        (1,)
    ]
    assert [n for n in needles if n in held_bytes(fed, "yanan")] == []
    # Purged at the origin: nothing is left to rebuild from.
    with node.ctx.sessions() as session, session.begin():
        copy = attachment_store.held_copy(session, "huanglong", record_id, attachment["id"])
        assert copy is not None
        session.delete(copy)
        session.flush()
        assert attachment_store.rebuild_chunk(session, node.ctx, kept_form(lost.raw)) is None
        session.rollback()
