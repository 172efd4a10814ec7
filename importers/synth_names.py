"""Names for the synthetic dataset: who is called what, how often, and how feeds spell it.

Surnames follow the shape of the French population: a real head (the 200 commonest surnames with
their relative frequencies, ``data/surnames.tsv``; Martin is about 0.4 % of people), a Zipf-like
synthesised tail (ranks 201 to ``TAIL_RANKS``, exponent 0.64 up to rank 1,000 then 0.8, so that the
1,000 commonest names cover about a quarter of people and, at 1.2 million people, about half of the
distinct surnames are borne by fewer than 10 of them), a last ``UNIQUE_SHARE`` of one-off names,
and regional tables (Breton, Alsatian, Corsican, overseas...) drawn in their academies.

First names come from ``data/firstnames.tsv``: frequencies per sex and decade of birth (1960s-1990s).

The second half of the module renders a canonical name as a feed writes it (upper case, accents
dropped or kept, ``ST`` for ``SAINT``...) and produces the spelling variants seen between two records
of one person.
"""

from __future__ import annotations

import random
import re
from bisect import bisect
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from itertools import accumulate

__all__ = [
    "TAIL_RANKS",
    "UNIQUE_SHARE",
    "NameTables",
    "compound_first_name_variant",
    "double_name_variant",
    "mail_part",
    "particle_variant",
    "saint_variant",
    "surname_variant",
    "typo",
    "uid_part",
    "unaccent",
]

#: Synthesised tail ranks 201..TAIL_RANKS; tuned with the exponents below (see the module docstring).
TAIL_RANKS = 59_000
_EXP_NEAR = 0.64  # ranks 201-1,000
_EXP_FAR = 0.80  # ranks 1,001-TAIL_RANKS
#: Share of people whose surname is practically unique (drawn from a space of millions).
UNIQUE_SHARE = 0.008
_HEAD_SCALE = 58_750.0  # thousands of bearers per unit of probability: puts Martin at 0.40 %

_M64 = (1 << 64) - 1

# --- accents -------------------------------------------------------------------------------

_UNACCENT = str.maketrans(
    {
        **dict.fromkeys("àâäáãå", "a"),
        **dict.fromkeys("ÀÂÄÁÃÅ", "A"),
        **dict.fromkeys("éèêë", "e"),
        **dict.fromkeys("ÉÈÊË", "E"),
        **dict.fromkeys("îïíì", "i"),
        **dict.fromkeys("ÎÏÍÌ", "I"),
        **dict.fromkeys("ôöóòõ", "o"),
        **dict.fromkeys("ÔÖÓÒÕ", "O"),
        **dict.fromkeys("ùûüú", "u"),
        **dict.fromkeys("ÙÛÜÚ", "U"),
        "ç": "c",
        "Ç": "C",
        "ñ": "n",
        "Ñ": "N",
        "ÿ": "y",
        "œ": "oe",
        "Œ": "OE",
        "æ": "ae",
        "Æ": "AE",
    }
)


def unaccent(text: str) -> str:
    """Drop French diacritics and split ligatures (``Lefèvre`` → ``Lefevre``, ``Œ`` → ``OE``)."""
    return text.translate(_UNACCENT)


# --- data tables ---------------------------------------------------------------------------


def _rows(name: str) -> list[list[str]]:
    text = resources.files("importers").joinpath("data", name).read_text(encoding="utf-8")
    return [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]


class _Table:
    """A weighted choice among strings, drawn with one ``rng.random()`` and a bisection."""

    __slots__ = ("_cum", "_total", "values")

    def __init__(self, values: list[str], weights: list[float]) -> None:
        self.values = values
        self._cum = list(accumulate(weights))
        self._total = self._cum[-1]

    def pick(self, rng: random.Random) -> str:
        return self.values[bisect(self._cum, rng.random() * self._total)]


def _zipf_table(names: list[str], exponent: float = 0.8) -> _Table:
    return _Table(names, [1.0 / (k + 1) ** exponent for k in range(len(names))])


# --- tail surnames ---------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    """A word list written as one string: the syllable tables read better that way."""
    return text.split()


