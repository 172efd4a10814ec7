"""The model: fitted from the data, serialised, refusing what it cannot use."""

from __future__ import annotations

import json

import pytest

from matching.errors import ModelError, ModelFormatError
from matching.features import MISSING, build_table
from matching.model import Model, fit_model
from tests.matching_data import generate, record


@pytest.fixture(scope="module")
def model() -> Model:
    records, _ = generate(3000, seed=21)
    return fit_model(build_table(records), random_pairs=50_000)


def _weight(model: Model, comparison: str, label: str) -> float:
    return next(p.weight for p in model.comparisons[comparison] if p.label == label)


def test_weights_point_the_right_way(model: Model) -> None:
    assert _weight(model, "numen", "equal") > 15
    assert _weight(model, "numen", "different") < -5
    assert _weight(model, "birth_date", "equal") > 10
    assert _weight(model, "birth_date", "different year") < -5
    assert _weight(model, "given_name", "different") < -5
    assert _weight(model, "civility", "different") < -5
    assert all(p.weight == 0 for params in model.comparisons.values() for p in params if p.null)
    assert model.prior_weight < 0


def test_json_round_trip_and_malformed_documents(model: Model) -> None:
    again = Model.from_json(model.to_json())
    assert again.to_json() == model.to_json()
    with pytest.raises(ModelFormatError):
        Model.from_json("{not json")
    with pytest.raises(ModelFormatError):
        Model.from_json(json.dumps({"format": "something-else"}))
    doc = json.loads(model.to_json())
    del doc["comparisons"]["surname"]
    with pytest.raises(ModelError):
        Model.from_json(json.dumps(doc))


def test_too_few_anchors_cannot_fit() -> None:
    records = [record(i, usage_name=f"NOM{i}") for i in range(1, 50)]
    with pytest.raises(ModelError):
        fit_model(build_table(records))


def test_placeholder_birth_dates_count_as_missing() -> None:
    table = build_table(
        [record(1, birth_hash="h:1900", birth_year=1900), record(2, birth_hash="h:1970", birth_year=1970)]
    )
    assert table.birth_date[0] == MISSING and table.birth_year[0] == MISSING
    assert table.birth_date[1] != MISSING and table.birth_year[1] == 1970
