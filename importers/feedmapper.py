"""Mapping and validation of one feed run, one entry at a time (``FeedMapper``), and what the run
counted (``FeedStats``): ``importers.mapping.map_entry`` checks one entry on its own, the feed's
``importers.validate.FeedValidator`` what needs the whole run (duplicate uids)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from directory.secrets import Hasher
from importers.attributes import DEFAULT_MAPPING, Mapping
from importers.errors import InvalidEntry
from importers.mapping import Attrs, MappedEntry, map_entry
from importers.validate import FeedValidator, QuarantineItem, UnparsableRecord

__all__ = ["FeedMapper", "FeedStats"]


@dataclass
class FeedStats:
    """What one feed run read and did with it, for the run record and the report."""

    read: int = 0
    people: int = 0
    functional: int = 0
    inactive: int = 0
    quarantined: Counter[str] = field(default_factory=Counter)
    flag_sets: Counter[tuple[str, ...]] = field(default_factory=Counter)
    """Entries by their whole tuple of flags: one count per entry instead of one per flag."""

    @property
    def flags(self) -> Counter[str]:
        """Entries by flag."""
        counts: Counter[str] = Counter()
        for flags, count in self.flag_sets.items():
            for flag in flags:
                counts[flag] += count
        return counts


class FeedMapper:
    """Mapping and validation of one feed run, one entry at a time: ``process()`` is the pipeline.

    ``process((dn, attrs))`` gives a ``MappedEntry`` or a ``QuarantineItem`` (from
    ``map_entry``'s ``InvalidEntry``, a duplicate uid, or a reader's ``UnparsableRecord``), and
    counts both in ``stats``. Create one per feed run.
    """

    __slots__ = ("academy_code", "feed", "hasher", "mapping", "stats", "validator")

    def __init__(
        self, *, feed: str, academy_code: str, mapping: Mapping = DEFAULT_MAPPING, hasher: Hasher
    ) -> None:
        self.feed = feed
        self.academy_code = academy_code
        self.mapping = mapping
        self.hasher = hasher
        self.validator = FeedValidator(feed, confidential=mapping.confidential_attributes())
        self.stats = FeedStats()

    def process(self, item: tuple[str, Attrs] | UnparsableRecord) -> MappedEntry | QuarantineItem:
        """Map and validate one entry as a reader yields it."""
        stats = self.stats
        stats.read += 1
        if isinstance(item, UnparsableRecord):
            rejected = self.validator.unparsable(item)
            stats.quarantined[rejected.reason] += 1
            return rejected
        dn, attrs = item
        try:
            entry = map_entry(
                dn,
                attrs,
                feed=self.feed,
                academy_code=self.academy_code,
                mapping=self.mapping,
                hasher=self.hasher,
            )
        except InvalidEntry as error:
            rejected = self.validator.reject(dn, attrs, error)
            stats.quarantined[rejected.reason] += 1
            return rejected
        duplicate = self.validator.accept(entry)
        if duplicate is not None:
            stats.quarantined[duplicate.reason] += 1
            return duplicate
        if entry.kind == "person":
            stats.people += 1
        else:
            stats.functional += 1
        if not entry.active:
            stats.inactive += 1
        if entry.flags:
            stats.flag_sets[entry.flags] += 1
        return entry

    def map_all(
        self, items: Iterable[tuple[str, Attrs] | UnparsableRecord]
    ) -> Iterator[MappedEntry | QuarantineItem]:
        """``process()`` over a reader's stream, lazily."""
        return map(self.process, items)
