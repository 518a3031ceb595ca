"""The wheel as an operator installs it: built from the checkout, installed into a fresh venv
outside it, and a node started from the installed ``fedshare`` command.

Offline on purpose: the wheel is built with the setuptools of the running venv
(``--no-build-isolation``) and installed without its dependencies; the fresh venv sees them
through a ``.pth`` line naming the running venv's site-packages, after its own, so ``node`` is
imported from the wheel (asserted) and everything else from the venv the tests run in.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from node.federation import free_port
from tests.support import wait_for

pytestmark = pytest.mark.packaging

CHECKOUT = Path(__file__).resolve().parents[2]
POLICY_FILES = {"model.conf", "policy.csv", "categories.csv"}


@dataclass
class Installed:
    venv: Path
    workdir: Path

    @property
    def fedshare(self) -> str:
        return str(self.venv / "bin" / "fedshare")

    @property
    def python(self) -> str:
        return str(self.venv / "bin" / "python")

    def env(self) -> dict[str, str]:
        """The environment of an operator's shell: no FEDSHARE_ settings leaked from the tests."""
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("FEDSHARE_") and name not in ("PYTHONPATH", "VIRTUAL_ENV")
        }
        env["FEDSHARE_DATA_DIR"] = str(self.workdir / "data")
        env["FEDSHARE_NODE_ID"] = "huanglong"
        return env

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.fedshare, *args],
            cwd=self.workdir,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
        )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the checkout: no ``build/`` is left in it or read from it."""
    source = tmp_path_factory.mktemp("source") / "fedshare"
    shutil.copytree(
        CHECKOUT,
        source,
        symlinks=True,
        ignore=shutil.ignore_patterns(
            ".git", ".venv*", "build", "dist", "var", "*.egg-info", "__pycache__", ".*_cache"
        ),
    )
    out = tmp_path_factory.mktemp("wheelhouse")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
        + ["--wheel-dir", str(out), str(source)],
        check=True,
        timeout=300,
    )
    (built,) = out.glob("fedshare-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("operator")
    assert not base.is_relative_to(CHECKOUT)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install"]
        + ["--quiet", "--no-deps", "--no-index", str(wheel)],
        check=True,
        timeout=300,
    )
    site_packages = Path(
        subprocess.run(
            [
                str(venv / "bin" / "python"),
                "-c",
                "import sysconfig; print(sysconfig.get_path('purelib'))",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    dependencies = dict.fromkeys(sysconfig.get_path(name) for name in ("purelib", "platlib"))
    (site_packages / "fedshare_test_dependencies.pth").write_text("\n".join(dependencies) + "\n")
    workdir = base / "work"
    workdir.mkdir()
    return Installed(venv=venv, workdir=workdir)


def test_wheel_ships_node_with_its_data_files_and_nothing_else(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/", 1)[0] for name in names}
    assert top_level == {"node", "fedshare-0.1.0.dist-info"}
    assert {name.rsplit("/", 1)[-1] for name in names if name.startswith("node/policies/")} == (
        POLICY_FILES
    )
    # The console's committed build: installing the wheel needs no Node.
    assert "node/web/app/index.html" in names
    assert any(n.startswith("node/web/app/assets/index-") and n.endswith(".js") for n in names)
    assert any(n.startswith("node/web/app/assets/") and n.endswith(".css") for n in names)
    assert "node/migrations/env.py" in names
    assert any(name.startswith("node/migrations/versions/0001_") for name in names)


def test_installed_node_is_imported_from_the_venv_not_the_checkout(installed: Installed) -> None:
    result = subprocess.run(
        [installed.python, "-c", "import node.settings as s; print(s.packaged_policies_dir())"],
        cwd=installed.workdir,
        env=installed.env(),
        capture_output=True,
        text=True,
        check=True,
    )
    policies = Path(result.stdout.strip())
    assert policies.is_relative_to(installed.venv)
    assert not policies.is_symlink()
    assert {path.name for path in policies.iterdir()} >= POLICY_FILES


@pytest.fixture
def node_api(installed: Installed) -> Iterator[tuple[str, str]]:
    """Keys, schema and a user made with the installed commands, then ``fedshare node run``."""
    for args in (["keys", "init"], ["db", "upgrade"]):
        result = installed.run(*args)
        assert result.returncode == 0, result.stderr
    added = installed.run("user", "add", "--role", "inspector", "黄龙县检查员")
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    port = free_port()
    log_path = installed.workdir / "node.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [installed.fedshare, "node", "run", "--port", str(port)],
            cwd=installed.workdir,
            env=installed.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"fedshare node run exited: {log_path.read_text()}")
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_for(healthy, timeout=60, message="the installed node's /healthz")
        yield url, token
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_installed_node_serves_records_console_and_health(node_api: tuple[str, str]) -> None:
    url, token = node_api
    records = httpx.get(
        f"{url}/api/v1/records", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert records.status_code == 200, records.text
    assert records.json()["items"] == []
    assert httpx.get(f"{url}/api/v1/records", timeout=10).status_code == 401
    console = httpx.get(f"{url}/", timeout=10)
    assert console.status_code == 200
    assert "<html" in console.text


def test_installed_bench_refuses_with_a_clear_message(installed: Installed) -> None:
    result = installed.run("bench", "list", "--records", "10")
    assert result.returncode == 2
    assert "benchmarks are not part of the installed package" in result.stderr
    assert "Traceback" not in result.stderr
