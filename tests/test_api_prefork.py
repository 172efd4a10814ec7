"""Several workers on one host: one index built by the parent and shared, one rate limit per key."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from directory.apikeys import create_key
from directory.config import Settings
from directory.db import Database
from directory.errors import RateLimitedError
from directory.ratelimit import RateLimiter, SharedBuckets
from directory.search.hooks import bump_generation
from tests.factories import World

ROOT = Path(__file__).resolve().parent.parent


def test_forked_workers_share_one_bucket_per_key() -> None:
    limiter = RateLimiter(default_rate=60, burst=4)  # capacity 5 tokens, one a second
    limiter._shared = SharedBuckets(slots=16)
    pid = os.fork()
    if pid == 0:  # the other worker takes the whole burst
        try:
            for _ in range(5):
                limiter.hit(7)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    with pytest.raises(RateLimitedError) as refused:
        limiter.hit(7)
    assert refused.value.retry_after == 1
    limiter.hit(8)  # another key has its own bucket
    for key in range(100, 140):  # more keys than slots: the rest fall back to per-worker buckets
        limiter.hit(key)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _fetch(url: str, key: str | None) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b"{}"


def _get(url: str, key: str | None) -> tuple[int, dict[str, object]]:
    status, body = _fetch(url, key)
    return status, json.loads(body)


def _searches_counted(base: str, admin: str) -> float:
    """The successful searches the scraped metrics count, over every route label of the search."""
    status, text = _fetch(f"{base}/metrics", admin)
    assert status == 200
    pattern = re.compile(
        r"^directory_api_request_seconds_count\{"
        r'(?=[^}]*route="/v1/people/search")(?=[^}]*status="200")[^}]*\} (\S+)$',
        re.M,
    )
    return sum(float(v) for v in pattern.findall(text.decode()))


def _counted_equals(base: str, admin: str, expected: int) -> bool:
    """Whether scrapes agree with ``expected`` (a worker records a request just after answering it)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if all(_searches_counted(base, admin) == expected for _ in range(4)):  # whichever worker answers
            return True
        time.sleep(0.2)
    return False


def test_serve_with_two_workers_shares_the_index_and_follows_new_generations(
    db: Database, settings: Settings
) -> None:
    world = World(db)
    world.person(given_name="Anaïs", usage_name="LEBRETON")
    _, key = create_key(db, name="two-workers", scopes={"search"}, rate_limit_per_minute=10**6)
    port = _free_port()
    env = {
        **os.environ,
        "DIRECTORY_DATABASE_URL": str(settings.database_url),
        "DIRECTORY_DATA_DIR": str(settings.data_dir),
        "DIRECTORY_SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
        "DIRECTORY_SEARCH_REFRESH_INTERVAL": "0.5",
        "DIRECTORY_LOG_LEVEL": "WARNING",
        "DIRECTORY_METRICS_DIR": str(settings.data_dir.parent / "metrics"),
    }
    server = subprocess.Popen(
        [sys.executable, "-c", "from directory.cli import main; main()", "serve", "--port", str(port),
         "--workers", "2"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1/people/search?q="
    try:
        deadline = time.monotonic() + 120
        status, body = 0, {}
        ok = 0  # successful searches, which the metrics must count whichever worker answered
        while status != 200 and time.monotonic() < deadline:
            status, body = _get(url + "lebret", key)
            time.sleep(0.2)
        assert status == 200, body
        ok += 1
        assert [r["display_name"] for r in body["results"]] == ["Anaïs Lebreton"]  # type: ignore[attr-defined]
        # Both workers are children of the one process that built the index.
        children = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(server.pid)], capture_output=True, text=True
        )
        assert len(children.stdout.split()) == 2
        # The workers' probes are open and say nothing of the directory; their metrics need an
        # admin key.
        base = f"http://127.0.0.1:{port}"
        assert _get(f"{base}/readyz", None) == (200, {"status": "ok"})
        assert _get(f"{base}/metrics", None)[0] == 401
        assert _get(f"{base}/metrics", key)[0] == 403
        _, admin = create_key(db, name="prometheus", scopes={"metrics"})
        status, text = _fetch(f"{base}/metrics", admin)
        assert status == 200 and b"directory_search_index_people 1.0" in text
        for _ in range(20):
            assert _get(url + "anais", key)[0] == 200
            ok += 1
        # One set of metrics for the host: every scrape counts both workers' requests, kept in
        # files under DIRECTORY_METRICS_DIR, one folder per port.
        assert _counted_equals(base, admin, ok)
        assert list((settings.data_dir.parent / "metrics" / str(port)).glob("histogram_*.db"))
        # An import or matching run ends: the parent rebuilds, then replaces both workers.
        world.person(given_name="Bastien", usage_name="LEBRETON")
        bump_generation(db)
        found: list[object] = []
        while len(found) < 2 and time.monotonic() < deadline + 60:
            status, body = _get(url + "lebreton", key)
            ok += status == 200
            found = list(body.get("results", [])) if status == 200 else []  # type: ignore[call-overload]
            time.sleep(0.2)
        assert len(found) == 2
        # The new workers did not start the counts again: the old workers' requests stay counted.
        assert _counted_equals(base, admin, ok)
        assert b"directory_search_index_people 2.0" in _fetch(f"{base}/metrics", admin)[1]
    finally:
        server.terminate()
        assert server.wait(timeout=60) == 0
