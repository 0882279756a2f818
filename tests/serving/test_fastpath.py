"""A numeric table goes to scikit-learn as an array only when the answers provably match."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from cairn.model_server.fastpath import try_array_path

X, Y = load_iris(return_X_y=True, as_frame=True)
X.columns = ["sl", "sw", "pl", "pw"]
NAMES = list(X.columns)
EXAMPLE = X[::30]


def check(model: object, names: list[str] = NAMES) -> bool:
    return try_array_path(model, names, EXAMPLE, EXAMPLE.to_numpy(),
                          [model.predict, model.predict_proba])  # type: ignore[attr-defined]


def test_an_estimator_fitted_on_a_frame_scores_arrays_identically() -> None:
    model = LogisticRegression(max_iter=500).fit(X, Y)
    before = model.predict_proba(X)
    assert check(model)
    assert np.array_equal(model.predict_proba(X.to_numpy()), before)


def test_a_pipeline_forgets_the_names_of_every_step() -> None:
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, Y)
    expected = model.predict(X)
    assert check(model)
    assert np.array_equal(model.predict(X.to_numpy()), expected)


def test_columns_selected_by_name_keep_the_frame() -> None:
    pick = ColumnTransformer([("keep", StandardScaler(), ["pl", "pw"])])
    model = make_pipeline(pick, LogisticRegression(max_iter=500)).fit(X, Y)
    assert not check(model)
    assert list(model.feature_names_in_) == NAMES  # put back
    model.predict(X)  # and still scores frames, without a warning


def test_models_without_names_or_with_another_order_are_left_alone() -> None:
    plain = LogisticRegression(max_iter=500).fit(X.to_numpy(), Y)
    assert not check(plain)
    named = LogisticRegression(max_iter=500).fit(X, Y)
    assert not check(named, ["sw", "sl", "pl", "pw"])
    assert list(named.feature_names_in_) == NAMES
    assert not try_array_path(lambda x: x, NAMES, EXAMPLE, EXAMPLE.to_numpy(), [])


def test_a_frame_of_mixed_types_is_not_a_candidate() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": ["x", "y", "x", "y"]})
    model = make_pipeline(ColumnTransformer([("n", StandardScaler(), ["a"])]),
                          LogisticRegression()).fit(frame, [0, 1, 0, 1])
    assert not try_array_path(model, ["a", "b"], frame, frame.to_numpy(), [model.predict])
