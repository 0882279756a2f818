"""Turning a gradient-boosting booster's raw output into labels and probabilities.

XGBoost and LightGBM boosters return probabilities for classification objectives; a served
model must answer labels (so that feedback can be compared with them), with the probabilities
kept for ``predict_proba``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from cairn.models.flavors.base import Predictor

BINARY = ("binary:logistic", "binary")
MULTI_PROBA = ("multi:softprob", "multiclass", "multiclassova", "softmax", "ova")
MULTI_LABEL = ("multi:softmax",)
REGRESSION = ("regression", "regression_l1", "huber", "fair", "poisson", "quantile", "mape",
              "gamma", "tweedie", "l1", "l2", "mse", "mae", "rmse")


def objective_task(objective: str) -> str | None:
    name = objective.split()[0]  # LightGBM writes "binary sigmoid:1"
    if name in BINARY or name in MULTI_PROBA or name in MULTI_LABEL:
        return "classification"
    if name.startswith(("reg:", "count:", "survival:")) or name in REGRESSION:
        return "regression"
    return None


def booster_predictor(
    native: Any,
    raw: Callable[[Any], Any],
    objective: str,
    classes: Sequence[Any] | None = None,
) -> Predictor:
    import numpy as np

    name = objective.split()[0]
    task = objective_task(objective)
    labels = np.asarray(classes) if classes is not None else None

    def label(index: Any) -> Any:
        return labels[index] if labels is not None else index

    if name in BINARY:
        def proba(inputs: Any) -> Any:
            p = np.asarray(raw(inputs), dtype=float).reshape(-1)
            return np.column_stack([1.0 - p, p])

        def predict(inputs: Any) -> Any:
            return label((np.asarray(raw(inputs)).reshape(-1) >= 0.5).astype(int))

        known = list(classes) if classes is not None else [0, 1]
        return Predictor(native, predict, proba, known, task)
    if name in MULTI_PROBA:
        def multi_proba(inputs: Any) -> Any:
            return np.asarray(raw(inputs), dtype=float)

        def multi_predict(inputs: Any) -> Any:
            return label(np.argmax(multi_proba(inputs), axis=1))

        return Predictor(native, multi_predict, multi_proba,
                         list(classes) if classes is not None else None, task)
    return Predictor(native, raw, None, list(classes) if classes is not None else None, task)
