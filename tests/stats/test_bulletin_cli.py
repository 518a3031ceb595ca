"""``fedshare bulletin rectification|stats``: the bulletin and the workbook fetched from a running
node (a real uvicorn server) as the token's user, written whole or not at all; refusals are a
message and a non-zero exit."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from docx import Document
from openpyxl import load_workbook

from tests.cli.test_cli import fedshare
from tests.console.conftest import LiveFederation, live_federation

__all__ = ["live_federation"]

MakeLive = Callable[..., LiveFederation]


def test_the_cli_writes_the_bulletin_and_the_workbook(
    live_federation: MakeLive, tmp_path: Path
) -> None:
    live = live_federation("shaanxi")
    node = live["shaanxi"]
    _name, token = node.add_user("inspector")
    _admin, admin_token = node.add_user("admin")
    env = {"FEDSHARE_API": node.url, "FEDSHARE_TOKEN": token}
    files = tmp_path / "out"
    files.mkdir()
    out = files / "通报.docx"

    done = fedshare("bulletin", "rectification", "--out", str(out), env=env)
    assert done.exit_code == 0, done.output
    assert f"{out}: " in done.output
    text = "\n".join(p.text for p in Document(str(out)).paragraphs)
    assert "陕西省巡视巡察整改落实情况通报" in text
    assert "发布单位：陕西省" in text

    # An existing file is kept unless --force.
    before = out.read_bytes()
    kept = fedshare("bulletin", "rectification", "--out", str(out), env=env)
    assert kept.exit_code == 1
    assert "exists" in kept.output
    assert out.read_bytes() == before
    again = fedshare(
        "bulletin", "rectification", "--from", "2026-01", "--out", str(out), "--force", env=env
    )
    assert again.exit_code == 0, again.output

    # Refusals: the node's code in the message, nothing written.
    refused = files / "refused.docx"
    for args, environment, code in (
        (["--from", "2026-13"], env, "422 invalid_month"),
        (["--subtree", "central"], env, "422 node_not_in_subtree"),
        ([], dict(env, FEDSHARE_TOKEN=admin_token), "403 forbidden"),
        ([], dict(env, FEDSHARE_TOKEN="not-a-token"), "401 unauthenticated"),
    ):
        result = fedshare(
            "bulletin", "rectification", *args, "--out", str(refused), env=environment
        )
        assert result.exit_code == 1, result.output
        assert code in result.output
        assert not refused.exists()
    assert sorted(p.name for p in files.iterdir()) == ["通报.docx"]

    workbook = files / "stats.xlsx"
    done = fedshare("bulletin", "stats", "--months", "0", "--out", str(workbook), env=env)
    assert done.exit_code == 0, done.output
    assert "概览" in load_workbook(workbook).sheetnames

    unreachable = fedshare(
        "bulletin",
        "stats",
        "--out",
        str(files / "none.xlsx"),
        env=dict(env, FEDSHARE_API="http://127.0.0.1:9"),
    )
    assert unreachable.exit_code == 1
    assert "ConnectError" in unreachable.output
    assert (
        node.node.ctx.engine.connect()
        .exec_driver_sql("SELECT count(*) FROM audit_log WHERE action = 'bulletin'")
        .scalar()
        == 2
    )
