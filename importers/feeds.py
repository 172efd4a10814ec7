"""The feeds file (``DIRECTORY_FEEDS``): which academy directories to import, and how.

One TOML file, one ``[feeds.NAME]`` table per feed; a ``[defaults]`` table may give any key for
every feed. The reference, with a full example, is ``docs/operations.md``. In short::

    [feeds.ac-versailles]
    academy = "25"                      # two-digit academy code (or the 3-digit codaca)
    kind = "ldap"                       # or "ldif"
    url = "ldaps://ldap.ac-versailles.fr"   # ldap:// (with starttls = true) or ldaps://
    ca_file = "/etc/directory/ca.pem"
    bind_dn = "cn=annuaire-national,ou=applications,o=gouv,c=fr"
    password_env = "AC_VERSAILLES_BIND_PASSWORD"     # or password_file = "/run/secrets/..."
    base_dn = "ou=personnels EN,ou=ac-versailles,ou=education,o=gouv,c=fr"
    filter = "(objectClass=inetOrgPerson)"
    page_size = 500
    max_removed_percent = 5.0           # deletion limit of a full scan
    max_removed = 2000                  # optional absolute limit (the stricter of the two wins)
    [feeds.ac-versailles.mapping]       # per-feed attribute-name overrides
    birth_date = "dateNaissance"

The password itself is never in this file: only the name of the environment variable or of the
file that holds it. It is read when a feed is opened (``FeedConfig.password()``), never stored in a
field that ``repr`` would show, and never logged.

``load_feeds`` checks the whole file and raises one ``FeedConfigError`` listing every problem with
its feed and key, so that an operator fixes the file in one pass.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from directory.academies import ACADEMIES, by_slug
from importers.attributes import Mapping as AttributeMapping
from importers.attributes import mapping_problems
from importers.errors import FeedConfigError, FeedProblem

__all__ = [
    "DEFAULT_MAX_REMOVED_PERCENT",
    "DEFAULT_PAGE_SIZE",
    "FeedConfig",
    "FeedsFile",
    "feed_for_ldif",
    "load_feeds",
    "parse_feeds",
]

DEFAULT_PAGE_SIZE = 500
DEFAULT_MAX_REMOVED_PERCENT = 5.0
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 120.0
# Incremental runs look back this far before the start of the last successful run: server clocks
# drift, and an entry written while that run was reading must not fall between two windows.
DEFAULT_OVERLAP_MINUTES = 60.0

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
_CODES = {a.code for a in ACADEMIES}

Kind = Literal["ldap", "ldif"]

# key -> (type(s), description); anything else in a feed table is reported as unknown.
_KEYS: dict[str, tuple[tuple[type, ...], str]] = {
    "academy": ((str, int), "academy code"),
    "kind": ((str,), "'ldap' or 'ldif'"),
    "url": ((str,), "ldap:// or ldaps:// URL"),
    "starttls": ((bool,), "boolean"),
    "ca_file": ((str,), "path"),
    "bind_dn": ((str,), "DN"),
    "password_env": ((str,), "environment variable name"),
    "password_file": ((str,), "path"),
    "base_dn": ((str,), "DN"),
    "filter": ((str,), "LDAP filter"),
    "page_size": ((int,), "integer"),
    "connect_timeout": ((int, float), "seconds"),
    "read_timeout": ((int, float), "seconds"),
    "overlap_minutes": ((int, float), "minutes"),
    "max_removed_percent": ((int, float), "percentage"),
    "max_removed": ((int,), "integer"),
    "path": ((str,), "path of the LDIF file"),
    "mapping": ((dict,), "table of attribute names"),
}


@dataclass(frozen=True, slots=True)
class FeedConfig:
    """One feed, checked. ``password()`` reads the secret only when a connection needs it."""

    name: str
    academy_code: str
    kind: Kind
    url: str | None = None
    starttls: bool = False
    ca_file: Path | None = None
    bind_dn: str | None = None
    password_env: str | None = None
    password_file: Path | None = None
    base_dn: str | None = None
    filter: str = "(objectClass=inetOrgPerson)"
    page_size: int = DEFAULT_PAGE_SIZE
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    overlap_minutes: float = DEFAULT_OVERLAP_MINUTES
    max_removed_percent: float = DEFAULT_MAX_REMOVED_PERCENT
    max_removed: int | None = None
    path: Path | None = None
    mapping: Mapping[str, Any] = field(default_factory=dict)
    """Attribute-name overrides of ``importers.attributes.Mapping``, checked at load time."""

    def password(self) -> str | None:
        """The bind password from its environment variable or file; ``None`` for anonymous binds.

        Raises ``FeedConfigError`` (naming the variable or file, never a value) when it is missing.
        """
        if self.password_env:
            value = os.environ.get(self.password_env)
            if value is None:
                raise FeedConfigError(
                    [
                        FeedProblem(
                            self.name, "password_env", f"environment variable {self.password_env} is not set"
                        )
                    ]
                )
            return value
        if self.password_file:
            try:
                return self.password_file.read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                raise FeedConfigError(
                    [
                        FeedProblem(
                            self.name, "password_file", f"cannot read {self.password_file}: {exc.strerror}"
                        )
                    ]
                ) from None
        return None

    def removal_limit(self, present: int) -> int:
        """How many of ``present`` records one full scan may remove: the stricter of the limits."""
        limit = math.floor(present * self.max_removed_percent / 100.0)
        if self.max_removed is not None:
            limit = min(limit, self.max_removed)
        return limit

    def attribute_mapping(self) -> AttributeMapping:
        """The feed's ``importers.attributes.Mapping``: the defaults with this feed's overrides."""
        return AttributeMapping.from_overrides(self.mapping, feed=self.name)

    @property
    def ldaps(self) -> bool:
        """Whether the URL asks for LDAP over TLS from the first byte."""
        return bool(self.url) and str(self.url).lower().startswith("ldaps://")


@dataclass(frozen=True, slots=True)
class FeedsFile:
    """Every feed of the feeds file, by name, in file order."""

    feeds: dict[str, FeedConfig]
    source: Path | None = None

    def get(self, name: str) -> FeedConfig | None:
        """The feed called ``name``, or ``None``."""
        return self.feeds.get(name)

    def __iter__(self) -> Iterator[FeedConfig]:
        return iter(self.feeds.values())

    def __len__(self) -> int:
        return len(self.feeds)


def load_feeds(path: Path | None) -> FeedsFile:
    """Read and check the feeds file; an empty ``FeedsFile`` when ``path`` is ``None``.

    Raises ``FeedConfigError`` with every problem found (unreadable file, bad TOML, unknown or
    missing keys, wrong types, bad URLs, unknown academies, a password written in the file...).
    """
    if path is None:
        return FeedsFile({})
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FeedConfigError(
            [FeedProblem("*", "DIRECTORY_FEEDS", f"cannot read {path}: {exc.strerror}")]
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FeedConfigError(
            [FeedProblem("*", "DIRECTORY_FEEDS", f"{path} is not valid TOML: {exc}")]
        ) from None
    return parse_feeds(data, source=path, base_dir=path.parent)


def parse_feeds(
    data: Mapping[str, Any], *, source: Path | None = None, base_dir: Path | None = None
) -> FeedsFile:
    """Check an already-parsed feeds document (see ``load_feeds``); relative paths are taken from
    ``base_dir`` (the feeds file's folder)."""
    problems: list[FeedProblem] = []
    for key in data:
        if key not in ("feeds", "defaults"):
            problems.append(
                FeedProblem("*", key, "unknown top-level table (expected [feeds.NAME] or [defaults])")
            )
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        problems.append(FeedProblem("*", "defaults", "must be a table"))
        defaults = {}
    tables = data.get("feeds", {})
    if not isinstance(tables, dict):
        problems.append(FeedProblem("*", "feeds", "must be a table of [feeds.NAME] tables"))
        tables = {}
    feeds: dict[str, FeedConfig] = {}
    for name, table in tables.items():
        if not isinstance(table, dict):
            problems.append(FeedProblem(name, "*", "must be a table"))
            continue
        merged = {**defaults, **table}
        if isinstance(defaults.get("mapping"), dict) and isinstance(table.get("mapping"), dict):
            merged["mapping"] = {**defaults["mapping"], **table["mapping"]}
        feed = _check_feed(name, merged, problems, base_dir)
        if feed is not None:
            feeds[name] = feed
    if problems:
        raise FeedConfigError(problems)
    return FeedsFile(feeds, source)


def _academy_code(value: object) -> str | None:
    text = str(value).strip()
    if text.isdigit():
        code = text.lstrip("0").zfill(2) if len(text) == 3 else text.zfill(2)
        return code if code in _CODES else None
    slug = text.removeprefix("ac-")
    academy = by_slug(slug) if slug else None
    return academy.code if academy else None


def _check_feed(
    name: str, table: dict[str, Any], problems: list[FeedProblem], base_dir: Path | None
) -> FeedConfig | None:
    before = len(problems)

    def bad(key: str, message: str) -> None:
        problems.append(FeedProblem(name, key, message))

    if not _NAME.match(name):
        bad("name", "feed names are lower-case letters, digits, '-', '_' or '.' (at most 63)")
    for key, value in table.items():
        if key in ("password", "bind_password", "bindpw", "credentials"):
            bad(key, "a password must not be written in the feeds file; use password_env or password_file")
            continue
        spec = _KEYS.get(key)
        if spec is None:
            bad(key, "unknown key")
            continue
        types, what = spec
        # bool is an int in Python; a number key given `true` is still wrong.
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            bad(key, f"must be a {what}, not {type(value).__name__}")

    def get(key: str, default: Any = None) -> Any:
        value = table.get(key, default)
        types = _KEYS[key][0]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            return default
        return value

    def path_of(key: str) -> Path | None:
        value = get(key)
        if value is None:
            return None
        p = Path(value).expanduser()
        return p if p.is_absolute() or base_dir is None else base_dir / p

    academy_code: str | None = None
    if "academy" not in table:
        slug = name.removeprefix("ac-")
        academy = by_slug(slug) if name.startswith("ac-") else None
        if academy is None:
            bad("academy", "missing (and the feed name is not ac-<academy slug>)")
        else:
            academy_code = academy.code
    else:
        academy_code = _academy_code(table["academy"])
        if academy_code is None:
            bad("academy", f"unknown academy {table['academy']!r}")

    kind = get("kind", "ldap")
    if kind not in ("ldap", "ldif"):
        bad("kind", f"must be 'ldap' or 'ldif', not {kind!r}")

    url = get("url")
    starttls = bool(get("starttls", False))
    if kind == "ldap":
        if url is None:
            if "url" not in table:
                bad("url", "missing (an ldap feed needs ldap://host or ldaps://host)")
        else:
            parts = urlsplit(url)
            if parts.scheme.lower() not in ("ldap", "ldaps") or not parts.hostname:
                bad("url", f"must be ldap://host[:port] or ldaps://host[:port], not {url!r}")
            elif parts.scheme.lower() == "ldaps" and starttls:
                bad("starttls", "StartTLS makes no sense on an ldaps:// URL (already TLS)")
            else:
                try:
                    _ = parts.port
                except ValueError:
                    bad("url", f"invalid port in {url!r}")
        if "base_dn" not in table:
            bad("base_dn", "missing (where the staff entries are)")
        if "path" in table:
            bad("path", "only an ldif feed has a path")
    elif kind == "ldif":
        for key in ("url", "bind_dn", "password_env", "password_file", "starttls", "ca_file"):
            if key in table:
                bad(key, "only an ldap feed has this key")
    if "password_env" in table and "password_file" in table:
        bad("password_file", "give password_env or password_file, not both")
    password_env = get("password_env")
    if password_env is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", password_env):
        bad("password_env", "must be the name of an environment variable (the password itself goes there)")
    if ("password_env" in table or "password_file" in table) and "bind_dn" not in table:
        bad("bind_dn", "missing (a password is configured but no DN to bind with)")
    ca_file = path_of("ca_file")
    if ca_file is not None and not ca_file.is_file():
        bad("ca_file", f"no such file: {ca_file}")

    filt = get("filter", "(objectClass=inetOrgPerson)")
    if filt.count("(") != filt.count(")") or not filt.strip().startswith("("):
        bad("filter", f"not an LDAP filter: {filt!r}")
    page_size = get("page_size", DEFAULT_PAGE_SIZE)
    if not 1 <= page_size <= 100_000:
        bad("page_size", "must be between 1 and 100000")
    for key in ("connect_timeout", "read_timeout"):
        if key in table and not get(key, 1.0) > 0:
            bad(key, "must be positive")
    overlap = float(get("overlap_minutes", DEFAULT_OVERLAP_MINUTES))
    if overlap < 0:
        bad("overlap_minutes", "must not be negative")
    percent = float(get("max_removed_percent", DEFAULT_MAX_REMOVED_PERCENT))
    if not 0 <= percent <= 100:
        bad("max_removed_percent", "must be between 0 and 100")
    max_removed = get("max_removed")
    if max_removed is not None and max_removed < 0:
        bad("max_removed", "must not be negative")
    mapping = get("mapping", {})
    problems.extend(mapping_problems(mapping, feed=name))

    if len(problems) > before or academy_code is None:
        return None
    return FeedConfig(
        name=name,
        academy_code=academy_code,
        kind=kind,
        url=url,
        starttls=starttls,
        ca_file=ca_file,
        bind_dn=get("bind_dn"),
        password_env=password_env,
        password_file=path_of("password_file"),
        base_dn=get("base_dn"),
        filter=filt,
        page_size=page_size,
        connect_timeout=float(get("connect_timeout", DEFAULT_CONNECT_TIMEOUT)),
        read_timeout=float(get("read_timeout", DEFAULT_READ_TIMEOUT)),
        overlap_minutes=overlap,
        max_removed_percent=percent,
        max_removed=max_removed,
        path=path_of("path"),
        mapping=dict(mapping),
    )


def feed_for_ldif(path: Path, feeds: FeedsFile, *, name: str | None = None) -> FeedConfig:
    """The feed an LDIF file belongs to.

    ``name`` (``--feed``) wins; then a feed of the feeds file whose ``path`` is this file; then the
    feed named after the file's stem (``ac-versailles.ldif`` is feed ``ac-versailles``), taken from
    the feeds file when it is there (its mapping and limits apply), else made up from the stem with
    the default settings. Raises ``FeedConfigError`` when no academy can be told.
    """
    if name is None:
        resolved = path.resolve()
        for feed in feeds:
            if feed.path is not None and feed.path.resolve() == resolved:
                return feed
        name = path.name.removesuffix(".gz").removesuffix(".ldif")
    configured = feeds.get(name)
    if configured is not None:
        return configured
    slug = name.removeprefix("ac-")
    academy = by_slug(slug) if name.startswith("ac-") else None
    if academy is None:
        raise FeedConfigError(
            [
                FeedProblem(
                    name,
                    "academy",
                    f"{path.name}: no feed {name!r} in the feeds file and the name is not ac-<academy slug>; "
                    "use --feed NAME or declare the feed",
                )
            ]
        )
    return FeedConfig(name=name, academy_code=academy.code, kind="ldif", path=path)
