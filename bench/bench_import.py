"""Import benchmark: LDIF files and a real slapd, against the raw read of the same data.

    python -m bench import -- --people 1200000 [--data DIR] [--ldap-entries 300000]
    python bench/bench_import.py --people 100000

Steps, each a separate process so that its wall time and peak RSS are its own:

LDIF  raw read (parse every file, store nothing) | first import into an empty database | second
      run, files unchanged (skipped by fingerprint) | second run re-reading everything (--recheck)
      | a run after 1 % of the people changed (the files rewritten).
LDAP  slapadd of the largest academies up to ``--ldap-entries`` | raw read (``ldapsearch`` of the
      same bases, filter and attributes, paged, to /dev/null) | first full import | second full
      scan, no change | incremental run, no change | incremental run after 1 % of the entries were
      modified (``ldapmodify``).

Prints a Markdown table (for ``docs/benchmarks.md``) and the goals with their ratios. Uses the
PostgreSQL at 127.0.0.1:5432 (user postgres) in databases it creates and drops, or ``--admin-url``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from directory.db import Database, create_database, drop_database  # noqa: E402
from directory.migrate import apply_migrations  # noqa: E402
from importers.mapping import DEFAULT_MAPPING  # noqa: E402

SECRET = "bench-secret-key-0123456789-0123456789-abcdef"
PASSWORD_ENV = "BENCH_SLAPD_PASSWORD"
JOBS: list[str] = []


@dataclass
class Step:
    """One measured step."""

    name: str
    seconds: float
    rss_mb: float
    rows: int = 0
    note: str = ""
    cpu: float = 0.0
    """CPU seconds of the process and its children (user + system): a figure that a busy machine
    inflates less than wall time."""
    load: str = ""
    """The 1-minute load average before and after the step (the machine is shared)."""

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def measure(name: str, command: list[str], *, env: dict[str, str], rows: int = 0, note: str = "") -> Step:
    """Run ``command``; its wall time and peak RSS (``wait4``), failing loudly on a non-zero exit."""
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            err.seek(0)
            tail = err.read().decode("utf-8", "replace")[-3000:]
            raise SystemExit(f"step {name!r} failed ({process.returncode}): {' '.join(command)}\n{tail}")
    # wait4's figures include the descendants the child waited for (the --jobs workers, the
    # ldapsearch of a shell), not the PostgreSQL server's work.
    cpu = usage.ru_utime + usage.ru_stime
    load = f"{load_before:.1f} → {os.getloadavg()[0]:.1f}"
    step = Step(name, elapsed, usage.ru_maxrss / 1024, rows, note, cpu, load)
    print(
        f"  {name}: {elapsed:.1f} s (CPU {cpu:.1f} s), peak RSS {step.rss_mb:.0f} MB, load {load}", flush=True
    )
    return step


def directory(*args: str) -> list[str]:
    return [sys.executable, "-c", "from directory.cli import main; main()", *args]


def fresh_database(admin_url: str, name: str) -> str:
    drop_database(admin_url, name)
    create_database(admin_url, name)
    info = admin_url.rsplit("/", 1)[0]
    url = f"{info}/{name}"
    with Database(url, max_size=1) as db:
        apply_migrations(db)
    return url


def count_runs(url: str) -> dict[str, int]:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute(
            """SELECT coalesce(sum(read), 0), coalesce(sum(added), 0), coalesce(sum(updated), 0),
                      coalesce(sum(removed), 0), coalesce(sum(unchanged), 0), coalesce(sum(quarantined), 0)
               FROM import_runs
               WHERE id IN (SELECT DISTINCT ON (feed) id FROM import_runs ORDER BY feed, id DESC)"""
        ).fetchone()
    assert row is not None
    keys = ("read", "added", "updated", "removed", "unchanged", "quarantined")
    return {k: int(v) for k, v in zip(keys, row, strict=True)}


def entries_in(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.startswith(b"dn: uid=") or line.startswith(b"dn:: "))


def person_dns(path: Path) -> list[str]:
    """The DNs of the people of an LDIF file (folded lines unfolded; base64 DNs left out)."""
    dns: list[str] = []
    current: str | None = None
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if current is not None and line.startswith(" "):
                current += line[1:].rstrip("\n")
                continue
            if current is not None:
                if current.startswith("uid=") and "personnels EN" in current:
                    dns.append(current)
                current = None
            if line.startswith("dn: "):
                current = line[4:].rstrip("\n")
    return dns


def change_one_percent(src: Path, dst: Path) -> int:
    """Copy an LDIF file changing the given name of one person in a hundred; how many changed."""
    changed = seen = 0
    with src.open("rb") as inp, dst.open("wb") as out:
        for line in inp:
            if line.startswith(b"givenName: "):
                seen += 1
                if seen % 100 == 0:
                    line = line.rstrip(b"\n") + b"-Bis\n"
                    changed += 1
            out.write(line)
    return changed


def ldif_part(
    files: list[Path], admin_url: str, env: dict[str, str], work: Path, *, change: bool = True
) -> list[Step]:
    steps: list[Step] = []
    total = sum(entries_in(p) for p in files)
    print(f"LDIF: {len(files)} files, {total} entries", flush=True)
    names = [str(p) for p in files]
    raw = "import sys; from importers.ldif import raw_read; raw_read(sys.argv[1:])"
    steps.append(
        measure("LDIF raw read (parse only)", [sys.executable, "-c", raw, *names], env=env, rows=total)
    )
    url = fresh_database(admin_url, "import_bench_ldif")
    env = {**env, "DIRECTORY_DATABASE_URL": url}
    steps.append(
        measure("LDIF first import", directory("import", "ldif", *JOBS, *names), env=env, rows=total)
    )
    counts = count_runs(url)
    steps[-1].note = f"added {counts['added']}, quarantined {counts['quarantined']}"
    steps.append(
        measure(
            "LDIF second run, unchanged files",
            directory("import", "ldif", *JOBS, *names),
            env=env,
            rows=total,
        )
    )
    steps[-1].note = "skipped: same files, same mapping"
    steps.append(
        measure(
            "LDIF second run, re-read (--recheck)",
            directory("import", "ldif", "--recheck", *JOBS, *names),
            env=env,
            rows=total,
        )
    )
    counts = count_runs(url)
    steps[-1].note = f"updated {counts['updated']}, unchanged {counts['unchanged']}"
    if not change:
        return steps
    changed_dir = work / "changed"
    changed_dir.mkdir(exist_ok=True)
    changed = sum(change_one_percent(p, changed_dir / p.name) for p in files)
    changed_names = [str(changed_dir / p.name) for p in files]
    steps.append(
        measure(
            "LDIF run, 1 % changed", directory("import", "ldif", *JOBS, *changed_names), env=env, rows=total
        )
    )
    counts = count_runs(url)
    steps[-1].note = f"{changed} entries changed; updated {counts['updated']}"
    return steps


def ldap_part(
    files: list[Path],
    target: int,
    admin_url: str,
    env: dict[str, str],
    work: Path,
    slapd_dir: Path | None = None,
    page_size: int = 1000,
) -> list[Step]:
    from tests.slapd import Slapd

    by_size = sorted(files, key=lambda p: p.stat().st_size, reverse=True)
    chosen: list[Path] = []
    total = 0
    for path in by_size:
        if total >= target:
            break
        chosen.append(path)
        total += entries_in(path)
    print(f"LDAP: {len(chosen)} academies, {total} entries", flush=True)
    steps: list[Step] = []
    attributes = DEFAULT_MAPPING.requested_attributes()
    marker = slapd_dir / "loaded.json" if slapd_dir is not None else None
    previous: dict[str, Any] | None = None
    if marker is not None and marker.exists():
        previous = json.loads(marker.read_text())
        if previous.get("files") != [str(p) for p in chosen]:
            raise SystemExit(f"{slapd_dir} holds other files than {chosen}: remove it or pick another")
    with Slapd(password="bench-password", workdir=slapd_dir) as server:
        if previous is None:
            started = time.perf_counter()
            loaded = server.load_ldif(chosen, schema_check=True)
            load_seconds = time.perf_counter() - started
            added = loaded.added
            print(
                f"  slapadd: {added} entries in {load_seconds:.1f} s ({loaded.refused} refused)", flush=True
            )
            if marker is not None:
                marker.write_text(
                    json.dumps({"files": [str(p) for p in chosen], "seconds": load_seconds, "added": added})
                )
            note = ""
        else:
            # Loaded by an earlier run on the same --slapd-dir (its 1 % modification included).
            load_seconds, added = float(previous["seconds"]), int(previous["added"])
            note = "loaded by an earlier run on the same directory"
        steps.append(Step("slapadd load (not the importer)", load_seconds, 0.0, added, note))
        feeds = work / "feeds.toml"
        lines = ["[defaults]", f"page_size = {page_size}", "overlap_minutes = 0", ""]
        bases = []
        for path in chosen:
            feed = path.name.removesuffix(".ldif")
            base = f"ou={feed},ou=education,o=gouv,c=fr"
            bases.append(base)
            lines += [
                f"[feeds.{feed}]",
                f'url = "{server.url}"',
                f'bind_dn = "{server.bind_dn}"',
                f'password_env = "{PASSWORD_ENV}"',
                f'base_dn = "{base}"',
                "",
            ]
        feeds.write_text("\n".join(lines), encoding="utf-8")
        url = fresh_database(admin_url, "import_bench_ldap")
        env = {
            **env,
            "DIRECTORY_DATABASE_URL": url,
            "DIRECTORY_FEEDS": str(feeds),
            PASSWORD_ENV: server.password,
        }
        search = " ; ".join(
            f"ldapsearch -x -LLL -H {server.url} -D '{server.bind_dn}' -w \"${PASSWORD_ENV}\" -b '{base}' "
            f"-E pr={page_size}/noprompt '(objectClass=inetOrgPerson)' {' '.join(attributes)} > /dev/null"
            for base in bases
        )
        steps.append(
            measure("LDAP raw read (ldapsearch > /dev/null)", ["sh", "-c", search], env=env, rows=total)
        )
        time.sleep(1.1)  # GeneralizedTime has whole seconds: the first run starts after the load
        steps.append(
            measure(
                "LDAP first import (full)",
                directory("import", "all", "--full", "--no-match", *JOBS),
                env=env,
                rows=total,
            )
        )
        steps[-1].note = f"added {count_runs(url)['added']}"
        steps.append(
            measure(
                "LDAP second full scan, no change",
                directory("import", "all", "--full", "--no-match", *JOBS),
                env=env,
                rows=total,
            )
        )
        steps[-1].note = f"unchanged {count_runs(url)['unchanged']}, written 0"
        time.sleep(1.1)
        steps.append(
            measure(
                "LDAP incremental, no change",
                directory("import", "all", "--no-match", *JOBS),
                env=env,
                rows=0,
            )
        )
        steps[-1].note = f"read {count_runs(url)['read']}"
        # 1 % of the entries modified on the server, as the academies do during a day.
        modifications = work / "modify.ldif"
        changed = 0
        with modifications.open("w", encoding="utf-8") as out:
            for path in chosen:
                for seen, dn in enumerate(person_dns(path), start=1):
                    if seen % 100 == 0:
                        out.write(f"dn: {dn}\nchangetype: modify\nreplace: title\ntitle: INS\n\n")
                        changed += 1
        credentials = f"-D '{server.bind_dn}' -w \"${PASSWORD_ENV}\""
        modify = f"ldapmodify -x -c -H {server.url} {credentials} -f {modifications}"
        started = time.perf_counter()
        subprocess.run(["sh", "-c", modify + " > /dev/null"], env=env, check=False)
        print(f"  ldapmodify of {changed} entries: {time.perf_counter() - started:.1f} s", flush=True)
        steps.append(
            measure(
                "LDAP incremental, 1 % changed",
                directory("import", "all", "--no-match", *JOBS),
                env=env,
                rows=changed,
            )
        )
        counts = count_runs(url)
        steps[-1].note = f"{changed} modified; read {counts['read']}, updated {counts['updated']}"
    return steps


def breakdown(path: Path) -> str:
    """CPU per entry of each client-side stage on one LDIF file, best of 3, nothing sent anywhere:
    the parse alone (the raw read), + mapping, + the COPY line."""
    from directory.secrets import Hasher
    from importers.feedmapper import FeedMapper
    from importers.ldif import LdifReader, raw_read
    from importers.mapping import MappedEntry
    from importers.stage import _line

    entries = raw_read([path]).entries

    def run(map_entries: bool, lines: bool) -> float:
        started = time.process_time()
        mapper = FeedMapper(feed=path.stem, academy_code="25", hasher=Hasher(SECRET))
        seq = 0
        for item in LdifReader(path):
            if map_entries:
                mapped = mapper.process(item)
                if lines and isinstance(mapped, MappedEntry):
                    seq += 1
                    _line(seq, mapped)
        return time.process_time() - started

    out = [
        f"{path.name}: {entries} entries, load {os.getloadavg()[0]:.1f}",
        "| stage | µs per entry |",
        "|---|---:|",
    ]
    for label, options in (
        ("parse", (False, False)),
        ("parse + map", (True, False)),
        ("parse + map + COPY line", (True, True)),
    ):
        best = min(run(*options) for _ in range(3))
        out.append(f"| {label} | {best / entries * 1e6:.0f} |")
    return "\n".join(out)


def whole(path: Path, admin_url: str, rounds: int = 3) -> str:
    """CPU per entry of a whole import of one LDIF file (read, map, stage, plan, apply) in this
    process, into a fresh database each round, against the parse alone (the raw read).

    ``process`` is every thread of this process (psycopg's queued writer included); ``main`` the
    thread that reads, maps and writes the COPY text; PostgreSQL's CPU is not counted. Caches
    start cold in the first round only, as in a worker's first feed; later rounds are warm.
    """
    import importers.pipeline as pipeline
    import importers.stage as stage
    from directory.secrets import Hasher
    from importers.feeds import feed_for_ldif, load_feeds
    from importers.ldif import raw_read

    started = time.process_time()
    entries = raw_read([path]).entries
    parse = (time.process_time() - started) / entries * 1e6
    staged: dict[str, float] = {}
    staging = stage.stage_entries

    def timed(*args: Any, **kwargs: Any) -> stage.StageResult:
        main = time.thread_time()
        result = staging(*args, **kwargs)
        staged["main"] = time.thread_time() - main
        return result

    pipeline.stage_entries = timed  # type: ignore[attr-defined]
    out = [
        f"{path.name}: {entries} entries, parse alone {parse:.0f} µs CPU per entry",
        "| round | load | µs CPU per entry (process) | of which the main thread in staging | × parse |",
        "|---|---:|---:|---:|---:|",
    ]
    try:
        for n in range(1, rounds + 1):
            url = fresh_database(admin_url, "import_bench_whole")
            feed = feed_for_ldif(path, load_feeds(None))
            load = os.getloadavg()[0]
            started = time.process_time()
            result = pipeline.import_ldif(url, path, feed, hasher=Hasher(SECRET))
            cpu = (time.process_time() - started) / result.counts.read * 1e6
            main = staged["main"] / result.counts.read * 1e6
            out.append(
                f"| {n}{' (cold)' if n == 1 else ''} | {load:.1f} | {cpu:.0f} | {main:.0f} "
                f"| {cpu / parse:.2f} |"
            )
    finally:
        pipeline.stage_entries = staging  # type: ignore[attr-defined]
        drop_database(admin_url, "import_bench_whole")
    return "\n".join(out)


def report(steps: list[Step], args: argparse.Namespace) -> str:
    lines = [
        "| step | wall (s) | CPU (s) | rows | rows/s (wall) | peak RSS (MB) | load avg | note |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for s in steps:
        rate = f"{s.rate:,.0f}" if s.rows else ""
        rss = f"{s.rss_mb:.0f}" if s.rss_mb else ""
        cpu = f"{s.cpu:.1f}" if s.cpu else ""
        lines.append(
            f"| {s.name} | {s.seconds:.1f} | {cpu} | {s.rows:,} | {rate} | {rss} | {s.load} | {s.note} |"
        )
    found = {s.name: s for s in steps}
    goals: list[str] = []

    def ratio(a: str, b: str) -> float | None:
        return found[a].seconds / found[b].seconds if a in found and b in found and found[b].seconds else None

    for label, first, raw in (
        ("LDIF", "LDIF first import", "LDIF raw read (parse only)"),
        ("LDAP", "LDAP first import (full)", "LDAP raw read (ldapsearch > /dev/null)"),
    ):
        r = ratio(first, raw)
        if r is not None:
            cpu_raw = found[raw].cpu
            cpu = f"; CPU {found[first].cpu / cpu_raw:.2f}" if cpu_raw else ""
            goals.append(
                f"- {label} whole import / raw read = {r:.2f} in wall time{cpu} (goal ≤ 2): "
                + ("met" if r <= 2 else "NOT met")
            )
    for label, first, second in (
        ("LDIF, unchanged files", "LDIF first import", "LDIF second run, unchanged files"),
        ("LDIF, re-read", "LDIF first import", "LDIF second run, re-read (--recheck)"),
        ("LDAP, full scan", "LDAP first import (full)", "LDAP second full scan, no change"),
        ("LDAP, incremental", "LDAP first import (full)", "LDAP incremental, no change"),
    ):
        r = ratio(first, second)
        if r is not None:
            goals.append(
                f"- second run ({label}): {r:.1f}× faster than the first (goal ≥ 5): "
                + ("met" if r >= 5 else "NOT met")
            )
    if "LDAP incremental, 1 % changed" in found:
        t = found["LDAP incremental, 1 % changed"].seconds
        goals.append(
            f"- incremental with 1 % changed: {t:.1f} s (goal < 60 s): {'met' if t < 60 else 'NOT met'}"
        )
    peak = max(
        (s.rss_mb for s in steps if "import" in s.name or "run" in s.name or "incremental" in s.name),
        default=0,
    )
    goals.append(
        f"- importer peak RSS {peak:.0f} MB (goal < 500 MB at 1.2 M): {'met' if peak < 500 else 'NOT met'}"
    )
    command = "python -m bench import -- " + " ".join(args.argv)
    return "\n".join([*lines, "", *goals, "", f"Command: `{command}`"])


def main(argv: list[str]) -> int:
    """Run the import benchmark; see the module docstring."""
    parser = argparse.ArgumentParser(prog="bench_import", description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=100_000, help="people in the generated dataset")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", type=Path, help="an existing `directory synth` output to reuse")
    parser.add_argument(
        "--ldap-entries", type=int, default=300_000, help="entries to load into slapd (at least)"
    )
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--skip-ldif", action="store_true")
    parser.add_argument("--skip-ldap", action="store_true")
    parser.add_argument("--ldap-first", action="store_true", help="run the LDAP part before the LDIF part")
    parser.add_argument(
        "--breakdown",
        type=Path,
        metavar="FILE",
        help="only print the CPU per entry of each stage on one LDIF file",
    )
    parser.add_argument(
        "--whole",
        type=Path,
        metavar="FILE",
        help="only print the CPU per entry of whole imports of one LDIF file, in this process",
    )
    parser.add_argument(
        "--slapd-dir",
        type=Path,
        help="keep slapd's database here and reuse it when it is already loaded with the same files "
        "(the 1 %% modification of a previous run stays in it)",
    )
    parser.add_argument(
        "--page-size", type=int, default=1000, help="LDAP page size (importer and ldapsearch)"
    )
    parser.add_argument(
        "--skip-ldif-change",
        action="store_true",
        help="leave out the LDIF run with 1 %% of the people changed",
    )
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument(
        "--jobs", type=int, default=1, help="feeds imported at once (directory import --jobs)"
    )
    args = parser.parse_args(argv)
    args.argv = argv
    if args.breakdown is not None:
        print(breakdown(args.breakdown))
        return 0
    if args.whole is not None:
        print(whole(args.whole, args.admin_url))
        return 0
    JOBS[:] = ["--jobs", str(args.jobs)]

    data = args.data or Path(tempfile.gettempdir()) / f"bench-import-synth-{args.people}-{args.seed}"
    files = sorted(data.glob("ac-*.ldif"))
    if len(files) != 30:
        print(f"generating {args.people} people into {data}", flush=True)
        shutil.rmtree(data, ignore_errors=True)
        started = time.perf_counter()
        subprocess.run(
            directory("synth", "--people", str(args.people), "--seed", str(args.seed), "--out", str(data)),
            check=True,
        )
        print(f"  generated in {time.perf_counter() - started:.0f} s", flush=True)
        files = sorted(data.glob("ac-*.ldif"))
    work = Path(tempfile.mkdtemp(prefix="bench-import-"))
    env = {
        **os.environ,
        "DIRECTORY_SECRET_KEY": SECRET,
        "DIRECTORY_DATA_DIR": str(work / "data"),
        "PYTHONPATH": str(ROOT),
    }
    env.pop("DIRECTORY_FEEDS", None)
    steps: list[Step] = []
    try:
        parts = ["ldif", "ldap"] if not args.ldap_first else ["ldap", "ldif"]
        for part in parts:
            if part == "ldif" and not args.skip_ldif:
                steps += ldif_part(files, args.admin_url, env, work, change=not args.skip_ldif_change)
            if part == "ldap" and not args.skip_ldap:
                steps += ldap_part(
                    files, args.ldap_entries, args.admin_url, env, work, args.slapd_dir, args.page_size
                )
    finally:
        for name in ("import_bench_ldif", "import_bench_ldap"):
            drop_database(args.admin_url, name)
        shutil.rmtree(work, ignore_errors=True)
    text = report(steps, args)
    print(text)
    if args.json:
        payload: dict[str, Any] = {"people": args.people, "steps": [s.__dict__ for s in steps]}
        args.json.write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
