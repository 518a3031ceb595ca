"""The console in a real headless Chromium, against live nodes: login (wrong password, lock-out),
records (create, list, document view, filters, 全文检索; records of two origins sharing an id,
each opened by its origin), a stub's 申请查阅, two approvers deciding in 审批, the requester then
reading the released record, an order's access request for its addressee in 审批, a record's
attachments (upload, list, download, refusals), and logout. Every wait is on a condition
(Playwright's auto-waiting locators and ``expect``), never a fixed sleep. A screenshot of each
screen is written to ``var/screenshots/``."""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.console.browser import expect, log_in, pick, shot
from tests.console.conftest import LiveFederation
from tests.factories import insert_record
from tests.helpers import order_body

pytestmark = pytest.mark.browser


def test_wrong_password_shows_the_chinese_error_and_locks_after_five(
    live_federation: Callable[..., LiveFederation], new_page: Callable[[], Any]
) -> None:
    node = live_federation("yanan")["yanan"]
    name, _token = node.add_user("inspector")
    page = new_page()
    page.goto(node.url)
    expect(page).to_have_url(re.compile(r"/login"))
    shot(page, "login")
    error = page.locator("[data-test=login-error]")
    for _ in range(5):
        assert log_in(page, node.url, name, "not-the-password").status == 401
        expect(error).to_have_text("用户名或密码错误")
    assert log_in(page, node.url, name).status == 401
    expect(error).to_contain_text("账户已暂时锁定")
    node.node.clock.advance(15 * 60 + 1)
    assert log_in(page, node.url, name).status == 200
    expect(page.locator("[data-test=node]")).to_contain_text("延安市")
    expect(page.locator("[data-test=node]")).to_contain_text("市级")
    expect(page.locator("[data-test=user]")).to_contain_text("巡视巡察干部")


def test_create_a_record_see_it_listed_read_it_as_a_document_and_filter(
    live_federation: Callable[..., LiveFederation], new_page: Callable[[], Any]
) -> None:
    node = live_federation("yanan")["yanan"]
    name, _token = node.add_user("inspector")
    insert_record(
        node.node.ctx.sessions,
        origin="huanglong",
        classification="general",
        category="practice",
        title="黄龙县巡察人才库建设经验",
        body="建立60人巡察人才库。",
    )
    page = new_page()
    log_in(page, node.url, name)
    expect(page).to_have_url(re.compile(r"/records$"))
    table = page.locator("[data-test=records]")
    expect(table).to_contain_text("黄龙县巡察人才库建设经验")

    page.get_by_role("button", name="新建记录").click()
    pick(page, "category", "监督检查")
    expect(page.locator("[data-test=min-class]")).to_contain_text("最低为限定知悉范围信息")
    pick(page, "parties", "黄龙县")
    page.locator(".el-dialog__title").click()  # closes the multiple select's dropdown
    expect(page.get_by_role("option", name=re.compile("^黄龙县"))).to_be_hidden()
    page.locator("[data-test=title]").fill("延安市专项监督检查情况通报")
    page.locator("[data-test=body]").fill(
        "一、检查范围覆盖两县。\n\n二、发现问题五个，已督促整改。"
    )
    shot(page, "records-create")
    page.get_by_role("button", name="创建", exact=True).click()
    expect(page.get_by_text("记录已创建")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/records/[0-9a-f-]{36}\?origin=yanan$"))
    document = page.locator("[data-test=document]")
    expect(document.locator("h1")).to_have_text("延安市专项监督检查情况通报")
    expect(document.locator("p.doc-para")).to_have_text(
        ["一、检查范围覆盖两县。", "二、发现问题五个，已督促整改。"]
    )
    expect(document).to_contain_text("知悉单位：黄龙县")
    expect(document).to_contain_text("限定知悉范围信息")
    assert "{" not in document.inner_text()  # a document, not JSON
    shot(page, "record-document")

    page.get_by_role("button", name="返回列表").click()
    expect(table).to_contain_text("延安市专项监督检查情况通报")
    shot(page, "records")
    pick(page, "filter-class", "一般基础性信息")
    page.locator("[data-test=search]").click()
    expect(table).not_to_contain_text("延安市专项监督检查情况通报")
    expect(table).to_contain_text("黄龙县巡察人才库建设经验")
    page.get_by_role("button", name="重置").click()
    expect(table).to_contain_text("延安市专项监督检查情况通报")
    pick(page, "filter-origin", "延安市")
    page.locator("[data-test=search]").click()
    expect(table).not_to_contain_text("黄龙县巡察人才库建设经验")
    expect(table).to_contain_text("延安市专项监督检查情况通报")


def test_search_finds_words_in_titles_and_bodies_and_explains_refusals_in_chinese(
    live_federation: Callable[..., LiveFederation], new_page: Callable[[], Any]
) -> None:
    node = live_federation("yanan")["yanan"]
    name, _token = node.add_user("security_officer")
    sessions = node.node.ctx.sessions
    insert_record(
        sessions,
        origin="huanglong",
        classification="general",
        category="practice",
        title="黄龙县巡察人才库建设经验",
        body="建立60人巡察人才库。",
    )
    insert_record(
        sessions,
        origin="yichuan",
        classification="general",
        category="policy",
        title="宜川县工作安排",
        body="扶贫资金专项检查的安排。",
    )
    # The same words in a restricted record naming this node: a security officer sees its stub
    # in the list, but a search never matches what they may not read.
    insert_record(
        sessions,
        origin="huanglong",
        classification="restricted",
        category="supervision_check",
        parties=["yanan"],
        title="扶贫资金问题线索（限定）",
        body="人才库",
    )
    page = new_page()
    log_in(page, node.url, name)
    table = page.locator("[data-test=records]")
    expect(table).to_contain_text("宜川县工作安排")
    expect(table).to_contain_text("〔保密摘要〕监督检查")

    box = page.locator("input[data-test=filter-q]")
    box.fill("扶贫资金")
    box.press("Enter")
    expect(table).to_contain_text("宜川县工作安排")  # found by its body
    expect(table).not_to_contain_text("黄龙县巡察人才库建设经验")
    expect(table).not_to_contain_text("保密摘要")
    expect(page.locator("[data-test=search-note]")).to_contain_text("检索“扶贫资金”")
    shot(page, "records-search")

    box.fill("人才库 巡察")
    page.locator("[data-test=search]").click()
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table).to_contain_text("黄龙县巡察人才库建设经验")

    box.fill("不存在的词")
    page.locator("[data-test=search]").click()
    expect(table).to_contain_text("没有找到包含这些词语的记录")

    box.fill("巡")
    page.locator("[data-test=search]").click()
    expect(page.get_by_text("检索词过短：每个词至少2个字")).to_be_visible()

    page.get_by_role("button", name="重置").click()
    expect(box).to_have_value("")
    expect(table).to_contain_text("黄龙县巡察人才库建设经验")
    expect(table).to_contain_text("〔保密摘要〕监督检查")


