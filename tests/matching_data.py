"""Labelled records for the matching tests: hand-written cases and a small seeded generator.

The generator makes people, then records for them the way the academy feeds do (see
``shared/reference/academy-feeds.md``): transfers with the old record inactive, usage-name changes
with or without the birth name, double postings in a neighbouring academy, in-academy duplicates;
and homonyms (the name pool is small on purpose: many people share a first name and surname,
some in the same academy and born the same year). Hashes are stand-ins (``b:1985-03-02``): the
engine only compares them for equality.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import date, timedelta

from matching.records import Record

SURNAMES = [
    "MARTIN",
    "BERNARD",
    "THOMAS",
    "PETIT",
    "ROBERT",
    "RICHARD",
    "DURAND",
    "DUBOIS",
    "MOREAU",
    "LAURENT",
    "LE GALL",
    "D'ALEMBERT",
    "SAINT-ANDRE",
    "DURAND-DUPONT",
    "PIEDALLU",
    "LEFEBVRE",
    "GAUTHIER",
    "CHEVALIER",
    "ROUSSEAU",
    "DE LA FONTAINE",
    "KERGOAT",
    "VAN DAMME",
    "MULLER",
    "FONTAINE",
    "MERCIER",
    "BLANC",
    "GUERIN",
    "BOYER",
    "GARNIER",
    "FAURE",
]
GIVEN_F = ["Nathalie", "Isabelle", "Sylvie", "Catherine", "Valérie", "Marie-Claude", "Anne", "Hélène"]
GIVEN_M = ["Philippe", "Christophe", "Stéphane", "Nicolas", "Julien", "Jean-Pierre", "Jean-Marc", "Loïc"]
ACADEMIES = ["01", "24", "25", "10", "08", "09", "16"]
NEIGHBOUR = {"01": "24", "24": "25", "25": "01", "10": "08", "08": "10", "09": "20", "16": "11"}
SCENARIOS = ("transfer", "name change", "double posting", "in-academy duplicate")


@dataclass(frozen=True)
class Person:
    """A true person of the generated data."""

    key: int
    given: str
    surname: str
    birth_name: str
    female: bool
    born: date
    numen: str
    academy: str


def _hashes(born: date | None) -> dict[str, object]:
    if born is None:
        return {"birth_hash": None, "birth_swapped_hash": None, "birth_year": None}
    swapped = None
    if born.day <= 12 and born.day != born.month:
        swapped = f"b:{date(born.year, born.day, born.month).isoformat()}"
    return {"birth_hash": f"b:{born.isoformat()}", "birth_swapped_hash": swapped, "birth_year": born.year}


def generate(n_people: int, *, seed: int = 1, dup_rate: float = 0.3) -> tuple[list[Record], dict[int, int]]:
    """``n_people`` people and their records; returns the records and the truth (record id → person)."""
    rng = random.Random(seed)
    weights = [1.0 / (i + 1) ** 0.7 for i in range(len(SURNAMES))]
    records: list[Record] = []
    truth: dict[int, int] = {}
    mail_count: dict[tuple[str, str], int] = {}

    def mail(given: str, surname: str, academy: str) -> str:
        local = f"{given.lower()}.{surname.lower()}".replace(" ", "").replace("'", "")
        n = mail_count.get((local, academy), 0) + 1
        mail_count[(local, academy)] = n
        return f"{local}{n if n > 1 else ''}@ac-{academy}.fr"

    def add(person: Person, **changes: object) -> None:
        rid = len(records) + 1
        academy = str(changes.pop("academy", person.academy))
        sn = str(changes.pop("usage_name", person.surname))
        born = person.born if rng.random() > 0.1 else None
        numen = person.numen if rng.random() > 0.3 else None
        rec = Record(
            id=rid,
            feed=f"ac-{academy}",
            academy=academy,
            uid=f"u{rid}",
            given_name=person.given,
            usage_name=sn,
            birth_name=person.birth_name if rng.random() < 0.5 else None,
            civility="MME" if person.female else "M.",
            role=rng.choice(["ENS", "ENS", "ENS", "DIR", "ADM"]),
            discipline=rng.choice(["L1300", "L1600", "L0202", None]),
            establishments=(f"{academy}{rng.randrange(10):05d}X",),
            mail=mail(person.given, sn, academy),
            numen_hash=f"n:{numen}" if numen else None,
            **_hashes(born),  # type: ignore[arg-type]
        )
        records.append(replace(rec, **changes))  # type: ignore[arg-type]
        truth[rid] = person.key

    for key in range(n_people):
        female = rng.random() < 0.6
        given = rng.choice(GIVEN_F if female else GIVEN_M)
        surname = rng.choices(SURNAMES, weights)[0]
        born = date(1960, 1, 1) + timedelta(days=rng.randrange(40 * 365))
        person = Person(key, given, surname, surname, female, born, f"{key:013d}", rng.choice(ACADEMIES))
        if female and rng.random() < 0.3:
            person = replace(person, surname=rng.choices(SURNAMES, weights)[0])
        add(person)
        if rng.random() >= dup_rate:
            continue
        scenario = rng.choice(SCENARIOS)
        if scenario == "transfer":
            add(person, academy=rng.choice([a for a in ACADEMIES if a != person.academy]), active=False)
        elif scenario == "name change":
            add(person, usage_name=rng.choice(SURNAMES), academy=NEIGHBOUR[person.academy])
        elif scenario == "double posting":
            add(person, academy=NEIGHBOUR[person.academy])
        else:
            variant = person.given.replace("-", " ").upper() if "-" in person.given else person.given
            add(person, given_name=variant)
    return records, truth


def record(rid: int, **fields: object) -> Record:
    """A hand-written record with sensible defaults."""
    base: dict[str, object] = {
        "id": rid,
        "feed": "ac-versailles",
        "academy": "25",
        "uid": f"u{rid}",
        "given_name": "Nathalie",
        "usage_name": "MARTIN",
    }
    base.update(fields)
    return Record(**base)  # type: ignore[arg-type]
