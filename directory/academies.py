"""The 30 French academies: the fixed reference that feeds, the generator and the store share.

Figures come from ``shared/reference/academy-feeds.md``. ``staff`` is an estimate of the number of
agents (used by the synthetic generator to size each academy in proportion to the real ones).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ACADEMIES", "Academy", "by_codaca", "by_code", "by_mail_domain", "by_slug"]


@dataclass(frozen=True, slots=True)
class Academy:
    """One academy: its two-digit code, slug (``ac-<slug>``), name, mail domains and départements."""

    code: str
    slug: str
    name: str
    mail_domain: str
    departements: tuple[str, ...]
    staff: int
    legacy_domains: tuple[str, ...] = ()

    @property
    def codaca(self) -> str:
        """The three-digit ``codaca`` attribute value (``025`` for Versailles)."""
        return self.code.zfill(3)

    @property
    def feed_name(self) -> str:
        """The default feed name, also the LDIF file stem: ``ac-versailles``."""
        return f"ac-{self.slug}"

    @property
    def uai_prefixes(self) -> tuple[str, ...]:
        """Three-character UAI prefixes: ``075`` for Paris, ``620`` for Corsica, ``974`` overseas."""
        return tuple(d.zfill(3) for d in self.departements)


# staff: very large ~80k, large ~50k, medium ~30k, small ~3-12k; Toulouse and Versailles are given.
ACADEMIES: tuple[Academy, ...] = (
    Academy("01", "paris", "Paris", "ac-paris.fr", ("75",), 52_000),
    Academy("02", "aix-marseille", "Aix-Marseille", "ac-aix-marseille.fr", ("04", "05", "13", "84"), 55_000),
    Academy("03", "besancon", "Besançon", "ac-besancon.fr", ("25", "39", "70", "90"), 24_000),
    Academy("04", "bordeaux", "Bordeaux", "ac-bordeaux.fr", ("24", "33", "40", "47", "64"), 53_000),
    Academy("06", "clermont", "Clermont-Ferrand", "ac-clermont.fr", ("03", "15", "43", "63"), 25_000),
    Academy("07", "dijon", "Dijon", "ac-dijon.fr", ("21", "58", "71", "89"), 28_000),
    Academy("08", "grenoble", "Grenoble", "ac-grenoble.fr", ("07", "26", "38", "73", "74"), 56_000),
    Academy("09", "lille", "Lille", "ac-lille.fr", ("59", "62"), 78_000),
    Academy("10", "lyon", "Lyon", "ac-lyon.fr", ("01", "42", "69"), 54_000),
    Academy("11", "montpellier", "Montpellier", "ac-montpellier.fr", ("11", "30", "34", "48", "66"), 48_000),
    Academy("12", "nancy-metz", "Nancy-Metz", "ac-nancy-metz.fr", ("54", "55", "57", "88"), 38_000),
    Academy("13", "poitiers", "Poitiers", "ac-poitiers.fr", ("16", "17", "79", "86"), 27_000),
    Academy("14", "rennes", "Rennes", "ac-rennes.fr", ("22", "29", "35", "56"), 48_000),
    Academy("15", "strasbourg", "Strasbourg", "ac-strasbourg.fr", ("67", "68"), 31_000),
    Academy(
        "16",
        "toulouse",
        "Toulouse",
        "ac-toulouse.fr",
        ("09", "12", "31", "32", "46", "65", "81", "82"),
        52_600,
    ),
    Academy("17", "nantes", "Nantes", "ac-nantes.fr", ("44", "49", "53", "72", "85"), 57_000),
    Academy(
        "18",
        "orleans-tours",
        "Orléans-Tours",
        "ac-orleans-tours.fr",
        ("18", "28", "36", "37", "41", "45"),
        37_000,
    ),
    Academy("19", "reims", "Reims", "ac-reims.fr", ("08", "10", "51", "52"), 21_000),
    Academy("20", "amiens", "Amiens", "ac-amiens.fr", ("02", "60", "80"), 31_000),
    Academy("22", "limoges", "Limoges", "ac-limoges.fr", ("19", "23", "87"), 11_000),
    Academy("23", "nice", "Nice", "ac-nice.fr", ("06", "83"), 34_000),
    Academy("24", "creteil", "Créteil", "ac-creteil.fr", ("77", "93", "94"), 85_000),
    Academy("25", "versailles", "Versailles", "ac-versailles.fr", ("78", "91", "92", "95"), 87_300),
    Academy("27", "corse", "Corse", "ac-corse.fr", ("620", "720"), 6_000),
    Academy("28", "reunion", "La Réunion", "ac-reunion.fr", ("974",), 26_000),
    Academy("31", "martinique", "Martinique", "ac-martinique.fr", ("972",), 8_000),
    Academy("32", "guadeloupe", "Guadeloupe", "ac-guadeloupe.fr", ("971",), 9_000),
    Academy("33", "guyane", "Guyane", "ac-guyane.fr", ("973",), 8_500),
    Academy("43", "mayotte", "Mayotte", "ac-mayotte.fr", ("976",), 6_500),
    Academy(
        "70",
        "normandie",
        "Normandie",
        "ac-normandie.fr",
        ("14", "27", "50", "61", "76"),
        53_000,
        legacy_domains=("ac-caen.fr", "ac-rouen.fr"),
    ),
)

_BY_CODE = {a.code: a for a in ACADEMIES}
_BY_SLUG = {a.slug: a for a in ACADEMIES}
_BY_DOMAIN = {d: a for a in ACADEMIES for d in (a.mail_domain, *a.legacy_domains)}


def by_code(code: str) -> Academy | None:
    """The academy with this two-digit code (``25``), or ``None``."""
    return _BY_CODE.get(code.zfill(2)[-2:]) if code.isdigit() else None


def by_codaca(codaca: str) -> Academy | None:
    """The academy for a ``codaca`` value (``025``, also tolerates ``25``)."""
    value = codaca.strip()
    return by_code(value.lstrip("0").zfill(2)) if value.isdigit() else None


def by_slug(slug: str) -> Academy | None:
    """The academy for a slug (``versailles``) or feed name (``ac-versailles``)."""
    return _BY_SLUG.get(slug.removeprefix("ac-"))


def by_mail_domain(domain: str) -> Academy | None:
    """The academy whose current or legacy mail domain this is."""
    return _BY_DOMAIN.get(domain.lower())
