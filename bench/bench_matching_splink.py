"""Splink on the same records and fields as our engine, for the side-by-side in ``bench_matching.py``.

Runs in Splink's own environment (not a project dependency)::

    python3 -m venv /tmp/splink-venv && /tmp/splink-venv/bin/pip install splink pandas
    /tmp/splink-venv/bin/python bench/bench_matching_splink.py RECORDS.pickle CLUSTERS.csv

It reads the records pickled by ``bench_matching.py`` (``matching.records.Record`` needs nothing but
the standard library to unpickle), gives Splink the same fields our engine uses, in a reasonable
configuration (Splink's own name, date and e-mail comparisons, term-frequency adjustments on the
names, u by random sampling, EM sessions blocked on birth date and on names), clusters at the
same link threshold as our engine, writes ``record_id,cluster`` to CLUSTERS.csv and prints one
JSON line of timings. The evaluation is done by ``bench_matching.py`` with ``matching.evaluate``.
"""

from __future__ import annotations

import json
import pickle
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
import splink.comparison_library as cl  # noqa: E402
from splink import DuckDBAPI, Linker, SettingsCreator, block_on  # noqa: E402


def main() -> None:
    """Command line: RECORDS.pickle CLUSTERS.csv [threshold]."""
    source, out = Path(sys.argv[1]), Path(sys.argv[2])
    threshold = float(sys.argv[3]) if len(sys.argv) > 3 else 0.95
    with source.open("rb") as fh:
        records = pickle.load(fh)["records"]
    t0 = time.perf_counter()
    df = pd.DataFrame(
        {
            "unique_id": [r.id for r in records],
            # Splink's comparisons expect cleaned strings: upper case, no punctuation, as a generic
            # pipeline would do it (no French particle or Saint rules: that is our engine's part)
            "first_name": [(r.given_name or "").upper().replace("-", " ") or None for r in records],
            "surname": [(r.usage_name or "").upper().replace("-", " ") or None for r in records],
            "birth_name": [(r.birth_name or "").upper().replace("-", " ") or None for r in records],
            "birth_date": [r.birth_hash for r in records],
            "birth_year": [r.birth_year for r in records],
            "numen": [r.numen_hash for r in records],
            "civility": [r.civility for r in records],
            "academy": [r.academy for r in records],
            "establishment": [r.establishments[0] if r.establishments else None for r in records],
            "role": [r.role for r in records],
            "discipline": [r.discipline for r in records],
            "email": [r.mail for r in records],
            "active": [str(r.active) for r in records],
        }
    )
    settings = SettingsCreator(
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=[
            block_on("surname", "first_name"),
            block_on("birth_name", "first_name"),
            block_on("birth_date", "substr(first_name, 1, 1)"),
            block_on("numen"),
            block_on("email"),
        ],
        comparisons=[
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            cl.NameComparison("birth_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("first_name").configure(term_frequency_adjustments=True),
            cl.ExactMatch("birth_date"),
            cl.ExactMatch("numen"),
            cl.ExactMatch("civility"),
            cl.ExactMatch("academy"),
            cl.ExactMatch("establishment"),
            cl.ExactMatch("role"),
            cl.ExactMatch("discipline"),
            cl.EmailComparison("email"),
            cl.ExactMatch("active"),
        ],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )
    db_api = DuckDBAPI()
    linker = Linker(db_api.register(df), settings, log_level=30)
    t_setup = time.perf_counter() - t0
    t0 = time.perf_counter()
    linker.training.estimate_probability_two_random_records_match(
        [block_on("numen"), block_on("surname", "first_name", "birth_date")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("birth_date"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("numen"))
    t_train = time.perf_counter() - t0
    t0 = time.perf_counter()
    predictions = linker.inference.predict(threshold_match_probability=0.5)
    t_predict = time.perf_counter() - t0
    t0 = time.perf_counter()
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=threshold
    ).as_pandas_dataframe()
    t_cluster = time.perf_counter() - t0
    clusters[["unique_id", "cluster_id"]].to_csv(out, index=False, header=["record_id", "cluster"])
    print(
        json.dumps(
            {
                "setup_s": round(t_setup, 1),
                "train_s": round(t_train, 1),
                "predict_s": round(t_predict, 1),
                "cluster_s": round(t_cluster, 1),
                "total_s": round(t_setup + t_train + t_predict + t_cluster, 1),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            }
        )
    )


if __name__ == "__main__":
    main()
