"""What the browser tests share: Playwright's ``expect``, the login form, the side menu, the
Element Plus select and the order step dialogs, and screenshots of a whole screen."""

from __future__ import annotations

import re
from typing import Any

from tests.console.conftest import PASSWORD, SCREENSHOTS

expect: Any
try:
    from playwright.sync_api import expect

    # An assertion waits for its condition up to this long (Playwright's default is 5 s): a
    # screen's first request can take longer than that on a loaded 2-core machine (seen: the
    # statistics screen's first /stats in 6.7 s at load 18). Only a failure waits this long.
    expect.set_options(timeout=30_000)
except ImportError:  # pragma: no cover - playwright is a dev dependency
    expect = None

# The screen's content scrolls inside <main> (the header and the side menu stay put), so a
# full-page screenshot alone would stop at the viewport: the viewport grows by what <main> hides.
_MAIN_OVERFLOW = """() => {
  const main = document.querySelector('main');
  return main ? Math.max(0, main.scrollHeight - main.clientHeight) : 0;
}"""


def shot(page: Any, name: str) -> None:
    """Save the whole screen to ``var/screenshots/<name>.png``: what a 1366×768 window shows,
    and below it what the user scrolls to, without the passing messages."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # The messages an action leaves (提交成功 …) would cover the screen: closed first.
    page.evaluate("document.querySelectorAll('.el-message__closeBtn').forEach((b) => b.click())")
    expect(page.locator(".el-message")).to_have_count(0)
    viewport = page.viewport_size
    overflow = page.evaluate(_MAIN_OVERFLOW)
    if overflow:
        page.set_viewport_size({**viewport, "height": viewport["height"] + overflow})
    try:
        # Transitions (a dialog fading in) are finished first, so the picture shows the screen.
        page.screenshot(
            path=str(SCREENSHOTS / f"{name}.png"), full_page=True, animations="disabled"
        )
    finally:
        if overflow:
            page.set_viewport_size(viewport)


def log_in(page: Any, url: str, name: str, password: str = PASSWORD) -> Any:
    """Submit the login form; return the login request's response."""
    if "/login" not in page.url:
        page.goto(f"{url}/login")
    page.get_by_placeholder("请输入用户名").fill(name)
    page.get_by_placeholder("请输入密码").fill(password)
    with page.expect_response(
        lambda r: r.url.endswith("/api/v1/session") and r.request.method == "POST"
    ) as answer:
        page.get_by_role("button", name="登录", exact=True).click()
    return answer.value


def pick(page: Any, select: str, option: str) -> None:
    """Choose ``option`` in the Element Plus select marked ``data-test=select``."""
    page.locator(f"[data-test={select}]").click()
    # An option may show more after its name (a node's tier).
    page.get_by_role("option", name=re.compile(f"^{re.escape(option)}")).click()


def menu(page: Any, name: str) -> None:
    page.get_by_role("menuitem", name=name).click()


def step(page: Any, target: Any, button: str, note: str | None = None) -> None:
    """Take an order step from a target's card; the dialog's note filled when given."""
    target.get_by_role("button", name=button).click()
    dialog = page.get_by_role("dialog", name=button, exact=True)
    if note is not None:
        dialog.locator("[data-test=step-note]").fill(note)
    dialog.locator("[data-test=step-submit]").click()
    expect(page.get_by_text(f"{button}成功")).to_be_visible()