def test_records_of_two_origins_sharing_an_id_each_open_by_their_origin(
    live_federation: Callable[..., LiveFederation], new_page: Callable[[], Any]
) -> None:
    node = live_federation("yanan")["yanan"]
    name, _token = node.add_user("inspector")
    shared_id = "0190f0a0-0000-7000-8000-000000000001"
    titles = {"huanglong": "黄龙县巡察整改经验材料", "yichuan": "宜川县巡察整改经验材料"}
    for origin, title in titles.items():
        insert_record(
            node.node.ctx.sessions,
            origin=origin,
            classification="general",
            category="practice",
            title=title,
            record_id=shared_id,
        )
    page = new_page()
    log_in(page, node.url, name)
    table = page.locator("[data-test=records]")
    document = page.locator("[data-test=document]")
    for origin, title in titles.items():
        table.get_by_text(title).click()
        expect(page).to_have_url(re.compile(rf"/records/{shared_id}\?origin={origin}$"))
        expect(document.locator("h1")).to_have_text(title)
        page.get_by_role("button", name="返回列表").click()
    # The id alone names two records: the API's 409 in Chinese, not a guess.
    page.goto(f"{node.url}/records/{shared_id}")
    expect(page.locator(".el-alert--error")).to_contain_text("多个来源单位的记录使用了同一编号")
    expect(document).to_have_count(0)


