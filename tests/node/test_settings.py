"""Settings: the packaged Casbin policies by default, ``FEDSHARE_POLICIES_DIR`` to override them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError

import node
from node.settings import Settings, packaged_policies_dir


def test_policies_default_to_the_copy_inside_the_node_package() -> None:
    policies = packaged_policies_dir()
    assert policies.parent == Path(node.__path__[0])
    assert Settings().policies_dir == policies
    assert {"model.conf", "policy.csv", "categories.csv"} <= {p.name for p in policies.iterdir()}


def test_policies_dir_from_the_environment_overrides_the_packaged_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = tmp_path / "policies"
    shutil.copytree(packaged_policies_dir(), own)
    monkeypatch.setenv("FEDSHARE_POLICIES_DIR", str(own))
    assert Settings().policies_dir == own


def test_a_policies_dir_without_a_model_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEDSHARE_POLICIES_DIR", str(tmp_path))
    with pytest.raises(ValidationError, match="has no model.conf"):
        Settings()
