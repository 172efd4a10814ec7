"""``directory match`` and ``directory export clusters``: identity resolution over the store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from directory.cli.app import app, console, handle_errors
from directory.config import get_settings
from directory.migrate import open_database

__all__ = ["export_app", "match_app"]

match_app = typer.Typer(
    help="Resolve identities: link the records of one person, keep homonyms apart.",
    invoke_without_command=True,
)
app.add_typer(match_app, name="match")
export_app = typer.Typer(help="Export the resolution.", no_args_is_help=True)
app.add_typer(export_app, name="export")


@match_app.callback()
@handle_errors
def match(
    ctx: typer.Context,
    full: Annotated[bool, typer.Option("--full", help="Re-match every record and refit the model.")] = False,
    keep_model: Annotated[
        bool, typer.Option("--keep-model", help="With --full: keep the current model instead of refitting.")
    ] = False,
) -> None:
    """Run matching (incremental by default: only what the imports changed)."""
    if ctx.invoked_subcommand is not None:
        return
    from directory.matchrun import run_matching  # the engine's imports cost a second

    settings = get_settings()
    with open_database(settings) as db:
        summary = run_matching(
            db,
            full=full,
            refit=not keep_model,
            instances_file=settings.instances,
            cache_dir=settings.data_dir / "match-cache",
        )
    console.print_json(json.dumps(summary.as_dict()))


@match_app.command("evaluate")
@handle_errors
def evaluate(
    truth: Annotated[Path, typer.Option("--truth", help="CSV with columns feed,uid,person.")],
) -> None:
    """Pairwise precision, recall, F1 and blocking recall of the stored resolution, as one JSON line."""
    from directory.matchrun import evaluate_against_truth

    with open_database(get_settings()) as db:
        result = evaluate_against_truth(db, truth)
    typer.echo(json.dumps(result.as_dict(), separators=(",", ":")))


@export_app.command("clusters")
@handle_errors
def export_clusters(
    out: Annotated[Path, typer.Option("--out", help="Where to write the CSV (feed,uid,person_id).")],
) -> None:
    """Write ``feed,uid,person_id`` for every imported record."""
    from directory.matchrun import export_clusters as _export

    with open_database(get_settings()) as db:
        count = _export(db, out)
    console.print(f"wrote {count} rows to {out}")
