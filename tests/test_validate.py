"""Quarantine reasons, functional accounts and the per-run validator (``importers.validate``)."""

from __future__ import annotations

import importlib
import inspect
import json
from typing import Any

import pytest

from directory.errors import DirectoryError
from directory.secrets import Hasher
from importers.errors import (
    DeletionLimitExceeded,
    FeedConfigError,
    FeedLockedError,
    FeedProblem,
    FeedReadError,
    ImporterError,
    InvalidEntry,
)
from importers.mapping import map_entry
from importers.validate import (
    QUARANTINE_REASONS,
    FeedValidator,
    UnparsableRecord,
    classify_kind,
    first_control_character,
    is_container,
    quarantine_raw,
    safe_text,
)

PEOPLE = "ou=personnels EN,ou=ac-versailles,ou=education,o=gouv,c=fr"
PERSON_CLASSES = ["top", "person", "organizationalPerson", "inetOrgPerson", "acaPerson"]


def kind(dn: str = f"uid=nmartin4,{PEOPLE}", **fields: Any) -> str:
    values: dict[str, Any] = {
        "uid": "nmartin4",
        "given_name": "Nathalie",
        "names": ("MARTIN", "MARTIN Nathalie", None),
        "mail": "nathalie.martin4@ac-versailles.fr",
        "object_classes": PERSON_CLASSES,
    }
    values.update(fields)
    return classify_kind(dn, **values)


def test_reason_codes_are_stable() -> None:
    assert list(QUARANTINE_REASONS) == [
        "unparsable",
        "invalid_utf8",
        "control_characters",
        "missing_uid",
        "missing_surname",
        "duplicate_uid",
    ]


def test_a_teacher_is_a_person() -> None:
    assert kind() == "person"
    assert kind(given_name=None) == "person"  # no givenName alone does not make a mailbox
    assert kind(uid="ltest2") == "person"
    assert kind(uid="ctestard") == "person"
    assert kind(uid="adm001") == "person"  # lower case: could be a short surname
    assert kind(uid="rstagiaire") == "person"  # initial + surname: a role word inside is not enough
    assert kind(uid="jremplacant2") == "person"
    assert kind(uid="cformation") == "person"


@pytest.mark.parametrize(
    ("dn", "fields"),
    [
        ("uid=ce.0783760n,ou=fonctionnelles,ou=ac-versailles,o=gouv,c=fr", {}),
        ("uid=x, OU=Comptes Fonctionnels,o=gouv,c=fr", {}),
        (f"uid=x,{PEOPLE}", {"object_classes": ["top", "account", "mailRecipient"]}),
        (f"uid=ADM00000,{PEOPLE}", {"uid": "ADM00000"}),
        (f"uid=test1,{PEOPLE}", {"uid": "test1"}),
        (f"uid=stagiaire.test1,{PEOPLE}", {"uid": "stagiaire.test1"}),
        (
            f"uid=remplacant1,{PEOPLE}",
            {"uid": "remplacant1", "given_name": "Compte", "names": ("TEST", None, None)},
        ),
        # Test accounts with person-like names: the uid alone gives them away.
        (
            f"uid=remplacant1,{PEOPLE}",
            {"uid": "remplacant1", "given_name": "Titulaire", "names": ("MARTIN", None, None)},
        ),
        (f"uid=stagiaire.2,{PEOPLE}", {"uid": "stagiaire.2", "given_name": "Anne"}),
        (f"uid=Invite,{PEOPLE}", {"uid": "Invite"}),
        (f"uid=formation03,{PEOPLE}", {"uid": "formation03"}),
        # Or the surname, when it is a role word.
        (
            f"uid=jdurand7,{PEOPLE}",
            {"uid": "jdurand7", "given_name": "Jean", "names": ("REMPLACANT", None, None)},
        ),
        (f"uid=x,{PEOPLE}", {"given_name": None, "names": ("SECRETARIAT RECTEUR", None, None)}),
        (
            f"uid=x,{PEOPLE}",
            {"given_name": None, "names": ("DUPONT", None, None), "mail": "ce.0931567y@ac-creteil.fr"},
        ),
        (
            f"uid=x,{PEOPLE}",
            {"given_name": None, "names": (None, None, None), "mail": "sec.0931567y@ac-creteil.fr"},
        ),
    ],
)
def test_functional_accounts(dn: str, fields: dict[str, Any]) -> None:
    assert kind(dn, **fields) == "functional"


def test_containers() -> None:
    assert is_container(
        "ou=personnels EN,ou=ac-versailles,o=gouv,c=fr", {"objectClass": ["organizationalUnit"]}
    )
    assert is_container("o=gouv,c=fr", {})
    assert is_container("cn=admins,o=gouv,c=fr", {"objectClass": ["groupOfNames"], "cn": ["admins"]})
    assert not is_container(f"uid=a,{PEOPLE}", {"uid": ["a"]})
    assert not is_container(f"uid=a,{PEOPLE}", {"UID": [b"a"]})
    assert not is_container(
        f"cn=a,{PEOPLE}", {"objectClass": [b"inetOrgPerson"]}
    )  # no uid: quarantined later
    assert not is_container(f"cn=a,{PEOPLE}", {"supannAliasLogin": ["a"]}, uid_attribute="supannAliasLogin")


