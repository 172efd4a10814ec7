"""``directory import ...``: the academy feeds, the establishment registry, the nightly job.

Exit codes: 0 when every run ended ``ok``; 1 when any failed or was refused (the deletion limit), or
another import of the same feed was running; 2 for a usage error. On a terminal a progress bar
shows each feed; otherwise (cron, systemd) plain log lines every ``LOG_EVERY`` entries.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from directory.cli.app import app, console, err_console, handle_errors
from directory.config import Settings, get_settings
from directory.db import Database
from directory.migrate import open_database
from directory.secrets import Hasher
from importers.establishments import import_establishments, unknown_uais
from importers.feeds import FeedConfig, FeedsFile, feed_for_ldif, load_feeds
from importers.nightly import FeedTask, import_all, run_tasks
from importers.pipeline import RunResult, import_ldap
from importers.quarantine import describe_reason, quarantine_summary
from importers.runs import latest_runs

__all__ = ["import_app"]

log = logging.getLogger("directory.import")

LOG_EVERY = 50_000

import_app = typer.Typer(
    help="Import the academy feeds and the establishment registry.", no_args_is_help=True
)
app.add_typer(import_app, name="import")

DryRun = Annotated[bool, typer.Option("--dry-run", help="Print the plan (with examples) and apply nothing.")]
Force = Annotated[
    bool, typer.Option("--force", help="Apply even above the deletion limit (after a human looked).")
]
Jobs = Annotated[
    int,
    typer.Option(
        "--jobs", "-j", min=1, help="Feeds imported at once, in worker processes (plain log lines)."
    ),
]
Wait = Annotated[
    bool, typer.Option("--wait", help="Wait for another run of the same feed instead of refusing.")
]


@contextmanager
def _store(settings: Settings) -> Iterator[Database]:
    db = open_database(settings)
    try:
        yield db
    finally:
        db.close()


@contextmanager
def _progress_factory() -> Iterator[Callable[[FeedConfig], Callable[[int], None]]]:
    """Per feed, a callback taking the entries read so far: a bar on a terminal, else log lines."""
    if err_console.is_terminal:
        bar = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("entries"),
            TimeElapsedColumn(),
            console=err_console,
            transient=False,
        )
        with bar:

            def for_feed(feed: FeedConfig) -> Callable[[int], None]:
                task = bar.add_task(feed.name, total=None)
                return lambda n: bar.update(task, completed=n)

            yield for_feed
        return

    def plain(feed: FeedConfig) -> Callable[[int], None]:
        state = {"next": LOG_EVERY}

        def report(n: int) -> None:
            if n >= state["next"]:
                log.info("feed %s: %d entries read", feed.name, n)
                state["next"] = n + LOG_EVERY

        return report

    yield plain


def _print_result(result: RunResult) -> None:
    c = result.counts
    what = "dry run" if result.dry_run else result.mode
    colour = {"ok": "green", "failed": "red", "refused": "yellow"}.get(result.status, "white")
    console.print(
        f"[bold]{result.feed}[/] ({what}): [{colour}]{result.status}[/]"
        + (" (input unchanged, not read again)" if result.skipped else "")
        + f" - read {c.read}, added {c.added}, updated {c.updated}, removed {c.removed}, "
        f"unchanged {c.unchanged}, quarantined {c.quarantined} in {result.seconds:.1f} s",
        highlight=False,
    )
    if result.error:
        console.print(f"  {result.error}", highlight=False, style=colour)
    if result.dry_run and result.plan is not None:
        plan = result.plan
        lines = [
            ("added", plan.added, "add"),
            ("back after removal", plan.readded, "readd"),
            ("updated", plan.updated, "update"),
            ("renamed", plan.renamed, "rename"),
            ("removed", plan.removed, "remove"),
        ]
        for label, count, action in lines:
            if count:
                console.print(f"  would be {label}: {count}", highlight=False)
                for dn in plan.examples.get(action, []):
                    console.print(f"    {dn}", highlight=False)
        if plan.limit is not None:
            verdict = "REFUSED (above the limit)" if plan.exceeds_limit else "within the limit"
            console.print(
                f"  removals {plan.removed} of {plan.present} present, limit {plan.limit}: {verdict}",
                highlight=False,
            )
        if result.quarantine_reasons:
            reasons = ", ".join(f"{k} {v}" for k, v in sorted(result.quarantine_reasons.items()))
            console.print(f"  would be quarantined: {reasons}", highlight=False)


def _exit_for(results: list[RunResult]) -> None:
    if any(not r.ok for r in results):
        raise typer.Exit(1)


@import_app.command("ldif")
@handle_errors
def ldif_command(
    paths: Annotated[list[Path], typer.Argument(help="LDIF exports; each is a full scan of its feed.")],
    feed: Annotated[
        str | None,
        typer.Option("--feed", help="Feed name (default: the file's stem, or the feeds file's mapping)."),
    ] = None,
    dry_run: DryRun = False,
    force: Force = False,
    wait: Wait = False,
    recheck: Annotated[
        bool, typer.Option("--recheck", help="Read a file even when identical to the last one imported.")
    ] = False,
    jobs: Jobs = 1,
) -> None:
    """Import LDIF exports, each as a full scan of the feed named after the file."""
    settings = get_settings()
    feeds = load_feeds(settings.feeds)
    options = {"dry_run": dry_run, "force": force, "wait": wait, "recheck": recheck}
    tasks = [FeedTask(feed_for_ldif(path, feeds, name=feed), "full", path, **options) for path in paths]
    with _store(settings) as db, _progress_factory() as progress:
        results = run_tasks(db.url, settings.hashing_secret(), tasks, jobs=jobs, progress=progress)
    for result in results:
        _print_result(result)
    _exit_for(results)


def _configured(feeds: FeedsFile, name: str) -> FeedConfig:
    config = feeds.get(name)
    if config is None:
        known = ", ".join(f.name for f in feeds) or "none"
        err_console.print(f"[bold red]error:[/] no feed {name!r} in the feeds file (configured: {known})")
        raise typer.Exit(2)
    return config


@import_app.command("ldap")
@handle_errors
def ldap_command(
    feed: Annotated[
        str, typer.Option("--feed", help="The feed to import (a [feeds.NAME] of the feeds file).")
    ],
    full: Annotated[
        bool,
        typer.Option(
            "--full/--incremental",
            help="A full scan (the only one that removes) or the changes since the last successful run.",
        ),
    ] = False,
    dry_run: DryRun = False,
    force: Force = False,
    wait: Wait = False,
) -> None:
    """Import one configured LDAP feed (incremental by default)."""
    settings = get_settings()
    config = _configured(load_feeds(settings.feeds), feed)
    if config.kind != "ldap":
        err_console.print(f"[bold red]error:[/] feed {feed!r} is an {config.kind} feed; use `import ldif`")
        raise typer.Exit(2)
    hasher = Hasher(settings.hashing_secret())
    with _store(settings) as db, _progress_factory() as progress:
        result = import_ldap(
            db.url,
            config,
            hasher=hasher,
            mode="full" if full else "incremental",
            dry_run=dry_run,
            force=force,
            wait=wait,
            progress=progress(config),
        )
    _print_result(result)
    _exit_for([result])


@import_app.command("establishments")
@handle_errors
def establishments_command(
    file: Annotated[Path, typer.Argument(help="CSV with the header uai,name,type,town,academy.")],
) -> None:
    """Load the establishment registry (UAI, name, type, town, academy)."""
    settings = get_settings()
    with _store(settings) as db, db.connection() as conn:
        result = import_establishments(conn, file)
    console.print(
        f"establishments: read {result.read}, added {result.added}, updated {result.updated}, "
        f"unchanged {result.unchanged}, rejected {result.rejected_count}",
        highlight=False,
    )
    for line in result.rejected:
        console.print(f"  rejected {line}", highlight=False)
    if result.rejected_count:
        raise typer.Exit(1)


@import_app.command("all")
@handle_errors
def all_command(
    full: Annotated[bool, typer.Option("--full", help="Full scans of the LDAP feeds (they remove).")] = False,
    dry_run: DryRun = False,
    force: Force = False,
    match: Annotated[
        bool, typer.Option("--match/--no-match", help="Run matching on the changed records afterwards.")
    ] = True,
    jobs: Jobs = 1,
) -> None:
    """The nightly job: every configured feed, each isolated, then matching."""
    settings = get_settings()
    feeds = load_feeds(settings.feeds)
    with _store(settings) as db, _progress_factory() as progress:
        nightly = import_all(
            db,
            feeds,
            settings=settings,
            full=full,
            dry_run=dry_run,
            force=force,
            progress=progress,
            matching=match,
            jobs=jobs,
        )
    for result in nightly.results:
        _print_result(result)
    bad = [r.feed for r in nightly.results if not r.ok]
    console.print(
        f"{len(nightly.results) - len(bad)} of {len(nightly.results)} feeds ok"
        + (f"; not ok: {', '.join(bad)}" if bad else "")
        + f"; matching: {nightly.matching}; {nightly.seconds:.1f} s",
        highlight=False,
    )
    if not nightly.ok:
        raise typer.Exit(1)


@import_app.command("status")
@handle_errors
def status_command(
    as_json: Annotated[
        bool, typer.Option("--json", help="The latest run of each feed as JSON, for monitoring.")
    ] = False,
) -> None:
    """The latest run of each feed, quarantine counts and reasons, UAIs the registry lacks."""
    settings = get_settings()
    with _store(settings) as db, db.connection() as conn:
        runs = latest_runs(conn)
        if as_json:
            sys.stdout.write(json.dumps([r.as_json() for r in runs], indent=2, ensure_ascii=False) + "\n")
            return
        quarantine = quarantine_summary(conn)
        unknown = unknown_uais(conn)
    # Not on a terminal (cron mail, a log): a wide table rather than one folded to 80 columns.
    out = console if console.is_terminal else Console(width=200, highlight=False)
    if not runs:
        out.print("no import has run yet")
    table = Table("feed", "mode", "start", "end", "status", title="latest run of each feed")
    for name in ("read", "added", "updated", "removed", "unchanged", "quarantined"):
        table.add_column(name, justify="right")
    table.add_column("error")
    for r in runs:
        colour = {"ok": "green", "failed": "red", "refused": "yellow"}.get(r.status, "white")
        table.add_row(
            r.feed,
            r.mode,
            f"{r.start:%Y-%m-%d %H:%M:%S}",
            f"{r.end:%H:%M:%S}" if r.end else "-",
            f"[{colour}]{r.status}[/]",
            *(str(v) for v in (r.read, r.added, r.updated, r.removed, r.unchanged, r.quarantined)),
            r.error or "",
        )
    if runs:
        out.print(table)
    if quarantine:
        out.print("[bold]quarantine[/] (entries kept out of the feeds)")
        for q in quarantine:
            reasons = ", ".join(f"{reason} {n}" for reason, n in q.reasons)
            out.print(f"  {q.feed}: {q.total} - {reasons}", highlight=False)
        seen = {reason for q in quarantine for reason, _ in q.reasons}
        for reason in sorted(seen):
            out.print(f"    {reason}: {describe_reason(reason)}", highlight=False)
    if unknown:
        out.print("[bold]establishments[/] seen in the feeds but absent from the registry")
    for u in unknown:
        out.print(
            f"  {u.feed}: {u.count} UAI(s) not in the establishment registry, e.g. {', '.join(u.examples)}",
            highlight=False,
        )
