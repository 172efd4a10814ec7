"""Matching benchmark: synthetic national dataset → Records (no database) → engine → quality and speed.

    python bench/bench_matching.py --people 200000 --seed 1
    python bench/bench_matching.py --people 1200000 --seed 1 --no-eval-breakdown

Steps: generate the dataset with ``importers.synth`` (kept under ``--data``, reused when present),
read every ``ac-*.ldif`` with the LDIF reader and map each entry with the importers' mapping to a
``matching.records.Record`` (cached as a pickle next to the data), then in a fresh process (so that
its peak memory is the engine's, with the records loaded as the runner would hold them): a full
run, the pairwise evaluation against ``truth.csv`` (per duplicate scenario, false merges by cause),
and an incremental run after about 1 % of the records changed, checked against a full run on the
same data with the same model. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import csv
import json
import pickle
import random
import resource
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from matching.engine import MatchSettings, link_full, link_incremental  # noqa: E402
from matching.evaluate import evaluate  # noqa: E402
from matching.features import update_table  # noqa: E402
from matching.records import Record  # noqa: E402


def prepare(people: int, seed: int, data: Path, work: Path) -> Path:
    """Generate (if needed) and map the dataset; return the path of the pickled records and truth.

    The pickle goes to ``work`` (the dataset folder itself may be shared and read-only)."""
    from directory.secrets import Hasher
    from importers.synth import generate
    from importers.synth_records import dataset_records

    cache = work / "records.pickle"
    if cache.exists():
        return cache
    t0 = time.perf_counter()
    if not (data / "truth.csv").exists():
        generate(data, people=people, seed=seed)
    t_gen = time.perf_counter() - t0
    t0 = time.perf_counter()
    records, truth = dataset_records(data, Hasher("bench-matching-secret"))
    t_map = time.perf_counter() - t0
    partial = cache.with_name(cache.name + ".partial")  # renamed when complete: never half a cache
    with partial.open("wb") as fh:
        pickle.dump({"records": records, "truth": truth, "generate_s": t_gen, "map_s": t_map}, fh, protocol=5)
    partial.replace(cache)
    return cache


def mutate(records: list[Record], share: float, seed: int) -> tuple[list[Record], set[int], set[int]]:
    """About ``share`` of records touched: changed names or status, removed, or added as new duplicates."""
    rng = random.Random(seed)
    out: list[Record] = []
    changed: set[int] = set()
    removed: set[int] = set()
    for r in records:
        x = rng.random()
        if x < share / 4:
            removed.add(r.id)
            continue
        if x < share / 2:
            r = replace(r, usage_name=r.usage_name + " " + rng.choice(["MARTIN", "DUPONT", "LE GALL"]))
            changed.add(r.id)
        elif x < 3 * share / 4:
            r = replace(r, active=not r.active)
            changed.add(r.id)
        out.append(r)
    next_id = max(r.id for r in records) + 1
    for src in rng.sample(out, int(len(records) * share / 4)):
        out.append(replace(src, id=next_id, uid=f"new{next_id}", active=False))
        changed.add(next_id)
        next_id += 1
    return out, changed, removed


def run(cache: Path, *, breakdown: bool, incremental: bool) -> dict[str, object]:
    """The engine part, meant to run in its own process."""
    t0 = time.perf_counter()
    with cache.open("rb") as fh:
        doc = pickle.load(fh)
    records: list[Record] = doc["records"]
    truth: dict[int, str] = doc["truth"]
    load_s = time.perf_counter() - t0
    settings = MatchSettings()
    cpu0 = time.process_time()
    result = link_full(records, settings=settings)
    # CPU seconds as well as wall seconds: on a shared machine the wall clock measures the others
    full_cpu = time.process_time() - cpu0
    rss_full = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    ids, s, c = result.table.ids, result.scored, result.clustering
    ev = evaluate(
        result.clusters,
        truth,
        candidate_pairs=(ids[s.left], ids[s.right]),
        linked_pairs=(ids[s.left[c.applied]], ids[s.right[c.applied]]),
        records={r.id: r for r in records} if breakdown else None,
    )
    eval_s = time.perf_counter() - t0
    out: dict[str, object] = {
        "records": len(records),
        "people_in_truth": len(set(truth.values())),
        "generate_s": round(doc["generate_s"], 1),
        "read_and_map_s": round(doc["map_s"], 1),
        "load_pickle_s": round(load_s, 1),
        "timings_s": {k: round(v, 2) for k, v in result.timings.items()},
        "cpu_timings_s": {k: round(v, 2) for k, v in result.cpu_timings.items()},
        "full_run_cpu_s": round(full_cpu, 2),
        "blocking": {
            "candidate_pairs": result.blocking.candidate_pairs,
            "pairs_per_family": result.blocking.pairs,
            "oversize_blocks": result.blocking.oversize,
        },
        "links": int((c.decisions == 2).sum()),
        "reviews": int((c.decisions == 1).sum()),
        "refused_by_guards": len(c.refused),
        "evaluation": ev.as_dict(),
        "evaluation_s": round(eval_s, 1),
        "peak_rss_mb_after_full": round(rss_full),
        "model": {
            "prior_weight": round(result.model.prior_weight, 2),
            "weights": {
                name: {p.label: round(p.weight, 2) for p in params}
                for name, params in result.model.comparisons.items()
            },
        },
    }
    if incremental:
        after, changed, removed = mutate(records, 0.01, seed=7)
        by_id = {r.id: r for r in after}
        changed_records = [by_id[i] for i in sorted(changed)]  # what the runner reads: pending records
        cpu0, t0 = time.process_time(), time.perf_counter()
        # the previous run's table brought up to date: only the changed records are prepared
        table = update_table(result.table, changed_records, removed)
        update_s, update_cpu = time.perf_counter() - t0, time.process_time() - cpu0
        inc = link_incremental(
            table, result.state, changed=changed, removed=removed, model=result.model, settings=settings
        )
        inc_cpu = time.process_time() - cpu0
        full = link_full(after, model=result.model, settings=settings)
        out["incremental"] = {
            "changed_or_new": len(changed),
            "removed": len(removed),
            "rematched_records": len(inc.rematched or ()),
            "timings_s": {k: round(v, 2) for k, v in inc.timings.items()},
            "cpu_timings_s": {k: round(v, 2) for k, v in inc.cpu_timings.items()},
            "update_table_s": round(update_s, 2),
            "update_table_cpu_s": round(update_cpu, 2),
            "cpu_s": round(inc_cpu, 2),
            "full_run_on_same_data_s": round(full.timings["total"], 2),
            "equals_full_run": inc.clusters == full.clusters,
        }
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return out


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--data", type=Path, default=None, help="dataset folder (default /tmp/bench-matching-N-S)"
    )
    parser.add_argument(
        "--no-eval-breakdown", action="store_true", help="skip per-scenario and cause figures"
    )
    parser.add_argument(
        "--work", type=Path, default=None, help="records pickle and Splink output (default --data)"
    )
    parser.add_argument("--no-incremental", action="store_true")
    parser.add_argument("--splink", default=None, help="python of a Splink environment: run the side-by-side")
    parser.add_argument("--engine-only", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.engine_only is not None:
        res = run(args.engine_only, breakdown=not args.no_eval_breakdown, incremental=not args.no_incremental)
        print(json.dumps(res, indent=1))
        return
    data = args.data or Path(f"/tmp/bench-matching-{args.people}-{args.seed}")
    data.mkdir(parents=True, exist_ok=True)
    work = args.work or data
    work.mkdir(parents=True, exist_ok=True)
    cache = prepare(args.people, args.seed, data, work)
    cmd = [sys.executable, __file__, "--engine-only", str(cache)]
    cmd += ["--no-eval-breakdown"] * args.no_eval_breakdown + ["--no-incremental"] * args.no_incremental
    ours = json.loads(subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout)
    if args.splink is not None:
        ours["splink"] = splink_side_by_side(args.splink, cache, work, ours)
    print(json.dumps(ours, indent=1))


def splink_side_by_side(python: str, cache: Path, work: Path, ours: dict[str, object]) -> dict[str, object]:
    """Run ``bench_matching_splink.py`` in Splink's environment and evaluate its clusters like ours.

    Splink's clusters are taken at our link threshold (the figures compared), and at a few other
    thresholds for the record (``sweep``), each evaluated the same way.
    """
    clusters_csv = work / "splink-clusters.csv"
    script = Path(__file__).with_name("bench_matching_splink.py")
    threshold = MatchSettings().link_threshold
    cmd = [python, str(script), str(cache), str(clusters_csv), str(threshold), "--sweep", SPLINK_SWEEP]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    figures: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    with cache.open("rb") as fh:
        doc = pickle.load(fh)
    by_id = {r.id: r for r in doc["records"]}

    def evaluated(path: Path) -> dict[str, object]:
        clusters: dict[int, int] = {}
        with path.open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                clusters[int(row["record_id"])] = hash(row["cluster"])
        return evaluate(clusters, doc["truth"], records=by_id).as_dict()

    figures["evaluation"] = evaluated(clusters_csv)
    sweep = figures.get("sweep")
    if isinstance(sweep, list):
        for point in sweep:
            ev = evaluated(Path(point.pop("clusters")))
            point.update({k: ev[k] for k in ("precision", "recall", "f1")})
    timings = ours["timings_s"]
    assert isinstance(timings, dict)
    figures["time_ratio_splink_over_ours"] = round(float(figures["total_s"]) / float(timings["total"]), 2)
    figures["cpu_ratio_splink_over_ours"] = round(
        float(figures["cpu_s"]) / float(str(ours["full_run_cpu_s"])), 2
    )
    return figures


SPLINK_SWEEP = "0.5,0.8,0.9,0.99,0.999"
"""Other thresholds at which Splink's clusters are evaluated, for the record."""


if __name__ == "__main__":
    main()
