"""``fedshare demo``: the five-node demo federation on localhost, seeded with Chinese records.

With ``--seed-size year`` (the default) the nodes first live through a year of history
(``node.demo_data``): they are prepared on a clock set back a year (the federation's clock file,
``FEDSHARE_TEST_CLOCK_FILE``), the history is made through their API while that clock moves
forward, and the clock then reads the real time again. ``small`` is three months, for tests.
The sample records and the order pending two approvals below are made last, at the real time."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from node.clock import make_clock
from node.demo_data import SIZES, rewind_clock, seed_history
from node.federation import Federation

PID_FILE = "demo.pid"
DESCRIPTION = "federation.json"

SAMPLES: list[tuple[str, dict[str, object]]] = [
    (
        "shaanxi",
        {
            "category": "work_requirement",
            "title": "关于开展接力式巡视巡察联动的工作要求",
            "body": "各市县巡察机构要按照省委巡视组反馈的问题,开展靶向巡察,按期报告。",
        },
    ),
    (
        "huanglong",
        {
            "category": "practice",
            "title": "黄龙县巡察人才库建设经验做法",
            "body": "建立60人巡察人才库,22名组长轮换。",
        },
    ),
    (
        "huanglong",
        {
            "category": "inspection_finding",
            "parties": ["shaanxi"],
            "title": "县水利局巡察发现问题汇总",
            "body": "发现问题14个,其中工程招投标不规范5个。",
        },
    ),
    (
        "huanglong",
        {
            "category": "problem_clue",
            "title": "关于某局负责人违规收受礼金的问题线索",
            "body": "反映该负责人春节期间收受礼金。",
            # The reporter (举报人): sealed apart from the record, at the origin only.
            "reporter": {"name": "王某", "contact": "联系方式略"},
        },
    ),
    (
        "yanan",
        {
            "category": "supervision_check",
            "parties": ["huanglong", "yichuan"],
            "title": "延安市整改落实情况监督检查通报",
            "body": "两县整改销号率分别为82%和76%。",
        },
    ),
    (
        "yichuan",
        {
            "category": "petition",
            "title": "群众来信反映乡镇干部作风问题",
            "body": "反映某乡镇干部工作作风粗暴。",
            "reporter": {"name": "李某", "relationship": "来信人"},
        },
    ),
]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


SECRET_ORDER_CLUE: dict[str, object] = {
    "category": "problem_clue",
    "title": "关于县水利局负责人违规插手工程项目的问题线索",
    "body": "反映县水利局负责人在河道治理工程招投标中违规打招呼,需交办核查。",
}
SECRET_ORDER: dict[str, object] = {
    "title": "关于核查县水利局工程项目问题线索的督办指令",
    "addressees": ["huanglong"],
    "inspected_units": ["黄龙县水利局"],
    "focus_issues": ["工程招投标", "领导干部插手工程"],
    "request_secret_access": True,
}


def _post(federation: Federation, node_id: str, path: str, body: dict[str, object]) -> Any:
    handle = federation.nodes[node_id]
    response = httpx.post(
        f"{handle.api_url}{path}",
        json=body,
        timeout=10,
        headers={"Authorization": f"Bearer {handle.tokens['inspector']}"},
    )
    response.raise_for_status()
    return response.json()


def _seed(federation: Federation) -> None:
    for node_id, body in SAMPLES:
        _post(federation, node_id, "/api/v1/records", body)
    # A relay order carrying a case-secret clue (DESIGN §6): it files an access request for the
    # county, which reads the clue only once two of the province's approvers approve.
    clue = _post(federation, "shaanxi", "/api/v1/records", SECRET_ORDER_CLUE)
    deadline = (make_clock(federation.clock_file).now() + timedelta(days=30)).isoformat()
    order = dict(SECRET_ORDER, attachments=[clue["id"]], deadline=deadline)
    _post(federation, "shaanxi", "/api/v1/orders", order)


def _print_summary(federation: Federation, base_dir: Path) -> None:
    print("fedshare demo federation 演示联邦 is running:")
    for node_id, handle in federation.nodes.items():
        assert federation.topology is not None
        depth = federation.topology.depth(node_id)
        print(f"  {'  ' * depth}{handle.name} ({node_id})  {handle.api_url}/docs")
    print(f"tokens, console logins and addresses: {base_dir / DESCRIPTION}")


def run_demo(base_dir: Path, *, base_port: int, detach: bool, seed_size: str = "year") -> int:
    base_dir = base_dir.resolve()
    if seed_size not in SIZES:
        print(f"error: --seed-size is one of {', '.join(SIZES)}", file=sys.stderr)
        return 2
    pid_path = base_dir / PID_FILE
    if pid_path.exists() and _alive(int(pid_path.read_text().strip() or 0)):
        print(
            f"error: a demo is already running (pid {pid_path.read_text().strip()}); "
            "run 'fedshare demo stop' first",
            file=sys.stderr,
        )
        return 1
    if detach:
        return _detach(base_dir, base_port, seed_size)
    if base_dir.exists():
        shutil.rmtree(base_dir)
    base_dir.mkdir(parents=True)
    pid_path.write_text(str(os.getpid()))
    size = SIZES[seed_size]
    federation = Federation(base_dir, base_port=base_port, test_clock=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        print("preparing keys, databases and users ...", flush=True)
        rewind_clock(federation, size)
        federation.prepare()
        federation.start()
        seed_history(federation, size, log=lambda line: print(line, flush=True))
        _seed(federation)
        federation.write_description(base_dir / DESCRIPTION)
        _print_summary(federation, base_dir)
        print("press Ctrl-C to stop", flush=True)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        print("stopping the demo federation ...", flush=True)
        federation.stop()
        pid_path.unlink(missing_ok=True)
    return 0


def _detach(base_dir: Path, base_port: int, seed_size: str) -> int:
    base_dir.parent.mkdir(parents=True, exist_ok=True)
    log_path = base_dir.parent / "demo.log"
    description = base_dir / DESCRIPTION
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "node.cli",
                "demo",
                "--dir",
                str(base_dir),
                "--base-port",
                str(base_port),
                "--seed-size",
                seed_size,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + 420
    while time.monotonic() < deadline:
        if process.poll() is not None:
            print(f"error: the demo exited early; see {log_path}", file=sys.stderr)
            return 1
        if description.exists():
            data = json.loads(description.read_text(encoding="utf-8"))
            print(f"fedshare demo running in the background (pid {process.pid})")
            for node_id, node in data["nodes"].items():
                print(f"  {node['name']} ({node_id})  {node['api']}/docs")
            print(
                f"tokens, console logins and addresses: {description}; "
                "stop with 'fedshare demo stop'"
            )
            return 0
        time.sleep(0.3)
    print("error: the demo did not come up in time", file=sys.stderr)
    return 1


def stop_demo(base_dir: Path) -> int:
    pid_path = base_dir.resolve() / PID_FILE
    if not pid_path.exists():
        print("no demo is running")
        return 0
    pid = int(pid_path.read_text().strip() or 0)
    if pid and _alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
    pid_path.unlink(missing_ok=True)
    print("demo stopped")
    return 0
