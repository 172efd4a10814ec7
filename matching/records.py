"""The record the matching engine works on: one directory entry of one feed, already mapped.

The importers fill these from ``source_records`` (see ``directory/migrations``). Confidential
values arrive only as keyed hashes (hex strings) plus the birth year: the engine can compare them
for equality, never read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

__all__ = ["Record"]


@dataclass(frozen=True, slots=True)
class Record:
    """One source record, as mapped by the importers (names as the feed gave them, not normalised)."""

    id: int
    """``source_records.id``: unique across feeds."""
    feed: str
    """Feed name, ``ac-versailles``."""
    academy: str
    """Two-digit academy code of the feed or of ``codaca`` (``25``)."""
    uid: str
    given_name: str
    """``givenName`` as given (``Jean-Pierre``, ``JEAN PIERRE``)."""
    usage_name: str
    """``sn``: usage name, often the married name (``LE GALL``, ``DURAND--DUPONT``)."""
    birth_name: str | None = None
    """``nompatro``: birth (patronymic) name, often missing."""
    civility: str | None = None
    """``M.`` or ``MME``."""
    role: str | None = None
    """``title`` function code: ``ENS``, ``DIR``, ``ADM``, ``DOC``, ``EDU``, ``ORI``, ``INS``."""
    discipline: str | None = None
    """Discipline code (``L1300``), missing for non-teachers."""
    establishments: tuple[str, ...] = ()
    """Normalised UAIs (upper case), the main one (``rne``) first, then ``FrEduRne`` ones."""
    mail: str | None = None
    """Academic mail, lower-cased."""
    numen_hash: str | None = None
    """Keyed hash of the NUMEN (``employeeNumber``) when present and well-formed."""
    birth_hash: str | None = None
    """Keyed hash of the birth date (ISO ``YYYY-MM-DD``)."""
    birth_swapped_hash: str | None = None
    """Keyed hash of the birth date with day and month swapped (when that is a valid date)."""
    birth_year: int | None = None
    active: bool = True
    """False when the entry carries ``finfonction: FF`` (left this post, transfer in progress)."""
    left_on: date | None = None
    """``dateff``: when an inactive record left its post. A recent one is a transfer in progress,
    whose new record is somewhere else (see ``matching.scoring.transfer_in_progress``)."""
    extra: dict[str, str] = field(default_factory=dict)
    """Anything else a caller wants to carry along; ignored by the engine."""
