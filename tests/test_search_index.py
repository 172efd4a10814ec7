"""The in-process index on hand-made documents (no store): matching levels and ranking."""

from __future__ import annotations

import numpy as np
import pytest

from directory.search.documents import PersonDoc, index_tokens
from directory.search.query import parse_query, typo_variants
from directory.search.service import SearchService


def doc(
    pid: str,
    given: str,
    usage: str,
    *,
    birth: str | None = None,
    academy: str = "25",
    uai: str = "0780001A",
    has_account: bool = False,
    uid: str | None = None,
) -> PersonDoc:
    from directory.names import display_name

    uid = uid or pid.lower()
    return PersonDoc(
        id=pid,
        label=display_name(given, usage),
        tokens=tuple(sorted(index_tokens(given, usage, birth))),
        email=f"{uid}@ac-test.fr",
        emails=(f"{uid}@ac-test.fr",),
        uids=(uid,),
        academies=(academy,),
        establishments=(uai,),
        has_account=has_account,
    )


def service(*docs: PersonDoc) -> SearchService:
    s = SearchService(None, refresh_interval=60)  # type: ignore[arg-type]
    s.install(list(docs))
    return s


def ids(s: SearchService, q: str, **kw: object) -> list[str]:
    return [f.id for f in s.search(q, **kw)]  # type: ignore[arg-type]


def test_every_token_must_match_some_name_part() -> None:
    s = service(doc("A", "Marie", "MARTIN"), doc("B", "Marie", "DUPONT"), doc("C", "Paul", "MARTIN"))
    assert ids(s, "marie martin") == ["A"]
    assert ids(s, "martin marie") == ["A"]
    assert sorted(ids(s, "mar")) == ["A", "B", "C"]
    assert ids(s, "mar dup") == ["B"]


def test_birth_name_and_second_surname_match() -> None:
    s = service(doc("A", "Léa", "DURAND--DUPONT", birth="LE GALL"), doc("B", "Léa", "DURAND"))
    assert ids(s, "lea dupont") == ["A"]
    assert ids(s, "gall lea") == ["A"]
    assert ids(s, "legall") == ["A"]
    assert ids(s, "duranddupont") == ["A"]


def test_particles_apostrophes_saints_compound_names() -> None:
    s = service(
        doc("A", "Jean-Pierre", "D'ALEMBERT"),
        doc("B", "Anne", "ST ANDRE"),
        doc("C", "Jean", "PIERRE"),
    )
    assert ids(s, "dalembert") == ["A"]
    assert ids(s, "d'alembert") == ["A"]
    assert ids(s, "jean-pierre alem") == ["A"]
    assert ids(s, "jeanpierre") == ["A"]
    assert ids(s, "jp dal") == ["A"]
    assert ids(s, "saint andre") == ["B"]
    assert ids(s, "st andré") == ["B"]
    assert ids(s, "SAINT-ANDRE anne") == ["B"]


def test_exact_before_prefix_before_typo() -> None:
    s = service(
        doc("TYPO", "Marie", "MARTON"),  # "martin" with one substitution
        doc("PREFIX", "Marie", "MARTINEZ"),
        doc("EXACT", "Marie", "MARTIN"),
    )
    assert ids(s, "marie martin") == ["EXACT", "PREFIX", "TYPO"]


def test_typo_only_in_longer_tokens() -> None:
    s = service(doc("A", "Marie", "DUPONT"), doc("B", "Paul", "DURAND"))
    assert ids(s, "dupnot") == ["A"]  # transposition
    assert ids(s, "dupond") == ["A"]  # substitution
    assert ids(s, "duupont") == ["A"]  # insertion
    assert ids(s, "dpont") == ["A"]  # deletion
    assert ids(s, "dupa") == []  # four letters: no typo allowed
    assert "nathalie" in typo_variants("nathlie")


