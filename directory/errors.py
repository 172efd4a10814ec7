"""The exception tree of the ``directory`` package.

::

    DirectoryError                  every error this service raises on purpose
    ├── ConfigurationError          settings or feeds file wrong; lists every problem at once
    ├── DatabaseError               the store cannot be reached or used
    │   └── MigrationError          a migration failed or the recorded ones disagree with the code
    ├── NotFoundError      (404)    no such person, record, case...
    ├── AmbiguousError     (409)    a resolution matched more than one person
    ├── InvalidInputError  (422)    a request or argument that cannot be served as given
    ├── AuthenticationError (401)   no credential, or an unknown one
    ├── PermissionDeniedError (403) a credential without the scope or academy needed
    └── RateLimitedError   (429)    too many requests for this key; ``retry_after`` seconds

Each error carries ``status`` (the HTTP status where it reaches HTTP) and ``code`` (a stable,
machine-readable string for JSON error bodies). The importers' and matching's own trees hang
below ``DirectoryError`` (importers) or stand alone (matching, a pure library).
"""

from __future__ import annotations

__all__ = [
    "AmbiguousError",
    "AuthenticationError",
    "ConfigurationError",
    "DatabaseError",
    "DirectoryError",
    "InvalidInputError",
    "MigrationError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitedError",
]


class DirectoryError(Exception):
    """Base of every error this service raises on purpose."""

    status: int = 500
    code: str = "internal_error"


class ConfigurationError(DirectoryError):
    """The settings or a configuration file are wrong; ``problems`` lists every one found."""

    code = "configuration_error"

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


class DatabaseError(DirectoryError):
    """The PostgreSQL store cannot be reached or used."""

    status = 503
    code = "database_unavailable"


class MigrationError(DatabaseError):
    """A migration failed, or the database records migrations this code does not know."""

    code = "migration_error"


class NotFoundError(DirectoryError):
    """The thing asked for does not exist (or is not visible to the caller)."""

    status = 404
    code = "not_found"


class AmbiguousError(DirectoryError):
    """A resolution that must name exactly one person matched several."""

    status = 409
    code = "ambiguous"


class InvalidInputError(DirectoryError):
    """A request or argument that cannot be served as given."""

    status = 422
    code = "invalid_input"


class AuthenticationError(DirectoryError):
    """No credential was presented, or it is unknown or revoked."""

    status = 401
    code = "unauthenticated"


class PermissionDeniedError(DirectoryError):
    """The credential lacks the scope, or the academy restriction excludes the target."""

    status = 403
    code = "forbidden"


class RateLimitedError(DirectoryError):
    """Too many requests for this credential; retry after ``retry_after`` seconds."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(message)
