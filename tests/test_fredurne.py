"""Tolerant ``FrEduRne`` / ``FrEduRneResp`` parsing (``importers.fredurne``)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from importers.fredurne import Establishment, RneValue, establishments_of, parse_fredurne, parse_fredurne_resp


def test_canonical_value() -> None:
    assert parse_fredurne("0291101P$UAJ$PU$ENS$0291101P$T3$CLG$340") == RneValue(
        uai="0291101P",
        valid=True,
        lowercase=False,
        function="ENS",
        type="CLG",
        nature="340",
        sector="PU",
        legal_unit="0291101P",
    )


def test_canonical_responsibility() -> None:
    value = parse_fredurne_resp("0921042H$UAJ$PU$N$T3$LYC$300")
    assert value is not None
    assert (value.uai, value.valid, value.function, value.type, value.nature) == (
        "0921042H",
        True,
        "N",
        "LYC",
        "300",
    )
    assert value.legal_unit is None


@pytest.mark.parametrize("value", ["X", "x", " X ", "", "-"])
def test_no_responsibility(value: str) -> None:
    assert parse_fredurne_resp(value) is None


def test_four_digit_nature_is_kept_as_written() -> None:
    value = parse_fredurne("0291101P$UAJ$PU$ENS$0291101P$T3$LYC$3000")
    assert value is not None
    assert (value.type, value.nature) == ("LYC", "3000")


def test_short_dirty_form() -> None:
    value = parse_fredurne("0291101P$LYC$3000")
    assert value is not None
    assert (value.uai, value.function, value.type, value.nature) == ("0291101P", None, "LYC", "3000")


def test_bare_uai() -> None:
    value = parse_fredurne("0590121l")
    assert value is not None
    assert value.bare
    assert (value.uai, value.valid, value.lowercase) == ("0590121L", True, True)
    assert value.function is None and value.type is None


@pytest.mark.parametrize(
    ("value", "function", "type_", "nature"),
    [
        ("0291101P$UAJ$PU$ENS$$$CLG$340", "ENS", "CLG", "340"),  # empty parts
        ("0291101P$UAJ$PU$ENS", "ENS", None, None),  # cut short
        ("0291101P$$$DIR$0291101P$T3$$", "DIR", None, None),
        (" 0291101P $ UAJ $ PU $ ENS $ 0291101P $ T3 $ CLG $ 340 ", "ENS", "CLG", "340"),  # spaces
        ("0291101P$uaj$pu$ens$0291101p$t3$clg$340", "ENS", "CLG", "340"),  # lower case
        ("0291101P$UAJ$PR$DOC$0291101P$T3$1ORD$151", "DOC", "1ORD", "151"),
    ],
)
def test_missing_and_dirty_parts(
    value: str, function: str | None, type_: str | None, nature: str | None
) -> None:
    parsed = parse_fredurne(value)
    assert parsed is not None
    assert parsed.uai == "0291101P"
    assert (parsed.function, parsed.type, parsed.nature) == (function, type_, nature)


def test_invalid_uai_is_kept_and_marked() -> None:
    value = parse_fredurne("0291101Q$UAJ$PU$ENS$0291101Q$T3$CLG$340")
    assert value is not None
    assert value.uai == "0291101Q"
    assert not value.valid


@pytest.mark.parametrize("value", ["", "$$$", " $UAJ$PU"])
def test_no_uai_at_all(value: str) -> None:
    assert parse_fredurne(value) is None


@given(st.text(alphabet=st.sampled_from("0123456789ABCPUJT$ xl"), max_size=40))
def test_never_raises(value: str) -> None:
    parsed = parse_fredurne(value)
    if parsed is not None:
        assert parsed.uai == value.split("$")[0].strip().upper()


def test_establishments_of_merges_main_first() -> None:
    main, valid, places, responsible, flags = establishments_of(
        ("0590121l",),
        ("0693045K$UAJ$PU$ENS$0693045K$T3$LYC$300", "0590121L$UAJ$PU$DIR$0590121L$T3$CLG$340", "0693045K"),
        ("X", "0921042H$UAJ$PU$N$T3$LYC$300"),
    )
    assert (main, valid) == ("0590121L", True)
    assert places == (
        Establishment("0590121L", True, "DIR", "CLG", "340"),
        Establishment("0693045K", True, "ENS", "LYC", "300"),
    )
    assert responsible == ("0921042H",)
    assert flags == ("uai_lowercase",)


def test_establishments_of_flags() -> None:
    assert establishments_of((), ("0291101Q",), ())[::4] == ("0291101Q", ("rne_missing", "invalid_uai"))
    assert establishments_of(("0291101P",), ("0693045K", "$$"), ("GARBAGE$",))[4] == (
        "rne_not_in_freduRne",
        "invalid_uai",
        "fredurne_malformed",
    )
    assert establishments_of((), (), ()) == (None, False, (), (), ())
