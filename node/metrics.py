"""Prometheus metrics. Labels carry codes and node ids only, never content."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily


class SequenceFigures:
    """Per-origin sequence figures (DESIGN §10), as the database holds them: set from the
    request's session at each scrape of ``/metrics``, so they are what transactions committed
    and survive restarts. ``fedshare_inbound_sequence_gaps{origin}``: envelopes missing for longer
    than the grace period; ``..._gaps_filled_total``: missing ones that arrived later (resent or
    late); ``..._voids_total``: missing ones their origin no longer held."""

    def __init__(self) -> None:
        self._by_origin: dict[str, tuple[int, int, int]] = {}

    def set(self, by_origin: dict[str, tuple[int, int, int]]) -> None:
        """(missing, filled, voided) per origin."""
        self._by_origin = dict(by_origin)

    def _families(self) -> tuple[Any, Any, Any]:
        return (
            GaugeMetricFamily(
                "fedshare_inbound_sequence_gaps",
                "Envelopes missing from an origin's numbers for longer than the grace period",
                labels=["origin"],
            ),
            CounterMetricFamily(
                "fedshare_inbound_sequence_gaps_filled",
                "Missing envelopes that arrived later (resent by their origin, or late)",
                labels=["origin"],
            ),
            CounterMetricFamily(
                "fedshare_inbound_sequence_voids",
                "Missing envelopes their origin no longer held (they never arrive)",
                labels=["origin"],
            ),
        )

    def describe(self) -> Iterator[Any]:
        return iter(self._families())

    def collect(self) -> Iterator[Any]:
        families = self._families()
        for origin, figures in sorted(self._by_origin.items()):
            for family, value in zip(families, figures, strict=True):
                family.add_metric([origin], value)
        return iter(families)


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
        self.quota_rejections = Counter(
            "fedshare_inbound_quota_rejections_total",
            "Envelopes refused because their origin spent its inbound quota",
            ["origin"],
            registry=self.registry,
        )
        self.source_resets = Counter(
            "fedshare_inbound_source_resets_total",
            "Inbound stream sources reset after they stalled while their peer answered",
            ["peer"],
            registry=self.registry,
        )
        self.sequences = SequenceFigures()
        self.registry.register(self.sequences)
        self.outbox_backlog = Gauge(
            "fedshare_outbox_backlog", "Envelopes waiting to be published", registry=self.registry
        )
