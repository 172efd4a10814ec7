"""API keys of client applications: created and revoked by ``directory keys``, stored hashed.

A key reads ``dir_<prefix>_<secret>``: the prefix (shown by ``keys list``) tells keys apart, the
secret is 32 random bytes. Only the SHA-256 of the whole key is stored: a key has 256 bits of
entropy, so a fast hash cannot be brute-forced, and checking one costs microseconds per request.

Scopes: ``search`` (people search and the search-shaped compatibility endpoints), ``resolve``
(one person by id, e-mail, uid or cloud id), ``instance`` (an instance reporting its accounts;
the key names its instance), ``admin`` (everything). A key may be restricted to one academy: it
then sees only that academy's people.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from directory.academies import by_code, by_slug
from directory.db import Database
from directory.errors import (
    AuthenticationError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)

__all__ = [
    "SCOPES",
    "ApiKey",
    "KeyCache",
    "create_key",
    "hash_key",
    "list_keys",
    "resolve_academy",
    "revoke_key",
    "verify_key",
]

SCOPES = frozenset({"search", "resolve", "instance", "metrics", "admin"})
"""What a key may do: search people, resolve them, report an instance's accounts, read the
Prometheus metrics (``metrics``: for the scraper, which then needs nothing else), or all (``admin``)."""
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_KEY = re.compile(r"^dir_([A-Za-z0-9]{8})_([A-Za-z0-9_-]{20,})$")


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key as the API sees it once checked (never the key itself)."""

    id: int
    name: str
    prefix: str
    scopes: frozenset[str]
    academy_code: str | None = None
    instance: str | None = None
    rate_limit_per_minute: int | None = None

    def require(self, scope: str) -> None:
        """Raise ``PermissionDeniedError`` unless the key has ``scope`` (``admin`` has them all)."""
        if scope not in self.scopes and "admin" not in self.scopes:
            raise PermissionDeniedError(f"this API key lacks the {scope!r} scope")


def hash_key(key: str) -> str:
    """The stored form of a key: hex SHA-256."""
    return hashlib.sha256(key.encode()).hexdigest()


def resolve_academy(value: str | None) -> str | None:
    """An academy given as slug (``versailles``, ``ac-versailles``) or code (``25``) → its code."""
    if not value:
        return None
    academy = by_code(value) if value.isdigit() else by_slug(value.lower())
    if academy is None:
        raise InvalidInputError(f"unknown academy {value!r}")
    return academy.code


def create_key(
    db: Database,
    *,
    name: str,
    scopes: set[str] | frozenset[str],
    academy: str | None = None,
    instance: str | None = None,
    rate_limit_per_minute: int | None = None,
) -> tuple[ApiKey, str]:
    """Create a key; returns it and the plain key, which is shown once and never stored."""
    if not _NAME.match(name):
        raise InvalidInputError("a key name is 1-64 letters, digits, '.', '_' or '-'")
    unknown = set(scopes) - SCOPES
    if unknown or not scopes:
        raise InvalidInputError(f"scopes must be among {', '.join(sorted(SCOPES))}; got {sorted(scopes)}")
    if "instance" in scopes and not instance:
        raise InvalidInputError("a key with the 'instance' scope must name its instance (--instance)")
    if instance and not db.fetch_one("SELECT 1 FROM instances WHERE name = %s", (instance,)):
        raise InvalidInputError(f"unknown instance {instance!r} (is it in DIRECTORY_INSTANCES?)")
    code = resolve_academy(academy)
    prefix = secrets.token_hex(4)
    plain = f"dir_{prefix}_{secrets.token_urlsafe(32)}"
    if db.fetch_one("SELECT 1 FROM api_keys WHERE name = %s", (name,)):
        raise InvalidInputError(f"a key named {name!r} exists already")
    row = db.fetch_one(
        """INSERT INTO api_keys
               (name, prefix, key_hash, scopes, academy_code, instance, rate_limit_per_minute)
           VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id""",
        (name, prefix, hash_key(plain), sorted(scopes), code, instance, rate_limit_per_minute),
    )
    assert row is not None
    key = ApiKey(int(row["id"]), name, prefix, frozenset(scopes), code, instance, rate_limit_per_minute)
    return key, plain


def list_keys(db: Database) -> list[dict[str, Any]]:
    """Every key with its state and the distinct people it was shown today (UTC)."""
    return db.fetch_all(
        """SELECT k.name, k.prefix, k.scopes, a.slug AS academy, k.instance, k.rate_limit_per_minute,
                  k.created_at, k.revoked_at, k.last_used_at,
                  (SELECT count(*) FROM api_key_exposure e
                   WHERE e.key_id = k.id AND e.day = (now() AT TIME ZONE 'UTC')::date) AS people_today
           FROM api_keys k LEFT JOIN academies a ON a.code = k.academy_code
           ORDER BY k.name"""
    )


def revoke_key(db: Database, name: str) -> None:
    """Revoke a key by name (it stops working within ``DIRECTORY_API_KEY_CACHE_SECONDS``)."""
    if not db.execute(
        "UPDATE api_keys SET revoked_at = now() WHERE name = %s AND revoked_at IS NULL", (name,)
    ):
        raise NotFoundError(f"no active key named {name!r}")


def verify_key(db: Database, presented: str) -> ApiKey:
    """The key for a presented secret, or ``AuthenticationError`` (unknown, malformed, revoked)."""
    match = _KEY.match(presented)
    if not match:
        raise AuthenticationError("malformed API key")
    row = db.fetch_one(
        """SELECT id, name, prefix, key_hash, scopes, academy_code, instance, rate_limit_per_minute,
                  revoked_at
           FROM api_keys WHERE prefix = %s""",
        (match[1],),
    )
    if row is None or not hmac.compare_digest(row["key_hash"], hash_key(presented)):
        raise AuthenticationError("unknown API key")
    if row["revoked_at"] is not None:
        raise AuthenticationError("this API key was revoked")
    return ApiKey(
        int(row["id"]),
        row["name"],
        row["prefix"],
        frozenset(row["scopes"]),
        row["academy_code"],
        row["instance"],
        row["rate_limit_per_minute"],
    )


class KeyCache:
    """Checked keys remembered for ``ttl`` seconds, so a request costs no database round trip.

    Failures are not cached (a key created a second ago must work at once). ``last_used_at`` is
    written at most once per ``ttl`` per key.
    """

    def __init__(self, db: Database, ttl: float) -> None:
        self.db = db
        self.ttl = ttl
        self._cache: dict[str, tuple[float, ApiKey]] = {}
        self._lock = threading.Lock()

    def peek(self, presented: str) -> ApiKey | None:
        """The key if it was checked less than ``ttl`` seconds ago (no database access), else ``None``."""
        hit = self._cache.get(hash_key(presented))
        if hit is not None and time.monotonic() - hit[0] < self.ttl:
            return hit[1]
        return None

    def check(self, presented: str) -> ApiKey:
        """The key for a presented secret (cached), or ``AuthenticationError``."""
        cached = self.peek(presented)
        if cached is not None:
            return cached
        digest = hash_key(presented)
        now = time.monotonic()
        key = verify_key(self.db, presented)
        self.db.execute("UPDATE api_keys SET last_used_at = now() WHERE id = %s", (key.id,))
        with self._lock:
            if len(self._cache) > 10_000:  # bounded: unknown keys are not cached, known ones are few
                self._cache.clear()
            self._cache[digest] = (now, key)
        return key