def test_proximity_then_account_then_stable_order() -> None:
    s = service(
        doc("FAR", "Marie", "MARTIN", academy="10", uai="0690001A"),
        doc("ACADEMY", "Marie", "MARTIN", academy="25", uai="0780002B"),
        doc("SCHOOL", "Marie", "MARTIN", academy="25", uai="0780001A"),
        doc("ME", "Paul", "PETIT", academy="25", uai="0780001A", uid="ppetit"),
        doc("ACCOUNT", "Marie", "MARTIN", academy="10", uai="0690002B", has_account=True),
    )
    assert ids(s, "marie martin", context="ppetit") == ["SCHOOL", "ACADEMY", "ACCOUNT", "FAR"]
    assert ids(s, "marie martin", context="ppetit@ac-test.fr") == ["SCHOOL", "ACADEMY", "ACCOUNT", "FAR"]
    assert ids(s, "marie martin")[0] == "ACCOUNT"
    assert ids(s, "marie martin") == ids(s, "martin marie")  # stable for equal scores


def test_email_and_uid_find_exactly() -> None:
    s = service(doc("A", "Marie", "MARTIN", uid="mmartin"), doc("B", "Marie", "MARTINS", uid="mmartin2"))
    assert ids(s, "mmartin@ac-test.fr") == ["A"]
    assert ids(s, "MMARTIN2@AC-TEST.FR") == ["B"]
    assert ids(s, "mmartin")[0] == "A"


def test_limit_and_academy_restriction() -> None:
    docs = [
        doc(f"P{i:02d}", "Marie", f"MARTIN{chr(97 + i)}", academy="25" if i % 2 else "10") for i in range(20)
    ]
    s = service(*docs)
    assert len(ids(s, "marie", limit=5)) == 5
    assert all(int(p[1:]) % 2 for p in ids(s, "marie", academy="25"))


@pytest.mark.parametrize("query", ["Céline", "CELINE", "celine", "céline"])
def test_accents_and_case(query: str) -> None:
    s = service(doc("A", "Céline", "DUBOIS"))
    assert ids(s, query) == ["A"]


def test_query_parsing() -> None:
    assert parse_query("  Marie-Claire  D'Alembert ").tokens == ("marie", "claire", "d", "alembert")
    assert parse_query("st andre").alternatives[0] == ("saint",)
    assert parse_query("a b c d e f g h i j").tokens == tuple("abcdefgh")


@pytest.mark.parametrize("token", ["nathlie", "dupont", "aab", "x", "zz", "mmmm", "dupont1", "1a2bb"])
@pytest.mark.parametrize("width", [1, 4, 6, 7, 8, 24])
def test_typo_arrays_hold_the_typo_variants_and_their_prefix_bounds(token: str, width: int) -> None:
    from directory.search.query import prefix_hashes, prefix_upper, typo_arrays

    variants, uppers, hashes = typo_arrays(token, width)
    assert set(variants.tolist()) == {v.encode() for v in typo_variants(token) if len(v) <= width}
    assert uppers.tolist() == [prefix_upper(v) for v in variants.tolist()]
    # Each variant's hash is the one the index computes for the same bytes as a token prefix.
    matrix = np.frombuffer(variants.tobytes(), dtype=np.uint8).reshape(len(variants), width)
    lengths = (matrix != 0).sum(axis=1)
    assert hashes is not None
    assert (hashes == prefix_hashes(matrix)[np.arange(len(variants)), lengths - 1]).all()


def test_answers_are_remembered_until_the_index_changes() -> None:
    s = service(doc("A", "Marie", "MARTIN"), doc("B", "Paul", "MARTIN"))
    assert sorted(ids(s, "mar")) == ["A", "B"]
    assert sorted(ids(s, "MAR ")) == ["A", "B"]  # the same normalised query: answered from the cache
    assert (s.cache_hits, s.cache_misses) == (1, 1)
    assert ids(s, "mar", limit=1) == ["A"]  # another limit is another answer
    s.install([doc("C", "Marc", "DURAND")])
    assert ids(s, "mar") == ["C"]  # a new snapshot starts with an empty cache
    assert s.cache_misses == 3
    uncached = SearchService(None, refresh_interval=60, cache_size=0)  # type: ignore[arg-type]
    uncached.install([doc("A", "Marie", "MARTIN")])
    assert ids(uncached, "mar") == ids(uncached, "mar") == ["A"]
    assert (uncached.cache_hits, uncached.cache_misses) == (0, 0)
