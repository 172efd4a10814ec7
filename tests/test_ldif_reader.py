"""Reading LDIF exports (``importers.ldif``), end to end through mapping and validation."""

from __future__ import annotations

import base64
import gzip
from pathlib import Path

import pytest

from directory.secrets import Hasher
from importers.errors import FeedReadError
from importers.feedmapper import FeedMapper
from importers.ldif import LdifReader, feed_name, raw_read, read_ldif
from importers.mapping import MappedEntry
from importers.validate import QuarantineItem, UnparsableRecord

HASHER = Hasher("test-secret")
BASE = "ou=ac-versailles,ou=education,o=gouv,c=fr"
PEOPLE = f"ou=personnels EN,{BASE}"
SECRETS = ("24E9812345ABC", "13P0554321XYZ", "19750307", "07/03/1975", "1980-12-24", "25G1111111AAA")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def person(uid: str, sn: str = "MARTIN", extra: str = "", dn: str | None = None) -> str:
    return (
        f"dn: {dn or f'uid={uid},{PEOPLE}'}\n"
        "objectClass: top\nobjectClass: person\n"
        "objectClass: organizationalPerson\nobjectClass: inetOrgPerson\n"
        f"uid: {uid}\n" + (f"sn: {sn}\n" if sn else "") + "givenName: Nathalie\n" + extra + "\n"
    )


LATIN1_NUMEN = b64(b"25G11111\xe9AAA")
LATIN1_SN = b64(b"DUP\xe9")
NUL_CN = b64(b"MARTIN\x00Nathalie")
LATIN1_DN = b64(b"uid=\xe9t\xe9," + PEOPLE.encode())

DIRTY = (
    "version: 1\n\n"
    "# An export of the Versailles directory, with every kind of dirt\n"
    f"dn: {BASE}\nobjectClass: organizationalUnit\nou: ac-versailles\n\n"
    f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: personnels EN\n\n"
    f"dn: ou=fonctionnelles,{BASE}\nobjectClass: organizationalUnit\nou: fonctionnelles\n\n"
    # 1. clean, ISO date, a comment inside, a folded line
    + person(
        "nmartin4",
        extra="# a comment inside the record\n"
        "employeeNumber: 24E9812345ABC\ndatenaissance: 1980-12-24\n"
        "FrEduRne: 0291101P$UAJ$PU$ENS$0291101P$T3$CL\n G$340\nrne: 0291101P\n"
        "mail: nathalie.martin4@ac-versailles.fr\n",
    )
    # 2. base64 name with an accent, DD/MM/YYYY date, redacted NUMEN, lower-case UAI, legacy domain
    + person(
        "lgall",
        sn="",
        extra=f"sn:: {b64('LE  GALL Hélène'.encode())}\nemployeeNumber: *************\n"
        "datenaissance: 07/03/1975\nrne: 0590121l\nFrEduRne: 0590121L$LYC$3000\n"
        "mail: Helene.LeGall@AC-CAEN.FR\nfinfonction: FF\ndateff: 20260901\n",
    )
    # 3. YYYYMMDD date, invalid UAI, rne not in FrEduRne, bare UAI, upper-case mail
    + person(
        "pdurand",
        sn="DURAND",
        extra="employeeNumber: 13P0554321XYZ\ndatenaissance: 19750307\nrne: 0291101Q\nFrEduRne: 0693045K\n"
        "FrEduRneResp: X\nmail: P.DURAND@ac-versailles.fr\n",
    )
    # 4. a NUMEN that is not UTF-8 (Latin-1 bytes in base64)
    + person("bad8", extra=f"employeeNumber:: {LATIN1_NUMEN}\n")
    # 5. a surname that is not UTF-8
    + person("bad8b", sn="", extra=f"sn:: {LATIN1_SN}\n")
    # 6. control character in the given name
    + person("ctrl", extra=f"cn:: {NUL_CN}\n")
    # 7. no surname
    + person("nosn", sn="", extra="employeeNumber: 25G1111111AAA\n")
    # 8. duplicate uid (another DN)
    + person("nmartin4", sn="MARTIN", dn=f"cn=Nathalie Martin,{PEOPLE}")
    # 9. functional accounts: in the branch, and a test account among the people
    + f"dn: uid=ce.0783760n,ou=fonctionnelles,{BASE}\nobjectClass: inetOrgPerson\nuid: ce.0783760n\n"
    "sn: CE 0783760N\nmail: ce.0783760n@ac-versailles.fr\n\n"
    + person("ADM00000", sn="ADMIN")
    # 10. a broken record: a line without a colon; its NUMEN must not leak into the quarantine
    + f"dn: uid=broken,{PEOPLE}\nuid: broken\nthis line has no colon\nemployeeNumber: 25G1111111AAA\n\n"
    # 11. bad base64
    + f"dn: uid=b64,{PEOPLE}\nsn:: %%%notbase64\n\n"
    # 12. a change record is not an entry
    + f"dn: uid=chg,{PEOPLE}\nchangetype: modify\nreplace: sn\nsn: X\n-\n\n"
    # 13. a DN that is not UTF-8, then a last clean entry
    + f"dn:: {LATIN1_DN}\nuid: ete\nsn: ETE\n\n"
    + person("last", sn="DERNIER")
)


