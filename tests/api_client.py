"""Starlette's ``TestClient``, imported without its deprecation warning about ``httpx`` (the
project's tests run with warnings as errors; the client works the same with httpx)."""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

__all__ = ["TestClient"]
