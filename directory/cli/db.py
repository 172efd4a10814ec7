"""``directory db ...``: the store itself."""

from __future__ import annotations

import typer

from directory.cli.app import app, console, handle_errors
from directory.config import get_settings
from directory.db import Database, redact_url
from directory.migrate import apply_migrations

__all__ = ["db_app"]

db_app = typer.Typer(help="The PostgreSQL store.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("migrate")
@handle_errors
def migrate() -> None:
    """Apply pending migrations (the service also does this at start)."""
    settings = get_settings()
    with Database.from_settings(settings) as db:
        applied = apply_migrations(db)
        console.print(f"database: {redact_url(db.url)}")
        if applied:
            for m in applied:
                console.print(f"applied {m.version:04d}_{m.name}")
        else:
            console.print("schema up to date")


@db_app.command("url")
@handle_errors
def url() -> None:
    """Print the URL of the store (password hidden), starting the embedded server if needed."""
    with Database.from_settings(get_settings()) as db:
        console.print(redact_url(db.url), highlight=False)
