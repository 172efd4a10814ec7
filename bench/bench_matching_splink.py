"""Splink on the same records and fields as our engine, for the side-by-side in ``bench_matching.py``.

Runs in Splink's own environment (``/tmp/splink-venv``: ``pip install splink pandas``; Splink is not
a project dependency), so it imports nothing from ``matching`` or ``directory``; it only unpickles
the ``matching.records.Record`` list that ``bench_matching.py`` wrote (the worktree is put on
``sys.path`` for that).

    /tmp/splink-venv/bin/python bench/bench_matching_splink.py RECORDS.pickle CLUSTERS.csv \\
        [THRESHOLD, default 0.95] [--sweep 0.9,0.99] [--u-pairs 1e7]

The configuration follows Splink's documented practice, as a practitioner with the reference notes
(``academy-feeds.md``) and no labels would set it up:

- generic cleaning only (upper case, accents and punctuation away): no French particle, Saint or
  compound-first-name rules, which are our engine's own work;
- one surname comparison that looks at usage and birth names crosswise (the reference says "match
  on both"), with term-frequency adjustments, then Jaro-Winkler levels; a first-name
  ``NameComparison`` with term-frequency adjustments; the birth date compared as exact / day and
  month swapped / same year (the engine and Splink both get keyed hashes and the year, never the
  date); NUMEN, civility, establishment, function and discipline exact; academy with the
  ``finfonction`` status and ``dateff`` (one record has left its post recently: a transfer in
  progress, the same notion and window as our engine's);
- the mail is left out (its local part is made of the names: counting it would count the names
  twice, Splink's comparisons being assumed independent);
- the prior from deterministic rules (``estimate_probability_two_random_records_match``) with the
  recall those rules can reach (the share of pairs where both records carry a NUMEN, read from the
  data, not from the truth);
- u from 10 million random pairs; m by expectation maximisation in sessions blocked on fields that
  do not include the comparisons they estimate (NUMEN; birth date + first name; surname + first
  name), as Splink's tutorials do;
- prediction blocking on the same kinds of keys our engine uses; clustering with
  ``cluster_pairwise_predictions_at_threshold`` (connected components) at the same probability as
  our link threshold (0.95), plus a sweep of other thresholds for the record.

Writes ``record_id,cluster`` to CLUSTERS.csv (and ``CLUSTERS-<t>.csv`` for each swept threshold)
and prints one JSON line of timings. The evaluation is done by ``bench_matching.py`` with
``matching.evaluate``.
"""

from __future__ import annotations

import argparse
import json
import pickle
import resource
import sys
import time
import unicodedata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
import splink.comparison_level_library as cll  # noqa: E402
import splink.comparison_library as cl  # noqa: E402
from splink import DuckDBAPI, Linker, SettingsCreator, block_on  # noqa: E402


def clean(value: str | None) -> str | None:
    """Generic name cleaning: no accents, upper case, punctuation as single spaces."""
    if not value:
        return None
    text = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode().upper()
    text = "".join(c if c.isalnum() else " " for c in text)
    return " ".join(text.split()) or None


def frame(records: list[Any]) -> pd.DataFrame:
    """The records as Splink's input table."""
    return pd.DataFrame(
        {
            "unique_id": [r.id for r in records],
            "first_name": [clean(r.given_name) for r in records],
            "surname": [clean(r.usage_name) for r in records],
            "birth_name": [clean(r.birth_name) for r in records],
            "dob": [r.birth_hash for r in records],
            "dob_swapped": [r.birth_swapped_hash for r in records],
            "birth_year": [r.birth_year for r in records],
            "numen": [r.numen_hash for r in records],
            "civility": [r.civility for r in records],
            "academy": [r.academy for r in records],
            "active": [bool(r.active) for r in records],
            # the engine's notion of a transfer in progress, given to Splink as a field
            "left_recently": departed_recently(records),
            "establishment": [r.establishments[0] if r.establishments else None for r in records],
            "role": [r.role for r in records],
            "discipline": [r.discipline for r in records],
            "email_local": [(r.mail or "").split("@")[0] or None for r in records],
        }
    )


def departed_recently(records: list[Any], window_days: int = 183) -> list[bool]:
    """Inactive and left within ``window_days`` of the latest ``dateff`` (``matching.scoring.departing``)."""
    dates = [getattr(r, "left_on", None) if not r.active else None for r in records]
    known = [d for d in dates if d is not None]
    latest = max(known) if known else None
    return [d is not None and latest is not None and (latest - d).days <= window_days for d in dates]


def surname_comparison(tf: bool = True) -> cl.CustomComparison:
    """Usage names, then usage and birth names crosswise, then spelling levels."""
    exact = cll.ExactMatchLevel("surname")
    if tf:
        exact = exact.configure(tf_adjustment_column="surname")
    return cl.CustomComparison(
        output_column_name="surname",
        comparison_description="usage and birth names, crosswise",
        comparison_levels=[
            cll.NullLevel("surname"),
            exact,
            cll.CustomLevel(
                "surname_l = birth_name_r OR birth_name_l = surname_r OR birth_name_l = birth_name_r",
                label_for_charts="usage and birth names equal crosswise",
            ),
            cll.JaroWinklerLevel("surname", 0.92),
            cll.JaroWinklerLevel("surname", 0.8),
            cll.ElseLevel(),
        ],
    )


