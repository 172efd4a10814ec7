"""The exception tree of the ``importers`` package.

::

    DirectoryError (directory.errors)
    └── ImporterError                   every error the importers raise on purpose
        ├── FeedConfigError             feeds file or mapping wrong; every problem, with feed and key
        │                               (also a ``directory.errors.ConfigurationError``)
        ├── FeedReadError               a read failed or ended early: server down, timeout, size
        │                               limit, lost connection mid-pages, broken or truncated file
        ├── FeedLockedError      (409)  another run of the same feed holds the lock
        ├── DeletionLimitExceeded (409) a full scan would remove more than the feed's limit
        └── InvalidEntry         (422)  one entry cannot be a person: ``reason`` is a quarantine code

A ``FeedReadError`` is the signal that *nothing may be removed*: a scan that did not finish says
nothing about who has left. ``InvalidEntry`` never stops a run; the caller quarantines the entry
(see ``importers.validate``) and goes on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from directory.errors import ConfigurationError, DirectoryError

__all__ = [
    "DeletionLimitExceeded",
    "FeedConfigError",
    "FeedLockedError",
    "FeedProblem",
    "FeedReadError",
    "HashKeyMismatch",
    "ImporterError",
    "InvalidEntry",
]


class ImporterError(DirectoryError):
    """Base of every error the importers raise on purpose."""

    code = "importer_error"


@dataclass(frozen=True, slots=True)
class FeedProblem:
    """One configuration problem: which feed, which key, what is wrong."""

    feed: str
    key: str
    message: str

    def __str__(self) -> str:
        return f"feed {self.feed!r}, key {self.key!r}: {self.message}"


class FeedConfigError(ImporterError, ConfigurationError):
    """The feeds file or a feed's mapping is wrong; ``feed_problems`` lists every problem found.

    Raised once with all the problems of all the feeds, so that an operator fixes the file in one
    pass. It is also a ``ConfigurationError``, so the CLI renders it like the settings errors.
    """

    code = "feed_configuration_error"

    def __init__(self, problems: Iterable[FeedProblem]) -> None:
        self.feed_problems = list(problems)
        ConfigurationError.__init__(self, [str(p) for p in self.feed_problems])


class FeedReadError(ImporterError):
    """Reading a feed failed or ended early; what was read must not be used to remove anyone.

    ``reason`` is a short stable code (``server_down``, ``bind_failed``, ``timeout``, ``size_limit``,
    ``connection_lost``, ``tls_failed``, ``broken_file``, ``truncated_file``, ``io_error``) and
    ``entries_read`` how far the read got.
    """

    code = "feed_read_error"

    def __init__(
        self, feed: str, message: str, *, reason: str = "read_failed", entries_read: int = 0
    ) -> None:
        self.feed = feed
        self.reason = reason
        self.entries_read = entries_read
        super().__init__(f"feed {feed}: {message} (after {entries_read} entries)")


class FeedLockedError(ImporterError):
    """Another run of the same feed is in progress; two runs of one feed never interleave."""

    status = 409
    code = "feed_locked"

    def __init__(self, feed: str, detail: str = "") -> None:
        self.feed = feed
        suffix = f" ({detail})" if detail else ""
        super().__init__(f"feed {feed}: another import of this feed is running{suffix}")


class DeletionLimitExceeded(ImporterError):  # noqa: N818 - the name the issue and the run records use
    """A full scan would remove more records than the feed allows; nothing was applied.

    Carries the figures so that the refused run can be recorded and shown: ``would_remove`` of
    ``active`` active records, against ``limit`` (the absolute number allowed, already derived from
    the percentage or the count of the feed's configuration).
    """

    status = 409
    code = "deletion_limit_exceeded"

    def __init__(self, feed: str, *, would_remove: int, active: int, limit: int) -> None:
        self.feed = feed
        self.would_remove = would_remove
        self.active = active
        self.limit = limit
        share = 100.0 * would_remove / active if active else 100.0
        super().__init__(
            f"feed {feed}: a full scan would remove {would_remove} of {active} active records "
            f"({share:.1f} %), above the limit of {limit}; nothing applied (use --force after checking)"
        )


class HashKeyMismatch(ImporterError):  # noqa: N818 - reads as the fact it reports
    """The hashing key differs from the one the store's NUMEN and birth-date hashes were made with.

    Carries the two fingerprints (keyed hashes of a constant; they reveal nothing of either key).
    """

    status = 409
    code = "hash_key_mismatch"

    def __init__(self, *, stored: str, current: str) -> None:
        self.stored = stored
        self.current = current
        super().__init__(
            f"the hashing key (DIRECTORY_SECRET_KEY, or secret.key in the data directory) is not the one "
            f"the store was built with (fingerprint {current[:12]}, store {stored[:12]}); nothing read or "
            "applied. Restore the key; after a deliberate rotation run `directory db accept-hash-key`, "
            "then `directory import all --full` (docs/privacy.md)"
        )


class InvalidEntry(ImporterError):  # noqa: N818 - an entry, not an error of ours: reads better at the raise
    """One directory entry cannot be taken as a person; ``reason`` is its quarantine code.

    ``reason`` is one of ``importers.validate.QUARANTINE_REASONS`` (``missing_surname``...). The
    message never contains a confidential value (NUMEN, birth date).
    """

    status = 422
    code = "invalid_entry"

    def __init__(self, reason: str, message: str, *, dn: str | None = None) -> None:
        self.reason = reason
        self.message = message
        self.dn = dn
        super().__init__(f"{reason}: {message}" if dn is None else f"{reason}: {message} ({dn})")
