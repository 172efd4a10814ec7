"""The national synthetic dataset: one LDIF feed per academy, the truth, the establishments.

``generate(out, people=N, seed=S)`` writes ``out/ac-<slug>.ldif`` for the 30 academies (sizes in
proportion to :attr:`Academy.staff`), ``out/truth.csv`` (``feed,uid,person``: the true identity of
every entry that has a uid, ``-`` for functional accounts) and ``out/establishments.csv``
(``uai,name,type,town,academy``). See ``docs/synthetic-data.md`` for what the data contains.

Deterministic: the same seed and size give the same bytes. Streaming: people are drawn in chunks of
:data:`CHUNK` from a random generator seeded by (seed, chunk), and each person's records are written
to every academy file concerned as soon as they are drawn; what stays in memory is the
establishments and, per academy, the uid and mail counters that number homonyms (``nmartin4``).

Writing uses the ``ldif`` package's ``LDIFWriter``. Measured at 100,000 entries of this shape it
costs 38 µs per entry against 18 µs for a hand-written writer: about 25 s more at 1.2 million
people, within the few-minutes budget, so the reference implementation is kept.
"""

from __future__ import annotations

import csv
import random
import time
from bisect import bisect
from collections import Counter
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Any, TextIO

import ldif

from directory.academies import ACADEMIES, Academy, by_code
from importers.synth_entries import (
    BASE_DN,
    EDUCATION_DN,
    FUNCTIONAL_OU,
    OBJECT_CLASSES,
    PEOPLE_OU,
    EntryBuilder,
    Feed,
    Person,
    Record,
    academy_dn,
)
from importers.synth_feed import FeedProfile, Rates, numen
from importers.synth_names import NameTables
from importers.synth_places import AcademyPlaces
from importers.synth_roles import Post, draw_post, first_registration_letter

__all__ = [
    "BASE_DN",
    "CHUNK",
    "EDUCATION_DN",
    "FUNCTIONAL_OU",
    "OBJECT_CLASSES",
    "PEOPLE_OU",
    "Rates",
    "SynthSummary",
    "academy_dn",
    "feed_path",
    "generate",
]

#: People drawn from one seeded generator; part of the output's definition (do not change lightly).
CHUNK = 1_000

# Academies whose staff commonly hold a post in both (the scenario "double posting").
_NEIGHBOURS: dict[str, tuple[str, ...]] = {
    "01": ("24", "25"), "24": ("01", "25"), "25": ("01", "24"), "10": ("08",), "08": ("10", "02"),
    "02": ("23", "11"), "23": ("02",), "09": ("20",), "20": ("09", "70"), "16": ("04", "11"),
    "04": ("16", "13"), "11": ("16", "02"), "12": ("15", "19"), "15": ("12",), "19": ("12", "20"),
    "14": ("17",), "17": ("14", "13"), "13": ("17", "04", "18"), "18": ("13", "70"), "70": ("20", "18"),
    "07": ("03", "06"), "03": ("07",), "06": ("22", "10"), "22": ("06", "04"), "27": ("23",),
    "28": ("43",), "43": ("28",), "31": ("32", "33"), "32": ("31",), "33": ("31",),
}  # fmt: skip
_YEARS = list(range(1960, 2001))
# Fewer staff at the ends of the range: retirements before 1962, recruitment from about 1997.
_YEAR_CUM = list(accumulate(0.5 if y < 1963 else 0.45 if y > 1996 else 1.0 for y in _YEARS))


def feed_path(out_dir: Path, academy: Academy) -> Path:
    """Where :func:`generate` writes an academy's feed: ``out_dir/ac-<slug>.ldif``."""
    return out_dir / f"{academy.feed_name}.ldif"


@dataclass(slots=True)
class SynthSummary:
    """What a run wrote: entries per feed and how many of each scenario and kind of dirt."""

    out_dir: Path
    people: int
    seed: int
    entries: dict[str, int] = field(default_factory=dict)  # per feed, entries with a uid
    counts: Counter[str] = field(default_factory=Counter)
    elapsed: float = 0.0

    @property
    def total_entries(self) -> int:
        """Entries with a uid in all feeds (people, their extra records, functional accounts)."""
        return sum(self.entries.values())

    @property
    def files(self) -> list[Path]:
        """The 30 LDIF feeds, in academy order."""
        return [feed_path(self.out_dir, a) for a in ACADEMIES]


