"""The attribute mapping (``importers.mapping``): one entry → one ``MappedEntry``."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from directory.errors import ConfigurationError
from directory.secrets import Hasher
from importers.attributes import DEFAULT_MAPPING, Mapping, mapping_problems
from importers.errors import FeedConfigError, InvalidEntry
from importers.feedmapper import FeedMapper
from importers.mapping import Establishment, MappedEntry, map_entry, normalize_dn, to_record
from importers.validate import QuarantineItem

HASHER = Hasher("test-secret")
DN = "uid=nmartin4,ou=personnels EN,ou=ac-versailles,ou=education,o=gouv,c=fr"
NUMEN = "24E9812345ABC"
CONFIDENTIAL = (NUMEN, "19750307", "07/03/1975", "1975-03-07")


def entry(**changes: list[Any] | None) -> dict[str, list[Any]]:
    """A clean Versailles teacher; ``changes`` replace attributes (``None`` removes one)."""
    attrs: dict[str, list[Any]] = {
        "objectClass": ["top", "person", "organizationalPerson", "inetOrgPerson", "acaPerson"],
        "uid": ["nmartin4"],
        "sn": ["MARTIN"],
        "givenName": ["Nathalie"],
        "cn": ["MARTIN Nathalie"],
        "displayName": ["Nathalie MARTIN"],
        "nompatro": ["DURAND"],
        "employeeNumber": [NUMEN],
        "datenaissance": ["19750307"],
        "codecivilite": ["MME"],
        "title": ["ENS"],
        "discipline": ["L1300"],
        "rne": ["0291101P"],
        "FrEduRne": ["0291101P$UAJ$PU$ENS$0291101P$T3$CLG$340"],
        "FrEduRneResp": ["X"],
        "codaca": ["025"],
        "mail": ["nathalie.martin4@ac-versailles.fr"],
        "modifyTimestamp": ["20261128214201Z"],
        "entryUUID": ["6F1C2A4E-0000-4000-8000-000000000001"],
    }
    for key, value in changes.items():
        if value is None:
            attrs.pop(key, None)
        else:
            attrs[key] = value
    return attrs


def mapped(dn: str = DN, /, **changes: list[Any] | None) -> MappedEntry:
    return map_entry(dn, entry(**changes), feed="ac-versailles", academy_code="25", hasher=HASHER)


def assert_no_clear_secret(thing: object) -> None:
    text = repr(thing)
    for secret in CONFIDENTIAL:
        assert secret not in text


# --- the Mapping ---------------------------------------------------------------------------------


def test_defaults_follow_the_reference() -> None:
    assert DEFAULT_MAPPING.numen == "employeeNumber"
    assert DEFAULT_MAPPING.birth_date == "datenaissance"
    assert DEFAULT_MAPPING.stable_id == ("entryUUID", "nsUniqueId")
    assert DEFAULT_MAPPING.requested_attributes() == [
        "uid", "sn", "givenName", "cn", "displayName", "nompatro", "employeeNumber", "datenaissance",
        "codecivilite", "title", "FrEduFonctAdm", "discipline", "rne", "FrEduRne", "FrEduRneResp", "codaca",
        "mail", "mailEquivalentAddress", "finfonction", "dateff", "modifyTimestamp", "objectClass",
        "entryUUID", "nsUniqueId",
    ]  # fmt: skip
    assert DEFAULT_MAPPING.confidential_attributes() == {"employeenumber", "datenaissance"}


def test_overrides() -> None:
    mapping = Mapping.from_overrides({"numen": "supannEmpId", "stable_id": ["nsUniqueId"]}, feed="ac-lyon")
    assert mapping.numen == "supannEmpId"
    assert mapping.stable_id == ("nsUniqueId",)
    assert "supannEmpId" in mapping.requested_attributes()
    assert "employeeNumber" not in mapping.requested_attributes()
    assert Mapping.from_overrides(None, feed="x") is DEFAULT_MAPPING
    assert Mapping.from_overrides({"stable_id": "entryUUID"}, feed="x").stable_id == ("entryUUID",)


def test_override_problems_are_all_reported_with_feed_and_key() -> None:
    with pytest.raises(FeedConfigError) as caught:
        Mapping.from_overrides(
            {"numn": "supannEmpId", "uid": "bad name", "birth_date": "uid", "stable_id": []}, feed="ac-lyon"
        )
    error = caught.value
    assert isinstance(error, ConfigurationError)
    keys = [(p.feed, p.key) for p in error.feed_problems]
    assert keys == [
        ("ac-lyon", "mapping.numn"),
        ("ac-lyon", "mapping.uid"),
        ("ac-lyon", "mapping.stable_id"),
        ("ac-lyon", "mapping.birth_date"),
    ]
    assert "unknown field" in str(error)
    assert mapping_problems({"mail": "mail"}, feed="x") == []


def test_confidential_attribute_shared_with_another_field_is_refused() -> None:
    problems = mapping_problems({"numen": "uid"}, feed="ac-lyon")
    assert [p.key for p in problems] == ["mapping.numen"]


# --- map_entry -----------------------------------------------------------------------------------


def test_clean_entry() -> None:
    e = mapped()
    assert e.kind == "person" and e.is_person
    assert (e.feed, e.uid, e.dn) == ("ac-versailles", "nmartin4", DN)
    assert e.source_id == "6f1c2a4e-0000-4000-8000-000000000001"
    assert (e.given_name, e.usage_name, e.birth_name) == ("Nathalie", "MARTIN", "DURAND")
    assert e.display_name == "Nathalie MARTIN"
    assert (e.civility, e.role, e.discipline, e.admin_function) == ("MME", "ENS", "L1300", None)
    assert (e.main_uai, e.main_uai_valid) == ("0291101P", True)
    assert e.establishments == (Establishment("0291101P", True, "ENS", "CLG", "340"),)
    assert e.responsible_uais == ()
    assert e.academy_code == "25"
    assert e.mail == "nathalie.martin4@ac-versailles.fr"
    assert e.numen_hash == HASHER.hash("numen", NUMEN)
    assert e.birth_hash == HASHER.hash("birth", "1975-03-07")
    assert e.birth_swapped_hash == HASHER.hash("birth", "1975-07-03")
    assert e.birth_year == 1975
    assert e.active and e.left_on is None
    assert e.modify_timestamp == datetime(2026, 11, 28, 21, 42, 1, tzinfo=UTC)
    assert e.flags == ()
    assert e.raw["employeeNumber"] == ["<redacted>"]
    assert e.raw["datenaissance"] == ["<redacted>"]
    assert e.raw["sn"] == ["MARTIN"]
    assert_no_clear_secret(e)


@pytest.mark.parametrize("text", ["19750307", "07/03/1975", "1975-03-07"])
def test_three_birth_date_formats_hash_alike(text: str) -> None:
    e = mapped(datenaissance=[text])
    assert e.birth_hash == HASHER.hash("birth", "1975-03-07")
    assert_no_clear_secret(e)


def test_swapped_birth_date_meets_the_other_record() -> None:
    one = mapped(datenaissance=["07/03/1975"])
    other = mapped(datenaissance=["03/07/1975"])
    assert one.birth_swapped_hash == other.birth_hash
    assert mapped(datenaissance=["25/03/1975"]).birth_swapped_hash is None


@pytest.mark.parametrize(
    ("numen", "flag"),
    [
        (None, "numen_missing"),
        ([" "], "numen_missing"),
        (["*************"], "numen_redacted"),
        (["*****"], "numen_redacted"),
        (["XXXXXXXXXXXXX"], "numen_redacted"),
        (["REDACTED"], "numen_redacted"),
        (["24E98*****ABC"], "numen_redacted"),
        (["24Z9812345ABC"], "numen_invalid"),
        (["24E981234ABC"], "numen_invalid"),
    ],
)
def test_numen_not_hashed_unless_well_formed(numen: list[str] | None, flag: str) -> None:
    e = mapped(employeeNumber=numen)
    assert e.numen_hash is None
    assert flag in e.flags
    assert_no_clear_secret(e)


def test_numen_is_upper_cased_before_hashing() -> None:
    assert mapped(employeeNumber=[" 24e9812345abc "]).numen_hash == HASHER.hash("numen", NUMEN)


@pytest.mark.parametrize(
    ("value", "flag"),
    [(None, "birthdate_missing"), (["31/02/1980"], "birthdate_invalid"), (["19000101"], "birthdate_invalid")],
)
def test_bad_birth_dates_are_flags(value: list[str] | None, flag: str) -> None:
    e = mapped(datenaissance=value)
    assert (e.birth_hash, e.birth_swapped_hash, e.birth_year) == (None, None, None)
    assert flag in e.flags


def test_uai_dirt_is_flagged_not_fatal() -> None:
    e = mapped(rne=["0590121l"], FrEduRne=["0291101Q$UAJ$PU$ENS$0291101Q$T3$CLG$340"])
    assert (e.main_uai, e.main_uai_valid) == ("0590121L", True)
    assert [x.uai for x in e.establishments] == ["0590121L", "0291101Q"]
    assert {"uai_lowercase", "invalid_uai", "rne_not_in_freduRne"} <= set(e.flags)
    assert mapped(rne=["0291101Q"]).main_uai_valid is False


def test_establishments_main_first_merged_and_deduplicated() -> None:
    e = mapped(
        rne=["0590121L"],
        FrEduRne=[
            "0693045K$UAJ$PU$ENS$0693045K$T3$LYC$300",
            "0590121L$UAJ$PU$DIR$0590121L$T3$CLG$340",
            "0441550W$LYC$3000",
            "0693045K$UAJ$PU$ENS$0693045K$T3$LYC$300",
            "$$$",
        ],
        FrEduRneResp=["0921042H$UAJ$PU$N$T3$LYC$300", "0921042H$UAJ$PU$N$T3$LYC$300"],
    )
    assert e.establishments == (
        Establishment("0590121L", True, "DIR", "CLG", "340"),
        Establishment("0441550W", True, None, "LYC", "3000"),
        Establishment("0693045K", True, "ENS", "LYC", "300"),
    )
    assert e.responsible_uais == ("0921042H",)
    assert e.flags == ("fredurne_malformed",)
    assert [x.as_dict()["uai"] for x in e.establishments] == ["0590121L", "0441550W", "0693045K"]


def test_no_rne_takes_the_first_freduRne() -> None:
    e = mapped(rne=None, FrEduRne=["0693045K"])
    assert e.main_uai == "0693045K"
    assert "rne_missing" in e.flags


def test_mail_lower_cased_legacy_domain_aliases() -> None:
    e = mapped(
        mail=[" Nathalie.Martin@AC-CAEN.FR "],
        mailEquivalentAddress=["N.Martin@ac-normandie.fr", "nathalie.martin@ac-caen.fr"],
    )
    assert e.mail == "nathalie.martin@ac-caen.fr"
    assert e.mail_aliases == ("n.martin@ac-normandie.fr",)
    assert {"mail_uppercase", "legacy_mail_domain"} <= set(e.flags)
    assert "mail_invalid" in mapped(mail=["not a mail"]).flags
    assert "mail_missing" in mapped(mail=None).flags


def test_finfonction_ff_is_inactive_not_removed() -> None:
    e = mapped(finfonction=["FF"], dateff=["20260901"])
    assert not e.active
    assert e.left_on == date(2026, 9, 1)
    assert mapped(finfonction=["ff"]).active is False
    assert "dateff_invalid" in mapped(dateff=["soon"]).flags


def test_double_spaces_collapsed_names_otherwise_as_given() -> None:
    e = mapped(sn=["  LE  GALL "], givenName=["Jean  Pierre"], cn=["LE GALL Jean-Pierre"], displayName=None)
    assert (e.usage_name, e.given_name, e.display_name) == ("LE GALL", "Jean Pierre", "LE GALL Jean-Pierre")
    assert "double_space" in e.flags
    assert mapped(sn=["D'ALEMBERT--DUPONT"]).usage_name == "D'ALEMBERT--DUPONT"
    assert mapped(givenName=["Michèle"]).given_name == "Michèle"


def test_codaca_and_academy_fallback() -> None:
    assert mapped(codaca=["024"]).academy_code == "24"
    assert mapped(codaca=None).academy_code == "25"
    fallback = mapped(codaca=["999"])
    assert fallback.academy_code == "25"
    assert "codaca_invalid" in fallback.flags


def test_source_id() -> None:
    assert mapped(entryUUID=None, nsUniqueId=["ABCDEF01-23456789-ABCDEF01-23456789"]).source_id == (
        "abcdef01-23456789-abcdef01-23456789"
    )
    by_dn = mapped(
        "uid=NMartin4, ou=Personnels EN,ou=ac-versailles, ou=education,o=gouv,c=fr", entryUUID=None
    )
    assert by_dn.source_id == "uid=nmartin4,ou=personnels en,ou=ac-versailles,ou=education,o=gouv,c=fr"
    assert normalize_dn("cn=A\\, B ,o=x") == "cn=a\\, b,o=x"


def test_attribute_names_are_case_insensitive_and_bytes_are_decoded() -> None:
    attrs = {
        k.lower(): [v.encode() if isinstance(v, str) else v for v in values] for k, values in entry().items()
    }
    e = map_entry(DN, attrs, feed="ac-versailles", academy_code="25", hasher=HASHER)
    reference = mapped()
    assert (e.usage_name, e.given_name, e.numen_hash, e.birth_hash) == (
        reference.usage_name,
        reference.given_name,
        reference.numen_hash,
        reference.birth_hash,
    )
    assert e.raw["employeeNumber"] == ["<redacted>"]
    assert e.content_hash == reference.content_hash
    assert_no_clear_secret(e)
    # str and UTF-8 bytes mixed in one attribute (several values): decoded, sorted, mapped
    mixed = mapped(mailEquivalentAddress=["z@ac-versailles.fr", b"a@ac-versailles.fr"])
    assert mixed.raw["mailEquivalentAddress"] == ["a@ac-versailles.fr", "z@ac-versailles.fr"]
    assert mixed.mail_aliases == ("a@ac-versailles.fr", "z@ac-versailles.fr")


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"sn": None}, "missing_surname"),
        ({"sn": ["  "]}, "missing_surname"),
        ({"uid": None}, "missing_uid"),
        ({"sn": [b"DUP\xe9"]}, "invalid_utf8"),
        ({"employeeNumber": [b"24E98\xff2345ABC"]}, "invalid_utf8"),
        # one value that is not UTF-8 among good ones: sorting them must not crash the import
        ({"sn": ["MARTIN", b"DUP\xe9"]}, "invalid_utf8"),
        ({"mailEquivalentAddress": ["b@ac-versailles.fr", b"a\xe9@ac-versailles.fr"]}, "invalid_utf8"),
        ({"givenName": ["Nath\x00alie"]}, "control_characters"),
        ({"sn": ["MAR\x7fTIN"]}, "control_characters"),
        ({"mail": ["a@b.fr\n"]}, "control_characters"),
    ],
)
def test_impossible_people_raise_with_a_code(changes: dict[str, list[Any] | None], reason: str) -> None:
    with pytest.raises(InvalidEntry) as caught:
        mapped(**changes)
    assert caught.value.reason == reason
    assert_no_clear_secret(caught.value)


def test_dn_errors() -> None:
    with pytest.raises(InvalidEntry) as caught:
        map_entry("", entry(), feed="f", academy_code="25", hasher=HASHER)
    assert caught.value.reason == "unparsable"
    with pytest.raises(InvalidEntry) as caught:
        map_entry(
            b"uid=\xe9,o=x".decode("utf-8", "surrogateescape"),
            entry(),
            feed="f",
            academy_code="25",
            hasher=HASHER,
        )
    assert caught.value.reason == "invalid_utf8"
    with pytest.raises(InvalidEntry) as caught:
        mapped("uid=a\x01b,o=x")
    assert caught.value.reason == "control_characters"


def test_functional_account_is_mapped_not_refused() -> None:
    e = mapped(
        "uid=ce.0783760n,ou=fonctionnelles,ou=ac-versailles,ou=education,o=gouv,c=fr",
        uid=["ce.0783760n"],
        sn=["CE 0783760N"],
        givenName=None,
        employeeNumber=None,
        datenaissance=None,
    )
    assert e.kind == "functional"
    assert not e.is_person
    assert "numen_missing" not in e.flags
    with pytest.raises(ValueError, match="functional"):
        to_record(e, 1)
    nameless = mapped("cn=Secretariat,ou=fonctionnelles,o=x", uid=None, sn=None, givenName=None)
    assert (nameless.kind, nameless.uid) == ("functional", "Secretariat")


# --- content hash --------------------------------------------------------------------------------


def test_content_hash_is_stable_and_ignores_operational_attributes() -> None:
    base = mapped()
    assert mapped().content_hash == base.content_hash
    assert mapped(modifyTimestamp=["20271231000000Z"]).content_hash == base.content_hash
    assert (
        mapped(entryUUID=["6F1C2A4E-0000-4000-8000-000000000001".lower()]).content_hash == base.content_hash
    )
    reordered = mapped(objectClass=["acaPerson", "inetOrgPerson", "organizationalPerson", "person", "top"])
    assert reordered.content_hash == base.content_hash


@pytest.mark.parametrize(
    "changes",
    [
        {"sn": ["DURAND"]},
        {"employeeNumber": ["24E9812345ABD"]},
        {"datenaissance": ["19750308"]},
        {"finfonction": ["FF"]},
        {"FrEduRne": ["0590121L"]},
        {"mailEquivalentAddress": ["x@ac-versailles.fr"]},
    ],
)
def test_content_hash_changes_with_content(changes: dict[str, list[str]]) -> None:
    assert mapped(**changes).content_hash != mapped().content_hash


def test_content_hash_changes_with_dn_academy_and_mapping() -> None:
    base = mapped()
    assert mapped("uid=nmartin5,ou=personnels EN,ou=ac-versailles,ou=education,o=gouv,c=fr").content_hash != (
        base.content_hash
    )
    other_academy = map_entry(DN, entry(codaca=None), feed="ac-versailles", academy_code="24", hasher=HASHER)
    assert other_academy.content_hash != mapped(codaca=None).content_hash
    swapped = Mapping.from_overrides({"common_name": "displayName", "display_name": "cn"}, feed="x")
    assert map_entry(
        DN, entry(), feed="x", academy_code="25", mapping=swapped, hasher=HASHER
    ).content_hash != (map_entry(DN, entry(), feed="x", academy_code="25", hasher=HASHER).content_hash)


# --- records and the pipeline --------------------------------------------------------------------


def test_to_record() -> None:
    record = to_record(mapped(rne=["0590121l"]), 42)
    assert record.id == 42
    assert (record.feed, record.academy, record.uid) == ("ac-versailles", "25", "nmartin4")
    assert (record.given_name, record.usage_name, record.birth_name) == ("Nathalie", "MARTIN", "DURAND")
    assert record.establishments == ("0590121L", "0291101P")
    assert record.numen_hash == HASHER.hash("numen", NUMEN)
    assert record.birth_year == 1975 and record.active
    assert_no_clear_secret(record)


def test_feed_mapper_counts_and_quarantines() -> None:
    mapper = FeedMapper(feed="ac-versailles", academy_code="25", hasher=HASHER)
    second_dn = "cn=Nathalie Martin,ou=personnels EN,ou=ac-versailles,ou=education,o=gouv,c=fr"
    results = [
        mapper.process((DN, entry())),
        mapper.process((second_dn, entry(uid=["NMartin4"]))),
        mapper.process(("uid=x,o=y", entry(uid=["x"], sn=None))),
        mapper.process(("uid=ADM00001,o=y", entry(uid=["ADM00001"], finfonction=["FF"]))),
    ]
    assert isinstance(results[0], MappedEntry)
    duplicate = results[1]
    assert isinstance(duplicate, QuarantineItem)
    assert duplicate.reason == "duplicate_uid"
    assert DN in duplicate.message
    assert duplicate.raw["employeeNumber"] == ["<redacted>"]
    missing = results[2]
    assert isinstance(missing, QuarantineItem) and missing.reason == "missing_surname"
    assert missing.raw["datenaissance"] == ["<redacted>"]
    stats = mapper.stats
    assert (stats.read, stats.people, stats.functional, stats.inactive) == (4, 1, 1, 1)
    assert stats.quarantined == {"duplicate_uid": 1, "missing_surname": 1}
    for result in results:
        assert_no_clear_secret(result)


names = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=20).filter(
    str.strip
)


@given(sn=names, given=names, numen=st.from_regex(r"[0-9]{2}[GEPA][0-9]{7}[A-Z]{3}", fullmatch=True))
def test_mapping_never_shows_secrets(sn: str, given: str, numen: str) -> None:
    e = map_entry(
        DN,
        entry(sn=[sn], givenName=[given], employeeNumber=[numen]),
        feed="f",
        academy_code="25",
        hasher=HASHER,
    )
    assert numen not in repr(e)
    assert e.numen_hash == HASHER.hash("numen", numen)
    assert e.usage_name == (" ".join(sn.split()) if "  " in sn.strip() else sn.strip())


@given(
    sn=st.lists(names, min_size=1, max_size=3),
    title=names,
    uuid=names,
    stamp=st.sampled_from(["20261128214201Z", 'it\'s \\ "not" one', "x\u00a0y"]),
)
def test_raw_json_is_raw_whatever_the_values(sn: list[str], title: str, uuid: str, stamp: str) -> None:
    # raw_json is written from repr(raw) when the quotes allow it, else by the JSON encoder:
    # either way it must read back as raw, operational attributes (entryUUID...) included.
    e = mapped(sn=sn, title=[title], entryUUID=[uuid], modifyTimestamp=[stamp])
    assert json.loads(e.raw_json) == e.raw
    assert e.raw["entryUUID"] == [uuid]
    assert e.raw["sn"] == sorted(sn)


@pytest.mark.parametrize(
    "value", ["D'ALMEIDA", 'Le "Grand"', "a\\b", "x\u00a0y", "x\u2028y", "\U0001f600", "é", "[b'", "'"]
)
def test_raw_json_quoting(value: str) -> None:
    e = mapped(givenName=[value], entryUUID=None, modifyTimestamp=None)
    assert json.loads(e.raw_json) == e.raw
    assert json.loads(e.raw_json)["givenName"] == [value]
    only_operational = map_entry(
        DN, {"uid": ["a"], "sn": ["B"], "entryUUID": [value]}, feed="f", academy_code="25", hasher=HASHER
    )
    assert json.loads(only_operational.raw_json) == {"uid": ["a"], "sn": ["B"], "entryUUID": [value]}


def test_mapped_entry_is_immutable() -> None:
    e = mapped()
    with pytest.raises(AttributeError):
        e.uid = "other"  # type: ignore[misc]
