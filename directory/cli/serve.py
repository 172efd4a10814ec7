"""``directory serve``: the API (and whatever routers other packages mount on it) with uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from directory.cli.app import app, console, handle_errors
from directory.config import Settings, get_settings

if TYPE_CHECKING:
    from directory.search.service import SearchService

__all__ = ["serve"]


def _factory() -> object:
    """The app for uvicorn's ``--factory`` import string (each worker builds its own)."""
    from directory.api.app import create_app

    return create_app(get_settings())


def _build_index(settings: Settings) -> SearchService:
    """The search index, built in the parent of the workers (its connections closed before forking)."""
    from directory.api.app import prepare_primary
    from directory.db import Database
    from directory.migrate import open_database
    from directory.search.service import SearchService

    db = open_database(settings)
    try:
        prepare_primary(db, settings)
        read_db = (
            Database.from_settings(settings, read_only=True).open() if settings.read_database_url else db
        )
        try:
            service = SearchService(
                read_db,
                refresh_interval=settings.search_refresh_interval,
                cache_size=settings.search_cache_size,
            )
            service.rebuild()
        finally:
            if read_db is not db:
                read_db.close()
    finally:
        db.close()
    return service  # each worker gives it its own connection pool (create_app, follow_store)


def _metrics_dir(settings: Settings) -> Path:
    """Where the workers of this host write their metrics (emptied when the server starts)."""
    return (settings.metrics_dir or settings.data_dir / "api-metrics") / str(settings.port)


def _worker_app(settings: Settings, service: SearchService, metrics_dir: Path) -> object:
    from directory.api.app import create_app

    return create_app(settings, search=service, prepare=False, follow_store=True, metrics_dir=metrics_dir)


def _generation(settings: Settings) -> int:
    from directory.db import Database
    from directory.search.hooks import read_state

    with Database.from_settings(settings, read_only=True) as db:  # closed before any fork
        return read_state(db)[0]


@app.command("serve")
@handle_errors
def serve(
    host: str | None = typer.Option(None, help="Address to listen on (default DIRECTORY_HOST)."),
    port: int | None = typer.Option(None, help="Port to listen on (default DIRECTORY_PORT)."),
    workers: int | None = typer.Option(None, help="Worker processes (default DIRECTORY_WORKERS)."),
) -> None:
    """Serve the API: search, resolution, federation endpoints, /docs, /metrics."""
    import uvicorn

    settings = get_settings()
    host = host or settings.host
    port = port or settings.port
    workers = workers or settings.workers
    console.print(f"API on http://{host}:{port}  (OpenAPI: http://{host}:{port}/docs)", highlight=False)
    if workers > 1:
        # One index for the host, built here and shared by the forked workers (prefork.py).
        from directory.api.prefork import serve_prefork

        metrics_dir = _metrics_dir(settings.model_copy(update={"port": port}))
        serve_prefork(
            build=lambda: _build_index(settings),
            make_app=lambda service: _worker_app(settings, service, metrics_dir),
            host=host,
            port=port,
            workers=workers,
            log_level=settings.log_level.lower(),
            generation=lambda: _generation(settings),
            poll_interval=settings.search_refresh_interval,
            metrics_dir=metrics_dir,
        )
        return
    # access_log off: uvicorn's access line carries the query string, and queries are personal
    # data; the app logs its own line with the route template instead.
    uvicorn.run(
        "directory.cli.serve:_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        log_level=settings.log_level.lower(),
    )
