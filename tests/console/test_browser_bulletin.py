"""The statistics screen's downloads in the browser: the rectification status bulletin (检查通报)
of a period over a chosen part of the subtree as a Word document, and who is offered it."""

from __future__ import annotations

from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import Any

from docx import Document

from tests.console.browser import expect, log_in, menu, pick, shot
from tests.console.conftest import LiveFederation
from tests.console.test_browser_work import api
from tests.helpers import order_body


def test_the_bulletin_is_downloaded_from_the_statistics_screen(
    live_federation: Callable[..., LiveFederation], new_page: Callable[[], Any]
) -> None:
    federation = live_federation("shaanxi", "huanglong")
    shaanxi = federation["shaanxi"]
    user, token = shaanxi.add_user("inspector")
    officer, _ = shaanxi.add_user("security_officer")
    api(shaanxi, token, "POST", "/api/v1/orders", json=order_body("huanglong"))
    api(shaanxi, token, "POST", "/api/v1/orders", json=order_body("yanan"))

    page = new_page()
    log_in(page, shaanxi.url, user)
    menu(page, "统计")
    # The screen's first /stats is slow on a loaded machine (6.7 s seen at load 18 on 2 cores).
    expect(page.locator("[data-test=figures]")).to_contain_text("信息记录", timeout=60_000)
    page.locator("[data-test=bulletin]").click()
    dialog = page.locator("[data-test=bulletin-dialog]")
    expect(dialog).to_contain_text("统计期间")
    pick(page, "bulletin-subtree", "黄龙县")
    shot(page, "stats-bulletin-dialog")
    with page.expect_download(timeout=60_000) as download_info:
        dialog.locator("[data-test=bulletin-download]").click()
    download = download_info.value
    assert download.suggested_filename.startswith("bulletin-huanglong-")
    assert download.suggested_filename.endswith(".docx")
    expect(page.get_by_text("检查通报已生成")).to_be_visible(timeout=30_000)
    document = Document(BytesIO(Path(download.path()).read_bytes()))
    text = "\n".join(p.text for p in document.paragraphs)
    assert "黄龙县巡视巡察整改落实情况通报" in text
    assert "发布单位：陕西省" in text
    # The order to the county only, not the city's.
    assert "交办事项共1件次" in text

    # A security officer reads statistics but issues no bulletin: no button.
    other = new_page()
    log_in(other, shaanxi.url, officer)
    menu(other, "统计")
    expect(other.locator("[data-test=figures]")).to_contain_text("信息记录", timeout=60_000)
    expect(other.locator("[data-test=export]")).to_be_visible()
    expect(other.locator("[data-test=bulletin]")).to_have_count(0)
