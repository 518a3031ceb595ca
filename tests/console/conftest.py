"""Live nodes for the browser: real uvicorn servers on free ports over nodes of the demo tree
(each on its own migrated SQLite database, sharing one test clock), with ``pump`` carrying the
envelopes between them as the in-process federation does; and a headless Chromium (Debian's
``chromium`` package) driven by Playwright, without any browser download."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient

from node.api.app import create_app
from node.crypto import NodeKeys, write_keys
from node.federation import free_port
from node.settings import Settings
from node.topology import Topology
from node.wiring import make_context
from tests.conftest import NodeUnderTest
from tests.databases import migrated
from tests.factories import insert_user
from tests.inprocess import MiniFederation
from tests.support import wait_for

CHROMIUM = os.environ.get("FEDSHARE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
PASSWORD = "Console-pass-2024"


@dataclass
class LiveNode:
    node: NodeUnderTest
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def add_user(self, role: str, name: str | None = None) -> tuple[str, str]:
        """A user with a console password; return (name, bearer token)."""
        ctx = self.node.ctx
        name = name or f"{ctx.node_id}-{role}"
        token = insert_user(
            ctx.sessions,
            name=name,
            role=role,
            node=ctx.node_id,
            now=ctx.clock.now(),
            password=PASSWORD,
        )
        return name, token


@dataclass
class LiveFederation:
    federation: MiniFederation
    nodes: dict[str, LiveNode] = field(default_factory=dict)

    def __getitem__(self, node_id: str) -> LiveNode:
        return self.nodes[node_id]

    def pump(self) -> int:
        return self.federation.pump()


def _serve(app: Any) -> tuple[uvicorn.Server, threading.Thread, str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=30, message="the live node to start")
    return server, thread, f"http://127.0.0.1:{port}"


@pytest.fixture
def live_federation(
    tmp_path: Path, demo_topology: Topology, demo_keys: dict[str, NodeKeys]
) -> Iterator[Callable[..., LiveFederation]]:
    """Factory: ``live_federation("yanan", "huanglong")``, each node served over real HTTP."""
    made: list[LiveFederation] = []

    def factory(*node_ids: str) -> LiveFederation:
        federation = MiniFederation(topology=demo_topology, keys=demo_keys)
        live = LiveFederation(federation)
        for node_id in node_ids:
            data_dir = tmp_path / node_id
            write_keys(demo_keys[node_id], data_dir / "keys", force=True)
            settings = Settings(
                node_id=node_id,
                data_dir=data_dir,
                database_url=migrated(f"sqlite:///{data_dir / 'node.db'}"),
                auth_failure_limit="100/minute",
            )
            ctx = make_context(settings, demo_topology, demo_keys[node_id], clock=federation.clock)
            app = create_app(ctx=ctx)
            # Not entered: the app runs in uvicorn; the client is there for ``MiniFederation``.
            node = NodeUnderTest(ctx=ctx, client=TestClient(app), data_dir=data_dir)
            federation.nodes[node_id] = node
            server, thread, url = _serve(app)
            live.nodes[node_id] = LiveNode(node=node, url=url, server=server, thread=thread)
        made.append(live)
        return live

    yield factory
    for live in made:
        for handle in live.nodes.values():
            handle.server.should_exit = True
            handle.thread.join(timeout=30)
            handle.node.ctx.engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one test module. Not for the session: Playwright's sync API keeps an event
    loop running in the main thread while it lives, and every later test that calls
    ``asyncio.run`` (the NATS tests) would fail."""
    if not Path(CHROMIUM).is_file():
        pytest.skip(
            f"no Chromium at {CHROMIUM}: install Debian's package (apt-get install -y chromium) "
            "or point FEDSHARE_CHROMIUM at a Chromium binary"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        yield chromium
        chromium.close()


CSP_PROBE = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI);
});
"""


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[[], Any]]:
    """Pages at 1366×768 in Chinese, each in its own browser context (its own cookies); every
    page is checked for Content-Security-Policy violations and uncaught errors at the end."""
    contexts: list[Any] = []
    pages: list[Any] = []
    errors: list[str] = []

    def factory() -> Any:
        context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
        context.set_default_timeout(15_000)
        context.add_init_script(CSP_PROBE)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        contexts.append(context)
        pages.append(page)
        return page

    yield factory
    violations = []
    for page in pages:
        if not page.is_closed():
            violations += page.evaluate("window.__cspViolations || []")
    for context in contexts:
        context.close()
    assert not violations, f"Content-Security-Policy violations: {violations}"
    assert not errors, f"uncaught errors in the console: {errors}"
