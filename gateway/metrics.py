"""Prometheus metrics: request counts and latencies, projector and event-store positions."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "im_http_requests", "HTTP requests", ["route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "im_http_request_seconds",
            "HTTP request latency",
            ["route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.head = Gauge("im_event_store_head", "Last event position", registry=self.registry)
        self.projected = Gauge(
            "im_projector_position", "Last projected position", registry=self.registry
        )
        self.lag = Gauge("im_projector_lag_events", "Head minus projected", registry=self.registry)

    def observe(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def render(self, head: int, projected: int) -> bytes:
        self.head.set(head)
        self.projected.set(projected)
        self.lag.set(max(0, head - projected))
        return generate_latest(self.registry)
