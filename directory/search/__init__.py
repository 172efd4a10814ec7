"""People search: the in-process index (``index``), what it is built from (``documents``), how a
query is read (``query``), the per-worker service that keeps it fresh (``service``) and the hook
functions other packages call after they change people (``hooks``)."""

from __future__ import annotations

from directory.search.hooks import bump_generation, mark_changed
from directory.search.service import Found, SearchService

__all__ = ["Found", "SearchService", "bump_generation", "mark_changed"]
