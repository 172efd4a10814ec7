"""The FastAPI application factory: ``create_app(settings) -> FastAPI``.

Composable: the admin UI mounts its own routers on the returned app (``app.include_router``),
and reaches the shared state as ``app.state.api`` (``ApiState``: the stores, the search service).

At start (lifespan): open the primary (migrations applied) and the read store
(``DIRECTORY_READ_DATABASE_URL`` when set), sync the configured instances and assign home
instances (primary only), then load the search index, in the background unless
``index="blocking"``: until it is loaded ``/readyz`` and searches answer 503 (``index_loading``). A
background thread then keeps the index fresh and flushes the exposure counter.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import metadata
from pathlib import Path
from typing import Literal

from fastapi import FastAPI
from starlette.responses import Response

from directory.api import compat, people
from directory.api.deps import ApiState, MetricsKey, StateDep
from directory.api.errors import ERROR_RESPONSES, install_error_handlers
from directory.api.fastpath import SearchFastPath
from directory.api.metrics import Metrics, TimingMiddleware
from directory.api.responses import json_response
from directory.api.schemas import Health
from directory.apikeys import KeyCache
from directory.config import Settings
from directory.db import Database
from directory.instances import assign_home_instances, load_instances, sync_instances
from directory.migrate import open_database
from directory.ratelimit import ExposureCounter, RateLimiter
from directory.search.service import SearchService

__all__ = ["create_app", "prepare_primary"]

log = logging.getLogger(__name__)

try:
    VERSION = metadata.version("directory")
except metadata.PackageNotFoundError:  # running from a source tree that was not installed
    VERSION = "0"

DESCRIPTION = """\
People-picker search and identity resolution for the national education directory.

Every endpoint needs an API key: `Authorization: Bearer <key>` (created with
`directory keys create --name NAME --scopes search,resolve`); `/metrics` needs the `metrics`
(or `admin`) scope.
Only the orchestrator probes `/healthz` and `/readyz` are open, and they answer a status alone.
Errors are JSON:
`{"error": {"code": "<stable code>", "message": "..."}}`.
"""


def prepare_primary(db: Database, settings: Settings) -> None:
    """Sync the configured instances and give new people a home instance (on the primary)."""
    if settings.instances is not None:
        sync_instances(db, load_instances(settings.instances))
    assign_home_instances(db)


def _set_gauges(state: ApiState) -> None:
    """This worker's index and cache figures into its gauges."""
    metrics, search = state.metrics, state.search
    if search.ready:
        snap = search.snapshot
        metrics.index_people.set(snap.size)
        metrics.index_generation.set(snap.generation)
    metrics.cache_hits.set(search.cache_hits)
    metrics.cache_misses.set(search.cache_misses)


