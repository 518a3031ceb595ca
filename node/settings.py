"""Node settings: one pydantic-settings class, ``FEDSHARE_`` prefix, validated at start-up."""

from __future__ import annotations

import re
from datetime import date, timedelta
from importlib.resources import files
from pathlib import Path

from limits import parse_many
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

NODE_ID_PATTERN = re.compile(r"^[a-z0-9-]+$")

# Token lifetimes as operators write them: ``90d``, ``12h``, ``30m``, ``3600s`` or ``never``.
LIFETIME_PATTERN = re.compile(r"^\s*(\d{1,7})\s*([smhd])\s*$")
LIFETIME_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_LIFETIME = timedelta(days=3650)


def parse_lifetime(text: str) -> timedelta | None:
    """``text`` as a lifetime (None for ``never``); ValueError with the accepted forms if not."""
    if text.strip().lower() == "never":
        return None
    match = LIFETIME_PATTERN.match(text)
    if match is None:
        raise ValueError(f"lifetime {text[:40]!r} is not like 90d, 12h, 30m, 3600s or never")
    lifetime = timedelta(seconds=int(match.group(1)) * LIFETIME_UNITS[match.group(2)])
    if not timedelta(0) < lifetime <= MAX_LIFETIME:
        raise ValueError("a lifetime must be more than 0 and at most 3650d (or never)")
    return lifetime


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
    # The federation's root public key (DESIGN §11), installed with the node: every certificate
    # in the topology and every envelope's origin is verified up to it. Default DATA_DIR/root.pub.
    root_key_file: Path | None = None
    policies_dir: Path = Field(default_factory=packaged_policies_dir)
    nats_url: str | None = None
    # The node service's nkey seed (0600); default ``<data_dir>/nats/service.nk``.
    nats_nkey_file: Path | None = None
    # The nats-server config this node's server runs on; default ``<data_dir>/nats.conf``. When a
    # child joins or is revoked the node renders it again and signals the server (its
    # ``pid_file``) to reload it; a config not rendered by fedshare is left alone.
    nats_config_file: Path | None = None
    # Stream limits (DESIGN §10: streams have size limits). OUT refuses when full (the outbox
    # retries); IN drops its oldest, at most its per-neighbour share per neighbour.
    nats_out_max_msgs: int = 1_000_000
    nats_out_max_bytes: int = 2 * 1024**3
    nats_in_max_msgs: int = 1_000_000
    nats_in_max_bytes: int = 2 * 1024**3
    # The server's max_payload: larger envelopes than the inbox takes (4 MiB) still reach it
    # and are dead-lettered there, so a sender learns of them.
    nats_max_msg_size: int = 8 * 1024**2
    max_body_bytes: int = 256 * 1024
    # Attachments (DESIGN §2): the largest file a record may carry, and the size of the chunks
    # it is stored and sent in (each chunk is the detached body of one envelope; at most 2 MiB,
    # so that one chunk envelope still fits MAX_ENVELOPE_BYTES when a ``resend`` carries it).
    attachment_max_bytes: int = Field(default=50 * 1024**2, gt=0)
    attachment_chunk_bytes: int = Field(default=3 * 1024**2 // 2, ge=4096, le=2 * 1024**2)
    max_title_chars: int = 500
    page_size_max: int = 200
    checkpoint_interval_s: float = 30.0
    # HTTP hardening. Failed requests (401/403) allowed per client address, in the notation of
    # the ``limits`` library ("20/minute", several joined by ";"); past it the address gets 429.
    auth_failure_limit: str = "20/minute"
    # Onboarding: requests to the two join endpoints that take no token (a join request, polling
    # its answer) allowed per client address; past it the address gets 429.
    join_rate_limit: str = "30/minute"
    # Addresses whose failures are tracked at once; past it the oldest are forgotten.
    rate_limit_max_addresses: int = Field(default=100_000, ge=100)
    # Reverse proxies whose X-Forwarded-For is believed (comma-separated addresses, "*" for
    # any). Empty: the client address is the TCP peer and forwarded headers are ignored.
    forwarded_allow_ips: str = ""
    # Identical denials within this window are one audit entry with a count, appended at once
    # for the first and every ``audit_flush_interval_s`` (and at shutdown) for the repeats.
    audit_denial_window_s: float = Field(default=60.0, gt=0)
    audit_flush_interval_s: float = Field(default=5.0, gt=0)
    # /metrics needs an admin or security officer token; /docs, /redoc, /openapi.json any user's.
    metrics_require_token: bool = True
    docs_require_token: bool = True
    # Per-origin inbound quota (DESIGN §10): envelopes of one origin this node applies or relays,
    # per hour, with bursts of up to ``inbound_quota_burst``; past it they are dead-lettered
    # (``quota_exceeded``). Generous: a node catching up after hours offline stays within it.
    inbound_quota_per_hour: int = Field(default=50_000, gt=0)
    inbound_quota_burst: int = Field(default=50_000, gt=0)
    # Dead-letter rows stored per origin (or arrival subject) per hour; the rest are counted.
    dead_letters_per_origin_per_hour: int = Field(default=1_000, gt=0)
    # Lifetime of tokens issued by `fedshare user add|rotate-token` and the users API when no
    # other is asked for: "90d", "12h", ... or "never".
    token_lifetime: timedelta | None = timedelta(days=90)
    # Sequence numbers (DESIGN §10): a number missing for longer than the grace period is a gap
    # (shown, counted, asked again from its origin at most once per grace period); the node
    # keeps its own envelopes this long to resend them; the periodic check runs this often.
    sequence_gap_grace_s: float = Field(default=30.0, gt=0)
    sequence_retention_s: float = Field(default=24 * 3600.0, gt=0)
    sequence_check_interval_s: float = Field(default=5.0, gt=0)
    # How long the JetStream streams keep a message (limits retention; DESIGN §3): a node offline
    # for longer misses what expired and asks its parent for a resync. Shortened in tests.
    stream_retention_s: float = Field(default=7 * 24 * 3600.0, gt=0)
    # Resync (DESIGN §11): a page carries at most this many envelopes and bytes of them; the
    # parent answers a request with up to ``resync_window`` pages; a requester that hears nothing
    # for ``resync_stall_s`` asks again from where it is.
    resync_page_envelopes: int = Field(default=500, ge=1, le=5000)
    resync_page_bytes: int = Field(default=1024**2, ge=4096, le=2 * 1024**2)
    resync_window: int = Field(default=4, ge=1, le=32)
    resync_stall_s: float = Field(default=30.0, gt=0)
    # Start a resync by itself when the parent's outbound stream no longer holds messages newer
    # than the last one received from above (``resync.auto_check``).
    resync_auto: bool = True
    # Console sessions: ended after this long unused, and at the latest this long after login.
    session_idle_timeout_s: float = Field(default=30 * 60, gt=0)
    session_lifetime_s: float = Field(default=12 * 3600, gt=0)
    # Per-user lock-out, on top of the per-address budget: this many failed logins within the
    # window lock the user's console login for ``login_lockout_s``.
    login_failure_limit: int = Field(default=5, ge=1)
    login_failure_window_s: float = Field(default=15 * 60, gt=0)
    login_lockout_s: float = Field(default=15 * 60, gt=0)
    # Envelope version this node sends (DESIGN §11, mixed versions): 2, the current one (with the
    # signing key's id), or 1, the previous one, for a node that must still talk like an older
    # release. Both are accepted whatever this says.
    envelope_version: int = Field(default=2, ge=1, le=2)
    # Key rotation: how long the previous signing key of a node whose certificate was replaced
    # with new keys is still accepted (its envelopes, its children's certificates).
    key_overlap_s: float = Field(default=24 * 3600.0, gt=0)
    # The inspection term whose coverage (全覆盖) is reported: both dates or neither (then the
    # five-year term containing today, terms counted from ``term_anchor_year``).
    term_start: date | None = None
    term_end: date | None = None
    term_anchor_year: int = Field(default=2021, ge=1949, le=2999)
    # Test-only: the node's clock runs ahead of real time by the seconds written in this file.
    test_clock_file: Path | None = None

    @field_validator(
        "nats_out_max_msgs",
        "nats_out_max_bytes",
        "nats_in_max_msgs",
        "nats_in_max_bytes",
        "nats_max_msg_size",
    )
    @classmethod
    def _positive_limit(cls, value: int) -> int:
        if value <= 0:
            raise ValueError("stream limits must be positive")
        return value

    @field_validator("node_id")
    @classmethod
    def _node_id_shape(cls, value: str) -> str:
        if not NODE_ID_PATTERN.match(value):
            raise ValueError("node id must match [a-z0-9-]+")
        return value

    @field_validator("auth_failure_limit", "join_rate_limit")
    @classmethod
    def _rate_limit_notation(cls, value: str) -> str:
        try:
            parse_many(value)
        except ValueError as exc:
            raise ValueError(f"not a rate limit like '20/minute': {value[:60]!r}") from exc
        return value

    @field_validator("token_lifetime", mode="before")
    @classmethod
    def _lifetime_notation(cls, value: object) -> object:
        return parse_lifetime(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _defaults(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'node.db').resolve()}"
        if (self.term_start is None) != (self.term_end is None):
            raise ValueError("set both term_start and term_end, or neither")
        if self.term_start is not None and self.term_end is not None:
            if self.term_end < self.term_start:
                raise ValueError("term_end is before term_start")
        if not (self.policies_dir / "model.conf").is_file():
            raise ValueError(f"policies directory {self.policies_dir} has no model.conf")
        return self

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def root_key_path(self) -> Path:
        return self.root_key_file or self.data_dir / "root.pub"

    @property
    def nats_config_path(self) -> Path:
        return self.nats_config_file or self.data_dir / "nats.conf"

    @property
    def nats_nkey_seed_file(self) -> Path:
        return self.nats_nkey_file or self.data_dir / "nats" / "service.nk"