def write(tmp_path: Path, text: str | bytes, name: str = "ac-versailles.ldif") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def run(path: Path) -> tuple[FeedMapper, list[MappedEntry | QuarantineItem]]:
    mapper = FeedMapper(feed=feed_name(path), academy_code="25", hasher=HASHER)
    return mapper, list(mapper.map_all(read_ldif(path)))


def test_feed_name() -> None:
    assert feed_name("/data/ac-versailles.ldif") == "ac-versailles"
    assert feed_name("ac-lyon.ldif.gz") == "ac-lyon"
    assert feed_name("export.2026.ldif") == "export.2026"


def test_dirty_export_end_to_end(tmp_path: Path) -> None:
    mapper, results = run(write(tmp_path, DIRTY))
    entries = {r.uid: r for r in results if isinstance(r, MappedEntry)}
    quarantined = [(r.reason, r.dn) for r in results if isinstance(r, QuarantineItem)]

    clean = entries["nmartin4"]
    assert clean.establishments[0].type == "CLG"  # the folded line was unfolded
    assert clean.birth_year == 1980 and clean.numen_hash is not None and clean.flags == ()

    gall = entries["lgall"]
    assert gall.usage_name == "LE GALL Hélène"
    assert gall.birth_year == 1975 and gall.numen_hash is None
    assert gall.establishments[0].nature == "3000"
    assert not gall.active
    assert set(gall.flags) == {
        "double_space",
        "numen_redacted",
        "uai_lowercase",
        "legacy_mail_domain",
        "mail_uppercase",
    }

    durand = entries["pdurand"]
    assert durand.birth_hash == HASHER.hash("birth", "1975-03-07")
    assert not durand.main_uai_valid
    assert set(durand.flags) == {"invalid_uai", "rne_not_in_freduRne", "mail_uppercase"}

    assert entries["ce.0783760n"].kind == "functional"
    assert entries["ADM00000"].kind == "functional"
    assert entries["last"].usage_name == "DERNIER"

    assert quarantined == [
        ("invalid_utf8", f"uid=bad8,{PEOPLE}"),
        ("invalid_utf8", f"uid=bad8b,{PEOPLE}"),
        ("control_characters", f"uid=ctrl,{PEOPLE}"),
        ("missing_surname", f"uid=nosn,{PEOPLE}"),
        ("duplicate_uid", f"cn=Nathalie Martin,{PEOPLE}"),
        ("unparsable", f"uid=broken,{PEOPLE}"),
        ("unparsable", f"uid=b64,{PEOPLE}"),
        ("unparsable", f"uid=chg,{PEOPLE}"),
        ("invalid_utf8", "b'uid=\\xe9t\\xe9," + PEOPLE + "'"),
    ]
    stats = mapper.stats
    assert (stats.people, stats.functional, stats.inactive) == (4, 2, 1)
    assert sum(stats.quarantined.values()) == 9

    by_uid = {r.raw.get("uid", [""])[0]: r for r in results if isinstance(r, QuarantineItem)}
    assert by_uid["bad8b"].raw["sn"] == ["b'DUP\\xe9'"]
    assert by_uid["ctrl"].raw["cn"] == ["MARTIN\\x00Nathalie"]
    assert by_uid["bad8"].raw["employeeNumber"] == ["<redacted>"]

    # Nothing confidential, anywhere: mapped entries, their raw, quarantine items.
    text = repr(results)
    for secret in SECRETS:
        assert secret not in text
    assert "25G11111" not in text