_FR_START = _words(
    "Bar Bel Ber Bla Bou Bra Bri Cha Che Cla Cou Cré Dal Del Des Du Fa Fer Fon Fou Gal Gar Ger Gi Gou "
    "Gra Gri Jac Jou Lab Lac Lam Lan Lar Lau Lav Le Lu Mal Mar Mas Mau Mer Mon Mor Mou Pa Pel Per Pi "
    "Pon Pou Ra Re Ri Ro Rou Sa Sau Se Ta Tes Tho Tou Va Vau Ver Vi Bon Bour Char Chau Cor Cour Dan "
    "Dau Fau Gau Gué Hu Lé Mé Ni No Pré Qué Ré Sé Vé Chal Bru Cas Cam Lou Bes Beau Fré Bar Cal Dom "
    "Es Flo Gil Gro Hen Jol Lom Mil Nau Or Pas Pri Roch Sal Tar Ven Vil Al Ar Aub Chan Cro Dor Fal"
)
_FR_MID = _words(
    "- - - ti ni la ri va de ber lan mon can pe so ge mi ra let bou che ma ge ro to li vi du "
    "sa ve no mo pi gue ta ci lo"
)
_FR_END_C = _words(
    "ard aud ault and at eau el ent er et ette eux ier in ois on ot oux y ac ès ieu our ais as ec ey e"
)
_FR_END_V = _words(
    "chard llard lin llet net ret rot ssier tier vier zet gnon geot quet lot det chet rand naud rault "
    "lleau teau vaux guin bert chon mond rel ville ry ly ze"
)
_BRETON = _words(
    "Goff Gall Bihan Floch Meur Bras Guen Du Coz Cam Hir Berre Moal Borgne Corre Dantec Gac Bris Men "
    "Naour Pape Scouarnec Tallec Garrec Bec Saout Pen Duff Nir Fur Drézen Lann Hénaff Roch Gloahec"
)
_BRETON_END = _words("- - - ic ec an en")
_KER = _words(
    "bra vella gal mor hervé louan dreux ven guen marrec moal rien bellec doncuff jean zerho gourio"
)
_BRETON_PREFIX = _words("Ker Tré Plou Lan Guil")
_DE_START = _words(
    "Schnei Schwar Kra Stra Wag Hof Zimm Lang Bau Fisch Rich Stein Wald Hub Hart Kuhn Metz Roth Beck Kie "
    "Ehr Blum"
)
_DE_MID = _words("- - - en el er ig li")
_DE_END = _words("eider ner mann er inger bach berger hardt ler hofer el auer ig tz lin mayer")
_IT_START = _words(
    "Ross Bian Fer Gior Mar Ric Colo Sant Lucc Pell Cast Ferr Gal Mon Vitt Caru Pagan Bern Mart Fior "
    "Ors Ben Cos"
)
_IT_MID = _words("- - - ar el in on ol an")
_IT_END = _words("i ini etti ucci ano one elli ari esi ello otti ato ucci ieri")
_PT_START = _words(
    "Ferr Per Olive Carval Mor Teix Marqu Rodrigu Pint Sous Lop Mend Gonçal Cost Mach Barb Ribe Alm Cab Fons"
)
_PT_MID = _words("- - - al ar il or")
_PT_END = _words("eira es ado inho ho ira a ez ão ida eiro anes")
_MA_START = _words("Ben Bou Har Man Mes Ham Kad Sal Bel Cher Dja Zer Lah Moh Yah Tah Az Am")
_MA_MID = _words("- - - ra ta la ma ha")
_MA_END = _words("ali zid khari dadi souri daoui lahi kacem hadji rahmani ouari ami ibi oudi kri ssa nani")
_FLEMISH = _words(
    "Berghe Damme Houtte Velde Acker Hove Bussche Mol Laere Steen Dyck Hecke Eecke Walle Poucke Moortel"
)
_SAINTS = _words(
    "André Martin Hilaire Laurent Germain Amand Cyr Jean Pierre Léger Aubin Marc Denis Georges Just Yves"
)
_SAINTES = _words("Marie Croix Beuve Rose Claire Foy Colombe Agathe")


