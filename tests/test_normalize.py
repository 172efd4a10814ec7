"""French name normalisation: examples from the academy feeds, and properties (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from matching.normalize import (
    full_name_key,
    given_name_initials,
    given_name_key,
    given_names_compatible,
    name_tokens,
    normalize_text,
    split_display_name,
    surname_key,
    surname_parts,
)

# Latin letters with the accents and ligatures French names carry, and the separators feeds use
LETTERS = "abcdefghijklmnopqrstuvwxyzéèêëàâäîïôöùûüçœæÉÈÊÀÂÎÔÙÛÇŒÆ"
names = st.text(alphabet=LETTERS + " -'", min_size=0, max_size=30)
words = st.lists(st.text(alphabet=LETTERS, min_size=1, max_size=10), min_size=1, max_size=4)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Nathalie", "nathalie"),
        ("Michèle", "michele"),
        ("LŒTITIA", "loetitia"),
        ("Æsa", "aesa"),
        ("D'ALEMBERT", "d alembert"),
        ("D’Alembert", "d alembert"),
        ("DURAND--DUPONT", "durand dupont"),
        ("  LE   GALL ", "le gall"),
        ("J.-Pierre", "j pierre"),
        ("", ""),
        (None, ""),
    ],
)
def test_normalize_text_examples(raw: str | None, expected: str) -> None:
    assert normalize_text(raw) == expected


@pytest.mark.parametrize(
    ("raw", "tokens"),
    [
        ("LE GALL", ["le", "gall", "legall"]),
        ("D'ALEMBERT", ["d", "alembert", "dalembert"]),
        ("ST ANDRE", ["saint", "andre", "saintandre"]),
        ("SAINT-ANDRE", ["saint", "andre", "saintandre"]),
        ("STE MARIE", ["sainte", "marie", "saintemarie"]),
        ("de la Fontaine", ["de", "la", "fontaine", "delafontaine", "lafontaine"]),
        ("MARTIN", ["martin"]),
    ],
)
def test_name_tokens_keep_particles_and_add_glued_forms(raw: str, tokens: list[str]) -> None:
    assert name_tokens(raw) == tokens


@pytest.mark.parametrize(
    "variants",
    [
        ["LE GALL", "LEGALL", "Le-Gall", "le  gall"],
        ["D'ALEMBERT", "D ALEMBERT", "DALEMBERT", "D-ALEMBERT", "d’Alembert"],
        ["SAINT-ANDRE", "ST ANDRE", "ST-ANDRE", "Saint André"],
        ["DURAND--DUPONT", "DURAND DUPONT", "DURAND-DUPONT"],
        ["LEFÈVRE", "LEFEVRE", "Lefèvre"],
    ],
)
def test_surname_key_meets_every_written_form(variants: list[str]) -> None:
    assert len({surname_key(v) for v in variants}) == 1


def test_surname_key_keeps_sainte_apart_from_saint() -> None:
    assert surname_key("STE MARIE") == "saintemarie"
    assert surname_key("ST MARIE") == "saintmarie"


def test_surname_parts() -> None:
    assert surname_parts("DURAND--DUPONT") == ("durand", "dupont")
    assert surname_parts("LE GALL") == ("legall",)
    assert surname_parts("DE LA FONTAINE MARTIN") == ("delafontaine", "martin")


def test_given_name_key_and_compatibility() -> None:
    assert given_name_key("Jean-Pierre") == given_name_key("JEAN PIERRE") == given_name_key("jean--pierre")
    assert given_name_initials("Jean-Pierre") == "jp"
    for other in ["J-Pierre", "JP", "Jean", "J.-P.", "Jeanpierre", "JEAN PIERRE"]:
        assert given_names_compatible("Jean-Pierre", other), other
        assert given_names_compatible(other, "Jean-Pierre"), other
    for other in ["Pierre", "Jean-Marc", "Nathalie", "", "P-Jean"]:
        assert not given_names_compatible("Jean-Pierre", other), other


@pytest.mark.parametrize(
    ("cn", "given", "surname"),
    [
        ("MARTIN Nathalie", "Nathalie", "MARTIN"),
        ("Nathalie MARTIN", "Nathalie", "MARTIN"),
        ("LE GALL Jean-Pierre", "Jean-Pierre", "LE GALL"),
        ("Jean-Pierre LE GALL", "Jean-Pierre", "LE GALL"),
        ("MARTIN NATHALIE", "NATHALIE", "MARTIN"),
        ("MARTIN", "", "MARTIN"),
    ],
)
def test_split_display_name(cn: str, given: str, surname: str) -> None:
    assert split_display_name(cn) == (given, surname)


def test_split_display_name_without_case_signal_follows_the_default() -> None:
    assert split_display_name("nathalie martin", surname_first=False) == ("nathalie", "martin")


def test_full_name_key_ignores_order() -> None:
    assert full_name_key("Nathalie MARTIN") == full_name_key("MARTIN Nathalie") == "martin nathalie"


@given(st.text())
def test_normalize_text_is_idempotent_on_any_text(s: str) -> None:
    once = normalize_text(s)
    assert normalize_text(once) == once
    assert once == once.strip()
    assert "  " not in once


@given(names)
def test_normalize_text_ignores_case(s: str) -> None:
    assert normalize_text(s.upper()) == normalize_text(s) == normalize_text(s.lower())


@given(words)
def test_keys_ignore_separators_and_spacing(ws: list[str]) -> None:
    forms = [" ".join(ws), "-".join(ws), "--".join(ws), "  ".join(ws), "'".join(ws), " - ".join(ws)]
    assert len({surname_key(f) for f in forms}) == 1
    assert len({given_name_key(f) for f in forms}) == 1


@given(names)
def test_keys_ignore_accents(s: str) -> None:
    plain = normalize_text(s)
    assert surname_key(s) == surname_key(plain)
    assert given_name_key(s) == given_name_key(plain)


@given(names)
def test_keys_are_idempotent(s: str) -> None:
    assert surname_key(surname_key(s)) == surname_key(s)
    assert given_name_key(given_name_key(s)) == given_name_key(s)
    assert name_tokens(normalize_text(s)) == name_tokens(s)


@given(names)
def test_given_names_compatible_is_symmetric_and_reflexive(s: str) -> None:
    if given_name_key(s):
        assert given_names_compatible(s, s)
        assert given_names_compatible(s, s.upper().replace(" ", "-"))
