"""Pytest fixtures for a real slapd (see ``tests/slapd.py``): ``slapd`` per test, ``slapd_session``.

A missing slapd skips the test, except under ``CI=true`` where it fails: CI must have every
component (``.ci/run`` installs the ``slapd`` and ``ldap-utils`` packages).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.slapd import SLAPADD, SLAPD, Slapd, available

__all__ = ["require_slapd", "slapd", "slapd_session"]


def require_slapd() -> None:
    """Skip (or, under ``CI=true``, fail) when slapd or slapadd is not installed."""
    if not available():
        why = f"{SLAPD} or {SLAPADD} is missing (Debian packages slapd and ldap-utils)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"required test component missing under CI=true: {why}")
        pytest.skip(why)


@pytest.fixture
def slapd() -> Iterator[Slapd]:
    """A fresh, empty slapd for this test only; stopped and deleted afterwards."""
    require_slapd()
    with Slapd() as server:
        yield server


@pytest.fixture(scope="session")
def slapd_session() -> Iterator[Slapd]:
    """One slapd shared by the whole test session (tests must not rely on its being empty)."""
    require_slapd()
    with Slapd() as server:
        yield server
