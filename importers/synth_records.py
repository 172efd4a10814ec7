"""A synthetic dataset (``directory synth``) as matching records, with its truth.

What the matching quality test and ``bench/bench_matching.py`` both need: every ``ac-*.ldif`` read
with the LDIF reader and mapped with the importers' mapping, as an import would, but straight to
``matching.records.Record`` (no database). Functional accounts and entries without a usage name
are left out, as they are of the people; their rows in ``truth.csv`` (``-``) likewise.
"""

from __future__ import annotations

import csv
from pathlib import Path

from directory.academies import by_slug
from directory.secrets import Hasher
from matching.records import Record

from .feedmapper import FeedMapper
from .ldif import LdifReader
from .mapping import MappedEntry, to_record

__all__ = ["dataset_records"]


def dataset_records(data: Path, hasher: Hasher) -> tuple[list[Record], dict[int, str]]:
    """The records of the dataset in ``data`` (ids from 1, in file and entry order) and the truth:
    record id → person."""
    records: list[Record] = []
    key_to_id: dict[tuple[str, str], int] = {}
    for path in sorted(data.glob("ac-*.ldif")):
        reader = LdifReader(path)
        academy = by_slug(reader.feed)
        if academy is None:
            raise ValueError(f"{path.name}: not an academy's feed")
        mapper = FeedMapper(feed=reader.feed, academy_code=academy.code, hasher=hasher)
        for item in mapper.map_all(reader):
            if not isinstance(item, MappedEntry) or item.kind != "person" or item.usage_name is None:
                continue
            rid = len(records) + 1
            records.append(to_record(item, rid))
            key_to_id[(item.feed, item.uid)] = rid
    truth: dict[int, str] = {}
    with (data / "truth.csv").open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            known = key_to_id.get((row["feed"], row["uid"]))
            if known is not None and row["person"] != "-":
                truth[known] = row["person"]
    return records, truth
