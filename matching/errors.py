"""The exception tree of the ``matching`` library (standalone: it imports nothing from ``directory``).

::

    MatchingError                  every error this library raises on purpose
    ├── ConstraintConflictError    human decisions contradict each other (must-link and cannot-link)
    ├── ModelError                 a model cannot be fitted, read or used
    │   └── ModelFormatError       a serialised model is malformed or of another version
    └── IncrementalStateError      the previous state does not fit the records of an incremental run

The ``directory`` package maps these to its own errors where they reach a user; the library
itself never renders them.
"""

from __future__ import annotations

__all__ = [
    "ConstraintConflictError",
    "IncrementalStateError",
    "MatchingError",
    "ModelError",
    "ModelFormatError",
]


class MatchingError(Exception):
    """Base of every error the matching library raises on purpose."""

    code: str = "matching_error"


class ConstraintConflictError(MatchingError):
    """Human decisions contradict each other: records must be linked and may not be, at once.

    ``record_ids`` holds the two records whose must-link chain meets a cannot-link.
    """

    code = "constraint_conflict"

    def __init__(self, message: str, *, record_ids: tuple[int, int]) -> None:
        super().__init__(message)
        self.record_ids = record_ids


class ModelError(MatchingError):
    """A model cannot be fitted (too little data) or used (a comparison it does not know)."""

    code = "model_error"


class ModelFormatError(ModelError):
    """A serialised model is not valid JSON of the expected shape or carries another format version."""

    code = "model_format"


class IncrementalStateError(MatchingError):
    """The previous state handed to an incremental run does not fit the records given with it."""

    code = "incremental_state"
