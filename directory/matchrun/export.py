"""The stored resolution read out: its pairwise quality against a truth file, and the clusters as CSV."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from directory.db import Database
from directory.errors import InvalidInputError
from directory.matchrun.read import load_records
from matching.engine import DEFAULT_SETTINGS, MatchSettings
from matching.evaluate import Evaluation, evaluate
from matching.features import build_table
from matching.keys import candidate_pairs

__all__ = ["evaluate_against_truth", "export_clusters"]


def _read_truth(path: Path) -> Iterator[tuple[str, str, str]]:
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = {"feed", "uid", "person"} - set(reader.fieldnames or ())
            if missing:
                raise InvalidInputError(f"{path}: truth file lacks columns {sorted(missing)}")
            for row in reader:
                yield row["feed"], row["uid"], row["person"]
    except OSError as exc:
        raise InvalidInputError(f"cannot read truth file {path}: {exc}") from exc


def evaluate_against_truth(
    db: Database, truth_path: Path, *, settings: MatchSettings = DEFAULT_SETTINGS
) -> Evaluation:
    """Pairwise precision, recall, F1 and blocking recall of the stored resolution against a truth
    file (``feed,uid,person``; functional accounts have person ``-`` and are left out)."""
    with db.connection() as conn:
        records = load_records(conn)
        links = {
            r["record_id"]: r["person_id"]
            for r in conn.execute("SELECT record_id, person_id FROM record_links").fetchall()
        }
    ids = {(r.feed, r.uid): r.id for r in records}  # the records just read carry feed and uid
    truth = {
        ids[(feed, uid)]: person
        for feed, uid, person in _read_truth(truth_path)
        if person != "-" and (feed, uid) in ids
    }
    clusters = {rid: links[rid] for rid in truth if rid in links}
    table = build_table(records)
    pairs = candidate_pairs(table, max_block_size=settings.max_block_size)
    candidates = (table.ids[pairs.left].astype(np.int64), table.ids[pairs.right].astype(np.int64))
    return evaluate(clusters, truth, candidate_pairs=candidates, records={r.id: r for r in records})


def export_clusters(db: Database, out: Path) -> int:
    """Write ``feed,uid,person_id`` for every imported record (functional accounts and records not
    yet matched have an empty ``person_id``); the number of rows written."""
    count = 0
    with db.connection() as conn, out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["feed", "uid", "person_id"])
        cur = conn.cursor(name="export_clusters")  # server-side: bounded memory at 1.2 million
        cur.itersize = 50_000
        cur.execute(
            """SELECT r.feed, r.uid, l.person_id FROM source_records r
               LEFT JOIN record_links l ON l.record_id = r.id AND r.kind = 'person'
               ORDER BY r.feed, r.uid, r.id"""
        )
        for row in cur:
            writer.writerow([row["feed"], row["uid"] or "", row["person_id"] or ""])
            count += 1
        cur.close()
    return count
