"""Node settings: one pydantic-settings class, ``FEDSHARE_`` prefix, validated at start-up."""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

NODE_ID_PATTERN = re.compile(r"^[a-z0-9-]+$")


def packaged_policies_dir() -> Path:
    """The Casbin model, policy and category table shipped inside the ``node`` package.

    In a checkout ``node/policies`` links to the top-level ``policies/`` (their source); a wheel
    carries copies of the files. ``FEDSHARE_POLICIES_DIR`` overrides this default.
    """
    policies = files("node").joinpath("policies")
    if not isinstance(policies, Path):
        # Casbin (like Alembic) reads files by path, so the package must be installed unzipped.
        raise RuntimeError(f"node is not installed as files on disk: {policies}")
    return policies


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FEDSHARE_", extra="ignore")

    node_id: str = "local"
    data_dir: Path = Path("var/node")
    database_url: str = ""
    topology_file: Path | None = None
    policies_dir: Path = Field(default_factory=packaged_policies_dir)
    nats_url: str | None = None
    max_body_bytes: int = 256 * 1024
    max_title_chars: int = 500
    page_size_max: int = 200
    checkpoint_interval_s: float = 30.0
    # Test-only: the node's clock runs ahead of real time by the seconds written in this file.
    test_clock_file: Path | None = None

    @field_validator("node_id")
    @classmethod
    def _node_id_shape(cls, value: str) -> str:
        if not NODE_ID_PATTERN.match(value):
            raise ValueError("node id must match [a-z0-9-]+")
        return value

    @model_validator(mode="after")
    def _defaults(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'node.db').resolve()}"
        if not (self.policies_dir / "model.conf").is_file():
            raise ValueError(f"policies directory {self.policies_dir} has no model.conf")
        return self

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"
