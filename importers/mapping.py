"""The attribute mapping: one directory entry → one ``MappedEntry``, the row staging writes.

``Mapping`` (``importers.attributes``) names, for each of our fields, the LDAP attribute it is read
from; a feed overrides any of them from the feeds file. ``importers.feedmapper.FeedMapper`` runs
``map_entry`` and the feed's validation over a whole feed run.

``map_entry`` is pure and runs 1.2 million times a night, so it does the least per entry: the
UAI, ``FrEduRne`` and birth-date parsers are cached, regular expressions are compiled once, and the
entry is decoded once. It raises ``InvalidEntry`` (a quarantine code from ``importers.validate``)
when the entry cannot be a person; everything else wrong with an entry becomes a *flag*:

==========================  ==================================================================
flag                        meaning
==========================  ==================================================================
``invalid_uai``             ``rne``, a ``FrEduRne`` or a ``FrEduRneResp`` UAI fails its check letter
``uai_lowercase``           one of those UAIs was written with a lower-case letter
``rne_missing``             no ``rne``: the main establishment is the first ``FrEduRne`` one
``rne_not_in_freduRne``     ``rne`` is not among the ``FrEduRne`` establishments
``fredurne_malformed``      a ``FrEduRne``/``FrEduRneResp`` value with no UAI in it
``legacy_mail_domain``      the mail is on a legacy domain (``ac-caen.fr``, ``ac-rouen.fr``)
``mail_uppercase``          the mail had capitals (it is lower-cased)
``mail_invalid``            the mail has no ``@`` or holds spaces
``mail_missing``            a person without mail
``numen_missing``           no NUMEN (people only; so is ``birthdate_missing``)
``numen_redacted``          the NUMEN is masked (``*``, ``XXXXXXXXXXXXX``, ``REDACTED``...)
``numen_invalid``           a NUMEN that is neither well-formed nor masked (not hashed)
``birthdate_missing``       no birth date
``birthdate_invalid``       a birth date in none of the three formats, impossible, or before 1920
``given_name_missing``      a person without ``givenName``
``double_space``            a name had runs of spaces (collapsed)
``codaca_invalid``          ``codaca`` names no academy: the feed's academy is used
``dateff_invalid``          ``dateff`` is not a date
``modify_timestamp_invalid`` ``modifyTimestamp`` is not GeneralizedTime
==========================  ==================================================================

Names are only stripped and their runs of spaces collapsed here; ``matching.normalize`` does the
rest, once, for indexing and queries alike.

``raw`` keeps the *mapped* attributes only (the ones ``requested_attributes()`` asks an LDAP server
for), under the mapping's spelling of their names, several values sorted: the same entry read by
LDAP or from an LDIF export gives the same ``content_hash`` (operational attributes such as
``entryUUID`` are in ``raw`` when the source has them, never in the hash), and an LDIF's
``userPassword`` never reaches the database. Confidential values (NUMEN, birth date) are
``"<redacted>"`` in it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from collections.abc import Mapping as MappingABC
from datetime import date, datetime
from functools import lru_cache
from typing import Final, NamedTuple, cast

from directory.academies import ACADEMIES, by_codaca
from directory.secrets import Hasher
from importers.attributes import DEFAULT_MAPPING, Layout, Mapping, mapping_problems
from importers.dates import parse_date, parse_generalized_time, swapped_date
from importers.errors import InvalidEntry
from importers.fredurne import Establishment, establishments_of
from importers.validate import (
    CONTROL,
    CONTROL_CHARACTERS,
    INVALID_UTF8,
    MISSING_SURNAME,
    MISSING_UID,
    REDACTED,
    UNPARSABLE,
    Kind,
    classify_kind,
    first_control_character,
)
from matching.records import Record

__all__ = [
    "BIRTH_YEAR_MIN",
    "DEFAULT_MAPPING",
    "MAPPING_VERSION",
    "Attrs",
    "Establishment",
    "MappedEntry",
    "Mapping",
    "map_entry",
    "mapping_problems",
    "normalize_dn",
    "to_record",
]

Attrs = MappingABC[str, Sequence[bytes | str]]
"""An entry's attributes as readers give them: name → values, ``str`` or undecoded ``bytes``."""
_StrValues = MappingABC[str, Sequence[str]]

