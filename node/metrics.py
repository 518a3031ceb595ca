"""Prometheus metrics. Labels carry codes and node ids only, never content."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "fedshare_http_requests_total",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "fedshare_http_request_seconds",
            "HTTP request latency",
            ["route"],
            registry=self.registry,
        )
        self.denials = Counter(
            "fedshare_denials_total", "Refused accesses", ["action"], registry=self.registry
        )
        self.rate_limited = Counter(
            "fedshare_http_rate_limited_total",
            "Requests refused with 429: their address spent its budget of failed requests",
            registry=self.registry,
        )
        self.published = Counter(
            "fedshare_outbox_published_total", "Envelopes published", registry=self.registry
        )
        self.applied = Counter(
            "fedshare_inbox_applied_total", "Envelopes applied", ["kind"], registry=self.registry
        )
        self.relayed = Counter(
            "fedshare_envelopes_relayed_total",
            "Envelopes relayed to a next hop",
            registry=self.registry,
        )
        self.dead_letters = Counter(
            "fedshare_dead_letters_total", "Envelopes rejected", ["reason"], registry=self.registry
        )
        self.source_resets = Counter(
            "fedshare_inbound_source_resets_total",
            "Inbound stream sources reset after they stalled while their peer answered",
            ["peer"],
            registry=self.registry,
        )
        self.outbox_backlog = Gauge(
            "fedshare_outbox_backlog", "Envelopes waiting to be published", registry=self.registry
        )
