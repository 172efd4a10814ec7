"""Which LDAP attribute each of our fields is read from: the ``Mapping`` of a feed.

The defaults are those of ``shared/reference/academy-feeds.md``; a feed overrides any of them from
the feeds file (``[feeds.ac-lyon.mapping] numen = "supannEmpId"``), checked at load time by
``mapping_problems``. Attribute names are compared without regard to case, as LDAP does.
``Compiled`` holds what ``importers.mapping.map_entry`` reads per entry, derived once per mapping,
and ``Layout`` where the mapped attributes sit in one shape of entry.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from typing import Any, Final

from importers.errors import FeedConfigError, FeedProblem

__all__ = ["DEFAULT_MAPPING", "OPERATIONAL", "Compiled", "Layout", "Mapping", "mapping_problems"]

_ATTRIBUTE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)+")
OPERATIONAL = frozenset(
    {
        "modifytimestamp",
        "createtimestamp",
        "modifiersname",
        "creatorsname",
        "entrycsn",
        "entryuuid",
        "nsuniqueid",
        "entrydn",
        "structuralobjectclass",
        "hassubordinates",
        "subschemasubentry",
    }
)
"""Attributes the server maintains: they change without the person changing, so they stay out of
the content hash."""


@dataclass(frozen=True)
class Mapping:
    """Which LDAP attribute each of our fields is read from; defaults from the reference.

    Build a feed's mapping with ``Mapping.from_overrides()``; ``stable_id`` is a list because the
    server-side id is ``entryUUID`` on OpenLDAP and ``nsUniqueId`` on Sun/Oracle: the first
    present wins.
    """

    uid: str = "uid"
    usage_name: str = "sn"
    given_name: str = "givenName"
    common_name: str = "cn"
    display_name: str = "displayName"
    birth_name: str = "nompatro"
    numen: str = "employeeNumber"
    birth_date: str = "datenaissance"
    civility: str = "codecivilite"
    role: str = "title"
    admin_function: str = "FrEduFonctAdm"
    discipline: str = "discipline"
    main_uai: str = "rne"
    establishments: str = "FrEduRne"
    responsibilities: str = "FrEduRneResp"
    academy: str = "codaca"
    mail: str = "mail"
    mail_aliases: str = "mailEquivalentAddress"
    end_of_function: str = "finfonction"
    left_on: str = "dateff"
    modify_timestamp: str = "modifyTimestamp"
    object_class: str = "objectClass"
    stable_id: tuple[str, ...] = ("entryUUID", "nsUniqueId")
    _compiled: Compiled = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_compiled", Compiled(self))

    @classmethod
    def from_overrides(cls, overrides: MappingABC[str, object] | None, *, feed: str) -> Mapping:
        """The default mapping with a feed's overrides applied; ``FeedConfigError`` if any is wrong.

        Every problem is reported at once, naming the feed and the key (``mapping.numn``).
        """
        problems = mapping_problems(overrides, feed=feed)
        if problems:
            raise FeedConfigError(problems)
        if not overrides:
            return DEFAULT_MAPPING
        changes: dict[str, Any] = dict(overrides)
        stable = changes.get("stable_id")
        if stable is not None:
            changes["stable_id"] = (stable,) if isinstance(stable, str) else tuple(stable)
        return dataclasses.replace(DEFAULT_MAPPING, **changes)

    def requested_attributes(self) -> list[str]:
        """The attributes to ask an LDAP server for: every mapped one, once, in field order.

        Operational ones (``entryUUID``, ``nsUniqueId``, ``modifyTimestamp``) are included: a
        server returns them only when asked by name.
        """
        return [name for name, _, _ in self._compiled.attributes]

    def confidential_attributes(self) -> frozenset[str]:
        """Lower-case names of the attributes never stored in clear (NUMEN, birth date)."""
        return frozenset({self.numen.lower(), self.birth_date.lower()})


_FIELDS: Final = tuple(f.name for f in dataclasses.fields(Mapping) if f.init)


class Compiled:
    """Lookups derived once from a ``Mapping``; per entry we only read them."""

    __slots__ = (
        *(f"{name}_key" for name in _FIELDS if name != "stable_id"),
        "attributes",
        "fingerprint",
        "layouts",
        "stable_keys",
    )

    def __init__(self, mapping: Mapping) -> None:
        for name in _FIELDS:
            if name != "stable_id":
                setattr(self, f"{name}_key", getattr(mapping, name).lower())
        self.stable_keys: tuple[str, ...] = tuple(a.lower() for a in mapping.stable_id)
        secret = {mapping.numen.lower(), mapping.birth_date.lower()}
        seen: set[str] = set()
        attributes: list[tuple[str, str, bool]] = []
        for name in _FIELDS:
            value = getattr(mapping, name)
            for attribute in value if isinstance(value, tuple) else (value,):
                key = attribute.lower()
                if key not in seen:
                    seen.add(key)
                    attributes.append((attribute, key, key in secret))
        self.attributes: tuple[tuple[str, str, bool], ...] = tuple(attributes)
        """(name as configured, lower-case name, confidential) for every mapped attribute."""
        described = ";".join(f"{name}={getattr(mapping, name)}" for name in _FIELDS)
        self.fingerprint: str = hashlib.blake2b(described.encode(), digest_size=8).hexdigest()
        """Changes when the mapping does: the same raw entry then maps to other fields."""
        self.layouts: dict[tuple[str, ...], Layout] = {}

    def layout(self, keys: tuple[str, ...]) -> Layout:
        """Where the mapped attributes sit among an entry's attribute names (cached per shape).

        The entries of one feed come in a few hundred shapes (which optional attributes they
        have, spelt how): resolving names case-insensitively once per shape instead of once per
        entry is most of the reason ``map_entry`` is fast.
        """
        layout = self.layouts.get(keys)
        if layout is None:
            if len(self.layouts) >= _MAX_LAYOUTS:
                self.layouts.clear()  # a feed with unbounded shapes: stay correct, stay bounded
            layout = Layout(self.attributes, keys)
            self.layouts[keys] = layout
        return layout

    uid_key: str
    usage_name_key: str
    given_name_key: str
    common_name_key: str
    display_name_key: str
    birth_name_key: str
    numen_key: str
    birth_date_key: str
    civility_key: str
    role_key: str
    admin_function_key: str
    discipline_key: str
    main_uai_key: str
    establishments_key: str
    responsibilities_key: str
    academy_key: str
    mail_key: str
    mail_aliases_key: str
    end_of_function_key: str
    left_on_key: str
    modify_timestamp_key: str
    object_class_key: str


_MAX_LAYOUTS = 4096


class Layout:
    """For one shape of entry: the mapped attributes it has, under the entry's own spelling."""

    __slots__ = ("actual", "present")

    def __init__(self, attributes: tuple[tuple[str, str, bool], ...], keys: tuple[str, ...]) -> None:
        by_lower: dict[str, str] = {}
        for key in keys:
            by_lower.setdefault(key.lower(), key)
        self.actual: dict[str, str] = {}
        """Lower-case mapped name → the entry's key."""
        present: list[tuple[str, str, str, bool, bool]] = []
        for name, lower, secret in attributes:
            spelt = by_lower.get(lower)
            if spelt is not None:
                self.actual[lower] = spelt
                present.append((name, spelt, lower, secret, lower in OPERATIONAL))
        self.present: tuple[tuple[str, str, str, bool, bool], ...] = tuple(present)
        """(name as configured, the entry's key, lower-case name, confidential, operational), in
        mapping order."""