def dob_comparison() -> cl.CustomComparison:
    """Birth date hashes: exact, day and month swapped, same year, other."""
    return cl.CustomComparison(
        output_column_name="dob",
        comparison_description="birth date (keyed hashes) and year",
        comparison_levels=[
            cll.CustomLevel(
                "(dob_l IS NULL OR dob_r IS NULL) AND (birth_year_l IS NULL OR birth_year_r IS NULL)"
            ).configure(is_null_level=True),
            cll.ExactMatchLevel("dob"),
            cll.CustomLevel(
                "dob_l = dob_swapped_r OR dob_swapped_l = dob_r", label_for_charts="day/month swapped"
            ),
            cll.CustomLevel(
                "(dob_l IS NULL OR dob_r IS NULL) AND birth_year_l = birth_year_r",
                label_for_charts="same year, a date missing",
            ),
            cll.CustomLevel("birth_year_l = birth_year_r", label_for_charts="same year, different date"),
            cll.ElseLevel(),
        ],
    )


def academy_comparison() -> cl.CustomComparison:
    """Academy and whether a record has left its post (``finfonction``)."""
    return cl.CustomComparison(
        output_column_name="academy",
        comparison_description="academy and status",
        comparison_levels=[
            cll.NullLevel("academy"),
            cll.CustomLevel(
                "academy_l = academy_r AND active_l AND active_r", label_for_charts="same, both active"
            ),
            cll.CustomLevel("academy_l = academy_r", label_for_charts="same, one left"),
            cll.CustomLevel(
                "(left_recently_l AND active_r) OR (left_recently_r AND active_l)",
                label_for_charts="other, one left recently (transfer in progress)",
            ),
            cll.CustomLevel("NOT (active_l AND active_r)", label_for_charts="other, one left"),
            cll.ElseLevel(),
        ],
    )


def settings(config: str) -> SettingsCreator:
    """The Splink settings of a named configuration (``practice`` is the one reported)."""
    comparisons = [
        surname_comparison(),
        cl.NameComparison("first_name").configure(term_frequency_adjustments=True),
        dob_comparison(),
        cl.ExactMatch("numen"),
        cl.ExactMatch("civility"),
        academy_comparison(),
        cl.ExactMatch("establishment"),
        cl.ExactMatch("role"),
        cl.ExactMatch("discipline"),
    ]
    return SettingsCreator(
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=[
            block_on("surname", "first_name"),
            block_on("birth_name", "first_name"),
            "l.surname = r.birth_name AND l.first_name = r.first_name",
            "l.birth_name = r.surname AND l.first_name = r.first_name",
            block_on("dob", "first_name"),
            block_on("dob", "surname"),
            block_on("numen"),
            block_on("email_local"),
        ],
        comparisons=comparisons,
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("records", type=Path)
    parser.add_argument("clusters", type=Path)
    parser.add_argument("threshold", type=float, nargs="?", default=0.95)
    parser.add_argument("--sweep", default="", help="other thresholds, comma-separated")
    parser.add_argument("--config", default="practice", choices=("practice",))
    parser.add_argument("--u-pairs", type=float, default=1e7)
    args = parser.parse_args()
    with args.records.open("rb") as fh:
        records = pickle.load(fh)["records"]
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    df = frame(records)
    with_numen = float(df["numen"].notna().mean())
    db_api = DuckDBAPI()
    linker = Linker(db_api.register(df), settings(args.config), log_level=30)
    t_setup = time.perf_counter() - t0
    t0 = time.perf_counter()
    # Deterministic rules that admit (almost) no false pairs; they can find at most the pairs where
    # both records carry a NUMEN, a share read from the data.
    linker.training.estimate_probability_two_random_records_match(
        [block_on("numen")], recall=with_numen * with_numen
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=args.u_pairs, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("numen"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob", "first_name"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("surname", "first_name"))
    t_train = time.perf_counter() - t0
    t0 = time.perf_counter()
    predictions = linker.inference.predict(threshold_match_probability=0.5)
    t_predict = time.perf_counter() - t0
    t0 = time.perf_counter()
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=args.threshold
    ).as_pandas_dataframe()
    t_cluster = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    clusters[["unique_id", "cluster_id"]].to_csv(args.clusters, index=False, header=["record_id", "cluster"])
    swept = []
    for text in filter(None, args.sweep.split(",")):
        t = float(text)
        other = linker.clustering.cluster_pairwise_predictions_at_threshold(
            predictions, threshold_match_probability=t
        ).as_pandas_dataframe()
        path = args.clusters.with_name(f"{args.clusters.stem}-{t}.csv")
        other[["unique_id", "cluster_id"]].to_csv(path, index=False, header=["record_id", "cluster"])
        swept.append({"threshold": t, "clusters": str(path)})
    model = json.loads(json.dumps(linker.misc.save_model_to_json()))
    weights = {
        c["output_column_name"]: {
            lv.get("label_for_charts", "?"): (lv.get("m_probability"), lv.get("u_probability"))
            for lv in c["comparison_levels"]
            if not lv.get("is_null_level")
        }
        for c in model["comparisons"]
    }
    print(
        json.dumps(
            {
                "config": args.config,
                "prior": model.get("probability_two_random_records_match"),
                "m_u": weights,
                "pairs_scored_above_0.5": len(predictions.as_pandas_dataframe()),
                "setup_s": round(t_setup, 1),
                "train_s": round(t_train, 1),
                "predict_s": round(t_predict, 1),
                "cluster_s": round(t_cluster, 1),
                "total_s": round(t_setup + t_train + t_predict + t_cluster, 1),
                "cpu_s": round(cpu, 1),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                "sweep": swept,
            }
        )
    )


if __name__ == "__main__":
    main()
