"""UAI normalisation and check letter (``importers.uai``)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from importers.uai import (
    CHECK_LETTERS,
    academy_of_uai,
    check_letter,
    check_uai,
    departement,
    is_valid_uai,
    make_uai,
    normalize_uai,
)

REAL = ["0291101P", "0590121L", "0693045K", "0441550W", "0370884K", "0931567Y", "0921042H"]

digits7 = st.text(alphabet="0123456789", min_size=7, max_size=7)


@pytest.mark.parametrize("uai", REAL)
def test_real_uais_pass(uai: str) -> None:
    assert is_valid_uai(uai)
    assert check_uai(uai) == (uai, True, False)


def test_lower_case_letter_is_the_same_uai_and_is_reported() -> None:
    checked = check_uai(" 0590121l ")
    assert checked.uai == "0590121L"
    assert checked.valid
    assert checked.lowercase


def test_normalize_strips_and_upper_cases() -> None:
    assert normalize_uai("  0590121l\t") == "0590121L"


@pytest.mark.parametrize(
    "value",
    ["0291101Q", "0291101", "0291101PP", "A291101P", "", "02911O1P", "٠٢٩١١٠١P", "0291101 P", "²291101P"],
)
def test_invalid_uais(value: str) -> None:
    assert not check_uai(value).valid


def test_check_letter_alphabet_leaves_out_i_o_q() -> None:
    assert len(CHECK_LETTERS) == 23
    assert not set("IOQ") & set(CHECK_LETTERS)


def test_check_letter_refuses_what_is_not_seven_digits() -> None:
    with pytest.raises(ValueError, match="seven digits"):
        check_letter("029110")
    with pytest.raises(ValueError, match="seven digits"):
        check_letter("02911O1")


@given(digits7)
def test_make_uai_roundtrip(digits: str) -> None:
    uai = make_uai(digits)
    assert is_valid_uai(uai)
    assert check_uai(uai.lower()) == (uai, True, uai[7].isalpha())


@given(digits7, st.sampled_from(CHECK_LETTERS))
def test_only_the_right_letter_passes(digits: str, letter: str) -> None:
    assert is_valid_uai(digits + letter) == (letter == check_letter(digits))


@given(st.text(max_size=12))
def test_check_never_raises(value: str) -> None:
    checked = check_uai(value)
    assert checked.uai == value.strip().upper()


def test_departement_and_academy() -> None:
    assert departement("0750001A") == "075"
    assert departement("6200001A") == "620"
    assert departement("x") is None
    assert departement("AB00001A") is None
    paris = academy_of_uai("0750001A")
    corse = academy_of_uai("7200001A")
    reunion = academy_of_uai("9740001A")
    assert paris is not None and paris.code == "01"
    assert corse is not None and corse.code == "27"
    assert reunion is not None and reunion.code == "28"
    assert academy_of_uai("0000001A") is None