DEFAULT_MAPPING: Final = Mapping()


def mapping_problems(overrides: MappingABC[str, object] | None, *, feed: str) -> list[FeedProblem]:
    """Every problem with a feed's mapping overrides (empty when they are fine).

    Unknown field names, values that are not attribute names, and a confidential field (NUMEN,
    birth date) sharing its attribute with another field (it would be stored in clear there).
    The feeds-file loader collects these across all feeds and raises one ``FeedConfigError``.
    """
    problems: list[FeedProblem] = []
    if not overrides:
        return problems
    merged: dict[str, tuple[str, ...]] = {
        name: (v if isinstance(v := getattr(DEFAULT_MAPPING, name), tuple) else (v,)) for name in _FIELDS
    }
    for key, value in overrides.items():
        where = f"mapping.{key}"
        if key not in _FIELDS:
            problems.append(FeedProblem(feed, where, f"unknown field (known: {', '.join(_FIELDS)})"))
            continue
        names: tuple[object, ...] = (
            tuple(value) if key == "stable_id" and isinstance(value, list | tuple) else (value,)
        )
        if not names:
            problems.append(FeedProblem(feed, where, "needs at least one attribute name"))
            continue
        good = [n for n in names if isinstance(n, str) and _ATTRIBUTE_NAME.fullmatch(n)]
        if len(good) != len(names):
            bad = next(n for n in names if n not in good)
            problems.append(FeedProblem(feed, where, f"not an LDAP attribute name: {bad!r}"))
            continue
        merged[key] = tuple(good)
    for secret in ("numen", "birth_date"):
        attribute = merged[secret][0].lower()
        for name, attrs in merged.items():
            if name != secret and attribute in (a.lower() for a in attrs):
                problems.append(
                    FeedProblem(
                        feed, f"mapping.{secret}", f"attribute {merged[secret][0]!r} is also mapped to {name}"
                    )
                )
    return problems
