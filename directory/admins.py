"""Administrator accounts of the review UI: national, or restricted to one academy.

Passwords are hashed with argon2id (argon2-cffi's defaults follow RFC 9106's recommendations) and
never stored, logged or echoed. ``authenticate`` spends the same time whether or not the username
exists, so the sign-in form does not tell which accounts exist.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from directory.academies import by_code, by_slug
from directory.db import Database
from directory.errors import InvalidInputError, NotFoundError

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "Admin",
    "authenticate",
    "create_admin",
    "disable_admin",
    "find_admin",
    "get_admin",
    "list_admins",
    "resolve_academy",
    "sign_out_everywhere",
]

MIN_PASSWORD_LENGTH = 12
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")
_hasher = argon2.PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    # Verified against when the username is unknown, so that both paths cost one argon2
    # verification. Computed on first use, not at import: argon2 costs ~0.1-0.8 s, which every CLI start paid.
    return _hasher.hash("not a password of anyone: timing equaliser")


@dataclass(frozen=True, slots=True)
class Admin:
    """An administrator as the UI sees it (never with the password hash)."""

    id: int
    username: str
    academy_code: str | None
    created_at: datetime
    disabled_at: datetime | None = None
    signed_out_at: datetime | None = None
    last_login_at: datetime | None = None

    @property
    def national(self) -> bool:
        """True for a national administrator (sees every academy)."""
        return self.academy_code is None

    @property
    def scope_label(self) -> str:
        """The word "national", or the academy's name."""
        if self.academy_code is None:
            return "national"
        academy = by_code(self.academy_code)
        return academy.name if academy else self.academy_code

    def may_see(self, academy_codes: set[str | None] | list[str | None]) -> bool:
        """Whether a case involving records of these academies is visible to this administrator."""
        return self.academy_code is None or self.academy_code in set(academy_codes)


_COLUMNS = "id, username, academy_code, created_at, disabled_at, signed_out_at, last_login_at"


def _admin(row: dict[str, Any]) -> Admin:
    return Admin(**{k: row[k] for k in Admin.__dataclass_fields__})


def resolve_academy(value: str) -> str:
    """The academy code for a slug (``versailles``, ``ac-versailles``) or a code (``25``)."""
    value = value.strip().lower()
    academy = by_slug(value.removeprefix("ac-")) or by_code(value)
    if academy is None:
        raise InvalidInputError(f"unknown academy {value!r} (give its slug, e.g. 'versailles')")
    return academy.code


def create_admin(db: Database, *, username: str, password: str, academy_code: str | None = None) -> Admin:
    """Create an account; ``academy_code`` None makes a national administrator."""
    username = username.strip().lower()
    if not _USERNAME.match(username):
        raise InvalidInputError(
            "a username is 2-63 characters: lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInputError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if academy_code is not None and by_code(academy_code) is None:
        raise InvalidInputError(f"unknown academy code {academy_code!r}")
    row = db.fetch_one(
        f"""INSERT INTO admins (username, password_hash, academy_code) VALUES (%s, %s, %s)
            ON CONFLICT (username) DO NOTHING RETURNING {_COLUMNS}""",
        (username, _hasher.hash(password), academy_code),
    )
    if row is None:
        raise InvalidInputError(f"an administrator named {username!r} already exists")
    return _admin(row)


def authenticate(db: Database, *, username: str, password: str) -> Admin | None:
    """The active administrator with these credentials, or None (unknown, wrong or disabled)."""
    row = db.fetch_one(
        f"SELECT {_COLUMNS}, password_hash FROM admins WHERE username = %s",
        (username.strip().lower(),),
    )
    stored = row["password_hash"] if row else _dummy_hash()
    try:
        _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if row is None or row["disabled_at"] is not None:
        return None
    if _hasher.check_needs_rehash(stored):  # parameters raised since this hash was made
        db.execute("UPDATE admins SET password_hash = %s WHERE id = %s", (_hasher.hash(password), row["id"]))
    db.execute("UPDATE admins SET last_login_at = now() WHERE id = %s", (row["id"],))
    return _admin(row)


def get_admin(db: Database, admin_id: int) -> Admin | None:
    """The administrator with this id, disabled or not, or None."""
    row = db.fetch_one(f"SELECT {_COLUMNS} FROM admins WHERE id = %s", (admin_id,))
    return _admin(row) if row else None


def find_admin(db: Database, username: str) -> Admin | None:
    """The administrator with this username, disabled or not, or None."""
    row = db.fetch_one(f"SELECT {_COLUMNS} FROM admins WHERE username = %s", (username.strip().lower(),))
    return _admin(row) if row else None


def list_admins(db: Database) -> list[Admin]:
    """Every administrator, by username."""
    return [_admin(row) for row in db.fetch_all(f"SELECT {_COLUMNS} FROM admins ORDER BY username")]


def disable_admin(db: Database, *, username: str) -> Admin:
    """Disable an account: it can no longer sign in, and its open sessions stop working."""
    row = db.fetch_one(
        f"""UPDATE admins SET disabled_at = coalesce(disabled_at, now()) WHERE username = %s
            RETURNING {_COLUMNS}""",
        (username.strip().lower(),),
    )
    if row is None:
        raise NotFoundError(f"no administrator named {username!r}")
    return _admin(row)


def sign_out_everywhere(db: Database, *, admin_id: int) -> None:
    """End every session of this account issued until now (sign-out)."""
    db.execute("UPDATE admins SET signed_out_at = now() WHERE id = %s", (admin_id,))