MAPPING_VERSION: Final = 2
"""Part of every content hash: raise it when the mapping rules change what they produce, so that
the next run rewrites every record with the new rules instead of keeping stale mapped fields."""

BIRTH_YEAR_MIN: Final = 1920
"""Earlier birth dates are placeholders (``19000101`` on test accounts), not serving staff: they
are flagged ``birthdate_invalid`` and not hashed, so that placeholders never match each other."""

_PERSON_ONLY_FLAGS = frozenset({"numen_missing", "birthdate_missing"})
_HASH_PREFIX: Final = f"v{MAPPING_VERSION}"
_NUMEN = re.compile(r"[0-9]{2}[GEPA][0-9]{7}[A-Z]{3}")
_REDACTED_WORDS = frozenset(
    {"NC", "ND", "NR", "NA", "N/A", "NULL", "NONE", "REDACTED", "MASQUE", "MASQUÉ", "CONFIDENTIEL", "INCONNU"}
)
_REDACTION_MARKS = ("*", "#", "<", "?", "REDACT", "MASQU", "CONFIDENTI")
_DN_SPACES = re.compile(r"(?<!\\)\s*([,=+])\s*")
_LEGACY_DOMAINS = frozenset(d for a in ACADEMIES for d in a.legacy_domains)


class MappedEntry(NamedTuple):
    """One directory entry of one feed, mapped: what staging writes to ``source_records``.

    Holds no NUMEN and no birth date in clear: only their keyed hashes and the birth year.

    Immutable. A ``NamedTuple`` rather than a frozen dataclass on purpose: a frozen dataclass sets
    each of its 30 fields through ``object.__setattr__``, which measured at 13 % of the whole
    mapping cost per entry; a named tuple is built in one step and is just as read-only.
    """

    feed: str
    source_id: str
    """``entryUUID``/``nsUniqueId`` (lower case) when the entry has one, else the normalised DN."""
    dn: str
    uid: str
    kind: Kind
    """``person``, or ``functional`` for shared, test and service accounts (kept out of people)."""
    given_name: str | None
    usage_name: str | None
    """``sn``; never ``None`` for a person."""
    birth_name: str | None
    display_name: str | None
    """``displayName``, else ``cn``, as given (spaces collapsed)."""
    civility: str | None
    role: str | None
    """``title``: ``ENS``, ``DIR``..."""
    admin_function: str | None
    discipline: str | None
    main_uai: str | None
    main_uai_valid: bool
    establishments: tuple[Establishment, ...]
    """Main first, then the others in UAI order, each UAI once."""
    responsible_uais: tuple[str, ...]
    academy_code: str
    """Two digits, from ``codaca``, else the feed's."""
    mail: str | None
    """Lower-cased."""
    mail_aliases: tuple[str, ...]
    numen_hash: str | None
    birth_hash: str | None
    birth_swapped_hash: str | None
    birth_year: int | None
    active: bool
    """False on ``finfonction: FF`` (left the post, transfer in progress): inactive, not removed."""
    left_on: date | None
    """``dateff``."""
    modify_timestamp: datetime | None
    flags: tuple[str, ...]
    """Short codes of what was wrong but tolerated, sorted (see the module docstring)."""
    raw: dict[str, list[str]]
    """The mapped attributes as read, JSON-able, NUMEN and birth date replaced by ``<redacted>``;
    several values of one attribute are sorted (their order means nothing in LDAP)."""
    raw_json: str
    """``raw`` as JSON text, what ``source_records.raw`` (``json``, kept as written) stores."""
    content_hash: str
    """blake2b-128 hex of the mapped content and ``raw``, without the operational attributes: an
    unchanged entry keeps its hash from run to run."""

    @property
    def is_person(self) -> bool:
        """Whether this entry goes to matching (functional accounts do not)."""
        return self.kind == "person"


