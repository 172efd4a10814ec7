"""Several API workers on one host sharing one search index: build once, then fork.

``uvicorn --workers N`` starts N fresh interpreters, and each built its own index (at 1.2 million
people: ~3 CPU-minutes and ~480 MB of arrays each, 3 GB at the peak of a build). Here the parent
process builds the index once and forks the workers, which inherit it: its numpy arrays live in
pages that no worker writes, so the kernel shares them (copy-on-write) and N workers cost one
index. ``gc.freeze()`` before forking keeps the collector from touching (and so copying) the
objects built so far.

The parent then only supervises: it listens on the port (the workers accept on the inherited
socket), restarts a worker that dies, and polls the store's generation. A new generation (an
import or matching run finished) makes the parent build the new index while the old workers go on
serving, fork a new set on it, and stop the old set gracefully (uvicorn finishes the requests in
flight): the whole host switches to the new index, still shared. The small per-change updates
(``search_changes``: admin decisions, account reports) are applied by each worker to its own
overlay, as with a single worker (``SearchService.refresh`` with ``follow_generations=False``).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from directory.api.metrics import share_between_workers, worker_gone
from directory.ratelimit import share_between_processes
from directory.search.service import SearchService

__all__ = ["serve_prefork"]

log = logging.getLogger(__name__)


def serve_prefork(
    *,
    build: Callable[[], SearchService],
    make_app: Callable[[SearchService], Any],
    host: str,
    port: int,
    workers: int,
    log_level: str = "warning",
    generation: Callable[[], int] | None = None,
    poll_interval: float = 2.0,
    metrics_dir: Path | None = None,
) -> None:
    """Build the index with ``build()``, fork ``workers`` uvicorn workers serving ``make_app(service)``
    on one listening socket, supervise them; with ``generation`` (the store's current generation),
    rebuild and replace the workers when it changes. Returns on SIGTERM or SIGINT. With
    ``metrics_dir``, the workers' metrics are one set for the host (``make_app`` must build its app
    with the same directory)."""
    share_between_processes()  # one rate-limit bucket per key for the whole host

    def reaped(pid: int) -> None:
        if metrics_dir is not None:
            worker_gone(metrics_dir, pid)

    service = build()
    current = service.snapshot.generation
    # Listen only now: a balancer probing the port meanwhile gets "refused", not a hung connection.
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    if metrics_dir is not None:
        # after the bind: a second server started on this port by mistake fails above, before it
        # empties the running one's metric files
        share_between_workers(metrics_dir)

    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    children = {_spawn(sock, service, make_app, log_level) for _ in range(workers)}
    next_poll = time.monotonic() + poll_interval
    try:
        while not stopping:
            time.sleep(0.2)
            for pid in list(children):
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    children.discard(pid)
                    reaped(pid)
                    if not stopping:
                        log.error("API worker %d exited (status %d); starting another", pid, status)
                        children.add(_spawn(sock, service, make_app, log_level))
            if generation is None or time.monotonic() < next_poll:
                continue
            next_poll = time.monotonic() + poll_interval
            try:
                latest = generation()
            except Exception:
                log.exception("could not read the search generation; still serving the current index")
                continue
            if latest == current:
                continue
            log.info("search generation %d: building the new index before replacing the workers", latest)
            gc.unfreeze()
            service = build()
            current = service.snapshot.generation
            old, children = children, {_spawn(sock, service, make_app, log_level) for _ in range(workers)}
            for pid in old:
                _signal(pid, signal.SIGTERM)
            for pid in old:
                os.waitpid(pid, 0)
                reaped(pid)
    finally:
        for pid in children:
            _signal(pid, signal.SIGTERM)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        sock.close()


def _spawn(
    sock: socket.socket, service: SearchService, make_app: Callable[[SearchService], Any], level: str
) -> int:
    gc.freeze()  # what exists now stays untouched by the collector, hence shared with the child
    pid = os.fork()
    if pid:
        return pid
    # The worker: default signal handlers (uvicorn installs its own), serve, never return.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    code = 0
    try:
        import uvicorn

        config = uvicorn.Config(make_app(service), access_log=False, log_level=level)
        uvicorn.Server(config).run(sockets=[sock])
    except BaseException:
        log.exception("API worker failed")
        code = 1
    finally:
        os._exit(code)


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)