def _three(x: int, start: list[str], mid: list[str], end: list[str]) -> str:
    a, b, c = _digits(x, len(start), len(mid), len(end))
    return start[a] + ("" if mid[b] == "-" else mid[b]) + end[c]


def _mix64(x: int) -> int:
    """SplitMix64 finaliser: a fixed, well-spread hash of an integer (never Python's salted hash)."""
    z = (x + 0x9E3779B97F4A7C15) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def _digits(x: int, *radices: int) -> list[int]:
    out = []
    for r in radices:
        x, d = divmod(x, r)
        out.append(d)
    return out


def _french(x: int, long: bool) -> str:
    """A French-sounding surname; ``x`` picks the syllables injectively within one shape."""
    s, m1, m2, e = _digits(x, len(_FR_START), len(_FR_MID), len(_FR_MID), 64)
    parts = [_FR_START[s]]
    mids = [_FR_MID[m1], _FR_MID[m2]] if long else [_FR_MID[m1]]
    for mid in mids:
        if mid != "-":
            parts.append(mid)
    stem = "".join(parts)
    ends = _FR_END_V if stem[-1] in "aeiouéè" else _FR_END_C
    return stem + ends[e % len(ends)]


def _french_particle(x: int) -> str:
    base = _french(x // 5, long=False)
    particle = ("de ", "du ", "des ", "de La ", "de ")[x % 5]
    if particle == "de " and base[0] in "AEIOU":
        return "d'" + base
    return particle + base


def _breton(x: int) -> str:
    if x % 5 == 0:
        root, end = _digits(x // 5, len(_BRETON), len(_BRETON_END))
        return "Le " + _BRETON[root] + ("" if _BRETON_END[end] == "-" else _BRETON_END[end])
    pre, root, end = _digits(x // 5, len(_BRETON_PREFIX), len(_BRETON), len(_BRETON_END))
    return _BRETON_PREFIX[pre] + _BRETON[root].lower() + ("" if _BRETON_END[end] == "-" else _BRETON_END[end])


def _di_da_dos(x: int) -> str:
    if x % 3 == 0:
        return "Di " + _three(x // 3, _IT_START, _IT_MID, _IT_END)
    return ("Da ", "Dos ")[x % 3 - 1] + _three(x // 3, _PT_START, _PT_MID, _PT_END)


def _saint(x: int) -> str:
    if x % 4:
        return "Saint-" + _SAINTS[(x // 4) % len(_SAINTS)]
    return "Sainte-" + _SAINTES[(x // 4) % len(_SAINTES)]


# Tail styles with their share (per 10,000 tail ranks). A style's share is kept below half the
# number of distinct names it can form, so that two ranks rarely fall on the same name.
_STYLES: tuple[tuple[int, Callable[[int], str]], ...] = (
    (8_520, lambda x: _french(x >> 1, long=x & 1 == 0)),
    (280, _french_particle),
    (120, _breton),
    (20, lambda x: "Le " + _BRETON[x % len(_BRETON)]),
    (230, lambda x: _three(x, _DE_START, _DE_MID, _DE_END)),
    (230, lambda x: _three(x, _IT_START, _IT_MID, _IT_END)),
    (150, lambda x: _three(x, _PT_START, _PT_MID, _PT_END)),
    (190, lambda x: _three(x, _MA_START, _MA_MID, _MA_END)),
    (100, lambda x: "La " + _french(x, long=False)),
    (5, lambda x: ("Van ", "Van Den ", "Van De ", "Vande")[x % 4] + _FLEMISH[(x // 4) % len(_FLEMISH)]),
    (30, lambda x: "Von " + _three(x, _DE_START, _DE_MID, _DE_END)),
    (80, _di_da_dos),
    (4, _saint),
)
_STYLE_CUM = list(accumulate(share for share, _ in _STYLES))


@lru_cache(maxsize=1 << 17)
def _synth_surname(rank: int) -> str:
    """The synthesised surname of a tail rank: always the same string for the same rank."""
    h = _mix64(rank)
    x = _mix64(h ^ 0x5EED)
    if rank > TAIL_RANKS and h % 10 < 7:
        return _french(x, long=True)  # one-off names: long, from a space of millions
    return _STYLES[bisect(_STYLE_CUM, h % _STYLE_CUM[-1])][1](x)


# --- the tables --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Regional:
    share: float
    table: _Table


class NameTables:
    """The name distributions, loaded once from ``importers/data`` (see :meth:`load`)."""

    def __init__(self) -> None:
        head = _rows("surnames.tsv")
        self._head = _Table([r[0] for r in head], [float(r[1]) for r in head])
        self.head_share = sum(float(r[1]) for r in head) / _HEAD_SCALE
        self.head_surnames = tuple(r[0] for r in head)
        # The tail is continuous with the head: rank 201 is as frequent as rank 200.
        p200 = float(head[-1][1]) / _HEAD_SCALE
        self._c_near = p200 * 200**_EXP_NEAR
        self._mass_near = self._mass(self._c_near, _EXP_NEAR, 200.5, 1000.5)
        self._c_far = self._c_near * 1000.5 ** (_EXP_FAR - _EXP_NEAR)
        self._mass_far = self._mass(self._c_far, _EXP_FAR, 1000.5, TAIL_RANKS + 0.5)
        self._regional: dict[str, list[_Regional]] = {}
        for _region, where, names in _rows("regional_surnames.tsv"):
            table = _zipf_table(names.split(","), exponent=0.7)
            for item in where.split(","):
                code, share = item.split(":")
                self._regional.setdefault(code, []).append(_Regional(float(share), table))
        self._first: dict[tuple[str, int], _Table] = {}
        rows = _rows("firstnames.tsv")
        for sex in ("F", "M"):
            mine = [r for r in rows if r[1] == sex]
            for decade in range(4):
                self._first[sex, decade] = _Table([r[0] for r in mine], [float(r[2 + decade]) for r in mine])

    @staticmethod
    def _mass(c: float, a: float, lo: float, hi: float) -> float:
        return float(c / (1 - a) * (hi ** (1 - a) - lo ** (1 - a)))

    @staticmethod
    @cache
    def load() -> NameTables:
        """The shared, read-only tables (built on first use; about 20 ms)."""
        return NameTables()

    def surname(self, rng: random.Random, academy_code: str) -> str:
        """A birth surname, canonical spelling (``Lefèvre``, ``Le Gall``, ``de La Fontaine``)."""
        for regional in self._regional.get(academy_code, ()):
            if rng.random() < regional.share:
                return regional.table.pick(rng)
        u = rng.random()
        if u < self.head_share:
            return self._head.pick(rng)
        u -= self.head_share
        if u < self._mass_near:
            rank = self._invert(u, self._c_near, _EXP_NEAR, 200.5)
        elif u < self._mass_near + self._mass_far:
            rank = self._invert(u - self._mass_near, self._c_far, _EXP_FAR, 1000.5)
        else:
            # One-off names: a random point in a space of millions, practically never drawn twice.
            rank = TAIL_RANKS + 1 + rng.randrange(1 << 40)
        return _synth_surname(rank)

    @staticmethod
    def _invert(mass: float, c: float, a: float, lo: float) -> int:
        """Inverse CDF of ``c * r**-a`` from ``lo``: the rank whose cumulative mass reaches ``mass``."""
        return round(float((lo ** (1 - a) + mass * (1 - a) / c) ** (1 / (1 - a))))

    def first_name(self, rng: random.Random, sex: str, birth_year: int) -> str:
        """A first name for this sex (``F``/``M``) and birth year, with its cohort's frequencies."""
        decade = min(3, max(0, (birth_year - 1960) // 10))
        return self._first[sex, decade].pick(rng)


# --- how feeds spell names -----------------------------------------------------------------------


_NOT_LETTERS = re.compile(r"[^a-z]+")


def uid_part(surname_upper: str) -> str:
    """Letters of a surname for a ``uid``: ``LE GALL`` → ``legall``, ``D'ALEMBERT`` → ``dalembert``."""
    return _NOT_LETTERS.sub("", unaccent(surname_upper).lower())


def mail_part(name: str) -> str:
    """A name as a mail local part: ``Jean-Pierre`` → ``jean-pierre``, ``LE GALL`` → ``le-gall``."""
    return _NOT_LETTERS.sub("-", unaccent(name).lower()).strip("-")


def saint_variant(sn: str, rng: random.Random) -> str:
    """``SAINT-ANDRE`` → ``ST ANDRE`` or ``ST-ANDRE``; ``SAINTE-CROIX`` → ``STE CROIX``."""
    for full, short in (("SAINTE-", "STE"), ("SAINT-", "ST"), ("SAINTE ", "STE"), ("SAINT ", "ST")):
        if sn.startswith(full):
            return short + rng.choice((" ", "-")) + sn[len(full) :]
    return sn


def particle_variant(sn: str, rng: random.Random) -> str:
    """Glue or re-punctuate a particle: ``LE GALL`` → ``LEGALL``, ``D'ALEMBERT`` → ``D ALEMBERT``."""
    if sn.startswith("D'"):
        return rng.choice(("D ", "", "D-")) + sn[2:]
    for particle in (
        "DE LA ",
        "DES ",
        "DU ",
        "DE ",
        "LE ",
        "LA ",
        "VAN DEN ",
        "VAN ",
        "VON ",
        "DI ",
        "DA ",
        "DOS ",
    ):
        if sn.startswith(particle):
            return sn.replace(" ", "", particle.count(" "))
    return sn


def double_name_variant(sn: str, rng: random.Random) -> str:
    """Re-punctuate a double name: ``DURAND-DUPONT`` ↔ ``DURAND DUPONT`` ↔ ``DURAND--DUPONT``."""
    for sep in ("--", "-", " "):
        if sep in sn:
            left, right = sn.split(sep, 1)
            if left in ("SAINT", "SAINTE", "ST", "STE"):
                return sn
            return left + rng.choice([s for s in ("--", "-", " ") if s != sep]) + right
    return sn


def compound_first_name_variant(given: str, rng: random.Random) -> str:
    """``Jean-Pierre`` → ``Jean Pierre``, ``JEAN-PIERRE``, ``J-Pierre`` or ``JP``."""
    if "-" not in given:
        return given
    first, second = given.split("-", 1)
    roll = rng.random()
    if roll < 0.6:
        return f"{first} {second}"
    if roll < 0.85:
        return given.upper()
    if roll < 0.95:
        return f"{first[0]}-{second}"
    return first[0].upper() + second[0].upper()


def typo(text: str, rng: random.Random) -> str:
    """One keyboard slip in a letter: substitution, deletion, doubling or a swap of neighbours."""
    positions = [i for i, c in enumerate(text) if c.isalpha()]
    if len(positions) < 4:
        return text
    i = rng.choice(positions[1:])
    kind = rng.randrange(4)
    c = text[i]
    if kind == 0:
        repl = rng.choice("AEIOURSTNL" if c.isupper() else "aeiourstnl")
        return text[:i] + (repl if repl != c else ("E" if c.isupper() else "e")) + text[i + 1 :]
    if kind == 1:
        return text[:i] + text[i + 1 :]
    if kind == 2:
        return text[:i] + c + text[i:]
    j = i - 1
    if not text[j].isalpha() or text[j] == c:
        return text[:i] + text[i + 1 :]
    return text[:j] + c + text[j] + text[i + 1 :]


def surname_variant(sn: str, rng: random.Random) -> tuple[str, str]:
    """A different but plausible spelling of an upper-case surname, and the kind of variation."""
    if sn.startswith(("SAINT-", "SAINTE-", "SAINT ", "SAINTE ")):
        return saint_variant(sn, rng), "saint_abbreviation"
    glued = particle_variant(sn, rng)
    if glued != sn:
        return glued, "particle"
    if "-" in sn or " " in sn:
        return double_name_variant(sn, rng), "double_name"
    return typo(sn, rng), "typo"
