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

Prints a Markdown report (and ``--json FILE`` writes the figures).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
import unicodedata
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

ROOT = Path(__file__).resolve().parent.parent

try:  # the client's own CPU counts against the server on two cores: the faster loop when there
    from uvloop import run as run_loop
except ImportError:  # pragma: no cover
    from asyncio import run as run_loop


# -- the query mix -------------------------------------------------------------------------------


@dataclass
class Person:
    id: str
    given: str
    surname: str
    mail: str
    uai: str | None
    colleague: str | None = None  # e-mail of another person of the same establishment


@dataclass
class Query:
    kind: str
    text: str
    context: str | None
    target: str


def strip_accents(s: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", s) if unicodedata.category(c) != "Mn")


def words(s: str) -> list[str]:
    return [w for w in re.split(r"[\s\-']+", strip_accents(s).lower()) if w]


def typo(word: str, rng: random.Random) -> str:
    """One edit in the middle of a word (people rarely miss the first letter)."""
    i = rng.randrange(1, max(2, len(word) - 1))
    kind = rng.choice(("swap", "drop", "sub", "add"))
    letters = "abcdefghijklmnopqrstuvwxyz"
    if kind == "swap" and i + 1 < len(word):
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == "drop":
        return word[:i] + word[i + 1 :]
    if kind == "sub":
        return word[:i] + rng.choice(letters.replace(word[i], "")) + word[i + 1 :]
    return word[:i] + rng.choice(letters) + word[i:]


def sample_people(conn: psycopg.Connection[dict[str, Any]], n: int, seed: int) -> list[Person]:
    """Offered people with their main record, and a colleague of the same establishment."""
    # Fresh statistics: right after an import the planner would pick nested loops over millions.
    for table in ("persons", "record_links", "source_records"):
        conn.execute(f"ANALYZE {table}")
    conn.execute("SELECT setseed(%s)", (seed / 1000,))
    rows = conn.execute(
        """WITH sample AS (
               SELECT p.id FROM persons p WHERE p.status = 'active' ORDER BY random() LIMIT %s)
           SELECT DISTINCT ON (s.id) s.id, r.given_name, r.usage_name, r.mail, r.main_uai
           FROM sample s JOIN record_links l ON l.person_id = s.id JOIN source_records r ON r.id = l.record_id
           WHERE r.active AND r.removed_at IS NULL AND r.kind = 'person' AND r.given_name IS NOT NULL
             AND r.usage_name IS NOT NULL AND r.mail IS NOT NULL
           ORDER BY s.id, r.updated_at DESC""",
        (n,),
    ).fetchall()
    people = [
        Person(r["id"], r["given_name"], r["usage_name"], r["mail"].lower(), r["main_uai"]) for r in rows
    ]
    uais = sorted({p.uai for p in people if p.uai})
    mates: dict[str, list[tuple[str, str]]] = {}
    for r in conn.execute(
        """SELECT DISTINCT ON (r.main_uai, l.person_id) r.main_uai, l.person_id, lower(r.mail) AS mail
           FROM source_records r JOIN record_links l ON l.record_id = r.id
           JOIN unnest(%s::text[]) AS u(uai) ON u.uai = r.main_uai
           WHERE r.active AND r.removed_at IS NULL AND r.mail IS NOT NULL""",
        (uais,),
    ).fetchall():
        mates.setdefault(r["main_uai"], []).append((r["person_id"], r["mail"]))
    rng = random.Random(seed)
    for p in people:
        others = [m for pid, m in mates.get(p.uai or "", []) if pid != p.id]
        p.colleague = rng.choice(others) if others else None
    return people


def query_mix(people: list[Person], n: int, seed: int) -> list[Query]:
    """The realistic mix: what people type in a share dialog, keystroke by keystroke."""
    rng = random.Random(seed)
    out: list[Query] = []
    kinds = (
        ["prefix"] * 6
        + ["full"] * 2
        + ["swapped", "no_accents", "typo", "two_prefixes", "two_prefixes", "email"]
    )
    while len(out) < n:
        p = rng.choice(people)
        g, s = words(p.given), words(p.surname)
        if not g or not s:
            continue
        ctx = p.colleague if rng.random() < 0.5 else None
        kind = rng.choice(kinds)
        if kind == "prefix":
            w = rng.choice(g + s)
            text = w[: rng.randint(2, 8)]
        elif kind == "full":
            text = f"{p.given} {p.surname.title()}"
        elif kind == "swapped":
            text = f"{p.surname} {p.given}"
        elif kind == "no_accents":
            text = strip_accents(f"{p.given} {p.surname}").lower()
        elif kind == "typo":
            long_words = [w for w in g + s if len(w) >= 6]
            if not long_words:
                continue
            w = rng.choice(long_words)
            text = " ".join(typo(x, rng) if x == w else x for x in [*g, *s])
        elif kind == "two_prefixes":
            text = f"{g[0][: rng.randint(2, 5)]} {s[0][: rng.randint(2, 5)]}"
        else:
            text = p.mail
        if len("".join(ch for ch in text if ch.isalnum())) < 2:
            continue
        out.append(Query(kind, text, ctx, p.id))
    return out


def findability_queries(people: list[Person], n: int, seed: int) -> list[Query]:
    """What a colleague types to find someone: first letters of given name and surname, with noise."""
    rng = random.Random(seed + 1)
    out: list[Query] = []
    for p in people:
        if len(out) >= n:
            break
        g, s = words(p.given), words(p.surname)
        if not g or not s or not p.colleague:
            continue
        first, last = g[0][: rng.randint(3, 5)], max(s, key=len)[: rng.randint(3, 6)]
        if rng.random() < 0.2 and len(max(s, key=len)) >= 6:
            last = typo(max(s, key=len), rng)
        parts = [last, first] if rng.random() < 0.3 else [first, last]
        out.append(Query("findability", " ".join(parts), p.colleague, p.id))
    return out


# -- the API server and the HTTP client ----------------------------------------------------------


def start_server(
    url: str, port: int, workers: int, env_extra: dict[str, str], docs: Path | None = None
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DIRECTORY_DATABASE_URL": url,
        "DIRECTORY_LOG_LEVEL": "WARNING",
        "DIRECTORY_SEARCH_REFRESH_INTERVAL": "30",
        **env_extra,
    }
    if docs is not None:
        cmd = [
            sys.executable,
            "-m",
            "bench.search_server",
            str(docs),
            "--port",
            str(port),
            "--workers",
            str(workers),
        ]
        return subprocess.Popen(cmd, env=env, cwd=ROOT)
    # ``directory serve``: with several workers, one index built and shared by forked workers.
    return subprocess.Popen(
        [sys.executable, "-c", "from directory.cli import main; main()", "serve", "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(workers)],
        env={**env, "DIRECTORY_WORKERS": str(workers)},
        cwd=ROOT,
    )  # fmt: skip


async def wait_ready(port: int, timeout: float) -> float:
    """Until /readyz answers 200 on 30 new connections in a row: with several workers behind one
    port, each connection may land on another worker, and every one must have its index."""
    start = time.perf_counter()
    streak = 0
    while time.perf_counter() - start < timeout:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /readyz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            head = await reader.readuntil(b"\r\n\r\n")
            writer.close()
            streak = streak + 1 if head.startswith(b"HTTP/1.1 200") else 0
            if streak >= 30:
                return time.perf_counter() - start
        except (OSError, asyncio.IncompleteReadError):
            streak = 0
        await asyncio.sleep(0.05 if streak else 1)
    raise RuntimeError("the API did not become ready")


def request_bytes(q: Query, key: str) -> bytes:
    params = {"q": q.text, "limit": "25"}
    if q.context:
        params["context"] = q.context
    path = "/v1/people/search?" + urllib.parse.urlencode(params)
    return f"GET {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {key}\r\n\r\n".encode()


@dataclass
class Sample:
    e2e_ms: float
    server_ms: float
    cpu_ms: float
    status: int
    body: bytes = b""


_CL = re.compile(rb"content-length: *(\d+)", re.I)
_ST = re.compile(rb"server-timing: *app;dur=([0-9.]+)(?:, *cpu;dur=([0-9.]+))?", re.I)


async def connection(port: int, reqs: list[bytes], out: list[Sample], keep_body: bool) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for req in reqs:
        t0 = time.perf_counter()
        writer.write(req)
        head = await reader.readuntil(b"\r\n\r\n")
        m = _CL.search(head)
        body = await reader.readexactly(int(m[1])) if m else b""
        t1 = time.perf_counter()
        st = _ST.search(head)
        out.append(
            Sample(
                (t1 - t0) * 1000,
                float(st[1]) if st else float("nan"),
                float(st[2]) if st and st[2] else float("nan"),
                int(head[9:12]),
                body if keep_body else b"",
            )
        )
    writer.close()


async def load(
    port: int, reqs: list[bytes], clients: int, keep_body: bool = False
) -> tuple[list[Sample], float]:
    chunks = [reqs[i::clients] for i in range(clients)]
    out: list[Sample] = []
    t0 = time.perf_counter()
    await asyncio.gather(*(connection(port, c, out, keep_body) for c in chunks))
    return out, time.perf_counter() - t0


WRK_SCRIPT = ROOT / "bench" / "wrk" / "search_mix.lua"


def request_path(q: Query) -> str:
    params = {"q": q.text, "limit": "25"}
    if q.context:
        params["context"] = q.context
    return "/v1/people/search?" + urllib.parse.urlencode(params)


def wrk_load(
    port: int, paths: list[str], key: str, clients: int, duration: float, offset: int = 0
) -> dict[str, Any]:
    """One pass of ``wrk`` (C, one thread: far cheaper per request than any Python client, so
    that the server keeps most of the two cores) replaying the mix; the Lua script collects the
    ``Server-Timing`` figures. Returns the JSON line the script prints."""
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".paths", delete=False) as fh:
        fh.write("\n".join(paths) + "\n")
    try:
        done = subprocess.run(
            ["wrk", "-t1", f"-c{clients}", f"-d{round(duration)}s", "--timeout", "10s", "-s", str(WRK_SCRIPT),
             f"http://127.0.0.1:{port}", "--", fh.name, key, str(offset)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    finally:
        Path(fh.name).unlink()
    line = [x for x in done.stdout.splitlines() if x.startswith("{")][-1]
    out: dict[str, Any] = json.loads(line)
    return out


def repeated_share(mix: list[Query], n: int) -> float:
    """Share of the first ``n`` requests whose (query, context) pair came before: a lower bound of
    what the answer cache can serve (colleagues of one establishment share answers too)."""
    seen: set[tuple[str, str | None]] = set()
    again = 0
    for q in mix[:n]:
        key = (" ".join(q.text.lower().split()), q.context)
        again += key in seen
        seen.add(key)
    return again / max(1, min(n, len(mix)))


def cache_counts(port: int) -> tuple[float, float]:
    """The answer cache's hits and misses as one worker's ``/metrics`` says."""
    import urllib.request

    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    values = dict(re.findall(r"^(directory_search_cache_\w+) ([0-9.e+]+)$", text, re.M))
    get = values.get
    hits, misses = get("directory_search_cache_hits", 0), get("directory_search_cache_misses", 0)
    return float(hits), float(misses)


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {"p50": pct(values, 50), "p95": pct(values, 95), "p99": pct(values, 99), "max": max(values or [0])}


# -- slapd and PostgreSQL ILIKE ------------------------------------------------------------------


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


# -- the run -------------------------------------------------------------------------------------


@dataclass
class Report:
    figures: dict[str, Any] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)

    def add(self, line: str = "") -> None:
        print(line, flush=True)
        self.lines.append(line)


def people_from_docs(docs: list[Any], names: list[tuple[str, str]], n: int, seed: int) -> list[Person]:
    """A sample of documented people, each with a colleague of the same establishment."""
    rng = random.Random(seed)
    picked = rng.sample(range(len(docs)), min(n, len(docs)))
    wanted = {docs[i].establishments[0] for i in picked if docs[i].establishments}
    mates: dict[str, list[tuple[str, str]]] = {}
    for d in docs:
        if d.establishments and d.establishments[0] in wanted and d.email:
            mates.setdefault(d.establishments[0], []).append((d.id, d.email))
    out = []
    for i in picked:
        d = docs[i]
        if not d.email:
            continue
        uai = d.establishments[0] if d.establishments else None
        others = [m for pid, m in mates.get(uai or "", []) if pid != d.id]
        out.append(
            Person(d.id, names[i][0], names[i][1], d.email, uai, rng.choice(others) if others else None)
        )
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
    # Every pass reads its own segment of one long mix, so that no pass is answered from what an
    # earlier pass left in the answer cache: [warm-up 300][the passes' segments...][per-kind tail].
    passes_len = args.wrk_queries if args.loadgen == "wrk" else 3 * args.queries
    mix = query_mix(people, 300 + passes_len + args.queries, args.seed)
    tail = mix[-args.queries :]
    finds = findability_queries(people, args.findability, args.seed)

    server = start_server(url, args.port, args.workers, {}, docs=args.docs)
    try:
        ready = run_loop(wait_ready(args.port, 3600))
        rss = _rss_mb(server.pid)
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
                hits0 = cache_counts(args.port)
                cpu0 = os.times()
                srv0 = tree_cpu_s(server.pid)
                r = wrk_load(args.port, paths[: -args.queries], key, clients, args.duration, offset)
                offset += r["sent"]
                cpu1 = os.times()
                srv_cpu = tree_cpu_s(server.pid) - srv0
                hits1 = cache_counts(args.port)
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


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its children (the API workers)."""
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    total = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    try:
        out = subprocess.run(
            ["ps", "-o", "rss=", "--ppid", str(pid), "-p", str(pid)], capture_output=True, text=True
        )
        return sum(int(x) for x in out.stdout.split()) / 1024
    except (OSError, ValueError):
        return float("nan")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
