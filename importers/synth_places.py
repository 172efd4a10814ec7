"""Establishments for the synthetic dataset: valid UAIs, names, towns, in proportion to each academy.

Feeds carry only UAIs; ``establishments.csv`` (written by :mod:`importers.synth`) is the stand-in for
the national establishment registry. Counts follow the real ratios (about 11 staff per primary
school, 50 per collège, 80 per lycée). Types and natures are those seen in ``FrEduRne``: ``1ORD``
(101 nursery, 151 elementary), ``CLG`` 340, ``LYC`` 300, ``LP`` 320, ``EREA`` 370; administrative
services (``SA``, nature 800) and guidance centres (``CIO``, 810) are assumed codes, for the staff
who do not work in a school.
"""

from __future__ import annotations

import random
from bisect import bisect
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from itertools import accumulate

from directory.academies import Academy

__all__ = [
    "UAI_LETTERS",
    "AcademyPlaces",
    "Establishment",
    "is_valid_uai",
    "uai_check_letter",
]

UAI_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"

# Staff per establishment of each type, and the share of the academy's staff working there.
_PRIMARY_STAFF_PER_SCHOOL = 11
_SECONDARY = (("CLG", 0.50, 50), ("LYC", 0.32, 80), ("LP", 0.15, 45), ("EREA", 0.005, 40))
_NATURE = {"CLG": "340", "LYC": "300", "LP": "320", "EREA": "370", "SA": "800", "CIO": "810"}
_PRIVATE_SHARE = {"1ORD": 0.08, "CLG": 0.15, "LYC": 0.15, "LP": 0.10}


def _words(text: str) -> list[str]:
    """A word list written as one string."""
    return text.split()


_RIVERS = _words(
    "Loire Seine Marne Oise Saône Rhône Garonne Dordogne Lot Aisne Meuse Moselle Vienne Cher Allier "
    "Yonne Sarthe Orne Vire Somme Lys Tarn Aude Durance Isère Drôme Ain Doubs Indre Creuse Charente Adour"
)
_TOWN_BASES = _words(
    "Villeneuve Montigny Beaumont Fontaine Châteauneuf Neuville Bourg Villers Montreuil Roche "
    "Champagne Val Bois Pont Mesnil Plessis Sainte-Marie Saint-Martin Saint-Pierre Saint-Germain "
    "Saint-Jean Saint-Laurent Saint-Georges Saint-Hilaire Clairefontaine Mont Montfort Belleville "
    "Chantemerle Fleury Brie Marcilly Vaux Chaumont Marigny Bourgneuf Lacroix Sauveterre"
)
_TOWN_SUFFIXES = (
    "",
    "",
    "",
    "-le-Château",
    "-les-Bains",
    "-en-Forêt",
    "-la-Rivière",
    "-le-Vieux",
    "-du-Lac",
    "-la-Forêt",
    "-sur-Mer",
)


def uai_check_letter(seven: str) -> str:
    """The check letter of a UAI's first seven characters: ``"0291101"`` → ``"P"``."""
    return UAI_LETTERS[int(seven) % 23]


def is_valid_uai(uai: str) -> bool:
    """Whether ``uai`` is seven digits and the right check letter (case-insensitive)."""
    return len(uai) == 8 and uai[:7].isdigit() and uai[7].upper() == uai_check_letter(uai[:7])


@dataclass(frozen=True, slots=True)
class Establishment:
    """One establishment as ``establishments.csv`` lists it, plus its sector and nature."""

    uai: str
    name: str
    type: str
    nature: str
    sector: str  # PU public, PR private
    town: str
    academy_code: str
    departement: str  # the three-character UAI prefix

    def rne_value(self, function: str) -> str:
        """The ``FrEduRne`` value for someone with this function here."""
        return f"{self.uai}$UAJ${self.sector}${function}${self.uai}$T3${self.type}${self.nature}"

    def resp_value(self) -> str:
        """The ``FrEduRneResp`` value of the head of this establishment."""
        return f"{self.uai}$UAJ${self.sector}$N$T3${self.type}${self.nature}"


def _rows(name: str) -> list[list[str]]:
    text = resources.files("importers").joinpath("data", name).read_text(encoding="utf-8")
    return [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]


@dataclass(frozen=True, slots=True)
class _Tables:
    towns: dict[str, tuple[int, list[str]]]
    eponyms: list[str]
    places: list[str]
    private: list[str]


@cache
def _tables() -> _Tables:
    towns = {dep: (int(weight), names.split(",")) for dep, weight, names in _rows("towns.tsv")}
    kinds = {kind: names.split(",") for kind, names in _rows("establishment_names.tsv")}
    return _Tables(towns, kinds["person"], kinds["place"], kinds["private"])


@cache
def _zipf_cum(n: int) -> list[float]:
    return list(accumulate(1.0 / (k + 1) ** 0.9 for k in range(n)))


def _zipf_pick(rng: random.Random, items: list[str]) -> str:
    """Commonest first: the prefecture gets more schools than the small towns."""
    cum = _zipf_cum(len(items))
    return items[bisect(cum, rng.random() * cum[-1])]