def test_a_stub_is_requested_two_approvers_approve_and_the_requester_reads_it(
    live_federation: Callable[..., LiveFederation], new_page: Callable[[], Any]
) -> None:
    federation = live_federation("yanan", "huanglong")
    yanan, huanglong = federation["yanan"], federation["huanglong"]
    requester, _ = yanan.add_user("inspector")
    _, author_token = huanglong.add_user("inspector")
    approvers = [huanglong.add_user("approver", f"huanglong-approver-{i}")[0] for i in (1, 2)]
    made = httpx.post(
        f"{huanglong.url}/api/v1/records",
        json={
            "category": "problem_clue",
            "title": "关于某局负责人违规收受礼金的问题线索",
            "body": "反映该负责人春节期间收受礼金。\n涉及金额待核实。",
        },
        headers={"Authorization": f"Bearer {author_token}"},
        timeout=30,
    )
    assert made.status_code == 201, made.text
    federation.pump()  # the stub reaches yanan (the origin's parent)

    page = new_page()
    log_in(page, yanan.url, requester)
    page.locator("[data-test=records]").get_by_text("〔保密摘要〕问题线索").click()
    stub = page.locator("[data-test=stub]")
    expect(stub).to_contain_text("涉案类保密信息（摘要）")
    expect(stub).to_contain_text("黄龙县")
    expect(stub).not_to_contain_text("礼金")
    page.get_by_role("button", name="申请查阅").click()
    page.locator("[data-test=reason]").fill("核查延安市交办的专项巡察线索，需要查阅原件")
    shot(page, "record-stub-request")
    page.get_by_role("button", name="提交申请").click()
    expect(page.get_by_text("查阅申请已提交，等待来源单位审批")).to_be_visible()
    expect(stub).to_contain_text("待审批")
    federation.pump()  # the request reaches the origin

    for count, approver in enumerate(approvers, start=1):
        decider = new_page()
        log_in(decider, huanglong.url, approver)
        decider.get_by_role("menuitem", name="审批").click()
        expect(decider.locator("[data-test=rules]")).to_contain_text("申请人不得审批本人的申请")
        queue = decider.locator("[data-test=queue]")
        expect(queue).to_contain_text(requester)
        expect(queue).to_contain_text("核查延安市交办的专项巡察线索")
        expect(queue).to_contain_text(f"{count - 1} / 2")
        if count == 1:
            shot(decider, "approvals")
        queue.get_by_role("button", name="批准").click()
        decider.locator("[data-test=comment]").fill(f"同意查阅（第{count}位审批人）")
        decider.get_by_role("button", name="确认批准").click()
        expect(decider.get_by_text("已批准", exact=True)).to_be_visible()
    federation.pump()  # the release reaches the requester's node

    page.reload()
    document = page.locator("[data-test=document]")
    expect(document.locator("h1")).to_have_text("关于某局负责人违规收受礼金的问题线索")
    expect(document.locator("p.doc-para")).to_have_count(2)
    page.get_by_role("menuitem", name="审批").click()
    page.get_by_role("tab", name=re.compile("我的申请")).click()
    expect(page.locator("[data-test=mine]")).to_contain_text("已批准")
    shot(page, "approvals-mine")


def test_an_orders_access_request_shows_its_addressee_and_waits_for_the_acknowledgement(
    live_federation: Callable[..., LiveFederation], new_page: Callable[[], Any]
) -> None:
    federation = live_federation("yanan", "huanglong")
    yanan, huanglong = federation["yanan"], federation["huanglong"]
    _, issuer_token = yanan.add_user("inspector")
    _, handler_token = huanglong.add_user("inspector")
    approvers = [yanan.add_user("approver", f"yanan-approver-{i}")[0] for i in (1, 2)]
    issuer = {"Authorization": f"Bearer {issuer_token}"}
    clue = httpx.post(
        f"{yanan.url}/api/v1/records",
        json={"category": "problem_clue", "title": "关于县水利局违规插手工程的问题线索"},
        headers=issuer,
        timeout=30,
    )
    assert clue.status_code == 201, clue.text
    body = order_body(
        "huanglong",
        now=yanan.node.clock.now(),
        attachments=[clue.json()["id"]],
        request_secret_access=True,
    )
    issued = httpx.post(f"{yanan.url}/api/v1/orders", json=body, headers=issuer, timeout=30)
    assert issued.status_code == 201, issued.text
    order_id = issued.json()["id"]
    note = f"交办 {order_id[-8:]} 为黄龙县申请"

    for count, approver in enumerate(approvers, start=1):
        decider = new_page()
        log_in(decider, yanan.url, approver)
        decider.get_by_role("menuitem", name="审批").click()
        expect(decider.locator("[data-test=rules]")).to_contain_text("不绕过审批")
        queue = decider.locator("[data-test=queue]")
        expect(queue.locator("[data-test=order-note]")).to_have_text(note)
        expect(queue).to_contain_text(f"{count - 1} / 2")
        queue.get_by_role("button", name="批准").click()
        dialog = decider.get_by_role("dialog", name="批准查阅申请")
        expect(dialog).to_contain_text(note)
        expect(dialog).to_contain_text("批准后待承办单位签收交办")
        expect(dialog).to_contain_text("供黄龙县承办人办理交办使用")
        expect(dialog).not_to_contain_text("handler")
        if count == 1:
            shot(decider, "approvals-order")
        decider.locator("[data-test=comment]").fill(f"同意交办核查（第{count}位审批人）")
        decider.get_by_role("button", name="确认批准").click()
        expect(decider.get_by_text("已批准", exact=True)).to_be_visible()

    # Approved, but no grant until the county's handler acknowledges the order.
    decider.get_by_text("只看待审批").click()
    row = decider.locator("[data-test=queue] .el-table__row", has_text=note)
    expect(row).to_contain_text("已批准（待签收）")
    federation.pump()  # the order reaches the county
    acknowledged = httpx.post(
        f"{huanglong.url}/api/v1/orders/{order_id}/acknowledge",
        json={},
        headers={"Authorization": f"Bearer {handler_token}"},
        timeout=30,
    )
    assert acknowledged.status_code == 200, acknowledged.text
    federation.pump()  # the acknowledgement reaches the origin, which grants
    decider.get_by_role("button", name="刷新").click()
    expect(row).to_contain_text("已批准（授权有效）")