def normalize_dn(dn: str) -> str:
    """A DN in one spelling: lower case, no spaces around ``,``, ``=`` and ``+``.

    The fallback identity of an entry whose server has no ``entryUUID``/``nsUniqueId``.
    """
    text = dn.strip().lower()
    # Spaces around separators are rare: test for them before paying for a substitution.
    if " ," in text or ", " in text or " =" in text or "= " in text or " +" in text or "+ " in text:
        return _DN_SPACES.sub(r"\1", text)
    return text


@lru_cache(maxsize=1 << 16)
def _birth(hasher: Hasher, text: str) -> tuple[str, str | None, int] | None:
    """The birth date's hash, the swapped date's hash and the year; ``None`` for an invalid date.

    ~15,000 distinct birth dates in the country, in three formats: cached on the text as written,
    this saves two HMACs and the parse on nearly every entry, in one lookup.
    """
    born = parse_date(text)
    if born is None or born.year < BIRTH_YEAR_MIN:
        return None
    swapped = swapped_date(born)
    return (
        hasher.hash("birth", born.isoformat()),
        hasher.hash("birth", swapped.isoformat()) if swapped is not None else None,
        born.year,
    )


@lru_cache(maxsize=256)
def _academy_of_codaca(codaca: str) -> str | None:
    known = by_codaca(codaca)
    return known.code if known is not None else None


def _numen_redacted(value: str) -> bool:
    if value in _REDACTED_WORDS or len(set(value)) == 1:
        return True
    return any(mark in value for mark in _REDACTION_MARKS)


_RAW_JSON: Final = json.JSONEncoder(ensure_ascii=False, check_circular=False, separators=(",", ":"))
"""The encoder of the ``raw`` that ``_raw_json`` cannot write itself, built once (``json.dumps``
with options builds one per call)."""


def _raw_json(raw: dict[str, list[str]], raw_text: str, operational: list[tuple[str, list[str]]]) -> str:
    """Add the operational attributes to ``raw`` and return it as JSON text.

    ``raw_text`` is ``repr(raw)`` before they are added, computed anyway for the content hash.
    When it holds no double quote and no backslash, every string in it was printed verbatim
    between single quotes: ``repr`` escapes a backslash, a control or any other unprintable
    character with a backslash, and quotes a value holding a single quote with double quotes
    (attribute names are letters, digits and hyphens). Swapping the quotes then gives the JSON
    (with spaces after ``,`` and ``:``, which ``jsonb`` does not keep), at a tenth of the cost of
    encoding ``raw`` again. Other entries (an apostrophe in a name: about 1 %) go through the
    JSON encoder.
    """
    text = raw_text
    if operational:
        extra = dict(operational)
        raw.update(extra)
        extra_text = repr(extra)
        text = extra_text if not raw_text.endswith("]}") else f"{raw_text[:-1]}, {extra_text[1:]}"
    if '"' in text or "\\" in text:
        return _RAW_JSON.encode(raw)
    return text.replace("'", '"')


def _decoded(dn: str, attrs: Attrs, layout: Layout) -> dict[str, Sequence[str]]:
    # Slow path: some mapped value is bytes (an LDAP reader's raw values, or an LDIF value the
    # parser could not decode). Decode what can be; name the attribute, never the value, if not.
    out: dict[str, Sequence[str]] = {}
    for name, key, _, _, _ in layout.present:
        values: list[str] = []
        for value in attrs[key]:
            if isinstance(value, bytes):
                try:
                    value = value.decode("utf-8")
                except UnicodeDecodeError:
                    raise InvalidEntry(INVALID_UTF8, f"{name} is not valid UTF-8", dn=dn) from None
            values.append(value)
        out[key] = values
    return out


