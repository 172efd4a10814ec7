"""``directory keys ...``: API keys of client applications (stored hashed, shown once)."""

from __future__ import annotations

import typer

from directory.apikeys import create_key, list_keys, revoke_key
from directory.cli.app import app, console, handle_errors
from directory.config import get_settings
from directory.migrate import open_database

__all__ = ["keys_app"]

keys_app = typer.Typer(help="API keys for client applications.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
@handle_errors
def create(
    name: str = typer.Option(..., "--name", help="A name for the client application."),
    scopes: str = typer.Option(
        "search", "--scopes", help="Comma-separated: search, resolve, instance, metrics, admin."
    ),
    academy: str | None = typer.Option(None, "--academy", help="Restrict the key to one academy's people."),
    instance: str | None = typer.Option(
        None, "--instance", help="The instance an 'instance' key reports for."
    ),
    rate_limit: int | None = typer.Option(
        None,
        "--rate-limit",
        min=1,
        help="Requests per minute per worker (default DIRECTORY_RATE_LIMIT_PER_MINUTE).",
    ),
) -> None:
    """Create a key; the key is printed alone on the last line, once: store it now."""
    wanted = {s.strip() for s in scopes.split(",") if s.strip()}
    with open_database(get_settings()) as db:
        key, plain = create_key(
            db, name=name, scopes=wanted, academy=academy, instance=instance, rate_limit_per_minute=rate_limit
        )
    console.print(
        f"created key {key.name!r} (prefix {key.prefix}, scopes {','.join(sorted(key.scopes))}"
        + (f", academy {key.academy_code}" if key.academy_code else "")
        + (f", instance {key.instance}" if key.instance else "")
        + "); it is shown only now:",
        highlight=False,
    )
    print(plain)


@keys_app.command("list")
@handle_errors
def list_() -> None:
    """Every key: scopes, restriction, state, and the distinct people it was shown today."""
    with open_database(get_settings()) as db:
        rows = list_keys(db)
    if not rows:
        console.print("no API keys")
        return
    for r in rows:
        state = "revoked" if r["revoked_at"] else "active"
        # Plain tab-separated lines: rich would expand the tabs and wrap at the terminal's width
        # (80 columns when piped), splitting a key's line in two for whoever parses it.
        typer.echo(
            f"{r['name']}\t{r['prefix']}\t{','.join(r['scopes'])}\t{r['academy'] or '-'}\t"
            f"{r['instance'] or '-'}\t{state}\tpeople today: {r['people_today']}"
        )


@keys_app.command("revoke")
@handle_errors
def revoke(name: str = typer.Argument(..., help="Name of the key to revoke.")) -> None:
    """Revoke a key (workers stop accepting it within DIRECTORY_API_KEY_CACHE_SECONDS)."""
    with open_database(get_settings()) as db:
        revoke_key(db, name)
    console.print(f"revoked key {name!r}")