def create_app(
    settings: Settings,
    *,
    index: Literal["background", "blocking"] = "background",
    search: SearchService | None = None,
    prepare: bool = True,
    store: bool = True,
    ui: bool = True,
    follow_store: bool = False,
    metrics_dir: Path | None = None,
) -> FastAPI:
    """Build the API.

    ``search`` may be given: a benchmark serves an index built without importing into the store.
    ``store=False`` (only with ``search``) runs without PostgreSQL: no key store, so every
    authenticated call is refused; for measuring the bare app. ``follow_store`` (with ``search``:
    an index built by the parent of forked workers, ``prefork.py``) keeps it fresh from the store
    with overlays, leaving new generations to the parent, which replaces the workers. ``ui``
    mounts the admin review UI and the share-dialog demo (``directory.ui.mount_ui``), as
    ``directory serve`` does. ``metrics_dir``: the workers of one host report their metrics
    together (``directory.api.metrics.share_between_workers``, done by the prefork parent).
    """
    metrics = Metrics(metrics_dir)
    state_box: dict[str, ApiState] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db: Database | None = None
        read_db: Database | None = None
        service = search
        if store or service is None:
            db = open_database(settings)
        if service is None or follow_store:
            assert db is not None
            read_db = (
                Database.from_settings(settings, read_only=True).open() if settings.read_database_url else db
            )
        if service is not None and read_db is not None:
            service.db = read_db
            service.follow_generations = False
        if service is None:
            assert read_db is not None
            service = SearchService(
                read_db,
                refresh_interval=settings.search_refresh_interval,
                cache_size=settings.search_cache_size,
            )
        state = ApiState(
            settings=settings,
            db=db,
            read_db=read_db,
            search=service,
            keys=KeyCache(db, settings.api_key_cache_seconds) if db is not None else None,
            limiter=RateLimiter(default_rate=settings.rate_limit_per_minute, burst=settings.rate_limit_burst),
            exposure=ExposureCounter(
                db,
                memory_ids=settings.exposure_memory_ids,
                on_new=lambda key_name, n: metrics.people_returned.labels(key_name).inc(n),
            ),
            metrics=metrics,
        )
        app.state.api = state_box["state"] = state
        stop = threading.Event()

        def load() -> None:
            try:
                if db is not None and prepare:
                    prepare_primary(db, settings)
                if not service.ready:
                    service.rebuild()
            except Exception:
                log.exception("the search index could not be loaded")

        if index == "blocking" or search is not None:
            load()
        else:
            threading.Thread(target=load, name="search-initial-load", daemon=True).start()
        if read_db is not None:
            service.start()

        def flush_loop() -> None:
            # Every interval, or sooner when the counter's queue fills (``due``).
            while True:
                state.exposure.due.wait(settings.exposure_flush_interval)
                if stop.is_set():
                    return
                if metrics.multiprocess_dir is not None:
                    _set_gauges(state)  # another worker may answer the scrape
                try:
                    state.exposure.flush()
                except Exception:
                    log.exception("could not write the exposure counter")
                    stop.wait(1.0)  # a store down: do not spin on a queue that stays full

        flusher = threading.Thread(target=flush_loop, name="exposure-flush", daemon=True)
        flusher.start()
        try:
            yield
        finally:
            stop.set()
            state.exposure.due.set()  # wakes the flushing thread, which sees ``stop``
            service.stop()
            try:
                state.exposure.flush()
            except Exception:
                log.exception("could not write the exposure counter")
            if read_db is not None and read_db is not db:
                read_db.close()
            if db is not None:
                db.close()

    app = FastAPI(
        title="National directory: people search and resolution",
        version=VERSION,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(TimingMiddleware, metrics=metrics)
    # Added last, so outermost: the hot search route skips the rest of the stack (fastpath.py).
    app.add_middleware(SearchFastPath, state=lambda: state_box.get("state"))
    app.include_router(people.router)
    app.include_router(compat.router)
    if ui:
        from directory.ui import mount_ui  # imported here: the UI is optional for the API

        mount_ui(app, settings)  # the admin review UI and the share-dialog demo (issue 6)

    @app.get("/healthz", response_model=Health, tags=["operations"], summary="The process answers")
    async def healthz() -> Response:
        return json_response({"status": "ok"})

    @app.get(
        "/readyz",
        response_model=Health,
        tags=["operations"],
        summary="The index is loaded (503 until then)",
        responses={503: {"model": Health}},
    )
    async def readyz(state: StateDep) -> Response:
        # Open to probes, so it says nothing of the directory (its size is in /metrics, behind a key).
        if not state.search.ready:
            return json_response({"status": "starting"}, status=503)
        return json_response({"status": "ok"})

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics (scope `metrics`)",
        description="Prometheus text format. Needs a key with the `metrics` (or `admin`) scope: the "
        "metrics name the API keys and count the people each was shown.",
        response_class=Response,
        responses=ERROR_RESPONSES,
    )
    async def metrics_endpoint(state: StateDep, key: MetricsKey) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST

        _set_gauges(state)
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return app
