"""The search documents of a synthetic dataset read straight from its LDIF feeds and ``truth.csv``.

For benchmarks at 1.2 million people when importing and matching the whole dataset would take
longer than the benchmark itself: each record is grouped with the others of its true person
(``truth.csv``: a perfect matching), and the documents are built with the same functions the
store path uses (``index_tokens``, ``display_name``, sublines from ``establishments.csv``). slapd
is loaded with the very same feeds, so both systems hold the same people.
"""

from __future__ import annotations

import base64
import csv
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from directory.academies import ACADEMIES, by_slug
from directory.names import display_name
from directory.search.documents import PersonDoc, index_tokens
from directory.sublines import SublineFacts, academy_label, assign_sublines, establishment_label, role_label

__all__ = ["Record", "load_people", "read_ldif"]


@dataclass(slots=True)
class Record:
    """The attributes of one person entry that search needs."""

    feed: str
    uid: str
    given: str
    sn: str
    birth: str | None
    mail: str | None
    rne: str | None
    title: str | None
    discipline: str | None
    civility: str | None
    active: bool


def read_ldif(path: Path) -> Iterator[dict[str, list[str]]]:
    """Entries of an LDIF file as ``{attribute (lower case): [values]}`` (with ``dn``)."""
    entry: dict[str, list[str]] = {}
    last: tuple[str, bool] | None = None
    pending = ""

    def flush_line() -> None:
        nonlocal pending, last
        if not pending or pending.startswith("#"):
            pending = ""
            return
        name, _, value = pending.partition(":")
        b64 = value.startswith(":")
        value = value[1:].strip() if b64 else value.strip()
        if b64:
            value = base64.b64decode(value).decode("utf-8", "replace")
        entry.setdefault(name.lower(), []).append(value)
        pending = ""

    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if line.startswith(" "):
                pending += line[1:]
                continue
            flush_line()
            if not line:
                if entry:
                    yield entry
                entry = {}
                continue
            pending = line
        flush_line()
        if entry:
            yield entry
    del last


def _records(data: Path) -> Iterator[Record]:
    for path in sorted(data.glob("ac-*.ldif")):
        feed = path.stem
        for e in read_ldif(path):
            dn = e.get("dn", [""])[0].lower()
            if "ou=personnels en" not in dn or "uid" not in e or "sn" not in e:
                continue

            def first(key: str, entry: dict[str, list[str]] = e) -> str | None:
                return (entry.get(key) or [None])[0]

            yield Record(
                feed=feed,
                uid=e["uid"][0].lower(),
                given=first("givenname") or "",
                sn=e["sn"][0],
                birth=first("nompatro"),
                mail=(first("mail") or "").lower() or None,
                rne=(first("rne") or "").upper() or None,
                title=first("title"),
                discipline=first("discipline"),
                civility=first("codecivilite"),
                active=(first("finfonction") or "").upper() != "FF",
            )


def load_people(data: Path) -> tuple[list[PersonDoc], list[tuple[str, str]]]:
    """One document per true person of the dataset, built as the store path builds them, and
    each one's given name and usage name as the feed wrote them (to make queries from)."""
    truth: dict[tuple[str, str], str] = {}
    with (data / "truth.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["person"] != "-":
                truth[(row["feed"], row["uid"].lower())] = row["person"]
    ests: dict[str, tuple[str, str, str]] = {}
    with (data / "establishments.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            ests[row["uai"]] = (row["name"], row["town"], row["type"])
    people: dict[str, list[Record]] = defaultdict(list)
    for rec in _records(data):
        pid = truth.get((rec.feed, rec.uid))
        if pid is not None and rec.active:
            people[pid].append(rec)
    slug_code = {a.feed_name: a.code for a in ACADEMIES}
    instances = _instances()
    docs: list[PersonDoc] = []
    names: list[tuple[str, str]] = []
    load: dict[str, int] = defaultdict(int)
    for pid, recs in people.items():
        tokens: set[str] = set()
        for r in recs:
            tokens |= index_tokens(r.given, r.sn, r.birth)
        main = recs[0]
        academy = slug_code[main.feed]
        est = ests.get(main.rne or "")
        candidates = instances[academy]
        home = min(candidates, key=lambda i: load[i])
        load[home] += 1
        names.append((main.given, main.sn))
        docs.append(
            PersonDoc(
                id=f"B{pid}",
                label=display_name(main.given, main.sn),
                tokens=tuple(sorted(tokens)),
                email=main.mail,
                emails=tuple(sorted({r.mail for r in recs if r.mail})),
                uids=tuple(sorted({r.uid for r in recs})),
                academies=tuple(sorted({slug_code[r.feed] for r in recs})),
                establishments=tuple(sorted({r.rne for r in recs if r.rne})),
                has_account=hash(pid) % 10 < 6,
                instance=home,
                host=f"{home}.education.example.fr",
                userid=main.uid,
                facts=SublineFacts(
                    role_label(
                        main.title,
                        main.discipline,
                        main.civility,
                        primary_school=bool(est and est[2] == "1ORD"),
                    ),
                    establishment_label(est[0], est[1]) if est else None,
                    academy_label(academy),
                ),
            )
        )
    for doc, line in zip(
        docs, assign_sublines([d.group_key for d in docs], [d.facts for d in docs]), strict=True
    ):
        doc.subline = line
    return docs, names


def _instances() -> dict[str, list[str]]:
    """About 40 instances of ~30,000 accounts: one per academy, more for the large ones."""
    out: dict[str, list[str]] = {}
    n = 0
    for a in ACADEMIES:
        names = []
        for _ in range(max(1, round(a.staff / 32_000))):
            n += 1
            names.append(f"cloud{n:02d}")
        out[a.code] = names
    assert by_slug("lyon") is not None
    return out