def test_reader_stats_and_containers(tmp_path: Path) -> None:
    reader = LdifReader(write(tmp_path, DIRTY))
    items = list(reader)
    assert reader.feed == "ac-versailles"
    assert reader.stats.containers == 3
    assert reader.stats.unparsable == 3
    assert reader.stats.entries == len([i for i in items if not isinstance(i, UnparsableRecord)])
    broken = next(i for i in items if isinstance(i, UnparsableRecord))
    assert broken.message == "a line without ':'"
    assert "employeeNumber: <redacted>" in broken.text
    assert "25G1111111AAA" not in broken.text
    assert raw_read([write(tmp_path, DIRTY, "ac-lyon.ldif")]).entries == reader.stats.entries


def test_values_stay_bytes_only_when_not_utf8(tmp_path: Path) -> None:
    items = list(read_ldif(write(tmp_path, DIRTY)))
    by_uid = {
        attrs["uid"][0]: attrs
        for item in items
        if not isinstance(item, UnparsableRecord)
        for _, attrs in [item]
    }
    assert by_uid["bad8b"]["sn"] == [b"DUP\xe9"]
    assert by_uid["lgall"]["sn"] == ["LE  GALL Hélène"]


def test_gzip(tmp_path: Path) -> None:
    path = tmp_path / "ac-versailles.ldif.gz"
    path.write_bytes(gzip.compress(DIRTY.encode()))
    assert len(list(read_ldif(path))) == len(list(read_ldif(write(tmp_path, DIRTY))))
    cut = tmp_path / "ac-cut.ldif.gz"
    cut.write_bytes(gzip.compress(DIRTY.encode())[:-20])
    with pytest.raises(FeedReadError) as caught:
        list(read_ldif(cut))
    assert caught.value.reason == "io_error"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "broken_file"),
        (DIRTY[:-40], "truncated_file"),  # cut mid-line: no final newline
        (f"dn: {BASE}\nobjectClass: organizationalUnit\n\n", "broken_file"),  # no entry at all
        ("this is not\nan LDIF file\n", "broken_file"),
        ("".join(f"dn: uid=u{i},{PEOPLE}\nbroken line\n\n" for i in range(10)) + person("ok"), "broken_file"),
    ],
)
def test_broken_files_raise(tmp_path: Path, text: str, reason: str) -> None:
    with pytest.raises(FeedReadError) as caught:
        list(read_ldif(write(tmp_path, text)))
    assert caught.value.reason == reason
    assert caught.value.feed == "ac-versailles"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FeedReadError) as caught:
        list(read_ldif(tmp_path / "ac-nowhere.ldif"))
    assert caught.value.reason == "io_error"


def test_a_few_broken_records_do_not_break_the_file(tmp_path: Path) -> None:
    text = "".join(person(f"u{i}") for i in range(20)) + f"dn: uid=x,{PEOPLE}\nno colon\n\n" + person("z")
    items = list(read_ldif(write(tmp_path, text)))
    assert sum(isinstance(i, UnparsableRecord) for i in items) == 1
    assert len(items) == 22


def test_crlf_line_endings(tmp_path: Path) -> None:
    path = write(tmp_path, person("crlf", extra="displayName: Jean-\n Pierre MARTIN\n").replace("\n", "\r\n"))
    _, results = run(path)
    entry = results[0]
    assert isinstance(entry, MappedEntry)
    assert (entry.usage_name, entry.display_name) == ("MARTIN", "Jean-Pierre MARTIN")
