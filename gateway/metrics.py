"""Prometheus metrics: request counts and latencies, event-store head, followers' positions."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from projections.cascade.relay import RelayStatus
from projections.follower import FollowerStatus


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
        self.lag = Gauge(
            "im_projector_lag_events",
            "Events not yet projected (counted up to 100,000)",
            registry=self.registry,
        )
        self.append_latency = Histogram(
            "im_event_store_append_seconds",
            "Event-store append latency (one call, any number of events)",
            registry=self.registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.push_latency = Histogram(
            "im_push_latency_seconds",
            "From an event's append to its frames queued for the connected users",
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.ws_connections = Gauge(
            "im_ws_connections", "Open WebSockets in this process", registry=self.registry
        )
        self.ready = Gauge("im_ready", "1 while /ready answers 200, else 0", registry=self.registry)
        self.relay = {
            name: Gauge(f"im_relay_{name}", text, registry=self.registry)
            for name, text in [
                ("position", "Last event position the broker confirmed"),
                ("lag_events", "Events not yet confirmed by the broker (up to 100,000)"),
                ("published_messages", "Messages confirmed since start"),
                ("unroutable_messages", "Confirmed messages no queue was bound for"),
                ("failures", "Publish failures (each followed by backoff and retry)"),
                ("connected", "1 while the relay's broker connection is up"),
            ]
        }

        self.follower_position = Gauge(
            "im_follower_position",
            "Last event position a follower of the event log is done with",
            ["follower"],
            registry=self.registry,
        )
        self.follower_lag = Gauge(
            "im_follower_lag_events",
            "Head minus a follower's position",
            ["follower"],
            registry=self.registry,
        )
        self.follower_failures = Gauge(
            "im_follower_failures",
            "A follower's failures since start (each followed by backoff and a new subscription)",
            ["follower"],
            registry=self.registry,
        )

    def time_appends(self, store: Any) -> None:
        """Observe every ``append`` of this event store (wraps the instance's method)."""
        inner = store.append
        observe = self.append_latency.observe

        async def append(stream: str, events: Any, expected_version: int | None) -> int:
            started = time.perf_counter()
            try:
                position: int = await inner(stream, events, expected_version)
                return position
            finally:
                observe(time.perf_counter() - started)

        setattr(store, "append", append)  # noqa: B010

    def pushed(self, recorded_at: float) -> None:
        self.push_latency.observe(max(0.0, time.time() - recorded_at))

    def connections(self, count: int) -> None:
        self.ws_connections.set(count)

    def observe(self, route: str, status: int, seconds: float) -> None:
        self.route(route)(status, seconds)

    def route(self, route: str) -> Callable[[int, float], None]:
        """A recorder bound to one route: label lookups happen once, not per request."""
        latency = self.latency.labels(route)
        by_status: dict[int, Any] = {}

        def record(status: int, seconds: float) -> None:
            counter = by_status.get(status)
            if counter is None:
                counter = by_status[status] = self.requests.labels(route, str(status))
            counter.inc()
            latency.observe(seconds)

        return record

    def render(
        self,
        head: int,
        projected: int,
        lag: int,
        relay: RelayStatus | None = None,
        relay_lag: int = 0,
        followers: Sequence[tuple[FollowerStatus, int]] = (),
    ) -> bytes:
        """Lags are event counts from the event store (positions are opaque, never subtracted);
        ``followers`` pairs each follower's status with its lag."""
        for f, f_lag in followers:
            self.follower_position.labels(f.name).set(f.position)
            self.follower_lag.labels(f.name).set(f_lag)
            self.follower_failures.labels(f.name).set(f.failures)
        if relay is not None:
            self.relay["position"].set(relay.position)
            self.relay["lag_events"].set(relay_lag)
            self.relay["published_messages"].set(relay.published)
            self.relay["unroutable_messages"].set(relay.unroutable)
            self.relay["failures"].set(relay.failures)
            if relay.connected is not None:  # None: the relay runs in another process
                self.relay["connected"].set(1 if relay.connected else 0)
        self.head.set(head)
        self.projected.set(projected)
        self.lag.set(lag)
        return generate_latest(self.registry)
