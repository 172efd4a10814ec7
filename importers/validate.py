"""What makes a directory entry impossible as a person, and what makes it a functional account.

An entry that cannot be a person goes to quarantine with a stable reason code; the rest of the feed
goes in. The codes (``QUARANTINE_REASONS``)::

    unparsable          the LDIF record itself is broken (no dn, a line without a colon, bad base64)
    invalid_utf8        a mapped attribute value, or the DN, is not valid UTF-8
    control_characters  a mapped value or the DN holds a control character (C0, DEL or C1)
    missing_uid         a person without a login
    missing_surname     a person without ``sn``
    duplicate_uid       a second entry of the same feed run with a uid already seen (case-insensitive);
                        the first one stays, the message names its DN

An invalid UAI, an unreadable date, a redacted NUMEN or a legacy mail domain is *not* a reason: the
person is kept and the problem is a flag on the record (``importers.mapping``).

Functional accounts (shared mailboxes, test and service accounts) are recognised and mapped with
``kind = "functional"``: kept out of the people, not quarantined. The rules, first match wins:

1. the DN passes through an ``ou=fonctionnelles`` branch (also ``fonctionnels``, ``comptes
   fonctionnels``), where the academies keep them;
2. the entry lists object classes and none of them is a person class (``person``,
   ``organizationalPerson``, ``inetOrgPerson``);
3. the uid has a service-account shape: capitals then at least three digits (``ADM00000``), a
   ``test``/``tst``/``demo`` token (``test1``, ``stagiaire.test1``, ``prof-test``), or is a generic
   role word with an optional number and nothing else (``remplacant1``, ``stagiaire2``,
   ``invite``, ``formation03``, ``utilisateur7``) - people's uids are lower case, first initial +
   surname (+ number), so ``ltest2``, ``ctestard`` or ``rstagiaire`` stay people;
4. the surname or the given name is, as a whole, a placeholder word: ``TEST``, ``ESSAI``,
   ``COMPTE``, ``ADMIN``, ``ADMINISTRATEUR``, ``GENERIQUE``, ``REMPLACANT``, ``STAGIAIRE``,
   ``INVITE``, ``ANONYME``, ``UTILISATEUR`` (``sn: TEST`` / ``givenName: Compte``);
5. there is no ``givenName`` and the names or the mail read like a mailbox: a word such as
   ``SECRETARIAT``, ``SERVICE``, ``DIRECTION``, ``ACCUEIL``, ``CELLULE``, ``BUREAU``..., or a mail
   local part that holds a UAI (``ce.0931567y@``) or starts with ``ce.``.

A person without ``givenName`` that matches none of these stays a person, with a flag.

Entries that are neither people nor accounts (``ou=...``, ``o=...``, ``dc=...`` containers, groups,
roles) have no uid and no person class: ``is_container`` tells the readers to skip them.

The pipeline keeps two steps apart: ``importers.mapping.map_entry`` checks one entry on its own and
raises ``InvalidEntry`` with one of the codes above; ``FeedValidator`` remembers the run (duplicate
uids) and turns every problem into a ``QuarantineItem``. ``importers.feedmapper.FeedMapper``
chains them.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal

from importers.errors import InvalidEntry

if TYPE_CHECKING:
    from importers.mapping import MappedEntry

__all__ = [
    "CONTROL",
    "CONTROL_CHARACTERS",
    "DUPLICATE_UID",
    "INVALID_UTF8",
    "MISSING_SURNAME",
    "MISSING_UID",
    "PERSON_CLASSES",
    "QUARANTINE_REASONS",
    "REDACTED",
    "UNPARSABLE",
    "FeedValidator",
    "Kind",
    "QuarantineItem",
    "UnparsableRecord",
    "classify_kind",
    "first_control_character",
    "is_container",
    "is_secret_attribute",
    "quarantine_raw",
    "safe_text",
]

Kind = Literal["person", "functional"]

UNPARSABLE: Final = "unparsable"
INVALID_UTF8: Final = "invalid_utf8"
CONTROL: Final = "control_characters"
MISSING_UID: Final = "missing_uid"
MISSING_SURNAME: Final = "missing_surname"
DUPLICATE_UID: Final = "duplicate_uid"

QUARANTINE_REASONS: Final[dict[str, str]] = {
    UNPARSABLE: "the record could not be parsed",
    INVALID_UTF8: "a value or the DN is not valid UTF-8",
    CONTROL: "a value or the DN holds a control character",
    MISSING_UID: "a person without uid",
    MISSING_SURNAME: "a person without surname (sn)",
    DUPLICATE_UID: "the uid was already seen in this feed run",
}
"""Every quarantine reason code, with a one-line description for ``import status``."""

CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f]")
"""C0 controls (tab and newlines included: no mapped attribute is multi-line), DEL and C1 controls
(which show up when cp1252 text was decoded as Latin-1)."""

REDACTED: Final = "<redacted>"
"""What replaces a confidential value in every raw copy of an entry."""

PERSON_CLASSES: Final = frozenset({"person", "organizationalperson", "inetorgperson"})
"""Object classes (lower case) that make an entry a person unless another rule says otherwise."""

_FUNCTIONAL_BRANCH = re.compile(r"(?:^|,)\s*ou\s*=\s*(?:comptes\s+)?fonctionnel", re.IGNORECASE)
# Case-sensitive on purpose: "ADM00001" is a service account, "adm001" could be a person's uid.
_SERVICE_UID = re.compile(r"[A-Z]{2,}[0-9]{3,}")
_TEST_UID = re.compile(r"(?:^|[-_.])(?:test|tst|demo)(?:$|[-_.0-9])", re.IGNORECASE)
_PLACEHOLDER_NAMES = frozenset(
    {
        *(
            "TEST",
            "TESTS",
            "ESSAI",
            "COMPTE",
            "COMPTE TEST",
            "ADMIN",
            "ADMINISTRATEUR",
            "GENERIQUE",
            "GÉNÉRIQUE",
        ),
        *("REMPLACANT", "REMPLAÇANT", "REMPLACANTE", "REMPLAÇANTE", "STAGIAIRE", "INVITE", "INVITÉ"),
        *("ANONYME", "UTILISATEUR"),
    }
)
# A uid that is only a role word (and a number): an account handed from one person to the next.
_ROLE_UID = re.compile(
    r"(?:remplacante?|stagiaire|invitee?|guest|formation|formateur|anonyme|utilisateur|user|generique|"
    r"compte|essai|vacataire|contractuel)[-_.]?[0-9]*"
)
_ROLE_WORDS: Final = (
    *("remplacant", "stagiaire", "invite", "guest", "formation", "formateur", "anonyme", "utilisateur"),
    *("user", "generique", "compte", "essai", "vacataire", "contractuel"),
)
"""The prefixes ``_ROLE_UID`` can match: a uid that starts with none of them skips the regex."""
_MAILBOX_WORDS = re.compile(
    r"\b(?:SECRETARIAT|SECRÉTARIAT|SERVICE|SERVICES|DIRECTION|ACCUEIL|CELLULE|BUREAU|DIVISION|"
    r"PLATEFORME|SUPPORT|ASSISTANCE|MISSION|CONTACT|GESTION|INTENDANCE|VIE SCOLAIRE|CDI|"
    r"CIRCONSCRIPTION|RECTORAT|DSDEN|CABINET|EXAMENS|CONCOURS|COMPTE|BAL|ADMINISTRATEUR|"
    r"PROVISEUR|PRINCIPAL|CHEF D'ETABLISSEMENT|CHEF D ETABLISSEMENT)\b"
)
_UAI_IN_TEXT = re.compile(r"[0-9]{7}[a-zA-Z]")
_CONTAINER_RDNS = frozenset({"o", "ou", "dc", "c", "l", "st"})
_SECRET_NAME = re.compile(r"password|passwd|secret|pwd", re.IGNORECASE)
_ESCAPES = {i: f"\\x{i:02x}" for i in (*range(0x20), *range(0x7F, 0xA0))}


@dataclass(frozen=True, slots=True)
class UnparsableRecord:
    """An LDIF record the parser could not read; the reader yields it instead of an entry.

    ``text`` is the record's lines, decoded with backslash escapes, confidential values already
    redacted, cut to a few kilobytes.
    """

    number: int
    """Ordinal of the record in the file (1 for the first)."""
    line: int
    """Approximate line of the file where the record ends."""
    message: str
    text: str
    dn: str | None = None


@dataclass(frozen=True, slots=True)
class QuarantineItem:
    """One entry kept out of the feed: what staging writes to the ``quarantine`` table."""

    feed: str
    dn: str
    """As given, with control characters and undecodable bytes escaped (``\\x00``)."""
    reason: str
    """One of ``QUARANTINE_REASONS``."""
    message: str
    raw: dict[str, list[str]] = field(default_factory=dict)
    """Every attribute of the entry, JSON-able, confidential and password values redacted, bytes
    that are not UTF-8 shown as their ``repr``, control characters escaped."""


def first_control_character(text: str) -> str | None:
    """The first control character in ``text`` as an escape (``\\x00``), or ``None``."""
    found = CONTROL_CHARACTERS.search(text)
    return None if found is None else _ESCAPES[ord(found.group())]


def classify_kind(
    dn: str,
    *,
    uid: str | None,
    given_name: str | None,
    names: Iterable[str | None],
    mail: str | None,
    object_classes: Sequence[str],
) -> Kind:
    """``"functional"`` when an entry is a shared, test or service account, else ``"person"``.

    ``names`` are the surname first, then the common and display names, as given; ``object_classes`` may be
    empty when the reader did not fetch them. The rules are in the module docstring.
    """
    if "onctionnel" in dn.lower() and _FUNCTIONAL_BRANCH.search(dn):
        return "functional"
    # Most entries spell "person" in lower case: only without it are the classes lower-cased.
    if (
        object_classes
        and PERSON_CLASSES.isdisjoint(object_classes)
        and PERSON_CLASSES.isdisjoint([oc.lower() for oc in object_classes])
    ):
        return "functional"
    if uid:
        # Cheap tests first: nearly every uid is lower case and holds no "test"/"tst"/"demo".
        if uid[0].isupper() and _SERVICE_UID.fullmatch(uid):
            return "functional"
        lowered = uid.lower()
        if ("test" in lowered or "tst" in lowered or "demo" in lowered) and _TEST_UID.search(lowered):
            return "functional"
        if lowered.startswith(_ROLE_WORDS) and _ROLE_UID.fullmatch(lowered):
            return "functional"
    if given_name and given_name.upper() in _PLACEHOLDER_NAMES:
        return "functional"
    names = tuple(names)
    if names and names[0] and names[0].upper() in _PLACEHOLDER_NAMES:
        return "functional"
    if not given_name:
        for name in names:
            if name and _MAILBOX_WORDS.search(name.upper()):
                return "functional"
        if mail:
            local = mail.partition("@")[0]
            if local.startswith("ce.") or _UAI_IN_TEXT.search(local):
                return "functional"
    return "person"


def is_container(dn: str, attrs: Mapping[str, Sequence[object]], *, uid_attribute: str = "uid") -> bool:
    """Whether an entry is a container or structure entry (not a person, not an account) to skip.

    True when the DN's first RDN is ``o=``, ``ou=``, ``dc=``, ``c=``, ``l=`` or ``st=``, or when the
    entry has neither a uid nor a person class (groups, roles, the root).
    """
    rdn_type = dn.partition("=")[0].strip().lower()
    if rdn_type in _CONTAINER_RDNS:
        return True
    if attrs.get(uid_attribute):
        return False  # the usual case, spelt as configured: no need to look further
    uid_key = uid_attribute.lower()
    has_uid = False
    classes: Sequence[object] = ()
    for key, values in attrs.items():
        lower = key.lower()
        if lower == uid_key and values:
            has_uid = True
        elif lower == "objectclass":
            classes = values
    if has_uid:
        return False
    return not any(
        (oc.decode("utf-8", "replace") if isinstance(oc, bytes) else str(oc)).lower() in PERSON_CLASSES
        for oc in classes
    )


def safe_text(value: object) -> str:
    """Any attribute value or DN as text that is safe to store and show.

    Undecodable bytes become their ``repr``, a DN decoded with ``surrogateescape`` shows its
    original bytes, and control characters are escaped (``\\x00``): PostgreSQL text cannot hold NUL.
    """
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            return repr(value)
    text = str(value)
    if text.isascii() and text.isprintable():
        return text
    # Lone surrogates come from a DN decoded with "surrogateescape": show the original bytes.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return repr(text.encode("utf-8", "surrogateescape"))
    return text.translate(_ESCAPES)


def is_secret_attribute(name: str, confidential: Collection[str]) -> bool:
    """Whether an attribute's values must never be stored: confidential ones, and passwords."""
    lower = name.lower()
    return lower in confidential or _SECRET_NAME.search(lower) is not None


