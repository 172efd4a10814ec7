"""Posts for the synthetic dataset: function code, administrative function, discipline, workplace.

About 40 % of staff work in primary schools (``1ORD``) and about three quarters are teachers
(``ENS``); the rest are heads (``DIR``), administrative staff (``ADM``), education counsellors
(``EDU``), librarians (``DOC``), guidance staff (``ORI``) and inspectors (``INS``).
"""

from __future__ import annotations

import random
from bisect import bisect
from dataclasses import dataclass
from itertools import accumulate

from importers.synth_places import AcademyPlaces, Establishment

__all__ = ["DISCIPLINES", "Post", "draw_post", "first_registration_letter"]

PRIMARY_SHARE = 0.40
SECOND_ESTABLISHMENT = 0.12  # secondary teachers whose service is split between two establishments

# (title, weight, FrEduFonctAdm, workplace types with weights)
_PRIMARY = (
    ("ENS", 88.0, None, (("1ORD", 1.0),)),
    ("DIR", 8.0, "DEC", (("1ORD", 1.0),)),  # école director (directeur d'école)
    ("INS", 1.0, "IEN1D", (("SA", 1.0),)),  # primary inspector, at the services office
    ("ADM", 3.0, "ADM", (("SA", 1.0),)),
)
_SECONDARY = (
    ("ENS", 66.3, None, (("CLG", 50.0), ("LYC", 32.0), ("LP", 15.0), ("EREA", 0.7))),
    ("ADM", 21.0, "ADM", (("SA", 45.0), ("CLG", 30.0), ("LYC", 18.0), ("LP", 7.0))),
    ("DIR", 3.0, "DIR", (("CLG", 60.0), ("LYC", 25.0), ("LP", 13.0), ("EREA", 2.0))),
    ("EDU", 4.0, None, (("CLG", 60.0), ("LYC", 30.0), ("LP", 10.0))),
    ("DOC", 2.0, None, (("CLG", 60.0), ("LYC", 30.0), ("LP", 10.0))),
    ("ORI", 2.0, None, (("CIO", 1.0),)),
    ("INS", 1.7, None, (("SA", 1.0),)),
)

#: Secondary teaching disciplines (code, share). L-codes for general teachers; the P-codes of
#: vocational teachers (LP) are assumed, as no public list pairs them with these labels.
DISCIPLINES: tuple[tuple[str, float], ...] = (
    ("L0202", 14.0),  # lettres modernes
    ("L1300", 13.0),  # mathématiques
    ("L1000", 11.0),  # histoire-géographie
    ("L0422", 10.0),  # anglais
    ("L1900", 10.0),  # éducation physique et sportive
    ("L1500", 8.0),  # physique-chimie
    ("L1600", 7.0),  # sciences de la vie et de la Terre
    ("L0426", 6.0),  # espagnol
    ("L1400", 5.0),  # technologie
    ("L0421", 3.0),  # allemand
    ("L1700", 2.5),  # éducation musicale
    ("L1800", 2.5),  # arts plastiques
    ("L1100", 2.0),  # sciences économiques et sociales
    ("L0100", 2.0),  # philosophie
    ("L0201", 1.5),  # lettres classiques
)
_VOCATIONAL = (("P1315", 30.0), ("P0202", 30.0), ("P0422", 20.0), ("P8011", 10.0), ("P7200", 10.0))


def _cum(pairs: tuple[tuple[str, float], ...]) -> tuple[list[str], list[float]]:
    return [p[0] for p in pairs], list(accumulate(p[1] for p in pairs))


_DISC = _cum(DISCIPLINES)
_VOC = _cum(_VOCATIONAL)
_PRIMARY_CUM = list(accumulate(row[1] for row in _PRIMARY))
_SECONDARY_CUM = list(accumulate(row[1] for row in _SECONDARY))


def _pick(rng: random.Random, table: tuple[list[str], list[float]]) -> str:
    values, cum = table
    return values[bisect(cum, rng.random() * cum[-1])]


@dataclass(frozen=True, slots=True)
class Post:
    """A person's function in one academy and where it is exercised."""

    title: str
    fonct_adm: str | None
    discipline: str | None
    place: Establishment
    second: Establishment | None  # a second establishment (teachers sharing their service)
    responsible: bool  # FrEduRneResp names ``place``
    primary: bool


def draw_post(
    rng: random.Random, places: AcademyPlaces, *, like: Post | None = None, title: str | None = None
) -> Post:
    """A post in this academy: at random, like another post (a transfer keeps the function), or
    with a given title (an administrative second account)."""
    if like is not None:
        primary = like.primary
        rows = _PRIMARY if primary else _SECONDARY
        row = next(r for r in rows if r[0] == like.title)
    elif title is not None:
        primary = False
        row = next(r for r in _SECONDARY if r[0] == title)
    else:
        primary = rng.random() < PRIMARY_SHARE
        rows, cum = (_PRIMARY, _PRIMARY_CUM) if primary else (_SECONDARY, _SECONDARY_CUM)
        row = rows[bisect(cum, rng.random() * cum[-1])]
    name, _weight, fonct, kinds = row
    kind = kinds[0][0] if len(kinds) == 1 else rng.choices([k for k, _ in kinds], [w for _, w in kinds])[0]
    place = places.pick(rng, kind)
    discipline = None
    second = None
    if name == "ENS" and not primary:
        discipline = (
            like.discipline if like and like.discipline else _pick(rng, _VOC if kind == "LP" else _DISC)
        )
        if rng.random() < SECOND_ESTABLISHMENT:
            second = places.pick(rng, kind)
            if second.uai == place.uai:
                second = None
    if name == "ADM" and rng.random() < 0.15:
        fonct = "ACP"  # accounting officer
    responsible = name == "DIR"
    if name == "ORI" and rng.random() < 0.08:
        fonct, responsible = "DIO", True  # head of a guidance centre
    return Post(name, fonct, discipline, place, second, responsible, primary)


def first_registration_letter(post: Post) -> str:
    """The NUMEN letter: ``G`` primary, ``P`` private, ``A`` administrative, ``E`` public secondary."""
    if post.primary and post.title in ("ENS", "DIR"):
        return "G"
    if post.place.sector == "PR":
        return "P"
    if post.title in ("ADM", "INS"):
        return "A"
    return "E"
