"""``directory synth``: write the national synthetic dataset, optionally load it into LDAP."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from directory.cli.app import app, console, handle_errors
from directory.errors import ConfigurationError, InvalidInputError
from importers.synth import generate

__all__ = ["synth"]

# The scenario and dirt counters shown in the summary, with their labels (the rest stay in the
# returned summary and in docs/synthetic-data.md).
_SHOWN = (
    ("people_with_several_records", "people with more than one record"),
    ("transfer", "transfers (old entry finfonction FF)"),
    ("name_change", "usage-name changes"),
    ("neighbour", "double postings, neighbouring academies"),
    ("same_academy", "second accounts, same academy"),
    ("homonym_planted", "planted homonyms (plus natural ones)"),
    ("numen_missing", "entries without NUMEN"),
    ("numen_redacted", "entries with a redacted NUMEN"),
    ("birth_date_missing", "entries without birth date"),
    ("uai_invalid", "entries with an invalid UAI"),
    ("functional", "functional accounts (ou=fonctionnelles)"),
    ("functional_mixed", "test accounts among people"),
)
_QUARANTINE = (
    "quarantine_no_sn",
    "quarantine_control_char",
    "quarantine_bad_utf8",
    "quarantine_duplicate_uid",
)


@app.command()
@handle_errors
def synth(
    out: Annotated[Path, typer.Option("--out", file_okay=False, help="Directory to write the files into.")],
    people: Annotated[int, typer.Option("--people", min=1, help="Number of distinct people.")] = 50_000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: the same seed, the same bytes.")] = 42,
    ldap_load: Annotated[
        str | None,
        typer.Option("--ldap-load", metavar="URL", help="Then add the entries to this LDAP server."),
    ] = None,
    bind_dn: Annotated[str, typer.Option("--bind-dn", help="DN to bind as for --ldap-load.")] = (
        "cn=admin,o=gouv,c=fr"
    ),
    password_file: Annotated[
        Path | None,
        typer.Option("--password-file", dir_okay=False, help="File whose first line is the bind password."),
    ] = None,
) -> None:
    """Write one LDIF feed per academy, truth.csv and establishments.csv (docs/synthetic-data.md)."""
    password = ""
    if ldap_load:
        if password_file is None:
            raise InvalidInputError("--ldap-load needs --password-file")
        try:
            password = password_file.read_text(encoding="utf-8").splitlines()[0]
        except (OSError, IndexError) as exc:
            raise InvalidInputError(f"cannot read a password from {password_file}: {exc}") from exc
    if ldap_load:
        from importers.synth_load import LDAPException, check_bind  # ldap3 is slow to import

        try:  # before a generation that can take minutes
            check_bind(ldap_load, bind_dn=bind_dn, password=password)
        except (ConnectionError, LDAPException) as exc:
            raise ConfigurationError(f"--ldap-load {ldap_load}: {exc}") from exc
    summary = generate(out, people=people, seed=seed)
    table = Table(title=f"synthetic dataset in {out}", show_header=False)
    table.add_row("people", f"{people:,}")
    table.add_row("entries (30 feeds)", f"{summary.total_entries:,}")
    table.add_row("establishments", f"{summary.counts['establishments']:,}")
    for key, label in _SHOWN:
        table.add_row(label, f"{summary.counts[key]:,}")
    table.add_row("entries for quarantine", f"{sum(summary.counts[k] for k in _QUARANTINE):,}")
    table.add_row("time", f"{summary.elapsed:.1f} s")
    console.print(table)
    if ldap_load:
        from importers.synth_load import LDAPException, load_ldap

        try:
            report = load_ldap(summary.files, url=ldap_load, bind_dn=bind_dn, password=password)
        except (ConnectionError, LDAPException) as exc:
            raise ConfigurationError(f"--ldap-load {ldap_load}: {exc}") from exc
        console.print(
            f"loaded {report.added:,} entries into {ldap_load} in {report.elapsed:.1f} s "
            f"({report.rate:,.0f} entries/s); refused by the server: {len(report.rejected):,}",
            highlight=False,
        )
        for dn, reason in report.rejected[:10]:
            console.print(f"  refused {dn}: {reason}", highlight=False, markup=False)
