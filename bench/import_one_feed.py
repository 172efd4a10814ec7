"""One LDIF file imported as a feed of the given name into an existing store, timed.

    python bench/import_one_feed.py DATABASE_URL FEED_NAME FILE.ldif [ACADEMY_CODE]

Prints the run's status and additions, the wall time, the importer's CPU and the CPU the rest of
the machine spent meanwhile (PostgreSQL, on a machine doing nothing else). A new feed name each
time is a first load (docs/benchmarks.md, "a feed's first load straight into source_records");
run it from two checkouts (PYTHONPATH) to compare them. Needs DIRECTORY_SECRET_KEY.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from directory.secrets import Hasher
from importers.feeds import FeedConfig
from importers.pipeline import import_ldif


def _busy_seconds() -> float:
    """CPU seconds spent by the whole machine (user, nice, system, irq, softirq) since boot."""
    with open("/proc/stat") as stat:
        fields = stat.readline().split()
    return sum(int(fields[i]) for i in (1, 2, 3, 6, 7)) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str]) -> None:
    url, name, path = argv[0], argv[1], Path(argv[2])
    academy = argv[3] if len(argv) > 3 else "25"
    feed = FeedConfig(name=name, academy_code=academy, kind="ldif", path=path)
    hasher = Hasher(os.environ["DIRECTORY_SECRET_KEY"])
    busy, wall, cpu = _busy_seconds(), time.monotonic(), time.process_time()
    result = import_ldif(url, path, feed, hasher=hasher, recheck=True)
    wall, cpu, busy = time.monotonic() - wall, time.process_time() - cpu, _busy_seconds() - busy
    print(
        f"{name} {result.status} added={result.counts.added} wall={wall:.2f} s "
        f"importer_cpu={cpu:.2f} s other_cpu={busy - cpu:.2f} s"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
