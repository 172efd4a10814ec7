"""Staging writes its own COPY text: values that need escaping (backslashes, quotes, tabs inside
arrays and JSON) and NULLs come back from PostgreSQL exactly as mapped. Real PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import psycopg

from directory.secrets import Hasher
from importers.apply import prepare_stage
from importers.mapping import MappedEntry, map_entry
from importers.stage import QUARANTINE_TABLE, STAGE_TABLE, create_stage, stage_entries

HASHER = Hasher("test-secret-key-that-is-long-enough-0123456789")


def mapped(dn: str, **attrs: list[str]) -> MappedEntry:
    return map_entry(dn, attrs, feed="ac-lyon", academy_code="10", hasher=HASHER)


def test_staged_rows_round_trip_values_that_need_escaping(db_url: str) -> None:
    awkward = mapped(
        r"uid=jdupont,ou=Dupont\, Jean \"le Bis\",ou=ac-lyon,ou=education,o=gouv,c=fr",
        uid=["jdupont"],
        sn=['Dupont "Bis"'],
        givenName=["Jean\\Pierre"],
        cn=["Jean Dupont"],
        mail=["Jean.Dupont@ac-lyon.fr"],
        mailEquivalentAddress=['j"d@ac-lyon.fr', "j\\d@ac-lyon.fr", "jd,x@ac-lyon.fr"],
        FrEduRne=['0690001A$UAJ$PU$N$T3$LYC$340$"quoted"'],
        dateff=["20240131"],
        modifyTimestamp=["20240102030405Z"],
        objectClass=["top", "inetOrgPerson"],
    )
    plain = mapped("uid=amartin,ou=ac-lyon,ou=education,o=gouv,c=fr", uid=["amartin"], sn=["Martin"])
    with psycopg.connect(db_url, autocommit=True) as conn:
        create_stage(conn)
        result = stage_entries(conn, [awkward, plain])
        assert result.entries == 2
        rows = conn.execute(
            f"""SELECT dn, given_name, usage_name, mail, mail_aliases, flags, raw, establishments,
                       left_on, modify_timestamp, birth_year, mail IS NULL, content_hash
                FROM {STAGE_TABLE} ORDER BY seq"""
        ).fetchall()
    first, second = rows
    assert first[0] == awkward.dn
    assert first[1] == "Jean\\Pierre"
    assert first[2] == 'Dupont "Bis"'
    assert first[3] == "jean.dupont@ac-lyon.fr"
    assert first[4] == list(awkward.mail_aliases)
    assert set(first[4]) == {"j\\d@ac-lyon.fr", 'j"d@ac-lyon.fr', "jd,x@ac-lyon.fr"}
    assert first[5] == list(awkward.flags)
    assert first[6] == json.loads(json.dumps(awkward.raw))
    assert first[7] == [e.as_dict() for e in awkward.establishments]
    assert first[8] == date(2024, 1, 31)
    assert first[9] == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert first[12] == awkward.content_hash
    # NULLs stay NULLs, empty arrays stay empty.
    assert second[1] is None and second[3] is None and second[8] is None and second[9] is None
    assert second[10] is None and second[11] is True
    assert second[4] == []


def test_repeated_stable_ids_are_seen_while_staging_and_dropped_by_prepare(db_url: str) -> None:
    def person(uid: str, uuid: str) -> MappedEntry:
        return mapped(f"uid={uid},ou=ac-lyon,ou=education,o=gouv,c=fr", uid=[uid], sn=["X"], entryUUID=[uuid])

    unique = [person("a", "u-1"), person("b", "u-2")]
    repeated = [*unique, person("c", "U-1")]  # stable ids are compared in lower case
    with psycopg.connect(db_url, autocommit=True) as conn:
        create_stage(conn)
        assert stage_entries(conn, unique).repeated_ids is False
        assert prepare_stage(conn, "ac-lyon", repeated_ids=False) == 0
        create_stage(conn)
        result = stage_entries(conn, repeated)
        assert result.repeated_ids is True and result.entries == 3
        assert prepare_stage(conn, "ac-lyon", repeated_ids=True) == 1
        staged = conn.execute(f"SELECT dn FROM {STAGE_TABLE} ORDER BY seq").fetchall()
        dropped = conn.execute(f"SELECT dn, reason, detail FROM {QUARANTINE_TABLE}").fetchall()
    assert [dn for (dn,) in staged] == [e.dn for e in unique]
    assert dropped == [
        (repeated[2].dn, "duplicate_id", f"stable id u-1 already used in this feed run by {unique[0].dn}")
    ]
