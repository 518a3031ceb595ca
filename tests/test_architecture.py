"""The architecture, held by the suite: the import contracts in pyproject.toml (import-linter),
no import cycle anywhere in ``node``, and time read only from the context's clock."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def test_import_contracts_hold() -> None:
    assert LINT_IMPORTS.exists(), "lint-imports is missing: pip install -e '.[dev]'"
    result = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            module, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[module] = min(low[module], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[module])
            if low[module] == index[module]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == module:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_module_imports_itself_back() -> None:
    graph = grimp.build_graph("node", cache_dir=None)
    imports = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    assert _cycles(imports) == []


def test_every_package_has_a_place_in_the_layers() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    [contract] = [c for c in config["tool"]["importlinter"]["contracts"] if c["id"] == "node"]
    placed = {name.strip() for layer in contract["layers"] for name in re.split(r"[|:]", layer)}
    graph = grimp.build_graph("node", cache_dir=None)
    unplaced = []
    for child in sorted(graph.find_children("node")):
        tail = child.removeprefix("node.")
        if tail in placed:
            continue
        grandchildren = {g.removeprefix("node.") for g in graph.find_children(child)}
        if not grandchildren or not grandchildren <= placed:
            unplaced.append(tail)
    assert unplaced == []


def test_time_comes_from_the_clock() -> None:
    """Only node/clock.py reads the system time (tests move the context's clock instead)."""
    readers = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "node").rglob("*.py"))
        if path.name != "clock.py"
        and re.search(r"datetime\.(now|utcnow|today)\(", path.read_text(encoding="utf-8"))
    ]
    assert readers == []