def map_entry(
    dn: str,
    attrs: Attrs,
    *,
    feed: str,
    academy_code: str,
    mapping: Mapping = DEFAULT_MAPPING,
    hasher: Hasher,
) -> MappedEntry:
    """Map one entry of feed ``feed`` (academy ``academy_code``, two digits) to a ``MappedEntry``.

    ``attrs`` values are ``str``, or ``bytes`` to be decoded as UTF-8 (slower). Raises
    ``InvalidEntry`` with a quarantine code when the entry cannot be a person: ``unparsable``
    (no DN), ``invalid_utf8``, ``control_characters``, ``missing_uid``, ``missing_surname``. A
    functional account is mapped, with ``kind = "functional"``. Duplicate uids need the whole run:
    ``FeedValidator`` / ``FeedMapper`` check them.
    """
    if not isinstance(dn, str) or not dn.strip():
        raise InvalidEntry(UNPARSABLE, "entry without a DN")
    if not dn.isascii():
        try:
            dn.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidEntry(INVALID_UTF8, "the DN is not valid UTF-8") from None
    c = mapping._compiled
    keys = tuple(attrs)
    layout = c.layouts.get(keys) or c.layout(keys)
    present = layout.present
    actual = layout.actual

    # One pass over the mapped attributes builds the text to check, raw, and the content-hash
    # input. Then str.join refuses bytes (decode, slow path) and one regex search over the joined
    # text finds any control character.
    values_by_key = cast(_StrValues, attrs)  # the alias, not a subscription: evaluated per entry
    if present and (sample := attrs[present[0][1]]) and isinstance(sample[0], bytes):
        values_by_key = _decoded(dn, attrs, layout)  # an LDAP reader's raw values: decode first
    while True:
        seen: list[str] = [dn]
        raw: dict[str, list[str]] = {}
        operational: list[tuple[str, list[str]]] = []
        # The first value of every attribute, stripped: most fields are single-valued.
        firsts: dict[str, str] = {}
        try:
            for name, key, lower, secret, is_operational in present:
                found = values_by_key[key]
                if not found:
                    continue
                seen += found
                firsts[lower] = found[0].strip()
                # Readers hand over fresh lists: raw can share a single value's list instead of
                # copying. Several values are kept sorted: their order carries no meaning in LDAP and
                # may differ between an LDIF export and a search of the same entry, yet it would
                # change the hash.
                if secret:
                    kept = [REDACTED] * len(found)
                elif len(found) > 1:
                    kept = sorted(found)
                else:
                    kept = found if type(found) is list else list(found)
                if is_operational:
                    operational.append((name, kept))
                else:
                    raw[name] = kept
            joined = " ".join(seen)
        except TypeError:
            # A bytes value: str.join refuses it, and so does sorted() next to a str value (an
            # attribute with one value that is not UTF-8 among others).
            values_by_key = _decoded(dn, attrs, layout)
            continue
        break
    # isprintable() is a fast C scan that is False for every control character (and for a few
    # harmless ones, such as a no-break space): only then is the precise search needed.
    if not joined.isprintable() and CONTROL_CHARACTERS.search(joined) is not None:
        raise InvalidEntry(CONTROL, _control_message(dn, values_by_key, present), dn=dn)

    first = firsts.get  # "" or None: absent
    # Every value of a multi-valued field (inline lookups rather than a closure called six times).
    spelt = actual.get
    mails = values_by_key[k] if (k := spelt(c.mail_key)) is not None else ()
    mail_aliases = values_by_key[k] if (k := spelt(c.mail_aliases_key)) is not None else ()
    object_classes = values_by_key[k] if (k := spelt(c.object_class_key)) is not None else ()
    rne_values = tuple(values_by_key[k]) if (k := spelt(c.main_uai_key)) is not None else ()
    rne_list = tuple(values_by_key[k]) if (k := spelt(c.establishments_key)) is not None else ()
    resp_list = tuple(values_by_key[k]) if (k := spelt(c.responsibilities_key)) is not None else ()

    # The content hash covers what the mapped fields are computed from: the raw attributes in
    # mapping order (operational ones left out: they change when nothing else does), the DN, the
    # academy fallback, the keyed hashes (their inputs are redacted in raw; added below), the
    # mapping and the rules' version. The mapped fields are a pure function of these, so this is
    # equivalent to hashing the mapped content, at a fraction of the cost: repr() of the raw dict
    # is one C call.
    raw_text = repr(raw)
    raw_json = _raw_json(raw, raw_text, operational)

    flags: list[str] = []
    uid = first(c.uid_key) or None
    usage_name = first(c.usage_name_key) or None
    given_name = first(c.given_name_key) or None
    birth_name = first(c.birth_name_key) or None
    common_name = first(c.common_name_key) or None
    display_name = first(c.display_name_key) or None
    if "  " in f"{usage_name}|{given_name}|{birth_name}|{common_name}|{display_name}":
        flags.append("double_space")
        usage_name, given_name, birth_name, common_name, display_name = (
            " ".join(n.split()) if n else None
            for n in (usage_name, given_name, birth_name, common_name, display_name)
        )
    display_name = display_name or common_name

    mail: str | None = None
    aliases: list[str] = []
    for value in mails:
        stripped = value.strip()
        lowered = stripped.lower()
        if not lowered:
            continue
        if mail is not None:
            aliases.append(lowered)
            continue
        mail = lowered
        if lowered != stripped:
            flags.append("mail_uppercase")
        if "@" not in lowered or " " in lowered:
            flags.append("mail_invalid")
        elif lowered.rpartition("@")[2] in _LEGACY_DOMAINS:
            flags.append("legacy_mail_domain")
    for value in mail_aliases:
        lowered = value.strip().lower()
        if lowered and lowered != mail:
            aliases.append(lowered)

    kind = classify_kind(
        dn,
        uid=uid,
        given_name=given_name,
        names=(usage_name, common_name, display_name),
        mail=mail,
        object_classes=object_classes,
    )
    if kind == "person":
        if uid is None:
            raise InvalidEntry(MISSING_UID, "a person entry without uid", dn=dn)
        if usage_name is None:
            raise InvalidEntry(MISSING_SURNAME, f"uid {uid!r} has no surname (sn)", dn=dn)
        if given_name is None:
            flags.append("given_name_missing")
        if mail is None:
            flags.append("mail_missing")
    elif uid is None:
        # A functional account needs no uid to be recognised; its RDN value names it.
        uid = dn.partition(",")[0].partition("=")[2].strip()

    source_id: str | None = None
    for lower in c.stable_keys:
        source_id = first(lower)
        if source_id:
            source_id = source_id.lower()
            break
    if not source_id:
        source_id = normalize_dn(dn)

    # Confidential values: hashed, never kept.
    numen_hash: str | None = None
    numen = first(c.numen_key)
    if not numen:
        flags.append("numen_missing")
    else:
        numen = numen.upper()
        if _NUMEN.fullmatch(numen):
            numen_hash = hasher.hash("numen", numen)
        elif _numen_redacted(numen):
            flags.append("numen_redacted")
        else:
            flags.append("numen_invalid")
    birth_hash: str | None = None
    birth_swapped_hash: str | None = None
    birth_year: int | None = None
    birth_text = first(c.birth_date_key)
    if not birth_text:
        flags.append("birthdate_missing")
    else:
        birth = _birth(hasher, birth_text)
        if birth is None:
            flags.append("birthdate_invalid")
        else:
            birth_hash, birth_swapped_hash, birth_year = birth

    main_uai, main_uai_valid, establishments, responsible, place_flags = establishments_of(
        rne_values, rne_list, resp_list
    )
    if place_flags:
        flags += place_flags

    academy = academy_code.zfill(2)[-2:]
    codaca = first(c.academy_key)
    if codaca:
        known = _academy_of_codaca(codaca)
        if known is None:
            flags.append("codaca_invalid")
        else:
            academy = known

    end = first(c.end_of_function_key)
    active = not end or end.upper() != "FF"
    left_text = first(c.left_on_key)
    left_on = parse_date(left_text) if left_text else None
    if left_text and left_on is None:
        flags.append("dateff_invalid")
    stamp_text = first(c.modify_timestamp_key)
    modify_timestamp = parse_generalized_time(stamp_text) if stamp_text else None
    if stamp_text and modify_timestamp is None:
        flags.append("modify_timestamp_invalid")

    civility = first(c.civility_key)
    role = first(c.role_key)
    admin_function = first(c.admin_function_key)
    discipline = first(c.discipline_key)

    content = f"{_HASH_PREFIX}\x1f{c.fingerprint}\x1f{dn}\x1f{academy_code}\x1f{numen_hash}\x1f{birth_hash}"
    content += raw_text
    content_hash = hashlib.blake2b(content.encode(), digest_size=16).hexdigest()

    if kind == "functional" and flags:
        # Mailboxes have no NUMEN or birth date by nature: those flags would only be noise.
        flags = [f for f in flags if f not in _PERSON_ONLY_FLAGS]
    flags.sort()
    return MappedEntry(
        feed,
        source_id,
        dn,
        uid,
        kind,
        given_name,
        usage_name,
        birth_name,
        display_name,
        civility.upper() if civility else None,
        role.upper() if role else None,
        admin_function.upper() if admin_function else None,
        discipline.upper() if discipline else None,
        main_uai,
        main_uai_valid,
        establishments,
        responsible,
        academy,
        mail,
        tuple(sorted(set(aliases))) if aliases else (),
        numen_hash,
        birth_hash,
        birth_swapped_hash,
        birth_year,
        active,
        left_on,
        modify_timestamp,
        tuple(flags),
        raw,
        raw_json,
        content_hash,
    )


