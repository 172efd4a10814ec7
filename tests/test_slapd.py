"""The test slapd launcher: start, search, crash, restart, bulk load, clean up."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures_slapd import require_slapd
from tests.slapd import Slapd

PERSON = """dn: uid=nmartin,ou=personnels EN,ou=ac-paris,ou=education,o=gouv,c=fr
objectClass: top
objectClass: person
objectClass: organizationalPerson
objectClass: inetOrgPerson
objectClass: acaPerson
uid: nmartin
sn: MARTIN
givenName: Nathalie
cn: MARTIN Nathalie
nompatro: DURAND
FrEduRne: 0291101P$UAJ$PU$ENS$0291101P$T3$CLG$340
datenaissance: 19720312

"""
CONTAINERS = """dn: ou=ac-paris,ou=education,o=gouv,c=fr
objectClass: organizationalUnit
ou: ac-paris

dn: ou=personnels EN,ou=ac-paris,ou=education,o=gouv,c=fr
objectClass: organizationalUnit
ou: personnels EN

"""


def _ldif(tmp_path: Path, people: int) -> Path:
    body = "".join(PERSON.replace("nmartin", f"nmartin{k}") for k in range(people))
    path = tmp_path / "feed.ldif"
    path.write_text(CONTAINERS + body, encoding="utf-8")
    return path


def test_starts_empty_answers_and_stop_removes_everything(slapd: Slapd) -> None:
    assert slapd.running and slapd.url.startswith("ldap://127.0.0.1:")
    assert slapd.count("(objectClass=*)") == 0
    conn = slapd.connection()
    try:
        assert conn.add(slapd.base_dn, attributes={"objectClass": ["top", "organization"], "o": ["gouv"]})
    finally:
        conn.unbind()
    assert slapd.count("(o=gouv)") == 1
    workdir = slapd.workdir
    slapd.stop()
    assert not slapd.running and not workdir.exists()


def test_bulk_load_then_search_with_academy_attributes(slapd: Slapd, tmp_path: Path) -> None:
    result = slapd.load_ldif([_ldif(tmp_path, 1_200)])
    assert result.refused == 0 and result.added == 2 + 2 + 1_200  # parents, containers, people
    assert slapd.running
    # More entries than one page: the paged search goes to the end (no size limit).
    assert slapd.count("(uid=nmartin*)") == 1_200
    assert slapd.count("(sn=mart*)") == 1_200  # substring index on sn
    assert slapd.count("(nompatro=durand)") == 1_200  # the academy schema: case-insensitive
    assert slapd.count("(FrEduRne=0291101P$*)") == 1_200
    conn = slapd.connection()
    try:
        conn.search(slapd.base_dn, "(uid=nmartin7)", attributes=["entryUUID", "modifyTimestamp"])
        (entry,) = conn.entries
        assert str(entry.entryUUID) and str(entry.modifyTimestamp)
    finally:
        conn.unbind()


def test_stop_abruptly_then_restart_keeps_the_data(slapd: Slapd, tmp_path: Path) -> None:
    slapd.load_ldif([_ldif(tmp_path, 3)])
    port = slapd.port
    slapd.stop_abruptly()
    assert not slapd.running
    with pytest.raises(RuntimeError):
        slapd.connection()  # nobody answers
    slapd.restart()
    assert slapd.running and slapd.port == port
    assert slapd.count() == 3
    slapd.restart()  # also from a running server
    assert slapd.count() == 3


def test_two_servers_side_by_side() -> None:
    require_slapd()
    with Slapd() as one, Slapd() as two:
        assert one.port != two.port
        conn = one.connection()
        try:
            conn.add(one.base_dn, attributes={"objectClass": ["organization"], "o": ["gouv"]})
        finally:
            conn.unbind()
        assert one.count("(objectClass=*)") == 1 and two.count("(objectClass=*)") == 0
