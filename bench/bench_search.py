"""Search and resolution API benchmark: latency, throughput, findability, side by side with slapd
and a naive PostgreSQL ``ILIKE``.

    python -m bench search -- --database-url postgresql://postgres@127.0.0.1/bench_search \\
        --data /tmp/bench-search/data [--queries 4000] [--skip-slapd]

The dataset is one that ``directory synth``, ``directory import ldif`` and ``directory match``
made (``--database-url``; ``--data`` is the synth output, whose LDIF feeds slapd is loaded with);
``--people N`` makes one of N people first, in a new database on the test server.

What runs, in order:

1. the API as a separate process (``uvicorn``, ``--workers``), serving the store's index;
2. a query mix built from people sampled in the store: 2- to 8-letter prefixes of a name part,
   full names, swapped order, missing accents, one typo, two-word prefixes, e-mails; each with a
   searcher context (a colleague of the same establishment) half of the time;
3. an asyncio HTTP/1.1 keep-alive client in this process with 1, 4 and 16 connections:
   end-to-end latency, server-side latency (the ``Server-Timing`` header the app sets: from the
   request reaching the app to the answer leaving it) and throughput;
4. findability: for target people, what a colleague types (first letters of the given name and
   surname, order swapped or one typo at times) with the colleague as context: share of targets
   in the top 3 and the top 1;
5. slapd (``tests/slapd.py``: the indexes Nextcloud's LDAP backend needs, ``eq,sub`` on cn,
   displayName, mail, uid, sn, givenName) loaded with the same feeds, answering the filter
   Nextcloud sends (``(&(|(cn=w1*)(mail=w1*)(displayName=w1*))(|(cn=w2*)...))``) and its infix
   form (``*w*``), and the directory answering the same words;
6. a naive ``ILIKE '%q%'`` on ``source_records`` in PostgreSQL.

Prints a Markdown report (and ``--json FILE`` writes the figures). The queries are made in
``bench/search_mix.py``, the load in ``bench/search_load.py``, the slapd and ``ILIKE`` side in
``bench/search_baselines.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from bench.search_baselines import fill_ilike_table, open_slapd, time_ilike, time_ldap
from bench.search_load import (
    Sample,
    cache_counts,
    load,
    pct,
    request_bytes,
    request_path,
    rss_mb,
    run_loop,
    start_server,
    summary,
    tree_cpu_s,
    wait_ready,
    wrk_load,
)
from bench.search_mix import (
    Query,
    findability_queries,
    people_from_docs,
    query_mix,
    repeated_share,
    sample_people,
    words,
)

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Report:
    figures: dict[str, Any] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)

    def add(self, line: str = "") -> None:
        print(line, flush=True)
        self.lines.append(line)


def make_dataset(people: int, seed: int) -> tuple[str, Path]:
    """A fresh dataset of ``people`` on the test server: synth, import, match (the real commands)."""
    from tests.pg import find_admin_url

    admin, _ = find_admin_url()
    name = f"bench_search_{people}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = psycopg.conninfo.make_conninfo(admin, dbname=name)
    data = Path(f"/tmp/{name}")
    env = {**os.environ, "DIRECTORY_DATABASE_URL": url, "DIRECTORY_DATA_DIR": str(data)}
    run = [sys.executable, "-c", "from directory.cli import main; main()"]
    steps = [
        lambda: ["synth", "--people", str(people), "--seed", str(seed), "--out", str(data / "data")],
        lambda: ["import", "establishments", str(data / "data" / "establishments.csv")],
        lambda: ["import", "ldif", *map(str, sorted((data / "data").glob("ac-*.ldif")))],
        lambda: ["match", "--full"],
    ]
    for step in steps:  # lazily: the feeds exist only once synth has run
        subprocess.run([*run, *step()], env=env, check=True, cwd=ROOT)
    return url, data / "data"


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench search --")
    ap.add_argument("--database-url", default=os.environ.get("DIRECTORY_DATABASE_URL"))
    ap.add_argument("--data", type=Path, help="synth output directory (LDIF feeds for slapd)")
    ap.add_argument("--people", type=int, default=0, help="make a fresh dataset of N people first")
    ap.add_argument(
        "--docs",
        type=Path,
        help="serve an index of these pickled documents (bench/ldif_people.py) instead of the store's; "
        "the store still holds the API keys",
    )
    ap.add_argument("--queries", type=int, default=4000)
    ap.add_argument(
        "--loadgen",
        choices=("wrk", "asyncio"),
        default="wrk" if shutil.which("wrk") else "asyncio",
        help="load generator of the 1/4/16-client passes (wrk: Debian package `wrk`)",
    )
    ap.add_argument("--duration", type=float, default=15.0, help="seconds per wrk pass")
    ap.add_argument("--wrk-queries", type=int, default=100_000, help="length of the mix wrk replays")
    ap.add_argument("--findability", type=int, default=500)
    ap.add_argument("--ldap-queries", type=int, default=300)
    ap.add_argument("--ilike-queries", type=int, default=40)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--skip-slapd", action="store_true")
    ap.add_argument(
        "--slapd-dir",
        type=Path,
        help="keep slapd's data here and reuse it when already loaded (slapadd of 1.2 million entries "
        "takes half an hour: load it ahead with --slapd-load-only)",
    )
    ap.add_argument("--slapd-load-only", action="store_true", help="load slapd into --slapd-dir and stop")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    report = Report()
    if args.slapd_load_only:
        if not (args.slapd_dir and args.data):
            ap.error("--slapd-load-only needs --slapd-dir and --data")
        t0 = time.perf_counter()
        slapd = open_slapd(args.data, args.slapd_dir)
        slapd._halt()  # keep the data, stop the server
        print(f"slapd loaded into {args.slapd_dir} in {time.perf_counter() - t0:.0f} s", flush=True)
        return 0
    if args.people:
        args.database_url, args.data = make_dataset(args.people, args.seed)
    if not args.database_url:
        ap.error("--database-url (or DIRECTORY_DATABASE_URL) or --people is required")
    url = args.database_url
    sys.path.insert(0, str(ROOT))
    from directory.apikeys import create_key
    from directory.db import Database

    ilike_table = "source_records"
    if args.docs:
        import pickle

        with args.docs.open("rb") as fh:
            docs, names = pickle.load(fh)
        n_people, n_records = len(docs), sum(len(d.uids) for d in docs)
        people = people_from_docs(docs, names, 6000, args.seed)
        fill_ilike_table(url, docs)
        ilike_table = "bench_people"
        del docs, names
    else:
        with psycopg.connect(url, row_factory=dict_row) as conn:
            n_people = conn.execute("SELECT count(*) AS n FROM persons WHERE status = 'active'").fetchone()[
                "n"
            ]  # type: ignore[index]
            n_records = conn.execute("SELECT count(*) AS n FROM source_records").fetchone()["n"]  # type: ignore[index]
            people = sample_people(conn, 6000, args.seed)
    report.add(f"dataset: {n_people:,} people, {n_records:,} person records; sampled {len(people):,}")
    report.figures["dataset"] = {"people": n_people, "records": n_records}
    with Database(url) as db:
        _, key = create_key(db, name=f"bench-{int(time.time())}", scopes={"search", "resolve"},
                            rate_limit_per_minute=10**8)  # fmt: skip
        _, metrics_key = create_key(db, name=f"bench-metrics-{int(time.time())}", scopes={"admin"})
    # Every pass reads its own segment of one long mix, so that no pass is answered from what an
    # earlier pass left in the answer cache: [warm-up 300][the passes' segments...][per-kind tail].
    passes_len = args.wrk_queries if args.loadgen == "wrk" else 3 * args.queries
    mix = query_mix(people, 300 + passes_len + args.queries, args.seed)
    tail = mix[-args.queries :]
    finds = findability_queries(people, args.findability, args.seed)

    server = start_server(url, args.port, args.workers, {}, docs=args.docs)
    try:
        ready = run_loop(wait_ready(args.port, 3600))
        rss = rss_mb(server.pid)
        report.add(
            f"API ready in {ready:.0f} s (index load from the store), RSS {rss:.0f} MB per process tree"
        )
        report.figures["ready_s"] = ready
        report.figures["rss_mb"] = rss
        warm = [request_bytes(q, key) for q in mix[:300]]
        run_loop(load(args.port, warm, 4))
        reqs = [request_bytes(q, key) for q in tail]
        report.add("")
        report.add(
            "| clients | requests | throughput (req/s) | server wall p50 / p95 / p99 (ms) "
            "| server CPU p50 / p95 / p99 (ms) | end-to-end p50 / p95 / p99 (ms) |"
        )
        report.add("|---|---|---|---|---|---|")
        one_client: list[Sample] = []
        if args.loadgen == "wrk":
            paths = [request_path(q) for q in mix]
            offset = 300
            for clients in (1, 4, 16):
                hits0 = cache_counts(args.port, metrics_key)
                cpu0 = os.times()
                srv0 = tree_cpu_s(server.pid)
                r = wrk_load(args.port, paths[: -args.queries], key, clients, args.duration, offset)
                offset += r["sent"]
                cpu1 = os.times()
                srv_cpu = tree_cpu_s(server.pid) - srv0
                hits1 = cache_counts(args.port, metrics_key)
                lg_cpu = cpu1.children_user + cpu1.children_system - cpu0.children_user - cpu0.children_system
                rps = r["requests"] / r["duration_s"]
                looked = (hits1[0] - hits0[0]) + (hits1[1] - hits0[1])
                hit = (hits1[0] - hits0[0]) / looked if looked else float("nan")
                r.update(rps=rps, loadgen_cpu_ms_per_request=lg_cpu * 1000 / max(1, r["requests"]),
                         cache_hit_one_worker=hit,
                         server_cpu_ms_per_request=srv_cpu * 1000 / max(1, r["requests"]),
                         repeated=repeated_share(mix[offset - r["sent"] :], r["sent"]),
                         load=os.getloadavg()[0])  # fmt: skip
                report.figures[f"clients_{clients}"] = r
                srv, cpu, e2e = r["server"], r["cpu"], r["e2e"]
                note = f" ({r['errors']} non-200)" if r["errors"] else ""
                if offset > passes_len + 300:
                    note += f" (the mix of {len(paths):,} was replayed: cache figures are flattered)"
                report.add(f"| {clients} | {r['requests']:,} | {rps:,.0f} | "
                           f"{srv['p50']:.2f} / {srv['p95']:.2f} / {srv['p99']:.2f} | "
                           f"{cpu['p50']:.2f} / {cpu['p95']:.2f} / {cpu['p99']:.2f} | "
                           f"{e2e['p50']:.2f} / {e2e['p95']:.2f} / {e2e['p99']:.2f} |{note}")  # fmt: skip
            report.add("")
            for clients in (1, 4, 16):
                r = report.figures[f"clients_{clients}"]
                report.add(
                    f"wrk {clients} clients: {r['duration_s']:.0f} s, CPU per request: server processes "
                    f"{r['server_cpu_ms_per_request']:.3f} ms (HTTP included), wrk "
                    f"{r['loadgen_cpu_ms_per_request']:.3f} ms; answer-cache hits "
                    f"{r['cache_hit_one_worker']:.1%} (one worker's /metrics), repeated (query, context) "
                    f"pairs {r['repeated']:.1%}, load average {r['load']:.1f}"
                )
            one_client, _ = run_loop(load(args.port, reqs, 1))
        for i, clients in enumerate((1, 4, 16) if args.loadgen == "asyncio" else ()):
            segment = mix[300 + i * args.queries : 300 + (i + 1) * args.queries]
            samples, wall = run_loop(load(args.port, [request_bytes(q, key) for q in segment], clients))
            bad = sum(s.status != 200 for s in samples)
            srv, e2e = summary([s.server_ms for s in samples]), summary([s.e2e_ms for s in samples])
            cpu = summary([s.cpu_ms for s in samples])
            report.figures[f"clients_{clients}"] = {
                "rps": len(samples) / wall,
                "server": srv,
                "cpu": cpu,
                "e2e": e2e,
                "errors": bad,
            }
            report.add(f"| {clients} | {len(samples):,} | {len(samples) / wall:,.0f} | "
                       f"{srv['p50']:.2f} / {srv['p95']:.2f} / {srv['p99']:.2f} | "
                       f"{cpu['p50']:.2f} / {cpu['p95']:.2f} / {cpu['p99']:.2f} | "
                       f"{e2e['p50']:.2f} / {e2e['p95']:.2f} / {e2e['p99']:.2f} |"
                       + (f" ({bad} errors)" if bad else ""))  # fmt: skip
        report.add("")
        report.add(
            "| query kind (1 client) | count | server wall p50 / p99 (ms) | server CPU p50 / p99 (ms) |"
        )
        report.add("|---|---|---|---|")
        by_kind: dict[str, list[Sample]] = {}
        if args.loadgen == "asyncio":
            one_client, _ = run_loop(load(args.port, reqs, 1))  # the tail too, not cached yet
        for q, s in zip(tail, one_client, strict=False):
            by_kind.setdefault(q.kind, []).append(s)
        for kind, ss in sorted(by_kind.items()):
            w, c = [s.server_ms for s in ss], [s.cpu_ms for s in ss]
            cells = f"{pct(w, 50):.2f} / {pct(w, 99):.2f} | {pct(c, 50):.2f} / {pct(c, 99):.2f}"
            report.add(f"| {kind} | {len(ss)} | {cells} |")
        report.figures["by_kind"] = {k: summary([s.server_ms for s in v]) for k, v in by_kind.items()}

        # Findability.
        samples, _ = run_loop(load(args.port, [request_bytes(q, key) for q in finds], 1, keep_body=True))
        top1 = top3 = 0
        for q, s in zip(finds, samples, strict=True):
            ids = [r["id"] for r in json.loads(s.body)["results"]] if s.status == 200 else []
            top1 += ids[:1] == [q.target]
            top3 += q.target in ids[:3]
        report.add("")
        report.add(
            f"findability: {len(finds)} targets, top 3 {top3 / len(finds):.1%}, top 1 {top1 / len(finds):.1%}"
        )
        report.figures["findability"] = {
            "n": len(finds),
            "top3": top3 / len(finds),
            "top1": top1 / len(finds),
        }

        # Side by side: the directory, slapd and ILIKE on the same words.
        fresh = query_mix(people, 6 * args.ldap_queries, args.seed + 2)  # not asked before: not cached
        name_queries = [q.text for q in fresh if q.kind in ("prefix", "two_prefixes", "full")][
            : args.ldap_queries
        ]
        rng = random.Random(args.seed)
        infix_words = []
        for p in people[: args.ldap_queries]:
            w = max(words(p.surname), key=len)
            if len(w) >= 5:
                start = rng.randrange(1, len(w) - 2)
                infix_words.append(w[start : start + rng.choice((3, 4))])
        ours_prefix = run_loop(
            load(args.port, [request_bytes(Query("", t, None, ""), key) for t in name_queries], 1)
        )[0]
        ours_infix = run_loop(
            load(args.port, [request_bytes(Query("", t, None, ""), key) for t in infix_words], 1)
        )[0]
    finally:
        server.terminate()
        server.wait(timeout=60)

    report.add("")
    report.add("| system, 1 client | queries | p50 / p95 / p99 (ms) |")
    report.add("|---|---|---|")

    def row(label: str, values: list[float]) -> None:
        s = summary(values)
        report.figures[label] = s
        report.add(f"| {label} | {len(values)} | {s['p50']:.2f} / {s['p95']:.2f} / {s['p99']:.2f} |")

    row("directory, Nextcloud-style words (end-to-end)", [s.e2e_ms for s in ours_prefix])
    row("directory, 3-4 letter infix words (end-to-end)", [s.e2e_ms for s in ours_infix])
    if not args.skip_slapd and args.data:
        sys.path.insert(0, str(ROOT))
        t0 = time.perf_counter()
        slapd = open_slapd(args.data, args.slapd_dir)
        try:
            report.figures["slapadd_s"] = time.perf_counter() - t0
            conn = slapd.connection()
            time_ldap(conn, name_queries[:20], False)  # warm the caches
            row("slapd, prefix filters (Nextcloud)", time_ldap(conn, name_queries, False))
            row("slapd, infix filters", time_ldap(conn, infix_words, True))
            conn.unbind()
        finally:
            if args.slapd_dir:
                slapd._halt()  # keep the loaded data for the next run
            else:
                slapd.stop()
        report.add(
            f"(slapd start, with slapadd of the feeds unless reused: {report.figures['slapadd_s']:.0f} s)"
        )
        ratio = (
            report.figures["slapd, infix filters"]["p99"]
            / report.figures["directory, 3-4 letter infix words (end-to-end)"]["p99"]
        )
        report.add(f"infix p99 ratio slapd / directory: {ratio:.1f}x")
        report.figures["infix_ratio_p99"] = ratio
    row("PostgreSQL ILIKE '%q%'", time_ilike(url, name_queries[: args.ilike_queries], ilike_table))
    report.add(f"load average at the end: {os.getloadavg()[0]:.1f} (2 cores)")
    if args.json:
        args.json.write_text(json.dumps(report.figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
