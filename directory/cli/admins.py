"""``directory admins ...``: administrator accounts of the review UI."""

from __future__ import annotations

import getpass
import sys

import typer

from directory.admins import create_admin, disable_admin, list_admins, resolve_academy
from directory.cli.app import app, console, handle_errors
from directory.config import get_settings
from directory.errors import InvalidInputError
from directory.migrate import open_database

__all__ = ["admins_app"]

admins_app = typer.Typer(help="Administrator accounts of the review UI.", no_args_is_help=True)
app.add_typer(admins_app, name="admins")


def _read_password() -> str:
    """The password: prompted twice on a terminal, else the first line of standard input."""
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise InvalidInputError("the two passwords differ")
        return first
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


@admins_app.command("create")
@handle_errors
def create(
    username: str = typer.Option(..., "--username", help="Sign-in name (lowercase)."),
    academy: str | None = typer.Option(
        None, "--academy", help="Restrict to one academy (slug, e.g. versailles); omit for national."
    ),
) -> None:
    """Create an administrator; the password is read from standard input."""
    academy_code = resolve_academy(academy) if academy else None
    password = _read_password()
    with open_database(get_settings()) as db:
        admin = create_admin(db, username=username, password=password, academy_code=academy_code)
    console.print(f"created administrator {admin.username} ({admin.scope_label})", highlight=False)


@admins_app.command("list")
@handle_errors
def list_() -> None:
    """List administrators: name, scope, state, last sign-in."""
    with open_database(get_settings()) as db:
        admins = list_admins(db)
    for admin in admins:
        state = "disabled" if admin.disabled_at else "active"
        last = admin.last_login_at.strftime("%Y-%m-%d %H:%M") if admin.last_login_at else "never"
        # Plain tab-separated lines (rich would expand the tabs): easy to read and to parse.
        typer.echo(f"{admin.username}\t{admin.scope_label}\t{state}\tlast sign-in: {last}")


@admins_app.command("disable")
@handle_errors
def disable(username: str = typer.Argument(..., help="The administrator to disable.")) -> None:
    """Disable an administrator: no more sign-in, open sessions end."""
    with open_database(get_settings()) as db:
        admin = disable_admin(db, username=username)
    console.print(f"disabled administrator {admin.username}", highlight=False)
