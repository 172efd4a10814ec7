"""The API under load for the search benchmark (``bench_search``): the server process, the asyncio
HTTP/1.1 keep-alive client (end-to-end and ``Server-Timing`` latencies), ``wrk`` replaying the mix,
and what the server's processes used (CPU, memory, answer-cache hits)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.search_mix import Query

try:  # the client's own CPU counts against the server on two cores: the faster loop when there
    from uvloop import run as run_loop
except ImportError:  # pragma: no cover
    from asyncio import run as run_loop

__all__ = [
    "Sample",
    "cache_counts",
    "load",
    "pct",
    "request_bytes",
    "request_path",
    "rss_mb",
    "run_loop",
    "start_server",
    "summary",
    "tree_cpu_s",
    "wait_ready",
    "wrk_load",
]

ROOT = Path(__file__).resolve().parent.parent


def start_server(
    url: str, port: int, workers: int, env_extra: dict[str, str], docs: Path | None = None
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DIRECTORY_DATABASE_URL": url,
        "DIRECTORY_LOG_LEVEL": "WARNING",
        "DIRECTORY_SEARCH_REFRESH_INTERVAL": "30",
        **env_extra,
    }
    if docs is not None:
        cmd = [
            sys.executable,
            "-m",
            "bench.search_server",
            str(docs),
            "--port",
            str(port),
            "--workers",
            str(workers),
        ]
        return subprocess.Popen(cmd, env=env, cwd=ROOT)
    # ``directory serve``: with several workers, one index built and shared by forked workers.
    return subprocess.Popen(
        [sys.executable, "-c", "from directory.cli import main; main()", "serve", "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(workers)],
        env={**env, "DIRECTORY_WORKERS": str(workers)},
        cwd=ROOT,
    )  # fmt: skip


async def wait_ready(port: int, timeout: float) -> float:
    """Until /readyz answers 200 on 30 new connections in a row: with several workers behind one
    port, each connection may land on another worker, and every one must have its index."""
    start = time.perf_counter()
    streak = 0
    while time.perf_counter() - start < timeout:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /readyz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            head = await reader.readuntil(b"\r\n\r\n")
            writer.close()
            streak = streak + 1 if head.startswith(b"HTTP/1.1 200") else 0
            if streak >= 30:
                return time.perf_counter() - start
        except (OSError, asyncio.IncompleteReadError):
            streak = 0
        await asyncio.sleep(0.05 if streak else 1)
    raise RuntimeError("the API did not become ready")


def request_path(q: Query) -> str:
    params = {"q": q.text, "limit": "25"}
    if q.context:
        params["context"] = q.context
    return "/v1/people/search?" + urllib.parse.urlencode(params)


def request_bytes(q: Query, key: str) -> bytes:
    return f"GET {request_path(q)} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {key}\r\n\r\n".encode()


@dataclass
class Sample:
    e2e_ms: float
    server_ms: float
    cpu_ms: float
    status: int
    body: bytes = b""


_CL = re.compile(rb"content-length: *(\d+)", re.I)


_ST = re.compile(rb"server-timing: *app;dur=([0-9.]+)(?:, *cpu;dur=([0-9.]+))?", re.I)


async def connection(port: int, reqs: list[bytes], out: list[Sample], keep_body: bool) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for req in reqs:
        t0 = time.perf_counter()
        writer.write(req)
        head = await reader.readuntil(b"\r\n\r\n")
        m = _CL.search(head)
        body = await reader.readexactly(int(m[1])) if m else b""
        t1 = time.perf_counter()
        st = _ST.search(head)
        out.append(
            Sample(
                (t1 - t0) * 1000,
                float(st[1]) if st else float("nan"),
                float(st[2]) if st and st[2] else float("nan"),
                int(head[9:12]),
                body if keep_body else b"",
            )
        )
    writer.close()


async def load(
    port: int, reqs: list[bytes], clients: int, keep_body: bool = False
) -> tuple[list[Sample], float]:
    chunks = [reqs[i::clients] for i in range(clients)]
    out: list[Sample] = []
    t0 = time.perf_counter()
    await asyncio.gather(*(connection(port, c, out, keep_body) for c in chunks))
    return out, time.perf_counter() - t0


WRK_SCRIPT = ROOT / "bench" / "wrk" / "search_mix.lua"


def wrk_load(
    port: int, paths: list[str], key: str, clients: int, duration: float, offset: int = 0
) -> dict[str, Any]:
    """One pass of ``wrk`` (C, one thread: far cheaper per request than any Python client, so
    that the server keeps most of the two cores) replaying the mix; the Lua script collects the
    ``Server-Timing`` figures. Returns the JSON line the script prints."""
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".paths", delete=False) as fh:
        fh.write("\n".join(paths) + "\n")
    try:
        done = subprocess.run(
            ["wrk", "-t1", f"-c{clients}", f"-d{round(duration)}s", "--timeout", "10s", "-s", str(WRK_SCRIPT),
             f"http://127.0.0.1:{port}", "--", fh.name, key, str(offset)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    finally:
        Path(fh.name).unlink()
    line = [x for x in done.stdout.splitlines() if x.startswith("{")][-1]
    out: dict[str, Any] = json.loads(line)
    return out


def cache_counts(port: int, admin_key: str) -> tuple[float, float]:
    """The answer cache's hits and misses as one worker's ``/metrics`` says (a key with the
    ``admin`` scope reads it)."""
    import urllib.request

    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {admin_key}"}
    )
    text = urllib.request.urlopen(request, timeout=10).read().decode()
    values = dict(re.findall(r"^(directory_search_cache_\w+) ([0-9.e+]+)$", text, re.M))
    get = values.get
    hits, misses = get("directory_search_cache_hits", 0), get("directory_search_cache_misses", 0)
    return float(hits), float(misses)


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {"p50": pct(values, 50), "p95": pct(values, 95), "p99": pct(values, 99), "max": max(values or [0])}


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its children (the API workers)."""
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    total = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (MB)."""
    try:
        out = subprocess.run(
            ["ps", "-o", "rss=", "--ppid", str(pid), "-p", str(pid)], capture_output=True, text=True
        )
        return sum(int(x) for x in out.stdout.split()) / 1024
    except (OSError, ValueError):
        return float("nan")
