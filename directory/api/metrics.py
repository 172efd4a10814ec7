"""Prometheus metrics of one app, and the ASGI middleware that times every request.

Each app has its own registry (several apps in one test process must not collide). The request
log line is written here too: method, route *template*, status, duration, key name. Never the
query string: queries are personal data (issue 5, privacy).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Metrics", "TimingMiddleware"]

log = logging.getLogger("directory.api.access")

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """The metrics the API exports at ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "directory_api_request_seconds",
            "Server-side request latency.",
            ["route", "method", "status"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.results = Histogram(
            "directory_api_results",
            "Results returned per search or lookup (0 when a lookup finds nobody).",
            ["route"],
            buckets=(0, 1, 2, 3, 5, 10, 25, 50),
            registry=self.registry,
        )
        self._results_of: dict[str, Histogram] = {}  # route -> its child (labels() costs a lookup and a lock)
        self.errors = Counter(
            "directory_api_errors_total", "Error answers, by stable code.", ["code"], registry=self.registry
        )
        self.people_returned = Counter(
            "directory_api_people_returned_total",
            "People returned to a key for the first time today (scraping shows up here).",
            ["key"],
            registry=self.registry,
        )
        self.index_people = Gauge(
            "directory_search_index_people", "People in the index.", registry=self.registry
        )
        self.cache_hits = Gauge(
            "directory_search_cache_hits", "Searches answered from the answer cache (this worker).",
            registry=self.registry,
        )  # fmt: skip
        self.cache_misses = Gauge(
            "directory_search_cache_misses", "Searches computed (this worker).", registry=self.registry
        )
        self.index_generation = Gauge(
            "directory_search_index_generation",
            "Generation of the index being served.",
            registry=self.registry,
        )

    def results_of(self, route: str) -> Histogram:
        """The ``directory_api_results`` histogram of one route template."""
        child = self._results_of.get(route)
        if child is None:
            child = self._results_of[route] = self.results.labels(route)
        return child


class TimingMiddleware:
    """Times each HTTP request into the latency histogram; adds ``Server-Timing: app;dur=ms, cpu;dur=ms``."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        cpu_start = time.thread_time()
        status = 500

        async def send_timed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                ms = (time.perf_counter() - start) * 1000
                # cpu: CPU time of the event-loop thread meanwhile; on a machine shared with
                # other jobs it shows the request's own cost when wall time shows the queueing.
                cpu = (time.thread_time() - cpu_start) * 1000
                headers: list[Any] = list(message.get("headers", []))
                headers.append((b"server-timing", f"app;dur={ms:.3f}, cpu;dur={cpu:.3f}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_timed)
        finally:
            elapsed = time.perf_counter() - start
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.latency.labels(route, scope["method"], str(status)).observe(elapsed)
            if log.isEnabledFor(logging.INFO):
                state = scope.get("state") or {}
                log.info(
                    "%s %s %d %.2fms key=%s",
                    scope["method"], route, status, elapsed * 1000, state.get("key_name", "-"),
                )  # fmt: skip
