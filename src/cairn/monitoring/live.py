"""Live quality of a served model, from predictions joined with their ground truth.

Classifiers get accuracy, precision, recall and F1. When the model's classes (or, if unknown,
the classes seen in the window) are 0 and 1 (or booleans), the positive class is 1 and the
scores are the binary ones; a score with nothing to divide by (no positive predicted, or none
labelled) is None rather than a misleading 0. Otherwise precision, recall and F1 are macro
averages over the classes seen in labels or predictions, as scikit-learn's
``average="macro"``. Regressors get MAE and RMSE.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

CLASSIFICATION = "classification"
REGRESSION = "regression"


@dataclass(frozen=True)
class LiveMetrics:
    n: int
    values: dict[str, float | None]
    average: str | None = None  # binary | macro, for classifiers

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"n": self.n, **self.values}
        if self.average:
            out["average"] = self.average
        return out


def normalize(value: Any) -> Any:
    """One spelling per value, so that a label 1.0 matches a prediction 1 and "1" stays text."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def infer_task(outputs: Sequence[Any], labels: Sequence[Any]) -> str:
    """Regression when any prediction or label is a non-integer number, else classification."""
    for v in (*outputs, *labels):
        v = normalize(v)
        if isinstance(v, float):
            return REGRESSION
    return CLASSIFICATION


def classification_metrics(y_true: Sequence[Any], y_pred: Sequence[Any],
                           classes: Sequence[Any] | None = None) -> LiveMetrics:
    truth = [_key(normalize(v)) for v in y_true]
    pred = [_key(normalize(v)) for v in y_pred]
    n = len(truth)
    if n == 0:
        return LiveMetrics(0, {})
    accuracy = sum(1 for t, p in zip(truth, pred, strict=True) if t == p) / n
    seen = set(truth) | set(pred)
    known = {_key(normalize(c)) for c in classes} if classes else seen
    if known <= {_key(0), _key(1)}:
        precision, recall, f1 = _binary_scores(truth, pred, _key(1))
        return LiveMetrics(n, {"accuracy": accuracy, "precision": precision, "recall": recall,
                               "f1": f1}, "binary")
    scores = [_class_scores(truth, pred, c) for c in sorted(seen)]
    k = len(scores)
    return LiveMetrics(n, {
        "accuracy": accuracy,
        "precision": sum(s[0] for s in scores) / k,
        "recall": sum(s[1] for s in scores) / k,
        "f1": sum(s[2] for s in scores) / k,
    }, "macro")


def regression_metrics(y_true: Sequence[Any], y_pred: Sequence[Any]) -> LiveMetrics:
    pairs = [(_number(t), _number(p)) for t, p in zip(y_true, y_pred, strict=True)]
    errors = [p - t for t, p in pairs if t is not None and p is not None]
    n = len(errors)
    if n == 0:
        return LiveMetrics(0, {})
    mae = sum(abs(e) for e in errors) / n
    rmse = math.sqrt(sum(e * e for e in errors) / n)
    return LiveMetrics(n, {"mae": mae, "rmse": rmse})


def live_metrics(task: str | None, y_true: Sequence[Any], y_pred: Sequence[Any],
                 classes: Sequence[Any] | None = None) -> LiveMetrics:
    task = task or infer_task(y_pred, y_true)
    if task == REGRESSION:
        return regression_metrics(y_true, y_pred)
    return classification_metrics(y_true, y_pred, classes)


def _binary_scores(truth: list[tuple[int, float | str]], pred: list[tuple[int, float | str]],
                   positive: tuple[int, float | str]) -> tuple[float | None, float | None,
                                                           float | None]:
    tp = sum(1 for t, p in zip(truth, pred, strict=True) if t == positive and p == positive)
    predicted = sum(1 for p in pred if p == positive)
    actual = sum(1 for t in truth if t == positive)
    precision = tp / predicted if predicted else None
    recall = tp / actual if actual else None
    if precision is None or recall is None:
        return precision, recall, None
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def _class_scores(truth: list[tuple[int, float | str]], pred: list[tuple[int, float | str]],
                  positive: tuple[int, float | str]) -> tuple[float, float, float]:
    tp = sum(1 for t, p in zip(truth, pred, strict=True) if t == positive and p == positive)
    fp = sum(1 for t, p in zip(truth, pred, strict=True) if t != positive and p == positive)
    fn = sum(1 for t, p in zip(truth, pred, strict=True) if t == positive and p != positive)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def _key(value: Any) -> tuple[int, float | str]:
    """A sortable, hashable key: numbers before text, each in their own order."""
    if isinstance(value, (int, float)):
        return (0, float(value))
    return (1, str(value))


def _number(value: Any) -> float | None:
    value = normalize(value)
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None