def quarantine_raw(
    attrs: Mapping[str, Sequence[object]], *, confidential: Collection[str]
) -> dict[str, list[str]]:
    """A JSON-able copy of a rejected entry that is safe to store.

    Confidential attributes (``confidential``, lower-case names) and anything that looks like a
    password are replaced by ``REDACTED``; undecodable bytes become their ``repr``; control
    characters are escaped (PostgreSQL text cannot hold NUL at all).
    """
    raw: dict[str, list[str]] = {}
    for key, values in attrs.items():
        if is_secret_attribute(key, confidential):
            raw[key] = [REDACTED for _ in values]
        else:
            raw[key] = [safe_text(v) for v in values]
    return raw


def _dn_text(dn: object) -> str:
    return "" if dn is None else safe_text(dn)


class FeedValidator:
    """The quarantine side of one run of one feed: remembers uids, builds ``QuarantineItem``s.

    Stateful on purpose: a ``duplicate_uid`` only exists relative to what this run has already
    accepted. Create one per feed run. Memory is one dict entry per accepted uid (about 10 MB for
    the largest academy).
    """

    __slots__ = ("_first_dn", "confidential", "counts", "feed")

    def __init__(
        self, feed: str, *, confidential: Collection[str] = ("employeenumber", "datenaissance")
    ) -> None:
        self.feed = feed
        self.confidential = frozenset(a.lower() for a in confidential)
        self.counts: dict[str, int] = {}
        """Quarantined entries by reason code, for the run record and ``import status``."""
        self._first_dn: dict[str, str] = {}

    def accept(self, entry: MappedEntry) -> QuarantineItem | None:
        """Record an entry that mapped cleanly; a ``duplicate_uid`` item if its uid was seen before."""
        key = entry.uid.lower()
        first = self._first_dn.get(key)
        if first is None:
            self._first_dn[key] = entry.dn
            return None
        error = InvalidEntry(
            DUPLICATE_UID, f"uid {entry.uid!r} already used in this feed by {first}", dn=entry.dn
        )
        return self._item(entry.dn, error.reason, error.message, {k: list(v) for k, v in entry.raw.items()})

    def reject(
        self, dn: object, attrs: Mapping[str, Sequence[object]], error: InvalidEntry
    ) -> QuarantineItem:
        """The quarantine item for an entry that ``map_entry`` refused."""
        return self._item(
            _dn_text(dn), error.reason, error.message, quarantine_raw(attrs, confidential=self.confidential)
        )

    def unparsable(self, record: UnparsableRecord) -> QuarantineItem:
        """The quarantine item for an LDIF record the reader could not parse."""
        dn = _dn_text(record.dn) if record.dn else f"<record {record.number}>"
        message = f"record {record.number} near line {record.line}: {record.message}"
        return self._item(dn, UNPARSABLE, message, {"ldif": record.text.split("\n")})

    def _item(self, dn: str, reason: str, message: str, raw: dict[str, list[str]]) -> QuarantineItem:
        self.counts[reason] = self.counts.get(reason, 0) + 1
        return QuarantineItem(self.feed, dn, reason, message, raw)

    @property
    def uids_seen(self) -> int:
        """How many distinct uids this run has accepted."""
        return len(self._first_dn)
