"""Prometheus metrics of one app, and the ASGI middleware that times every request.

Each app has its own registry (several apps in one test process must not collide). The request
log line is written here too: method, route *template*, status, duration, key name. Never the
query string: queries are personal data (issue 5, privacy).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Metrics", "TimingMiddleware", "share_between_workers", "worker_gone"]

log = logging.getLogger("directory.api.access")

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def share_between_workers(path: Path) -> None:
    """Make the metrics created from now on, in this process and the workers it forks, one set for
    the host: each process writes its values to files under ``path`` (emptied here) and ``/metrics``
    adds them up, whichever worker answers the scrape (prometheus_client's multiprocess mode).

    Without it each worker counted alone, so successive scrapes of one port jumped between
    workers' counters, and replacing the workers (a new index generation) reset them all.
    Called by the prefork parent before it forks (``directory.api.prefork``).
    """
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    # prometheus_client reads the variable once, at import; the metrics take their value class
    # from here when they are created (in the workers, after the fork).
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]


def worker_gone(path: Path, pid: int) -> None:
    """A worker has exited: its gauges stop counting (its counters stay in the totals)."""
    multiprocess.mark_process_dead(pid, str(path))  # type: ignore[no-untyped-call]


class Metrics:
    """The metrics the API exports at ``/metrics``; with ``multiprocess_dir`` (see
    :func:`share_between_workers`), those of every worker of the host together."""

    def __init__(self, multiprocess_dir: Path | None = None) -> None:
        self.multiprocess_dir = multiprocess_dir
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
        # With several workers: the index is the same in all (the largest live value), the caches
        # are each worker's own (summed over the live workers).
        self.index_people = Gauge(
            "directory_search_index_people", "People in the index.", registry=self.registry,
            multiprocess_mode="livemax",
        )  # fmt: skip
        self.cache_hits = Gauge(
            "directory_search_cache_hits", "Searches answered from the answer caches of the live workers.",
            registry=self.registry, multiprocess_mode="livesum",
        )  # fmt: skip
        self.cache_misses = Gauge(
            "directory_search_cache_misses", "Searches computed by the live workers.",
            registry=self.registry, multiprocess_mode="livesum",
        )  # fmt: skip
        self.index_generation = Gauge(
            "directory_search_index_generation",
            "Generation of the index being served.",
            registry=self.registry,
            multiprocess_mode="livemax",
        )

    def exposition(self) -> bytes:
        """The Prometheus text of these metrics, or of every worker's when they are shared."""
        if self.multiprocess_dir is None:
            return bytes(generate_latest(self.registry))
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(self.multiprocess_dir))  # type: ignore[no-untyped-call]
        return bytes(generate_latest(registry))

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
