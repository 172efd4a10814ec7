"""Reading LDIF exports of the academy directories, one entry at a time.

The parsing is the ``ldif`` package's (RFC 2849: base64 values, folded lines, comments); this
module adds what a nightly import needs around it:

* **streaming**: the file is read line by line, one record in memory at a time;
* **one bad record is not a bad file**: ``ldif.LDIFParser.parse()`` dies on the first broken record
  (its generator raises and cannot resume), so the reader drives the parser record by record and
  yields an ``UnparsableRecord`` for a broken one, then goes on;
* **bytes that are not UTF-8** stay visible: the parser already returns such a *value* as ``bytes``
  (``map_entry`` quarantines it as ``invalid_utf8``); a *DN* that is not UTF-8 would make the
  strict parser reject the record, so it is decoded with ``surrogateescape`` instead, which keeps
  the original bytes recoverable and makes ``map_entry`` quarantine it as ``invalid_utf8`` too;
* **containers are skipped** (``ou=``, ``o=``, groups...: see ``importers.validate.is_container``);
* **a broken or truncated file raises ``FeedReadError``**, so that the import removes nobody: a
  file that does not end with a newline (an export cut short), an empty file, one where nothing
  parses, or where most records are broken.

The feed of a file is its stem: ``ac-versailles.ldif`` (or ``.ldif.gz``) is feed ``ac-versailles``.
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

import ldif as ldif_package

from importers.errors import FeedReadError
from importers.mapping import DEFAULT_MAPPING, Attrs, Mapping
from importers.validate import REDACTED, UnparsableRecord, is_container, is_secret_attribute, safe_text

__all__ = ["LdifReader", "ReadStats", "feed_name", "raw_read", "read_ldif"]

MAX_QUARANTINE_TEXT = 4096
"""Characters of a broken record kept for the quarantine: enough to see what is wrong."""

BROKEN_SHARE = 0.5
"""Above this share of unparsable records (out of at least ``BROKEN_MIN`` records) the file
itself is broken, not a few of its records."""
BROKEN_MIN = 10

_BUFFER = 1 << 20


def feed_name(path: str | os.PathLike[str]) -> str:
    """The feed a file belongs to: its name without ``.gz`` and ``.ldif`` (``ac-versailles``)."""
    name = Path(path).name
    name = name.removesuffix(".gz")
    return name.removesuffix(".ldif") if name.endswith(".ldif") else Path(name).stem


@dataclass
class ReadStats:
    """What a reader has seen so far."""

    records: int = 0
    """Records in the file, comments and the ``version:`` line excluded."""
    entries: int = 0
    """Entries yielded."""
    containers: int = 0
    """Container and structure entries skipped."""
    unparsable: int = 0
    """Records yielded as ``UnparsableRecord``."""


class _LenientDnParser(ldif_package.LDIFParser):  # type: ignore[misc]
    """The package's parser, keeping a DN that is not UTF-8 (for the quarantine) instead of failing.

    Used only to re-read the rare record whose DN the strict parser refused: overriding the value
    decoder for every record would cost a Python call per value on 1.2 million entries.
    """

    def _decode_value(self, attr_type: str, attr_value: bytes) -> tuple[str, Any]:
        if attr_type == "dn":
            return attr_type, attr_value.decode("utf-8", "surrogateescape")
        return super()._decode_value(attr_type, attr_value)  # type: ignore[no-any-return]


class LdifReader:
    """Iterate an LDIF file as ``(dn, attrs)`` pairs and ``UnparsableRecord``s.

    ``attrs`` maps attribute names (as written in the file) to lists of values: ``str``, or
    ``bytes`` for a value that is not UTF-8. ``stats`` counts as it goes. Iterating raises
    ``FeedReadError`` when the file cannot be read or is broken as a whole (see the module
    docstring); an iteration that ended without it read the whole file.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        mapping: Mapping = DEFAULT_MAPPING,
        feed: str | None = None,
        skip_containers: bool = True,
    ) -> None:
        self.path = Path(path)
        self.feed = feed or feed_name(path)
        self.mapping = mapping
        self.skip_containers = skip_containers
        self.stats = ReadStats()
        self._confidential = mapping.confidential_attributes()

    def _fail(self, message: str, reason: str) -> FeedReadError:
        return FeedReadError(
            self.feed, f"{self.path.name}: {message}", reason=reason, entries_read=self.stats.entries
        )

    def _open(self) -> IO[bytes]:
        if self.path.suffix == ".gz":
            # gzip checks its own length and CRC: a cut file fails with EOFError while reading.
            return cast(IO[bytes], gzip.open(self.path, "rb"))
        handle = self.path.open("rb", buffering=_BUFFER)
        try:
            size = handle.seek(0, os.SEEK_END)
            if size == 0:
                raise self._fail("the file is empty", "broken_file")
            handle.seek(size - 1)
            if handle.read(1) != b"\n":
                raise self._fail("the file does not end with a newline: a cut export?", "truncated_file")
            handle.seek(0)
        except BaseException:
            handle.close()
            raise
        return handle

    def __iter__(self) -> Iterator[tuple[str, Attrs] | UnparsableRecord]:
        try:
            handle = self._open()
        except OSError as exc:
            raise self._fail(f"cannot open: {exc.strerror or exc}", "io_error") from exc
        with handle:
            try:
                yield from self._records(handle)
            except (OSError, EOFError, zlib.error) as exc:
                raise self._fail(f"read failed: {exc}", "io_error") from exc
        stats = self.stats
        if stats.entries == 0 and stats.unparsable == 0:
            raise self._fail("no entry in the file", "broken_file")
        if stats.entries == 0 or (
            stats.records >= BROKEN_MIN and stats.unparsable > BROKEN_SHARE * stats.records
        ):
            raise self._fail(f"{stats.unparsable} of {stats.records} records are unparsable", "broken_file")

    def _records(self, handle: IO[bytes]) -> Iterator[tuple[str, Attrs] | UnparsableRecord]:
        parser = ldif_package.LDIFParser(handle)
        stats = self.stats
        uid_attribute = self.mapping.uid
        skip = self.skip_containers
        # The package's block iterator and record parser, driven one record at a time: its own
        # parse() cannot go on after a broken record.
        for block in parser._iter_blocks():
            try:
                dn, entry = parser._parse_entry_record(block)
            except ValueError as exc:  # binascii.Error and UnicodeDecodeError are ValueErrors
                if exc.args and isinstance(exc.args[0], UnicodeDecodeError):
                    # The DN is not UTF-8: read the record again keeping it, so that map_entry
                    # quarantines it as invalid_utf8 with its attributes.
                    try:
                        dn, entry = _LenientDnParser(None)._parse_entry_record(block)
                    except ValueError as again:
                        exc = again
                    else:
                        stats.records += 1
                        stats.entries += 1
                        yield dn, entry
                        continue
                stats.records += 1
                stats.unparsable += 1
                yield self._unparsable(block, parser.line_counter, _message(exc))
                continue
            if dn is None:
                if not entry:
                    continue  # the "version: 1" line, alone in its block
                stats.records += 1
                stats.unparsable += 1
                yield self._unparsable(block, parser.line_counter, "record without dn")
                continue
            stats.records += 1
            if "changetype" in entry:
                change = entry.pop("changetype")
                if change != ["add"]:
                    stats.unparsable += 1
                    yield self._unparsable(
                        block, parser.line_counter, f"change record ({change[0]!r}), not an entry"
                    )
                    continue
            if skip and is_container(dn, entry, uid_attribute=uid_attribute):
                stats.containers += 1
                continue
            stats.entries += 1
            yield dn, entry

    def _unparsable(self, block: list[bytes], line: int, message: str) -> UnparsableRecord:
        lines: list[str] = []
        dn: str | None = None
        size = 0
        for raw in block:
            name, colon, _ = raw.partition(b":")
            attribute = name.decode("ascii", "replace").strip()
            if colon and is_secret_attribute(attribute, self._confidential):
                text = f"{attribute}: {REDACTED}"
            else:
                text = safe_text(raw.decode("utf-8", "backslashreplace"))
            if dn is None and attribute.lower() == "dn" and colon:
                dn = text.partition(":")[2].lstrip(": ")
            size += len(text) + 1
            if size > MAX_QUARANTINE_TEXT:
                lines.append("...")
                break
            lines.append(text)
        return UnparsableRecord(self.stats.records, line, message, "\n".join(lines), dn)


def _message(exc: ValueError) -> str:
    text = str(exc)
    if text == "subsection not found":  # bytes.index() on a line without a colon
        return "a line without ':'"
    return text or type(exc).__name__


def read_ldif(
    path: str | os.PathLike[str], *, mapping: Mapping = DEFAULT_MAPPING, feed: str | None = None
) -> Iterator[tuple[str, Attrs] | UnparsableRecord]:
    """Stream an LDIF file's entries (see ``LdifReader``); containers skipped."""
    return iter(LdifReader(path, mapping=mapping, feed=feed))


def raw_read(paths: Collection[str | os.PathLike[str]]) -> ReadStats:
    """Parse files without mapping or storing anything: the "raw read" the import is compared to."""
    total = ReadStats()
    for path in paths:
        reader = LdifReader(path)
        for _ in reader:
            pass
        total.records += reader.stats.records
        total.entries += reader.stats.entries
        total.containers += reader.stats.containers
        total.unparsable += reader.stats.unparsable
    return total
