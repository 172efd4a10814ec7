"""The subline under a name in a people-picker: what tells apart people who share that name.

Nextcloud shows ``Nathalie Martin`` forty times and leaves the user to guess (clients.md, issue 1).
Here every person gets a short second line built from the *fewest* attributes that separate the
people who share their display name: the role (with the discipline for teachers), the
establishment and its town, the academy. A unique name gets one attribute (the role, else the
academy), a pair in two academies gets the academy, forty Nathalie Martin get role and
establishment. When even all attributes together cannot separate two people (same role, same
school), they keep the same subline: the data cannot tell them apart, and their e-mail (also in
each result) does.

Pure functions: :func:`assign_sublines` takes the facts and the grouping key of each person.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from directory.academies import by_code

__all__ = [
    "COMBINATIONS",
    "DISCIPLINES",
    "SEPARATOR",
    "SublineFacts",
    "academy_label",
    "assign_sublines",
    "establishment_label",
    "role_label",
    "sublines_for_group",
]

SEPARATOR = " · "

DISCIPLINES: dict[str, str] = {
    "L0100": "philosophie",
    "L0201": "lettres classiques",
    "L0202": "lettres modernes",
    "L0421": "allemand",
    "L0422": "anglais",
    "L0426": "espagnol",
    "L0429": "italien",
    "L1000": "histoire-géographie",
    "L1100": "sciences économiques et sociales",
    "L1300": "mathématiques",
    "L1400": "technologie",
    "L1500": "physique-chimie",
    "L1600": "SVT",
    "L1700": "éducation musicale",
    "L1800": "arts plastiques",
    "L1900": "EPS",
    "L8011": "documentation",
}
"""Discipline codes of the feeds (``discipline`` attribute) and how a colleague names them."""

# (masculine, feminine) labels of the ``title`` function codes.
_ROLES: dict[str, tuple[str, str]] = {
    "ENS": ("Professeur", "Professeure"),
    "DIR": ("Personnel de direction", "Personnel de direction"),
    "ADM": ("Personnel administratif", "Personnel administratif"),
    "DOC": ("Professeur documentaliste", "Professeure documentaliste"),
    "EDU": ("Conseiller principal d'éducation", "Conseillère principale d'éducation"),
    "ORI": ("Psychologue de l'Éducation nationale", "Psychologue de l'Éducation nationale"),
    "INS": ("Inspecteur", "Inspectrice"),
}
_VOWELS = tuple("aeiouyàâéèêëîïôöûüAEIOUYÉÈÊÎÔÛ")


def _de(word: str) -> str:
    """French elision: ``de mathématiques``, ``d'anglais``, ``d'EPS``."""
    return f"d'{word}" if word.startswith(_VOWELS) else f"de {word}"


def role_label(
    role: str | None, discipline: str | None, civility: str | None = None, *, primary_school: bool = False
) -> str | None:
    """``Professeure de mathématiques``, ``Professeur des écoles``, ``Inspecteur``; ``None`` if unknown."""
    code = (role or "").strip().upper()
    labels = _ROLES.get(code)
    if labels is None:
        return None
    feminine = (civility or "").strip().upper() in {"MME", "MLLE", "MADAME"}
    label = labels[1] if feminine else labels[0]
    if code == "ENS":
        subject = DISCIPLINES.get((discipline or "").strip().upper())
        if subject:
            return f"{label} {_de(subject)}"
        if primary_school:
            return f"{label} des écoles"
    return label


def establishment_label(name: str | None, town: str | None) -> str | None:
    """``Collège Jean Moulin, Versailles`` (the town is not repeated when the name carries it)."""
    if not name:
        return None
    if town and town.lower() not in name.lower():
        return f"{name}, {town}"
    return name


def academy_label(academy_code: str | None) -> str | None:
    """``Académie de Versailles``, ``Académie d'Amiens``; ``None`` for an unknown code."""
    academy = by_code(academy_code) if academy_code else None
    if academy is None:
        return None
    name = academy.name
    if name.startswith("La "):
        return f"Académie de {name}"
    return f"Académie {_de(name)}"


@dataclass(frozen=True, slots=True)
class SublineFacts:
    """The attributes a subline may use, already as labels (``None`` when unknown)."""

    role: str | None = None
    establishment: str | None = None
    academy: str | None = None


COMBINATIONS: tuple[tuple[str, ...], ...] = (
    ("role",),
    ("academy",),
    ("establishment",),
    ("role", "academy"),
    ("role", "establishment"),
    ("role", "establishment", "academy"),
)
"""Tried in this order, fewest attributes first; the first that separates a group wins."""


def _render(facts: SublineFacts, combo: tuple[str, ...]) -> str:
    return SEPARATOR.join(v for v in (getattr(facts, a) for a in combo) if v)


def _complete(facts: SublineFacts, combo: tuple[str, ...]) -> bool:
    return all(getattr(facts, a) for a in combo)


def sublines_for_group(group: Sequence[SublineFacts]) -> list[str]:
    """The sublines of people who share one display name, in the order given.

    The first combination (fewest attributes) that gives as many distinct sublines as the data
    allows wins; a single person gets the first combination that says anything about them.
    """
    if not group:
        return []
    if len(group) == 1:
        facts = group[0]
        for combo in COMBINATIONS:
            if _complete(facts, combo):
                return [_render(facts, combo)]
        return [_render(facts, COMBINATIONS[-1])]
    separable = len({(f.role, f.establishment, f.academy) for f in group})
    best: list[str] = []
    best_distinct = -1
    for combo in COMBINATIONS:
        rendered = [_render(f, combo) for f in group]
        distinct = len(set(rendered))
        if distinct >= separable and all(rendered):
            return rendered
        if distinct > best_distinct:
            best, best_distinct = rendered, distinct
    return best


def assign_sublines(keys: Sequence[Hashable], facts: Sequence[SublineFacts]) -> list[str]:
    """Sublines for many people at once: ``keys[i]`` groups homonyms (the normalised display name)."""
    groups: dict[Hashable, list[int]] = defaultdict(list)
    for i, key in enumerate(keys):
        groups[key].append(i)
    out = [""] * len(keys)
    for members in groups.values():
        for i, line in zip(members, sublines_for_group([facts[i] for i in members]), strict=True):
            out[i] = line
    return out
