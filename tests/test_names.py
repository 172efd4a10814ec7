"""Clean display names from feed spellings."""

from __future__ import annotations

import pytest

from directory.names import display_name, format_given_name, format_surname, sort_key


@pytest.mark.parametrize(
    ("given", "usage", "expected"),
    [
        ("MARIE", "MARTIN", "Marie Martin"),
        ("jean pierre", "LE GALL", "Jean Pierre Le Gall"),
        ("JEAN-PIERRE", "DURAND--DUPONT", "Jean-Pierre Durand--Dupont"),
        ("Anne", "DE LA FONTAINE", "Anne de La Fontaine"),
        ("Jean", "D'ALEMBERT", "Jean d'Alembert"),
        ("MICHÈLE", "ST ANDRE", "Michèle St Andre"),
        ("José", "DOS SANTOS", "José dos Santos"),
        ("Marc", "VAN DER BERG", "Marc van der Berg"),
        ("ÉLODIE", "DA SILVA", "Élodie Da Silva"),
        ("Paul", "DE", "Paul De"),
        ("  Léa  ", "  MARTIN   DUBOIS ", "Léa Martin Dubois"),
    ],
)
def test_display_name(given: str, usage: str, expected: str) -> None:
    assert display_name(given, usage) == expected


def test_fallback_to_cn_in_either_order() -> None:
    assert display_name(None, None, "MARTIN Nathalie") == "Nathalie Martin"
    assert display_name(None, None, "Nathalie MARTIN") == "Nathalie Martin"


def test_missing_parts() -> None:
    assert display_name(None, "DE LA FONTAINE") == "De La Fontaine"
    assert display_name("Marie", None) == "Marie"
    assert display_name(None, None) == ""


def test_formatting_is_idempotent() -> None:
    for name in ("Jean-Pierre", "Marie Claire"):
        assert format_given_name(format_given_name(name)) == format_given_name(name)
    for surname in ("de La Fontaine", "d'Alembert", "Le Gall"):
        assert format_surname(format_surname(surname)) == format_surname(surname)


def test_sort_key_ignores_accents_and_case() -> None:
    assert sort_key("Céline Martin") == sort_key("CELINE MARTIN") == "celine martin"
