"""Synthetic dataset benchmark: time and peak memory of ``generate``, then the data's own figures.

    python bench/bench_synth.py --people 1200000 --seed 1 --out /tmp/synth-1.2M
    python bench/bench_synth.py --people 300000 --no-shape --slapadd   # also bulk-load into slapd
    python bench/bench_synth.py --people 20000 --no-shape --slapadd --ldap3  # slapadd vs ldap3

The generation runs in a child process so that its peak RSS is its own (``ru_maxrss`` of the
children); CPU time is reported next to wall time because a shared machine stretches the latter.
Then the files are read back (``ldif`` parser) for the shape of the names, the duplicate and
homonym rates and the dirt, so that docs/benchmarks.md and docs/synthetic-data.md quote measured
figures. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import resource
import subprocess
import sys
import time
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NUMEN = re.compile(r"^\d{2}[GEPA]\d{7}[A-Z]{3}$")


def _fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c)).upper()


def run_generate(people: int, seed: int, out: Path) -> dict[str, Any]:
    """Generate in a child process; its wall time, CPU time and peak RSS."""
    code = (
        "import json, sys; from pathlib import Path; from importers.synth import generate; "
        f"s = generate(Path({str(out)!r}), people={people}, seed={seed}); "
        "print(json.dumps({'entries': s.total_entries, 'counts': dict(s.counts)}))"
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = json.loads(done.stdout)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    size = sum(p.stat().st_size for p in out.iterdir())
    return {
        "people": people,
        "seed": seed,
        "entries": result["entries"],
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "people_per_cpu_s": round(people / cpu),
        "peak_rss_mib": round(after.ru_maxrss / 1024),
        "output_mib": round(size / 2**20),
        "load_average_1min": round(os.getloadavg()[0], 1),
        "counts": result["counts"],
    }


def shape(out: Path) -> dict[str, Any]:
    """Names, duplicates, homonyms and dirt, read back from the files."""
    import ldif

    truth: dict[tuple[str, str], str] = {}
    with (out / "truth.csv").open(encoding="utf-8", newline="") as stream:
        for row in csv.DictReader(stream):
            truth[row["feed"], row["uid"]] = row["person"]
    first: dict[str, tuple[str, str, str, str]] = {}  # person -> (given, sn, feed, birth date)
    records: Counter[str] = Counter()
    entries = numen_gone = date_gone = 0
    for path in sorted(out.glob("ac-*.ldif")):
        with path.open("rb") as stream:
            for _dn, attrs in ldif.LDIFParser(stream).parse():
                if "uid" not in attrs:
                    continue
                person = truth[path.stem, attrs["uid"][0]]
                if person == "-":
                    continue
                entries += 1
                records[person] += 1
                numen = attrs.get("employeeNumber", [""])[0]
                numen_gone += not NUMEN.match(numen)
                date = attrs.get("datenaissance", [""])[0]
                date_gone += not date
                sn, given = attrs.get("sn", [b""])[0], attrs.get("givenName", [b""])[0]
                if person not in first and isinstance(sn, str) and isinstance(given, str) and sn:
                    year = date[-4:] if "/" in date else date[:4]
                    first[person] = (_fold(given).replace(" ", "-"), _fold(sn), path.stem, year)
    people = len(records)
    surnames = Counter(sn for _, sn, _, _ in first.values())
    names = defaultdict(list)
    for given, sn, feed, year in first.values():
        names[given, sn].append((feed, year))
    shared = [v for v in names.values() if len(v) > 1]
    by_rank = [n for _, n in surnames.most_common()]
    few = sum(1 for n in by_rank if n < 10)
    same_year = sum(1 for v in shared if len({y for _, y in v if y}) < len([y for _, y in v if y]))
    return {
        "people": people,
        "person_entries": entries,
        "people_with_several_records_pct": round(100 * sum(1 for n in records.values() if n > 1) / people, 2),
        "distinct_surnames": len(surnames),
        "surnames_with_fewer_than_10_bearers_pct": round(100 * few / len(by_rank), 1),
        "surnames_borne_by_one_person": sum(1 for n in by_rank if n == 1),
        "top_1000_surnames_cover_pct": round(100 * sum(by_rank[:1000]) / sum(by_rank), 1),
        "top_surnames": [f"{sn} {n / people:.3%}" for sn, n in surnames.most_common(10)],
        "nathalie_martin_people": len(names["NATHALIE", "MARTIN"]),
        "people_sharing_first_and_surname_pct": round(100 * sum(len(v) for v in shared) / people, 1),
        "homonym_groups_within_one_academy": sum(1 for v in shared if len({f for f, _ in v}) < len(v)),
        "homonym_groups_with_a_shared_birth_year": same_year,
        "numen_missing_or_redacted_pct": round(100 * numen_gone / entries, 1),
        "birth_date_missing_pct": round(100 * date_gone / entries, 1),
    }


def birth_surnames(people: int, seed: int) -> dict[str, Any]:
    """The birth-surname distribution itself (``NameTables.surname``), before any feed spelling."""
    import random
    from bisect import bisect
    from itertools import accumulate

    from directory.academies import ACADEMIES
    from importers.synth_names import NameTables

    names, rng = NameTables.load(), random.Random(seed)
    cum = list(accumulate(a.staff for a in ACADEMIES))
    drawn = Counter(
        names.surname(rng, ACADEMIES[bisect(cum, rng.random() * cum[-1])].code) for _ in range(people)
    )
    by_rank = [n for _, n in drawn.most_common()]
    return {
        "distinct": len(by_rank),
        "fewer_than_10_bearers_pct": round(100 * sum(1 for n in by_rank if n < 10) / len(by_rank), 1),
        "borne_by_one_person": sum(1 for n in by_rank if n == 1),
        "top_1000_cover_pct": round(100 * sum(by_rank[:1000]) / people, 1),
        "martin_pct": round(100 * drawn["Martin"] / people, 3),
    }


def run_slapadd(out: Path) -> dict[str, Any]:
    """Bulk-load the feeds into a fresh slapd with slapadd: wall and CPU time (slapadd's), size."""
    from tests.slapd import Slapd

    with Slapd() as server:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        result = server.load_ldif(sorted(out.glob("ac-*.ldif")))
        elapsed = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the slapadd runs, and the stopped slapd
        data_mib = sum(p.stat().st_blocks * 512 for p in server.data.iterdir()) / 2**20  # sparse file
        return {
            "offered": result.offered,
            "refused": result.refused,
            "wall_s": round(elapsed, 1),
            "cpu_s": round(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, 1),
            "entries_per_wall_s": round(result.added / elapsed),
            "mdb_mib": round(data_mib),
            "load_average_1min": round(os.getloadavg()[0], 1),
        }


def run_ldap3(out: Path) -> dict[str, Any]:
    """Load the feeds over LDAP with ``load_ldap`` (what ``--ldap-load`` does): entries per second."""
    from importers.synth_load import load_ldap
    from tests.slapd import Slapd

    with Slapd() as server:
        cpu = time.process_time()
        report = load_ldap(
            sorted(out.glob("ac-*.ldif")), url=server.url, bind_dn=server.bind_dn, password=server.password
        )
        return {
            "added": report.added,
            "refused": len(report.rejected),
            "wall_s": round(report.elapsed, 1),
            "client_cpu_s": round(time.process_time() - cpu, 1),
            "entries_per_wall_s": round(report.rate),
            "load_average_1min": round(os.getloadavg()[0], 1),
        }


def main(argv: list[str]) -> int:
    """Run the benchmark; print one JSON document."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=1_200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--out", type=Path, default=None, help="output directory (default /tmp/bench-synth-N-S)"
    )
    parser.add_argument("--no-shape", action="store_true", help="skip reading the files back")
    parser.add_argument("--slapadd", action="store_true", help="also bulk-load into a slapd with slapadd")
    parser.add_argument("--ldap3", action="store_true", help="also load into a slapd over LDAP (slow)")
    args = parser.parse_args(argv)
    out = args.out or Path(f"/tmp/bench-synth-{args.people}-{args.seed}")
    report: dict[str, Any] = {
        "command": f"python bench/bench_synth.py --people {args.people} --seed {args.seed}",
        "generate": run_generate(args.people, args.seed, out),
    }
    if not args.no_shape:
        report["birth_surnames"] = birth_surnames(args.people, args.seed)
        report["shape"] = shape(out)
    if args.slapadd:
        report["slapadd"] = run_slapadd(out)
    if args.ldap3:
        report["ldap3"] = run_ldap3(out)
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
