"""``directory db ...``: the store itself."""

from __future__ import annotations

from typing import Annotated

import typer

from directory.cli.app import app, console, err_console, handle_errors
from directory.config import get_settings
from directory.db import Database, redact_url
from directory.migrate import apply_migrations
from directory.secrets import Hasher
from importers.hashkey import accept_hash_key, key_fingerprint

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


@db_app.command("accept-hash-key")
@handle_errors
def accept_hash_key_command(
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: the key was rotated on purpose.")] = False,
    actor: Annotated[str, typer.Option("--by", help="Who accepts it (recorded in the audit log).")] = "cli",
) -> None:
    """Make the current hashing key the store's, after a deliberate rotation (then re-import all
    feeds in full: `directory import all --full`)."""
    if not yes:
        err_console.print(
            "[bold red]error:[/] this makes every stored NUMEN and birth-date hash incomparable with new "
            "ones until every feed is re-imported in full; confirm with --yes"
        )
        raise typer.Exit(2)
    settings = get_settings()
    hasher = Hasher(settings.hashing_secret())
    with Database.from_settings(settings) as db, db.connection() as conn:
        previous = accept_hash_key(conn, hasher, actor)
        conn.commit()
    mine = key_fingerprint(hasher)
    if previous == mine:
        console.print(f"the store already uses this key (fingerprint {mine[:12]})")
    else:
        was = previous[:12] if previous else "none"
        console.print(f"hashing key accepted: fingerprint {mine[:12]} (was {was})")
        console.print("next: directory import all --full, then directory match --full")
