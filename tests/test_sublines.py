"""Sublines: the fewest attributes that tell homonyms apart."""

from __future__ import annotations

from directory.sublines import (
    SublineFacts,
    academy_label,
    assign_sublines,
    establishment_label,
    role_label,
    sublines_for_group,
)


def test_labels() -> None:
    assert role_label("ENS", "L1300", "MME") == "Professeure de mathématiques"
    assert role_label("ENS", "L0422", "M.") == "Professeur d'anglais"
    assert role_label("ENS", None, "M.", primary_school=True) == "Professeur des écoles"
    assert role_label("INS", None, "MME") == "Inspectrice"
    assert role_label("XYZ", None) is None
    assert establishment_label("Collège Jean Moulin", "Versailles") == "Collège Jean Moulin, Versailles"
    assert establishment_label("Lycée de Versailles", "Versailles") == "Lycée de Versailles"
    assert academy_label("25") == "Académie de Versailles"
    assert academy_label("20") == "Académie d'Amiens"
    assert academy_label("28") == "Académie de La Réunion"


MATHS = "Professeure de mathématiques"
LETTERS = "Professeure de lettres modernes"


def test_single_person_gets_one_attribute() -> None:
    assert sublines_for_group([SublineFacts(MATHS, "Collège A, X", "Académie de Lyon")]) == [MATHS]
    assert sublines_for_group([SublineFacts(None, None, "Académie de Lyon")]) == ["Académie de Lyon"]


def test_role_separates_when_it_can() -> None:
    group = [
        SublineFacts(MATHS, "Collège A, X", "Académie de Lyon"),
        SublineFacts(LETTERS, "Collège A, X", "Académie de Lyon"),
    ]
    assert sublines_for_group(group) == [MATHS, LETTERS]


def test_academy_when_roles_agree() -> None:
    group = [
        SublineFacts(MATHS, "Collège A, X", "Académie de Lyon"),
        SublineFacts(MATHS, "Collège B, Y", "Académie de Nice"),
    ]
    assert sublines_for_group(group) == ["Académie de Lyon", "Académie de Nice"]


def test_role_and_establishment_for_large_groups() -> None:
    group = [
        SublineFacts(MATHS, "Collège A, X", "Académie de Lyon"),
        SublineFacts(MATHS, "Collège B, Y", "Académie de Lyon"),
        SublineFacts(LETTERS, "Collège A, X", "Académie de Lyon"),
    ]
    lines = sublines_for_group(group)
    assert len(set(lines)) == 3
    assert lines[0] == f"{MATHS} · Collège A, X"


def test_inseparable_people_keep_the_same_subline() -> None:
    same = SublineFacts(MATHS, "Collège A, X", "Académie de Lyon")
    other = SublineFacts(LETTERS, "Collège A, X", "Académie de Lyon")
    lines = sublines_for_group([same, same, other])
    assert lines[0] == lines[1] != lines[2]


def test_assign_groups_by_key() -> None:
    facts = [
        SublineFacts(MATHS, None, "Académie de Lyon"),
        SublineFacts(MATHS, None, "Académie de Nice"),
        SublineFacts(MATHS, None, "Académie de Nice"),
    ]
    lines = assign_sublines(["marie martin", "marie martin", "paul petit"], facts)
    assert lines == ["Académie de Lyon", "Académie de Nice", MATHS]
