"""Birth dates in three formats and LDAP GeneralizedTime (``importers.dates``)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from importers.dates import (
    changed_since_filter,
    format_generalized_time,
    parse_date,
    parse_generalized_time,
    swapped_date,
)


@pytest.mark.parametrize(
    "text", ["19750307", "07/03/1975", "1975-03-07", " 1975-03-07 ", "07-03-1975", "07.03.1975"]
)
def test_three_formats(text: str) -> None:
    assert parse_date(text) == date(1975, 3, 7)


@pytest.mark.parametrize(
    "text",
    ["", "1975", "19753107", "31/02/1980", "1975/03/07", "0000-00-00", "18991231", "abcdefgh", "1975-3-7"],
)
def test_not_dates(text: str) -> None:
    assert parse_date(text) is None


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)))
def test_every_format_reads_back(day: date) -> None:
    for text in (day.strftime("%Y%m%d"), day.strftime("%d/%m/%Y"), day.isoformat()):
        assert parse_date(text) == day


def test_swapped_date() -> None:
    assert swapped_date(date(1980, 3, 7)) == date(1980, 7, 3)
    assert swapped_date(date(1980, 3, 25)) is None
    assert swapped_date(date(1980, 5, 5)) is None


def test_generalized_time_forms() -> None:
    expected = datetime(2026, 11, 28, 21, 42, 1, tzinfo=UTC)
    assert parse_generalized_time("20261128214201Z") == expected
    assert parse_generalized_time("20261128214201.250Z") == expected.replace(microsecond=250000)
    assert parse_generalized_time("20261128224201+0100") == expected
    assert parse_generalized_time("202611282142Z") == expected.replace(second=0)
    assert parse_generalized_time("2026112821Z") == expected.replace(minute=0, second=0)
    for bad in ("", "2026-11-28T21:42:01Z", "20261328214201Z", "20261128214201.xZ", "2026112821420Z"):
        assert parse_generalized_time(bad) is None


def test_format_generalized_time() -> None:
    moment = datetime(2026, 11, 28, 22, 42, 1, 999, tzinfo=timezone(timedelta(hours=1)))
    assert format_generalized_time(moment) == "20261128214201Z"
    with pytest.raises(ValueError, match="aware"):
        format_generalized_time(datetime(2026, 11, 28))


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2099, 1, 1), timezones=st.just(UTC)))
def test_generalized_time_roundtrip(moment: datetime) -> None:
    assert parse_generalized_time(format_generalized_time(moment)) == moment.replace(microsecond=0)


def test_changed_since_filter() -> None:
    since = datetime(2026, 11, 28, 21, 42, 1, tzinfo=UTC)
    assert (
        changed_since_filter(since)
        == "(|(modifyTimestamp>=20261128214201Z)(createTimestamp>=20261128214201Z))"
    )
    assert changed_since_filter(since, base_filter="objectClass=inetOrgPerson") == (
        "(&(objectClass=inetOrgPerson)(|(modifyTimestamp>=20261128214201Z)(createTimestamp>=20261128214201Z)))"
    )