def _png(width: int = 4, height: int = 4) -> bytes:
    """A real, small, grey PNG image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def test_an_attachment_is_uploaded_at_the_origin_listed_downloaded_and_bad_files_refused(
    live_federation: Callable[..., LiveFederation], new_page: Callable[[], Any]
) -> None:
    node = live_federation("yanan")["yanan"]
    name, token = node.add_user("inspector")
    made = httpx.post(
        f"{node.url}/api/v1/records",
        json={"category": "practice", "title": "延安市巡察整改经验材料", "body": "材料附扫描件。"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert made.status_code == 201, made.text
    png = _png()
    page = new_page()
    log_in(page, node.url, name)
    page.locator("[data-test=records]").get_by_text("延安市巡察整改经验材料").click()
    section = page.locator("[data-test=attachments]")
    expect(section).to_contain_text("暂无附件")
    file_input = section.locator("[data-test=attachment-upload] input[type=file]")

    file_input.set_input_files(
        {"name": "整改报告扫描件.png", "mimeType": "image/png", "buffer": png}
    )
    expect(page.get_by_text("附件“整改报告扫描件.png”已上传")).to_be_visible()
    rows = section.locator(".el-table__body tr")
    expect(rows).to_have_count(1)
    row = rows.first
    expect(row).to_contain_text("整改报告扫描件.png")
    expect(row).to_contain_text("image/png")
    expect(row).to_contain_text("0.1 KB")
    expect(row).to_contain_text("完整")
    with page.expect_download() as download:
        row.get_by_text("下载", exact=True).click()
    assert download.value.suggested_filename == "整改报告扫描件.png"
    assert download.value.path().read_bytes() == png

    # Refusals: the API's error in Chinese, nothing added to the list.
    file_input.set_input_files({"name": "通报.pdf", "mimeType": "application/pdf", "buffer": png})
    expect(page.get_by_text("文件内容与其扩展名或声明的类型不符")).to_be_visible()
    file_input.set_input_files({"name": "空白.png", "mimeType": "image/png", "buffer": b""})
    expect(page.get_by_text("文件为空，未上传")).to_be_visible()
    expect(rows).to_have_count(1)
    shot(page, "record-attachments")


def test_logout_ends_the_session_for_the_cookie(
    live_federation: Callable[..., LiveFederation], new_page: Callable[[], Any]
) -> None:
    node = live_federation("yanan")["yanan"]
    name, _token = node.add_user("approver")
    page = new_page()
    log_in(page, node.url, name)
    expect(page.locator("[data-test=user]")).to_contain_text("审批领导")
    cookie = next(c for c in page.context.cookies() if c["name"] == "fs_session")
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict"
    assert (
        httpx.get(
            f"{node.url}/api/v1/records", cookies={"fs_session": cookie["value"]}, timeout=10
        ).status_code
        == 200
    )
    page.get_by_role("button", name="退出").click()
    expect(page).to_have_url(re.compile(r"/login"))
    refused = httpx.get(
        f"{node.url}/api/v1/records", cookies={"fs_session": cookie["value"]}, timeout=10
    )
    assert (refused.status_code, refused.json()["error"]) == (401, "session_expired")
    page.goto(f"{node.url}/approvals")
    expect(page).to_have_url(re.compile(r"/login\?redirect="))
