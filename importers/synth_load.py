"""Load the synthetic feeds into a running LDAP server (``directory synth --ldap-load``).

Adds go over one connection with ldap3's asynchronous strategy: a batch of requests is sent, then
their results are collected, so the client does not wait a round trip per entry. Container entries
(``ou=...``) are added one at a time, since the server may process a batch's requests in parallel
and a child must not race its parent. An entry the server refuses (invalid UTF-8 cannot be stored
as a Directory String; an entry without ``sn`` breaks the ``person`` class) is recorded with its DN
and the reason, and loading goes on.

For 300,000 entries and more, ``slapadd`` on the stopped server is much faster (see
``docs/synthetic-data.md`` and ``tests/slapd.py``).
"""

from __future__ import annotations

import socket
import time
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ldif

from importers.synth import BASE_DN, EDUCATION_DN

with warnings.catch_warnings():
    # pyasn1 0.6 deprecates names (tagMap, typeMap) that ldap3 2.9 imports; not ours to fix, and
    # the tests turn warnings into errors.
    warnings.filterwarnings("ignore", category=DeprecationWarning, message=r".*Map is deprecated")
    import ldap3
    from ldap3.core.exceptions import LDAPException

__all__ = ["LDAPException", "LoadReport", "check_bind", "iter_ldif", "load_ldap", "parent_entries"]

_ALREADY_EXISTS = 68


@dataclass(slots=True)
class LoadReport:
    """The outcome of a load: entries added, entries refused (DN, reason), time taken."""

    added: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def rate(self) -> float:
        """Entries added per second."""
        return self.added / self.elapsed if self.elapsed > 0 else 0.0


def parent_entries() -> list[tuple[str, dict[str, list[str]]]]:
    """The entries above the academies: ``o=gouv,c=fr`` and ``ou=education,o=gouv,c=fr``."""
    return [
        (BASE_DN, {"objectClass": ["top", "organization"], "o": ["gouv"]}),
        (EDUCATION_DN, {"objectClass": ["top", "organizationalUnit"], "ou": ["education"]}),
    ]


def iter_ldif(paths: Iterable[Path]) -> Iterator[tuple[str, dict[str, list[Any]]]]:
    """Every (DN, attributes) of these LDIF files; values that are not UTF-8 stay ``bytes``."""
    for path in paths:
        with path.open("rb") as stream:
            for dn, entry in ldif.LDIFParser(stream).parse():
                yield str(dn), dict(entry)


def check_bind(url: str, *, bind_dn: str, password: str) -> None:
    """Bind once and unbind: fail before a long generation rather than after it.

    Raises ``ConnectionError`` when the server cannot be reached or refuses the bind.
    """
    server = ldap3.Server(url, get_info=ldap3.NONE, connect_timeout=5)
    try:  # a plain TCP probe first: ldap3 leaves its socket open when it cannot connect
        socket.create_connection((server.host, server.port), timeout=5).close()
    except OSError as exc:
        raise ConnectionError(f"cannot reach {url}: {exc}") from exc
    conn = ldap3.Connection(server, user=bind_dn, password=password)
    try:
        if not conn.bind():
            raise ConnectionError(f"cannot bind to {url} as {bind_dn}: {conn.result['description']}")
    finally:
        conn.unbind()


def load_ldap(
    paths: Iterable[Path], *, url: str, bind_dn: str, password: str, batch_size: int = 500
) -> LoadReport:
    """Add the entries of ``paths`` (and the parent entries, when missing) to the server at ``url``."""
    report = LoadReport()
    started = time.perf_counter()
    server = ldap3.Server(url, get_info=ldap3.NONE)
    conn = ldap3.Connection(
        server,
        user=bind_dn,
        password=password,
        client_strategy=ldap3.ASYNC,
        raise_exceptions=False,
        check_names=False,  # send the feeds as they are: the server is the judge
    )
    if not conn.bind():
        raise ConnectionError(f"cannot bind to {url} as {bind_dn}: {conn.result}")
    pending: list[tuple[int, str]] = []

    def collect() -> None:
        for message_id, dn in pending:
            _response, result = conn.get_response(message_id)
            if result["result"] == 0:
                report.added += 1
            else:
                report.rejected.append((dn, f"{result['description']}: {result['message']}".rstrip(": ")))
        pending.clear()

    try:
        for dn, entry in parent_entries():
            _response, result = conn.get_response(conn.add(dn, attributes=entry))  # type: ignore[no-untyped-call]
            if result["result"] == 0:
                report.added += 1
            elif result["result"] != _ALREADY_EXISTS:
                report.rejected.append((dn, str(result["description"])))
        for dn, entry in iter_ldif(paths):
            container = dn.lower().startswith("ou=")
            if container:
                collect()
            pending.append((conn.add(dn, attributes=entry), dn))  # type: ignore[no-untyped-call]
            if container or len(pending) >= batch_size:
                collect()
        collect()
    finally:
        conn.unbind()
    report.elapsed = time.perf_counter() - started
    return report