def generate(out_dir: Path, *, people: int, seed: int = 1, rates: Rates | None = None) -> SynthSummary:
    """Write the synthetic national dataset for ``people`` people into ``out_dir``; return the summary."""
    if people < 1:
        raise ValueError("people must be at least 1")
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    generator = _Generator(out_dir, people, seed, rates or Rates())
    try:
        generator.run()
    finally:
        generator.close()
    summary = generator.summary
    summary.elapsed = time.perf_counter() - started
    return summary


class _Generator:
    def __init__(self, out_dir: Path, people: int, seed: int, rates: Rates) -> None:
        self.seed = seed
        self.people = people
        self.rates = rates
        self.names = NameTables.load()
        self.summary = SynthSummary(out_dir=out_dir, people=people, seed=seed)
        self.counts = self.summary.counts
        self.builder = EntryBuilder(rates, self.counts)
        total_staff = sum(a.staff for a in ACADEMIES)
        self.academy_cum = list(accumulate(a.staff for a in ACADEMIES))
        self.feeds: dict[str, Feed] = {}
        for academy in ACADEMIES:
            size = max(1, round(people * academy.staff / total_staff))
            stream = feed_path(out_dir, academy).open("wb", buffering=1 << 20)
            self.feeds[academy.code] = Feed(
                academy=academy,
                profile=FeedProfile.draw(academy, seed),
                places=AcademyPlaces.build(academy, size, seed),
                stream=stream,
                writer=ldif.LDIFWriter(stream),
            )
        self.truth: TextIO = (out_dir / "truth.csv").open("w", encoding="utf-8", newline="")
        self.truth.write("feed,uid,person\n")

    def close(self) -> None:
        for feed in self.feeds.values():
            feed.stream.close()
            self.summary.entries[feed.academy.feed_name] = feed.entries
        self.truth.close()

    # --- the run -----------------------------------------------------------------------------

    def run(self) -> None:
        for feed in self.feeds.values():
            self._write_containers(feed)
            self._write_functional_branch(feed)
        for start in range(0, self.people, CHUNK):
            rng = random.Random(f"people:{self.seed}:{start // CHUNK}")
            recent: list[Person] = []  # this chunk's people: where planted homonyms take a name
            for index in range(start, min(start + CHUNK, self.people)):
                person = self._person(rng, index, recent)
                recent.append(person)
                self._write_person(rng, person)
        self._write_establishments()

    def _write_containers(self, feed: Feed) -> None:
        base = academy_dn(feed.academy)
        feed.writer.unparse(
            base, {"objectClass": ["top", "organizationalUnit"], "ou": [feed.academy.feed_name]}
        )
        for ou in (PEOPLE_OU, FUNCTIONAL_OU):
            feed.writer.unparse(f"ou={ou},{base}", {"objectClass": ["top", "organizationalUnit"], "ou": [ou]})

    def _write_establishments(self) -> None:
        path = self.summary.out_dir / "establishments.csv"
        with path.open("w", encoding="utf-8", newline="") as stream:
            out = csv.writer(stream, lineterminator="\n")
            out.writerow(["uai", "name", "type", "town", "academy"])
            for feed in self.feeds.values():
                for e in feed.places.all():
                    out.writerow([e.uai, e.name, e.type, e.town, e.academy_code])
                    self.counts["establishments"] += 1

    # --- people --------------------------------------------------------------------------------

    def _person(self, rng: random.Random, index: int, recent: list[Person]) -> Person:
        home = ACADEMIES[bisect(self.academy_cum, rng.random() * self.academy_cum[-1])]
        year = _YEARS[bisect(_YEAR_CUM, rng.random() * _YEAR_CUM[-1])]
        month, day = rng.randint(1, 12), rng.randint(1, 28 if rng.random() < 0.1 else 30)
        if month == 2 and day > 28:
            day = rng.randint(1, 28)
        sex = "F" if rng.random() < 0.68 else "M"  # about two thirds of staff are women
        if recent and rng.random() < self.rates.planted_homonym:
            # A true homonym: another person's name, sometimes the same academy or birth year.
            other = recent[int(rng.random() * len(recent))]
            self.counts["homonym_planted"] += 1
            sex, first, birth, married = other.sex, other.first, other.birth_name, other.married_name
            if rng.random() < 0.4:
                home = other.home
            if rng.random() < 0.3:
                year = other.year
                if rng.random() < 0.1:  # first name + birth name + birth date: not quite unique
                    month, day = other.month, other.day
        else:
            first = self.names.first_name(rng, sex, year)
            birth = self.names.surname(rng, home.code)
            married = None
            married_rate = self.rates.married_name if year < 1990 else 0.35
            if (sex == "F" and rng.random() < married_rate) or (sex == "M" and rng.random() < 0.01):
                married = self.names.surname(rng, home.code)
                if rng.random() < self.rates.double_usage_name:
                    married = married + rng.choice(("-", " ", "--")) + birth
        return Person(f"P{index + 1:07d}", sex, year, month, day, first, birth, married, home)

    def _other_academy(self, rng: random.Random, not_this: Academy) -> Academy:
        while True:
            academy = ACADEMIES[bisect(self.academy_cum, rng.random() * self.academy_cum[-1])]
            if academy.code != not_this.code:
                return academy

    def _write_person(self, rng: random.Random, person: Person) -> None:
        rates, counts = self.rates, self.counts
        home = person.home
        post = draw_post(rng, self.feeds[home.code].places)
        records = [Record(home, post)]
        roll = rng.random()
        threshold = rates.transfer
        if roll < threshold:
            old = self._other_academy(rng, home)
            records.insert(
                0,
                Record(
                    old, draw_post(rng, self.feeds[old.code].places, like=post), left=_date(rng, 2025, 6, 11)
                ),
            )
            records[1].variant = rng.random() < rates.spelling_variant
            records[1].new_uid = True
            counts["transfer"] += 1
            if rng.random() < rates.transfer_and_same_academy / rates.transfer:
                records.append(self._same_academy_record(rng, home, post, 1))
                counts["transfer_and_same_academy"] += 1
        elif roll < (threshold := threshold + rates.name_change):
            if person.married_name is None:
                person.married_name = self.names.surname(rng, home.code)
            if rng.random() < 0.6:
                other = self._other_academy(rng, home)
                left: str | None = _date(rng, 2025, 6, 11)
            else:
                other = by_code(rng.choice(_NEIGHBOURS[home.code])) or home
                left = None
            marriage = rng.random() < 0.7  # else a divorce: back to the birth name
            first_post = draw_post(rng, self.feeds[other.code].places, like=post)
            records.insert(0, Record(other, first_post, married=not marriage, left=left))
            records[1].married = marriage
            records[1].new_uid = left is not None
            records[1].variant = rng.random() < rates.spelling_variant / 2
            counts["name_change"] += 1
        elif roll < (threshold := threshold + rates.neighbour):
            other = by_code(rng.choice(_NEIGHBOURS[home.code])) or home
            records.append(Record(other, draw_post(rng, self.feeds[other.code].places, like=post)))
            records[1].variant = rng.random() < rates.spelling_variant
            counts["neighbour"] += 1
        elif roll < (threshold := threshold + rates.same_academy):
            records.append(self._same_academy_record(rng, home, post, 0))
            counts["same_academy"] += 1
        elif roll < threshold + rates.left:
            records[0].left = _date(rng, 2024, 1, 12)
            counts["left"] += 1
        if rng.random() < rates.quarantine_duplicate_uid:
            # An administrative account created with the uid the person already has in this feed.
            original = next(i for i, r in enumerate(records) if r.academy is home)
            places = self.feeds[home.code].places
            records.append(Record(home, draw_post(rng, places, title="ADM"), same_uid_as=original))
            counts["quarantine_duplicate_uid"] += 1
        if len(records) > 1:
            counts["people_with_several_records"] += 1
        person.numen = numen(
            int(person.pid[1:]) - 1,
            self.seed,
            records[0].academy.code if rng.random() < 0.7 else self._other_academy(rng, home).code,
            first_registration_letter(records[0].post),
            min(person.year + rng.randint(22, 30), 2024),
        )
        uids: list[str] = []
        for record in records:
            uids.append(self._write_record(rng, person, record, uids))
        if rng.random() < rates.functional_mixed:
            self._write_functional(rng, self.feeds[home.code], mixed=True)

    def _same_academy_record(self, rng: random.Random, home: Academy, post: Post, original: int) -> Record:
        """A second account in the home feed; its uid is the first one's with a number."""
        places = self.feeds[home.code].places
        variant = rng.random() < self.rates.spelling_variant
        if rng.random() < 0.5:  # re-hire: the old account was closed years ago
            self.counts["same_academy_rehire"] += 1
            left = _date(rng, 2019, 1, 12, last_year=2023)
            post = draw_post(rng, places, like=post)
            return Record(home, post, left=left, variant=variant, renumber_of=original)
        self.counts["same_academy_admin_account"] += 1
        return Record(home, draw_post(rng, places, title="ADM"), variant=variant, renumber_of=original)

    # --- entries -----------------------------------------------------------------------------------

    def _write_record(self, rng: random.Random, person: Person, record: Record, uids: list[str]) -> str:
        feed = self.feeds[record.academy.code]
        entry, uid, cn = self.builder.person_entry(rng, feed, person, record, uids)
        if record.same_uid_as is None:
            dn = f"uid={uid},ou={PEOPLE_OU},{academy_dn(feed.academy)}"
        else:  # a second entry with the same uid cannot share the DN; such entries were named by cn
            dn = f"cn={_escape_rdn(cn)},ou={PEOPLE_OU},{academy_dn(feed.academy)}"
        feed.writer.unparse(dn, entry)
        feed.entries += 1
        self.truth.write(f"{feed.academy.feed_name},{uid},{person.pid}\n")
        return uid

    # --- functional accounts -------------------------------------------------------------------------

    def _write_functional(self, rng: random.Random, feed: Feed, **kwargs: Any) -> None:
        dn, entry, uid = self.builder.functional_entry(rng, feed, **kwargs)
        feed.writer.unparse(dn, entry)
        feed.entries += 1
        self.truth.write(f"{feed.academy.feed_name},{uid},-\n")

    def _write_functional_branch(self, feed: Feed) -> None:
        rng = random.Random(f"functional:{self.seed}:{feed.academy.code}")
        secondary = [e for kind in ("CLG", "LYC", "LP") for e in feed.places.by_type.get(kind, [])]
        for place in secondary:
            if rng.random() < 0.4:  # the head's mailbox: ce.0750001a@ac-paris.fr
                self._write_functional(rng, feed, uid=f"ce.{place.uai.lower()}", label=f"CE {place.uai}")
        for name in ("secretariat.recteur", "dane", "dec.examens", "dpe", "support.ent", "noreply"):
            self._write_functional(rng, feed, uid=name, label=name.upper().replace(".", " "))
        for k in range(3):
            self._write_functional(rng, feed, uid=f"ADM{k:05d}", label="ADMINISTRATEUR")
        feed.uids["ADM"] = 2  # the test accounts among the people go on from ADM00003


def _date(
    rng: random.Random, year: int, first_month: int, last_month: int, last_year: int | None = None
) -> str:
    """A YYYYMMDD date between ``year``/``first_month`` and ``last_year``/``last_month``."""
    y = rng.randint(year, last_year or year)
    return f"{y:04d}{rng.randint(first_month, last_month):02d}{rng.randint(1, 28):02d}"


def _escape_rdn(value: str) -> str:
    """Escape an RDN value (RFC 4514): the special characters, a leading ``#`` or space, a trailing space."""
    out = "".join("\\" + c if c in ',+"\\<>;=' else c for c in value)
    if out.startswith(("#", " ")):
        out = "\\" + out
    if out.endswith(" "):
        out = out[:-1] + "\\ "
    return out
