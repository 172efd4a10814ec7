"""Scraping guards: query checks, the result cap, the rate limit and the exposure counter."""

from __future__ import annotations

import pytest

from directory.db import Database
from directory.errors import InvalidInputError, RateLimitedError
from directory.ratelimit import ExposureCounter, RateLimiter, cap_limit, check_limit, check_query
from tests.factories import World


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("a", "at least 2"),
        ("é-", "at least 2"),
        ("x" * 101, "at most 100"),
        ("mar\x00tin", "control"),
        ("mar\ntin", "control"),
        ("mar\u200btin", "control"),
        ("mar\ufffdtin", "UTF-8"),
    ],
)
def test_bad_queries_are_refused_with_a_message(text: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        check_query(text, min_length=2, max_length=100)


def test_good_queries_pass_stripped() -> None:
    assert check_query("  Élo  ", min_length=2, max_length=100) == "Élo"
    assert check_query("d'al", min_length=2, max_length=100) == "d'al"


def test_cap() -> None:
    assert cap_limit(None, 25) == 25
    assert cap_limit(1000, 25) == 25
    assert cap_limit(5, 25) == 5
    assert cap_limit(0, 25) == 1


def test_limit_parameter_is_checked_then_capped() -> None:
    assert check_limit(None, 25) == 25
    assert check_limit("7", 25) == 7
    assert check_limit("1000", 25) == 25
    assert check_limit("9" * 4000, 25) == 25  # a large number is capped, up to what int() converts
    for text, message in [
        ("", "positive integer"),
        ("0", "positive integer"),
        ("-3", "positive integer"),
        ("²", "positive integer"),  # str.isdigit() is true, int() refuses it
        ("٣", "positive integer"),  # int() would read 3 from these
        ("9" * 5000, "too many digits"),  # beyond int()'s 4,300 digits
    ]:
        with pytest.raises(InvalidInputError, match=message):
            check_limit(text, 25)


def test_bucket_allows_a_burst_then_refuses_with_retry_after() -> None:
    limiter = RateLimiter(default_rate=60, burst=3)
    for _ in range(4):  # burst + one second's worth
        limiter.hit(1)
    with pytest.raises(RateLimitedError) as info:
        limiter.hit(1)
    assert info.value.retry_after >= 1
    limiter.hit(2)  # another key has its own bucket


def test_exposure_counts_distinct_people_per_key_and_day(db: Database) -> None:
    world = World(db)
    a, b = world.person(), world.person()
    from directory.apikeys import create_key

    key, _ = create_key(db, name="scraper", scopes={"search"})
    counter = ExposureCounter(db)
    assert counter.record(key.id, [a, b]) == 2
    assert counter.record(key.id, [a]) == 0
    assert counter.flush() == 2
    assert counter.flush() == 0
    assert db.fetch_value("SELECT count(*) FROM api_key_exposure WHERE key_id = %s", (key.id,)) == 2
