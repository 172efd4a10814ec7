"""``directory instances ...``: the cloud instances and the people who live on them."""

from __future__ import annotations

import typer

from directory.academies import by_code
from directory.admins import find_admin
from directory.cli.app import app, console, handle_errors
from directory.config import get_settings
from directory.errors import InvalidInputError, NotFoundError
from directory.instances import list_instances, move_person
from directory.migrate import open_database

__all__ = ["instances_app"]

instances_app = typer.Typer(help="Cloud instances and people's home instances.", no_args_is_help=True)
app.add_typer(instances_app, name="instances")


@instances_app.command("list")
@handle_errors
def list_() -> None:
    """Every instance: host, capacity, academies served, people living there, accounts reported."""
    with open_database(get_settings()) as db:
        rows = list_instances(db)
    if not rows:
        console.print("no instances (set DIRECTORY_INSTANCES and start the API or run a match)")
        return
    for r in rows:
        served = ",".join(a.slug if (a := by_code(c)) else c for c in r["academies"]) or "any"
        # Plain tab-separated lines (rich would expand the tabs): easy to read and to parse.
        typer.echo(
            f"{r['name']}\t{r['host']}\tpeople {r['people']}/{r['capacity']}\t"
            f"accounts {r['accounts']}\tacademies {served}"
        )


@instances_app.command("move")
@handle_errors
def move(
    person_id: str = typer.Argument(..., help="The person id (as search and `export clusters` show it)."),
    instance: str = typer.Argument(..., help="The instance name to move them to (`instances list`)."),
    reason: str = typer.Option(..., "--reason", help="Why: kept in the audit log."),
    by: str = typer.Option(
        ...,
        "--by",
        help="The administrator doing it (`directory admins`); an academy one moves only their people.",
    ),
) -> None:
    """Move a person's home instance: an admin act, recorded in the audit log.

    Their federated cloud id follows the new instance's host; API workers show it within
    DIRECTORY_SEARCH_REFRESH_INTERVAL. Accounts the instances report never undo the move.
    """
    if not reason.strip():
        raise InvalidInputError("--reason must say why the person moves")
    with open_database(get_settings()) as db:
        admin = find_admin(db, by)
        if admin is None or admin.disabled_at is not None:
            raise NotFoundError(f"no active administrator named {by!r} (see `directory admins list`)")
        done = move_person(
            db,
            person_id.strip(),
            instance.strip(),
            actor=admin.username,
            reason=reason.strip(),
            academy_code=admin.academy_code,
        )
    if not done.moved:
        console.print(f"{done.person_id} already lives on {done.after}: nothing to do", highlight=False)
        return
    console.print(
        f"moved {done.person_id} from {done.before or 'no instance'} to {done.after}"
        + (f"; cloud id {done.cloud_id}" if done.cloud_id else ""),
        highlight=False,
    )
