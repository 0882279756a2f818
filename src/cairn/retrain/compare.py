"""Scoring the candidate and the current version on the same held-out labelled rows.

The metrics are the ones the prediction server reports live (``monitoring.live``): accuracy
and F1 (binary or macro) for classifiers, MAE and RMSE for regressors, so the comparison
reads like ``cairn monitor``. A model that cannot score the rows (a changed signature, a
flavor not installed) gets its error recorded instead of numbers; the other is still scored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cairn.errors import CairnError
from cairn.retrain.feedback import LabelledRow, feature_values

if TYPE_CHECKING:
    from cairn.models.loading import LoadedModel

#: The metric a comparison leads with, and whether higher is better.
PRIMARY = {"classification": ("f1", True), "regression": ("rmse", False)}


def predictions(model: LoadedModel, columns: Sequence[str],
                rows: Sequence[LabelledRow]) -> list[Any]:
    """The model's answers for the logged inputs, one plain value per row."""
    from cairn.models.loading import to_rows

    named = model.signature is None or model.signature.kind == "columns"
    batch: Any = [dict(zip(columns, feature_values(r.inputs, columns), strict=True))
                  for r in rows] if named and columns else \
        [feature_values(r.inputs, columns) for r in rows]
    return to_rows(model.predict(batch), len(rows))


def score(model: LoadedModel, columns: Sequence[str], rows: Sequence[LabelledRow],
          task: str | None) -> dict[str, Any]:
    """``{"n", "accuracy", "f1", …}`` or ``{"error": sentence}``."""
    from cairn.monitoring.live import live_metrics

    try:
        answers = predictions(model, columns, rows)
    except CairnError as exc:
        return {"error": exc.message}
    except Exception as exc:  # a model's own failure: recorded, never fatal to the retrain
        return {"error": f"{type(exc).__name__}: {exc}"}
    return live_metrics(task, [r.label for r in rows], answers).to_json()


def task_of(models: Sequence[LoadedModel | None], rows: Sequence[LabelledRow]) -> str:
    from cairn.monitoring.live import REGRESSION, infer_task

    for model in models:
        if model is not None and model.task in PRIMARY:
            return str(model.task)
    labels = [r.label for r in rows]
    return REGRESSION if infer_task(labels, labels) == REGRESSION else "classification"


def compare(candidate: LoadedModel, current: LoadedModel | None, current_error: str | None,
            columns: Sequence[str], rows: Sequence[LabelledRow]) -> dict[str, Any]:
    """The comparison recorded with the candidate version."""
    task = task_of([candidate, current], rows)
    metric, higher = PRIMARY[task]
    out: dict[str, Any] = {
        "task": task, "metric": metric, "higher_is_better": higher, "rows": len(rows),
        "from": rows[0].created_at if rows else None,
        "to": rows[-1].created_at if rows else None,
    }
    if not rows:
        out.update(candidate=None, current=None, better=None)
        return out
    out["candidate"] = score(candidate, columns, rows, task)
    out["current"] = score(current, columns, rows, task) if current is not None \
        else {"error": current_error or "the current version could not be loaded"}
    a, b = out["candidate"].get(metric), out["current"].get(metric)
    out["better"] = None if a is None or b is None else (a > b if higher else a < b)
    return out