def _control_message(
    dn: str,
    values_by_key: MappingABC[str, Sequence[str]],
    present: Iterable[tuple[str, str, str, bool, bool]],
) -> str:
    # Slow path, only for rejected entries: say where, never the value.
    found = first_control_character(dn)
    if found is not None:
        return f"the DN holds the control character {found}"
    for name, key, _, _, _ in present:
        for value in values_by_key[key]:
            found = first_control_character(value)
            if found is not None:
                return f"{name} holds the control character {found}"
    return "a control character"


def to_record(mapped: MappedEntry, record_id: int) -> Record:
    """The matching engine's ``Record`` for a mapped person (``record_id`` = ``source_records.id``).

    Raises ``ValueError`` for a functional account: those are kept out of matching.
    """
    if mapped.kind != "person" or mapped.usage_name is None:
        raise ValueError(f"{mapped.dn}: a functional account is not a person and is not matched")
    return Record(
        id=record_id,
        feed=mapped.feed,
        academy=mapped.academy_code,
        uid=mapped.uid,
        given_name=mapped.given_name or "",
        usage_name=mapped.usage_name,
        birth_name=mapped.birth_name,
        civility=mapped.civility,
        role=mapped.role,
        discipline=mapped.discipline,
        establishments=tuple(e.uai for e in mapped.establishments),
        mail=mapped.mail,
        numen_hash=mapped.numen_hash,
        birth_hash=mapped.birth_hash,
        birth_swapped_hash=mapped.birth_swapped_hash,
        birth_year=mapped.birth_year,
        active=mapped.active,
        left_on=mapped.left_on,
    )
