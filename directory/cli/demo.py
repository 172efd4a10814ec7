"""``directory demo``: the whole pipeline on a generated national sample, then the API and the UI.

What ``make demo`` runs. Each step is the real command (the same code as production), run in this
process: generate the sample academies (once per size and seed), load the establishment registry,
import every academy's LDIF export, match, create a demo API key and a demo administrator, then
serve. Re-running it re-uses the generated files and imports incrementally: a second import of
unchanged feeds writes nothing.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import time
from pathlib import Path
from typing import Annotated

import click
import typer
from typer.main import get_command

from directory.cli.app import app, console, handle_errors
from directory.config import Settings, get_settings
from directory.errors import DirectoryError

__all__ = ["demo"]

# Six instances, grouped as a federation might be: big academies alone, small ones together.
_DEMO_INSTANCES = """\
# Demo federation written by `directory demo` (DIRECTORY_INSTANCES points here during the demo).
[instances.cloud-idf]
host = "cloud-idf.demo.education.fr"
capacity = 400000
academies = ["paris", "creteil", "versailles"]

[instances.cloud-nord]
host = "cloud-nord.demo.education.fr"
capacity = 250000
academies = ["lille", "amiens", "normandie", "reims", "nancy-metz", "strasbourg"]

[instances.cloud-ouest]
host = "cloud-ouest.demo.education.fr"
capacity = 250000
academies = ["rennes", "nantes", "poitiers", "orleans-tours", "limoges", "bordeaux"]

[instances.cloud-sud]
host = "cloud-sud.demo.education.fr"
capacity = 300000
academies = ["aix-marseille", "nice", "montpellier", "toulouse", "corse"]

[instances.cloud-est]
host = "cloud-est.demo.education.fr"
capacity = 250000
academies = ["lyon", "grenoble", "clermont", "dijon", "besancon"]

[instances.cloud-outremer]
host = "cloud-outremer.demo.education.fr"
capacity = 100000
academies = ["reunion", "martinique", "guadeloupe", "guyane", "mayotte"]
"""


class DemoStepError(DirectoryError):
    """One step of the demo pipeline failed; its own message was printed above."""


def _run(title: str, args: list[str]) -> None:
    """Run one ``directory`` command in this process, as the user would type it."""
    console.rule(f"[bold]{title}[/]  [dim]directory {' '.join(args)}[/]", align="left")
    command = get_command(app)
    try:
        code = command.main(args, prog_name="directory", standalone_mode=False)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    if code not in (None, 0):
        raise DemoStepError(f"step failed: directory {' '.join(args)} (exit {code})")


def _dataset(settings: Settings, people: int, seed: int, out: Path | None) -> Path:
    target = out or settings.data_dir / "demo" / f"synth-{people}-{seed}"
    if (target / "truth.csv").exists() and (target / "establishments.csv").exists():
        console.print(f"re-using the generated sample in {target}")
        return target
    _run(
        "1. Generate the sample academies",
        ["synth", "--people", str(people), "--seed", str(seed), "--out", str(target)],
    )
    return target


@app.command("demo")
@handle_errors
def demo(
    people: Annotated[int, typer.Option("--people", min=1000, help="Size of the generated sample.")] = 50_000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the generated sample.")] = 42,
    out: Annotated[Path | None, typer.Option("--out", help="Where to write the sample.")] = None,
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the API and UI at the end.")
    ] = True,
) -> None:
    """Generate a national sample, import it, match it, and serve the API and the admin UI."""
    started = time.perf_counter()
    settings = get_settings()
    if settings.environment != "dev":
        raise DirectoryError("the demo creates a known administrator: run it with DIRECTORY_ENVIRONMENT=dev")
    where = (
        settings.database_url and "DIRECTORY_DATABASE_URL"
    ) or f"embedded PostgreSQL in {settings.data_dir}"
    console.print(f"store: {where}", highlight=False)
    data = _dataset(settings, people, seed, out)

    if settings.instances is None:
        instances = data / "instances.toml"
        instances.write_text(_DEMO_INSTANCES, encoding="utf-8")
        os.environ["DIRECTORY_INSTANCES"] = str(instances)
        get_settings.cache_clear()

    _run("2. Load the establishment registry", ["import", "establishments", str(data / "establishments.csv")])
    feeds = sorted(str(p) for p in data.glob("ac-*.ldif"))
    _run(f"3. Import the {len(feeds)} academy feeds", ["import", "ldif", *feeds])
    _run("4. Resolve identities", ["match"])
    _run(
        "   Quality against the generator's truth", ["match", "evaluate", "--truth", str(data / "truth.csv")]
    )

    from directory.admins import create_admin
    from directory.apikeys import create_key
    from directory.migrate import open_database

    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")
    password = secrets.token_urlsafe(12)
    with open_database(get_settings()) as db:
        _, key = create_key(db, name=f"demo-{stamp}", scopes={"search", "resolve"})
        admin_name = f"demo-admin-{stamp}"
        create_admin(db, username=admin_name, password=password)

    final = get_settings()
    base = f"http://{final.host}:{final.port}"
    console.rule("[bold]Ready[/]", align="left")
    console.print(
        f"""pipeline done in {time.perf_counter() - started:.0f} s. Where to look:

  API and its docs    {base}/docs
  search (curl)       curl -H 'Authorization: Bearer {key}' '{base}/v1/people/search?q=nathalie+mart'
  share-dialog demo   {base}/demo/share
  admin review UI     {base}/admin   (user {admin_name}, password {password}: demo only)
  import status       directory import status
  sample data         {data}
""",
        highlight=False,
        soft_wrap=True,  # keep the curl line whole for copy and paste
    )
    if serve:
        _run("5. Serve the API and the UI (Ctrl-C to stop)", ["serve"])
