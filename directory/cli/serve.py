"""``directory serve``: the API (and whatever routers other packages mount on it) with uvicorn."""

from __future__ import annotations

import typer

from directory.cli.app import app, console, handle_errors
from directory.config import get_settings

__all__ = ["serve"]


def _factory() -> object:
    """The app for uvicorn's ``--factory`` import string (each worker builds its own)."""
    from directory.api.app import create_app

    return create_app(get_settings())


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
