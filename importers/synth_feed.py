"""How one academy's directory writes its entries: the per-feed habits of the synthetic dataset.

Every academy's directory drifts a little from the others (date format, name case, accents, how
often NUMEN is missing...). A :class:`FeedProfile` fixes those habits for one academy and one seed;
:class:`Rates` holds the per-person scenario rates and per-entry dirt rates shared by all feeds.
Both are documented in ``docs/synthetic-data.md``; change the two together.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from directory.academies import Academy

__all__ = ["DATE_FORMATS", "REDACTED_NUMEN", "FeedProfile", "Rates", "format_date", "numen"]

#: Birth-date formats seen in the feeds, as ``strftime``-like labels.
DATE_FORMATS = ("YYYYMMDD", "DD/MM/YYYY", "YYYY-MM-DD")
#: What a feed that hides the NUMEN writes instead.
REDACTED_NUMEN = ("XXXXXXXXXXXXX", "*****", "*************")

# NUMEN serials: the person index through a bijection of [0, 10**5 * 26**3), so that two people
# never share a NUMEN while the serials still look random.
_SERIAL_SPACE = 100_000 * 26**3
_SERIAL_MULT = 982_451_653  # prime, coprime with 2, 5 and 13


@dataclass(frozen=True, slots=True)
class Rates:
    """Scenario rates (share of people) and dirt rates (share of entries) of the generator."""

    transfer: float = 0.020  # two academies, the old entry finfonction FF
    name_change: float = 0.008  # two feeds, sn differs (marriage or divorce in between)
    neighbour: float = 0.012  # active in two neighbouring academies
    same_academy: float = 0.010  # second account in the same academy (re-hire, admin account)
    transfer_and_same_academy: float = 0.0015  # three records
    left: float = 0.010  # single record, finfonction FF (retired or left)
    planted_homonym: float = 0.010  # a person given the name of another (on top of natural ones)
    married_name: float = 0.55  # women born before 1990 who use a married name (0.35 after)
    double_usage_name: float = 0.03  # of married names: DURAND-DUPONT
    spelling_variant: float = 0.35  # second records spelt differently from the first
    typo: float = 0.02  # second records with a one-letter typo in the surname
    uai_invalid: float = 0.003  # rne with a wrong check letter
    rne_out_of_step: float = 0.02  # FrEduRne names another establishment than rne
    frrne_four_digit_nature: float = 0.01  # ...$LYC$3000
    frrne_bare_uai: float = 0.01  # FrEduRne: 0291101P
    double_space: float = 0.005  # MARTIN  Nathalie
    mail_alias: float = 0.08  # mailEquivalentAddress present
    functional_mixed: float = 0.001  # test/admin accounts among the people (per person)
    quarantine_no_sn: float = 0.0006
    quarantine_control_char: float = 0.0005
    quarantine_bad_utf8: float = 0.0005
    quarantine_duplicate_uid: float = 0.0004  # per person: a second entry with the same uid


@dataclass(frozen=True, slots=True)
class FeedProfile:
    """The writing habits of one academy's directory (drawn once per academy and seed)."""

    numen_missing: float
    numen_redacted: float
    date_missing: float
    date_format: str  # the dominant one; 15 % of dated entries use another
    cn_surname_first: float  # MARTIN Nathalie (else Nathalie Martin)
    display_same_as_cn: bool  # else displayName is "Nathalie MARTIN"
    given_unaccented: float
    given_upper: float
    sn_accented: float
    compound_space: float  # Jean Pierre rather than Jean-Pierre
    saint_short: float  # ST ANDRE rather than SAINT-ANDRE
    nompatro: float
    uai_lower: float  # 0590121l
    mail_upper: float
    legacy_domain: float  # Normandie only: ac-caen.fr, ac-rouen.fr

    @classmethod
    def draw(cls, academy: Academy, seed: int) -> FeedProfile:
        """The habits of ``academy``'s feed for this seed (independent of the number of people)."""
        rng = random.Random(f"profile:{seed}:{academy.code}")
        missing_or_redacted = rng.uniform(0.20, 0.40)
        redacted = missing_or_redacted * rng.uniform(0.2, 0.45)
        return cls(
            numen_missing=missing_or_redacted - redacted,
            numen_redacted=redacted,
            date_missing=rng.uniform(0.07, 0.13),
            date_format=rng.choices(DATE_FORMATS, (60, 25, 15))[0],
            cn_surname_first=0.92 if rng.random() < 0.8 else 0.25,
            display_same_as_cn=rng.random() < 0.5,
            given_unaccented=rng.choice((0.05, 0.5, 0.95)),
            given_upper=rng.uniform(0.0, 0.08),
            sn_accented=0.0 if rng.random() < 0.75 else rng.uniform(0.3, 0.9),
            compound_space=rng.uniform(0.0, 0.15),
            saint_short=rng.uniform(0.0, 0.3),
            nompatro=rng.uniform(0.2, 0.6),
            uai_lower=rng.uniform(0.005, 0.03),
            mail_upper=rng.uniform(0.005, 0.03),
            legacy_domain=0.35 if academy.legacy_domains else 0.0,
        )

    def birth_date_format(self, rng: random.Random) -> str | None:
        """The format of one entry's ``datenaissance``; ``None`` when the entry has none."""
        if rng.random() < self.date_missing:
            return None
        if rng.random() < 0.85:
            return self.date_format
        return rng.choice([f for f in DATE_FORMATS if f != self.date_format])


def format_date(year: int, month: int, day: int, fmt: str) -> str:
    """A date in one of :data:`DATE_FORMATS`."""
    if fmt == "YYYYMMDD":
        return f"{year:04d}{month:02d}{day:02d}"
    if fmt == "DD/MM/YYYY":
        return f"{day:02d}/{month:02d}/{year:04d}"
    return f"{year:04d}-{month:02d}-{day:02d}"


def numen(index: int, seed: int, academy_code: str, letter: str, year: int) -> str:
    """A 13-character NUMEN, unique to person ``index``: ``24E9812345ABC``.

    Two-digit academy of first registration, ``G``/``E``/``P``/``A``, two-digit year, then five
    digits and three letters that are a bijection of the person index (offset by the seed).
    """
    serial = (index * _SERIAL_MULT + seed * 7_919) % _SERIAL_SPACE
    digits, rest = divmod(serial, 26**3)
    letters = "".join(chr(65 + (rest // 26**k) % 26) for k in (2, 1, 0))
    return f"{academy_code}{letter}{year % 100:02d}{digits:05d}{letters}"
