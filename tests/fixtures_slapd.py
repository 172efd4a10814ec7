"""Pytest fixtures for a real slapd (see ``tests/slapd.py``): ``slapd`` per test, ``slapd_session``,
and ``slapd_tls`` per module (``ldaps://`` and StartTLS with a throw-away CA).

A missing slapd skips the test, except under ``CI=true`` where it fails: CI must have every
component (``.ci/run`` installs the ``slapd`` and ``ldap-utils`` packages).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.slapd import OPENSSL, SLAPADD, SLAPD, Slapd, available, make_test_pki

__all__ = ["require_slapd", "slapd", "slapd_session", "slapd_tls"]


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


@pytest.fixture(scope="module")
def slapd_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    """A slapd listening on ``ldap://`` (StartTLS offered) and ``ldaps://``, one per test module.

    Its throw-away CA, server certificate and an unrelated CA are in ``slapd_tls.tls``
    (``tests.slapd.TestPki``), generated with the ``openssl`` command in the module's tmp dir.
    """
    require_slapd()
    if not OPENSSL.exists():
        why = f"{OPENSSL} is missing (Debian package openssl)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"required test component missing under CI=true: {why}")
        pytest.skip(why)
    pki = make_test_pki(tmp_path_factory.mktemp("pki"))
    with Slapd(tls=pki, password="tls-Bind-Secret-4417") as server:
        yield server
