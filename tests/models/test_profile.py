"""Training-data profiles: the numbers drift detection is computed against."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cairn.errors import InvalidInput
from cairn.models.profile import build_profile


def test_numeric_features_have_stats_quantiles_and_raw_histogram(iris: tuple[Any, Any]) -> None:
    X, _y = iris
    profile = build_profile(X)
    assert profile["rows"] == 150
    assert list(profile["features"]) == list(X.columns)  # column order is kept
    sepal = profile["features"]["sepal_length"]
    values = X["sepal_length"].to_numpy()
    assert sepal["type"] == "numeric"
    assert (sepal["count"], sepal["missing"]) == (150, 0)
    assert sepal["mean"] == pytest.approx(values.mean())
    assert sepal["std"] == pytest.approx(values.std(ddof=1))
    assert (sepal["min"], sepal["max"]) == (4.3, 7.9)
    assert list(sepal["quantiles"]) == [f"{q / 10:.1f}" for q in range(11)]
    assert sepal["quantiles"]["0.5"] == pytest.approx(np.median(values))
    assert len(sepal["percentiles"]) == 101
    edges, counts = sepal["histogram"]["edges"], sepal["histogram"]["counts"]
    assert len(edges) == len(counts) + 1 == 11
    assert edges[0] == 4.3 and edges[-1] == 7.9
    assert sum(counts) == 150
    assert counts == np.histogram(values, bins=edges)[0].tolist()


def test_categorical_features_count_categories_and_missing_values() -> None:
    frame = pd.DataFrame({"plan": ["basic", "pro", "basic", None],
                          "active": [True, False, True, True],
                          "spend": [1.0, np.nan, 3.0, 4.0]})
    features = build_profile(frame)["features"]
    assert features["plan"] == {"type": "categorical", "count": 3, "missing": 1,
                                "frequencies": {"basic": 2, "pro": 1}, "other": 0}
    assert features["active"]["frequencies"] == {"true": 3, "false": 1}
    assert (features["spend"]["count"], features["spend"]["missing"]) == (3, 1)


def test_many_categories_keep_the_top_fifty_and_count_the_rest() -> None:
    frame = pd.DataFrame({"city": [f"c{i}" for i in range(60)] + ["c0"] * 5})
    city = build_profile(frame)["features"]["city"]
    assert len(city["frequencies"]) == 50
    assert city["frequencies"]["c0"] == 6
    assert city["other"] == 65 - sum(city["frequencies"].values())


def test_arrays_name_features_by_position_and_profiles_are_strict_json() -> None:
    data = np.random.default_rng(0).normal(size=(200, 3))
    data[0, 1] = np.nan
    profile = build_profile(data)
    assert list(profile["features"]) == ["0", "1", "2"]
    assert profile["features"]["1"]["missing"] == 1
    json.dumps(profile, allow_nan=False)  # no NaN or infinity leaks into the file
    assert list(build_profile([[1, "a"], [2, "b"]])["features"]) == ["0", "1"]


def test_constant_and_empty_columns_do_not_break_the_profile() -> None:
    frame = pd.DataFrame({"k": [2.0, 2.0, 2.0], "none": [np.nan, np.nan, np.nan]})
    features = build_profile(frame)["features"]
    assert features["k"]["std"] == 0.0 and sum(features["k"]["histogram"]["counts"]) == 3
    assert features["none"]["count"] == 0 and features["none"]["mean"] is None


def test_images_cannot_be_profiled_and_say_so() -> None:
    with pytest.raises(InvalidInput, match="cannot profile data of shape"):
        build_profile(np.zeros((2, 3, 4)))
