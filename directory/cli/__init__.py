"""The ``directory`` console script.

One Typer application; each command group lives in its own module of this package and registers
itself on import. Exit codes: 0 success, 1 failure, 2 usage error (Click's own convention).
"""

from __future__ import annotations

# Command modules register themselves on ``app`` when imported; keep this list sorted.
from directory.cli import admins as _admins  # noqa: F401
from directory.cli import db as _db  # noqa: F401  (registration side effect)
from directory.cli import demo as _demo  # noqa: F401
from directory.cli import imports as _imports  # noqa: F401
from directory.cli import instances as _instances  # noqa: F401
from directory.cli import keys as _keys  # noqa: F401
from directory.cli import match as _match  # noqa: F401
from directory.cli import serve as _serve  # noqa: F401
from directory.cli import synth as _synth  # noqa: F401
from directory.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``directory`` console script."""
    app()