@dataclass(slots=True)
class AcademyPlaces:
    """The establishments of one academy, grouped by type for drawing a workplace."""

    academy: Academy
    by_type: dict[str, list[Establishment]] = field(default_factory=dict)

    @classmethod
    def build(cls, academy: Academy, staff: int, seed: int) -> AcademyPlaces:
        """Establishments for an academy of ``staff`` synthetic people; the same for the same seed."""
        rng = random.Random(f"places:{seed}:{academy.code}")
        tables = _tables()
        deps = list(academy.uai_prefixes)
        dep_cum = list(accumulate(tables.towns[d][0] for d in deps))
        # Four-digit numbers already taken, per département: UAIs must be unique.
        taken: dict[str, set[int]] = {d: set() for d in deps}
        places = cls(academy)
        counts = {"1ORD": max(2, round(staff * 0.40 / _PRIMARY_STAFF_PER_SCHOOL))}
        for kind, share, per in _SECONDARY:
            counts[kind] = max(0 if kind == "EREA" else 1, round(staff * 0.60 * share / per))
        counts["SA"] = len(deps) + 1  # the rectorat and one services office per département
        counts["CIO"] = max(1, round(staff / 6_000))
        for kind, count in counts.items():
            out = places.by_type.setdefault(kind, [])
            for index in range(count):
                if kind == "SA":  # the rectorat, then one services office per département
                    dep = places._seat(tables) if index == 0 else deps[index - 1]
                else:
                    dep = deps[bisect(dep_cum, rng.random() * dep_cum[-1])]
                number = rng.randrange(10_000)
                while number in taken[dep]:
                    number = rng.randrange(10_000)
                taken[dep].add(number)
                seven = f"{dep}{number:04d}"
                out.append(
                    places._establishment(rng, tables, kind, index, seven + uai_check_letter(seven), dep)
                )
        return places

    def _seat(self, tables: _Tables) -> str:
        """The département of the rectorat: the one with the academy's namesake town, else the largest."""
        deps = self.academy.uai_prefixes
        for dep in deps:
            if self.academy.name in tables.towns[dep][1]:
                return dep
        return max(deps, key=lambda d: tables.towns[d][0])

    def _establishment(
        self, rng: random.Random, tables: _Tables, kind: str, index: int, uai: str, dep: str
    ) -> Establishment:
        real_towns = tables.towns[dep][1]
        # Paris, Corsica and overseas keep to their real towns; elsewhere small places are invented.
        only_real = dep.startswith(("075", "97", "620", "720"))
        if kind == "SA" or only_real or rng.random() < 0.6:
            town = real_towns[0] if kind == "SA" else _zipf_pick(rng, real_towns)
            if kind == "SA" and index == 0 and self.academy.name in real_towns:
                town = self.academy.name
        else:
            town = rng.choice(_TOWN_BASES) + rng.choice(_TOWN_SUFFIXES)
            if town.endswith(("Bourg", "Mont", "Val", "Pont")) and rng.random() < 0.5:
                town += "-sur-" + rng.choice(_RIVERS)
        private = rng.random() < _PRIVATE_SHARE.get(kind, 0.0)
        nature = _NATURE.get(kind, "151")
        eponym = rng.choice(tables.eponyms)
        if kind == "1ORD":
            level = rng.choices(("maternelle", "élémentaire", "primaire"), (30, 45, 25))[0]
            nature = "101" if level == "maternelle" else "151"
            if private:
                name = f"École privée {rng.choice(tables.private)}"
            elif rng.random() < 0.45:
                name = f"École {level} {rng.choice(tables.places)}"
            else:
                name = f"École {level} {eponym}"
        elif kind == "CLG":
            base = rng.choice(tables.places) if rng.random() < 0.15 else eponym
            name = f"Collège privé {rng.choice(tables.private)}" if private else f"Collège {base}"
        elif kind == "LYC":
            label = rng.choices(
                ("Lycée", "Lycée général et technologique", "Lycée polyvalent"), (60, 20, 20)
            )[0]
            name = f"Lycée privé {rng.choice(tables.private)}" if private else f"{label} {eponym}"
        elif kind == "LP":
            name = f"Lycée professionnel {'privé ' + rng.choice(tables.private) if private else eponym}"
        elif kind == "EREA":
            name = f"EREA {eponym}"
        elif kind == "SA":
            name = (
                f"Rectorat de l'académie de {self.academy.name}"
                if index == 0
                else f"Direction des services départementaux de l'éducation nationale ({town})"
            )
        else:
            name = f"Centre d'information et d'orientation de {town}"
        return Establishment(
            uai=uai,
            name=name,
            type=kind,
            nature=nature,
            sector="PR" if private else "PU",
            town=town,
            academy_code=self.academy.code,
            departement=dep,
        )

    def pick(self, rng: random.Random, kind: str) -> Establishment:
        """A random establishment of this type (or of the nearest type the academy has)."""
        options = self.by_type.get(kind) or self.by_type["CLG"]
        return options[int(rng.random() * len(options))]

    def all(self) -> list[Establishment]:
        """Every establishment, in a stable order."""
        return [e for kind in self.by_type for e in self.by_type[kind]]