def test_safe_text_and_raw() -> None:
    assert safe_text(b"DUP\xe9") == "b'DUP\\xe9'"
    assert safe_text(b"DUP\xc3\xa9") == "DUPé"
    assert safe_text("a\x00b\x7f") == "a\\x00b\\x7f"
    assert safe_text(b"uid=\xe9".decode("utf-8", "surrogateescape")) == "b'uid=\\xe9'"
    assert first_control_character("ok") is None
    assert first_control_character("a\x0bb") == "\\x0b"
    raw = quarantine_raw(
        {
            "sn": [b"DUP\xe9"],
            "employeeNumber": ["24E9812345ABC"],
            "userPassword": ["{SSHA}x"],
            "cn": ["a\x00"],
        },
        confidential={"employeenumber", "datenaissance"},
    )
    assert raw == {
        "sn": ["b'DUP\\xe9'"],
        "employeeNumber": ["<redacted>"],
        "userPassword": ["<redacted>"],
        "cn": ["a\\x00"],
    }
    json.dumps(raw)


def test_validator_duplicates_and_items() -> None:
    hasher = Hasher("k")
    validator = FeedValidator("ac-versailles")
    first = map_entry(
        f"uid=nmartin4,{PEOPLE}",
        {"uid": ["nmartin4"], "sn": ["MARTIN"]},
        feed="f",
        academy_code="25",
        hasher=hasher,
    )
    again = map_entry(
        f"cn=N Martin,{PEOPLE}",
        {"uid": ["NMARTIN4"], "sn": ["MARTIN"]},
        feed="f",
        academy_code="25",
        hasher=hasher,
    )
    other = map_entry(
        f"uid=nmartin5,{PEOPLE}",
        {"uid": ["nmartin5"], "sn": ["MARTIN"]},
        feed="f",
        academy_code="25",
        hasher=hasher,
    )
    assert validator.accept(first) is None
    duplicate = validator.accept(again)
    assert duplicate is not None
    assert (duplicate.feed, duplicate.dn, duplicate.reason) == ("ac-versailles", again.dn, "duplicate_uid")
    assert first.dn in duplicate.message
    assert validator.accept(other) is None
    assert validator.uids_seen == 2

    rejected = validator.reject(
        f"uid=x,{PEOPLE}",
        {"uid": ["x"], "datenaissance": ["19750307"]},
        InvalidEntry("missing_surname", "no sn"),
    )
    assert rejected.raw == {"uid": ["x"], "datenaissance": ["<redacted>"]}
    broken = validator.unparsable(
        UnparsableRecord(7, 120, "a line without ':'", "dn: uid=y,o=x\nbroken", "uid=y,o=x")
    )
    assert (broken.dn, broken.reason) == ("uid=y,o=x", "unparsable")
    assert broken.raw == {"ldif": ["dn: uid=y,o=x", "broken"]}
    assert "record 7 near line 120" in broken.message
    nameless = validator.unparsable(UnparsableRecord(8, 130, "record without dn", "sn: X"))
    assert nameless.dn == "<record 8>"
    assert validator.counts == {"duplicate_uid": 1, "missing_surname": 1, "unparsable": 2}


def test_exception_tree() -> None:
    for cls in (FeedConfigError, FeedReadError, FeedLockedError, DeletionLimitExceeded, InvalidEntry):
        assert issubclass(cls, ImporterError)
        assert issubclass(cls, DirectoryError)
        assert cls.__doc__
    limit = DeletionLimitExceeded("ac-lille", would_remove=4000, active=78000, limit=3900)
    assert (limit.would_remove, limit.active, limit.limit, limit.status) == (4000, 78000, 3900, 409)
    assert "4000 of 78000" in str(limit) and "5.1 %" in str(limit)
    read = FeedReadError("ac-lille", "server down", reason="server_down", entries_read=12)
    assert (read.reason, read.entries_read) == ("server_down", 12)
    config = FeedConfigError(
        [FeedProblem("ac-lille", "url", "missing"), FeedProblem("ac-nice", "base_dn", "empty")]
    )
    assert config.problems == ["feed 'ac-lille', key 'url': missing", "feed 'ac-nice', key 'base_dn': empty"]
    assert FeedLockedError("ac-lille").status == 409
    assert InvalidEntry("missing_uid", "no uid", dn="uid=x").reason == "missing_uid"


@pytest.mark.parametrize(
    "module",
    ["importers.errors", "importers.uai", "importers.fredurne", "importers.dates", "importers.validate",
     "importers.mapping", "importers.attributes", "importers.feedmapper", "importers.ldif"],
)  # fmt: skip
def test_public_names_exist_and_are_documented(module: str) -> None:
    loaded = importlib.import_module(module)
    assert loaded.__doc__
    for name in loaded.__all__:
        value = getattr(loaded, name)
        if inspect.isclass(value) or inspect.isfunction(value) or hasattr(value, "cache_info"):
            assert value.__doc__, f"{module}.{name} has no docstring"


@pytest.mark.parametrize(
    "uid",
    [
        *("remplacant1", "remplacante", "Stagiaire2", "invitee", "guest", "formation03", "formateur"),
        *("anonyme", "utilisateur7", "user", "generique", "compte_1", "essai.2", "vacataire-4"),
        "contractuel",
    ],
)
def test_every_role_word_uid_is_functional(uid: str) -> None:
    # The role-word test only runs the regex on uids starting with one of its words: each word
    # of the regex, with or without its optional letter and number, must still be caught.
    assert kind(uid=uid) == "functional"


def test_person_classes_are_found_in_any_case() -> None:
    assert kind(object_classes=["top", "INETORGPERSON"]) == "person"
    assert kind(object_classes=["top", "Person"]) == "person"
    assert kind(object_classes=["top", "account"]) == "functional"
