"""Live metrics over labelled predictions agree with scikit-learn's definitions."""

from __future__ import annotations

import math
import random

import pytest
from sklearn import metrics as skm

from cairn.monitoring.live import infer_task, live_metrics


def test_binary_scores_match_scikit_learn() -> None:
    rng = random.Random(1)
    truth = [rng.randint(0, 1) for _ in range(300)]
    pred = [t if rng.random() < 0.8 else 1 - t for t in truth]
    got = live_metrics("classification", truth, pred)
    assert got.average == "binary"
    assert got.values["accuracy"] == pytest.approx(skm.accuracy_score(truth, pred))
    assert got.values["precision"] == pytest.approx(skm.precision_score(truth, pred))
    assert got.values["recall"] == pytest.approx(skm.recall_score(truth, pred))
    assert got.values["f1"] == pytest.approx(skm.f1_score(truth, pred))


def test_multiclass_scores_are_macro_averages() -> None:
    rng = random.Random(2)
    classes = ["setosa", "versicolor", "virginica"]
    truth = [rng.choice(classes) for _ in range(200)]
    pred = [t if rng.random() < 0.7 else rng.choice(classes) for t in truth]
    got = live_metrics(None, truth, pred)
    assert got.average == "macro"
    assert got.values["f1"] == pytest.approx(skm.f1_score(truth, pred, average="macro"))
    assert got.values["precision"] == pytest.approx(
        skm.precision_score(truth, pred, average="macro"))


def test_labels_sent_as_floats_or_bools_match_integer_predictions() -> None:
    got = live_metrics("classification", [1.0, 0.0, True, False], [1, 0, 1, 0])
    assert got.values["accuracy"] == 1.0


def test_regression_mae_and_rmse() -> None:
    truth = [1.0, 2.0, 3.5, 10.0]
    pred = [1.5, 2.0, 3.0, 7.0]
    got = live_metrics("regression", truth, pred)
    assert got.values["mae"] == pytest.approx(skm.mean_absolute_error(truth, pred))
    assert got.values["rmse"] == pytest.approx(math.sqrt(skm.mean_squared_error(truth, pred)))


def test_task_is_guessed_from_the_values_when_unknown() -> None:
    assert infer_task([0.25, 1.5], [0.3, 1.0]) == "regression"
    assert infer_task([1, 0], [1.0, 0.0]) == "classification"
    assert live_metrics(None, [], []).n == 0


def test_the_model_classes_decide_binary_or_macro() -> None:
    # a three-class model whose recent window only saw class 0: macro, all perfect
    got = live_metrics("classification", [0, 0, 0], [0, 0, 0], classes=[0, 1, 2])
    assert got.average == "macro" and got.values["f1"] == 1.0
    # a binary model that predicted no positive: precision has nothing to divide by
    got = live_metrics("classification", [0, 1, 0], [0, 0, 0], classes=[0, 1])
    assert got.average == "binary"
    assert got.values["precision"] is None and got.values["recall"] == 0.0
    assert got.values["f1"] is None and got.values["accuracy"] == pytest.approx(2 / 3)
