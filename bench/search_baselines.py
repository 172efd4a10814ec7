"""What the search benchmark (``bench_search``) compares the directory with: slapd answering the
filters Nextcloud's LDAP backend sends (prefix, and infix), and a naive PostgreSQL ``ILIKE '%q%'``."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent


def ldap_filter(text: str, infix: bool) -> str:
    from ldap3.utils.conv import escape_filter_chars

    parts = []
    for w in text.split():
        w = escape_filter_chars(w)
        term = f"*{w}*" if infix else f"{w}*"
        parts.append(f"(|(cn={term})(mail={term})(displayName={term}))")
    return f"(&(objectClass=inetOrgPerson){''.join(parts)})"


def time_ldap(conn: Any, texts: list[str], infix: bool) -> list[float]:
    out = []
    for text in texts:
        t0 = time.perf_counter()
        conn.search("ou=education,o=gouv,c=fr", ldap_filter(text, infix), attributes=["cn", "mail"],
                    size_limit=25)  # fmt: skip
        out.append((time.perf_counter() - t0) * 1000)
    return out


def time_ilike(url: str, texts: list[str], table: str = "source_records") -> list[float]:
    out = []
    with psycopg.connect(url) as conn:
        for text in texts:
            ws = text.split()
            cond = " AND ".join(["(display_name ILIKE %s OR mail ILIKE %s)"] * len(ws))
            params = [x for w in ws for x in (f"%{w}%", f"%{w}%")]
            t0 = time.perf_counter()
            conn.execute(f"SELECT display_name, mail FROM {table} WHERE {cond} LIMIT 25", params).fetchall()
            out.append((time.perf_counter() - t0) * 1000)
    return out


def fill_ilike_table(url: str, docs: list[Any]) -> None:
    """The same people in a plain table for the naive ``ILIKE`` comparison (docs mode)."""
    with psycopg.connect(url) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_people")
        conn.execute("CREATE TABLE bench_people (display_name text, mail text)")
        with conn.cursor().copy("COPY bench_people (display_name, mail) FROM STDIN") as copy:
            for d in docs:
                copy.write_row((d.label, d.email))
        conn.execute("ANALYZE bench_people")


def open_slapd(data: Path, keep: Path | None) -> Any:
    """A running slapd holding the feeds of ``data``: in a throw-away directory, or in ``keep``,
    loaded there only once (a ``LOADED`` file marks a complete load)."""
    sys.path.insert(0, str(ROOT))
    from tests.slapd import Slapd

    slapd = Slapd()
    if keep is None:
        slapd.load_ldif(sorted(data.glob("ac-*.ldif")))
        return slapd
    import shutil

    shutil.rmtree(slapd.workdir, ignore_errors=True)
    keep.mkdir(parents=True, exist_ok=True)
    slapd.workdir, slapd.conf = keep, keep / "slapd.conf"
    slapd.data, slapd.log = keep / "data", keep / "slapd.log"
    slapd.data.mkdir(exist_ok=True)
    slapd.conf.write_text(slapd._config(), encoding="utf-8")
    waited = 0
    while (slapd.data / "data.mdb").exists() and not (keep / "LOADED").exists() and waited < 3600:
        time.sleep(10)  # another process (--slapd-load-only) is loading it: wait for the end
        waited += 10
    if (keep / "LOADED").exists():
        slapd.start(timeout=120)
    else:
        result = slapd.load_ldif(sorted(data.glob("ac-*.ldif")))
        (keep / "LOADED").write_text(f"{result.added} entries\n")
    return slapd
