"""The monitor report: counts, live metrics per window, drift per feature, and their history.

The same dict answers ``GET /monitor`` and ``cairn monitor --json``; it is computed from the
prediction log in the store, so every server worker (and the CLI, with no server running)
sees the same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cairn._util.ids import now_ms
from cairn.errors import InvalidInput
from cairn.monitoring.drift import DriftSettings, drift_report
from cairn.monitoring.live import live_metrics
from cairn.store.db import Database
from cairn.store.predictions import LoggedPrediction, log_counts, recent_predictions

if TYPE_CHECKING:
    from cairn.models.registry import ModelVersion
    from cairn.store.core import MetaStore

HISTORY_POINTS = 20
TIME_WINDOW_MAX = 100_000  # the newest labelled predictions a time window reads at most
MIN_BUCKET = 10


@dataclass(frozen=True)
class MonitorSettings:
    labelled_window: int = 500  # the last N labelled predictions
    minutes_window: float = 60.0  # the labelled predictions of the last T minutes
    drift_window: int = 1000  # the last N predictions, for drift
    drift: DriftSettings = field(default_factory=DriftSettings)


@dataclass(frozen=True)
class Deployment:
    """What the report needs to know about the model version being watched."""

    name: str
    model_id: str
    version: int
    task: str | None
    profile: Mapping[str, Mapping[str, Any]]
    feature_names: Sequence[str]
    classes: Sequence[Any] | None = None  # a classifier's classes, when the model is loaded


def deployment_for(store: MetaStore, version: ModelVersion, meta: Mapping[str, Any],
                   profile: Mapping[str, Any] | None) -> Deployment:
    """What ``monitor_report`` needs about a model version, from its ``cairn-model.json``
    (``meta``) and training profile; the model itself is never loaded."""
    from cairn.models.packaging import read_signature
    from cairn.models.registry import model_id
    from cairn.monitoring.drift import profile_features
    from cairn.store.predictions import seen_classes

    signature = read_signature(meta) or read_signature(version.record)
    mid = model_id(store, version.name)
    task = meta.get("task") or version.record.get("task")
    return Deployment(
        name=version.name, model_id=mid, version=version.version, task=task,
        profile=profile_features(profile),
        feature_names=signature.feature_names if signature else [],
        classes=seen_classes(store.db, mid, version.version)
        if task == "classification" else None,
    )


def monitor_report(db: Database, dep: Deployment,
                   settings: MonitorSettings = MonitorSettings(),
                   now: int | None = None) -> dict[str, Any]:
    now = now if now is not None else now_ms()
    counts = log_counts(db, dep.model_id, dep.version)
    labelled = recent_predictions(db, dep.model_id, version=dep.version, labelled=True,
                                  limit=settings.labelled_window, with_inputs=False)
    since = now - int(settings.minutes_window * 60_000)
    recent_labelled = recent_predictions(db, dep.model_id, version=dep.version, labelled=True,
                                         since_ms=since, limit=TIME_WINDOW_MAX,
                                         with_inputs=False)
    count_key = f"last_{settings.labelled_window}"
    time_key = f"last_{_minutes(settings.minutes_window)}"
    live = {
        count_key: _window(dep, labelled,
                           f"the last {settings.labelled_window} labelled predictions"),
        time_key: _window(dep, recent_labelled,
                          f"labelled predictions of the last {_minutes(settings.minutes_window)}"),
    }
    recent = recent_predictions(db, dep.model_id, version=dep.version,
                                limit=settings.drift_window)
    drift = drift_json(dep, recent, settings.drift)
    return {
        "model": dep.name,
        "version": dep.version,
        "task": dep.task,
        "generated_at": now,
        "counts": {"predictions": counts.predictions, "labelled": counts.labelled,
                   "feedback": counts.feedback, "first_at": counts.first_at,
                   "last_at": counts.last_at},
        "live": live,
        "live_history": live_history(dep, labelled),
        "drift": drift,
        "dataset_drift": drift["dataset_drift"],
    }


def _minutes(minutes: float) -> str:
    return f"{minutes:g}m"


def _window(dep: Deployment, rows: Sequence[LoggedPrediction], what: str) -> dict[str, Any]:
    result = live_metrics(dep.task, [r.label for r in rows], [r.output for r in rows],
                          dep.classes)
    out: dict[str, Any] = {"window": what, "n": result.n, "metrics": result.values}
    if result.average:
        out["average"] = result.average
    return out


def live_history(dep: Deployment, rows: Sequence[LoggedPrediction],
                 points: int = HISTORY_POINTS) -> list[dict[str, Any]]:
    """The window cut into equal, time-ordered slices, each scored: the chart's points."""
    ordered = sorted(rows, key=lambda r: (r.created_at, r.id))
    out = []
    for part in _slices(ordered, points):
        result = live_metrics(dep.task, [r.label for r in part], [r.output for r in part],
                              dep.classes)
        out.append({"t": part[-1].created_at, "n": result.n, "metrics": result.values})
    return out


def _slices(rows: Sequence[LoggedPrediction], points: int,
            min_size: int = MIN_BUCKET) -> list[Sequence[LoggedPrediction]]:
    k = min(points, len(rows) // max(1, min_size))
    if k <= 0:
        return []
    size = len(rows) / k
    return [rows[round(i * size):round((i + 1) * size)] for i in range(k)]


def feature_columns(rows: Sequence[LoggedPrediction],
                    names: Sequence[str]) -> dict[str, list[Any]]:
    """Logged inputs (records or positional rows) as feature -> values."""
    columns: dict[str, list[Any]] = {name: [] for name in names}
    for r in rows:
        inputs = r.inputs
        if isinstance(inputs, dict):
            for name, value in inputs.items():
                columns.setdefault(str(name), []).append(value)
        elif isinstance(inputs, list):
            for name, value in zip(names, inputs, strict=False):
                columns[name].append(value)
    return columns


def drift_json(dep: Deployment, rows: Sequence[LoggedPrediction],
               settings: DriftSettings) -> dict[str, Any]:
    names = list(dep.feature_names) or list(dep.profile)
    report = drift_report(dep.profile, feature_columns(rows, names), len(rows), settings)
    out = report.to_json()
    out["window"] = f"the last {len(rows)} predictions"
    ordered = sorted(rows, key=lambda r: (r.created_at, r.id))
    history: dict[str, list[float | None]] = {name: [] for name in dep.profile}
    pieces = min(10, len(ordered) // max(1, settings.min_count))
    for part in _slices(ordered, pieces, min_size=settings.min_count):
        cut = drift_report(dep.profile, feature_columns(part, names), len(part), settings)
        for f in cut.features:
            history[f.feature].append(f.psi)
    out["psi_history"] = history
    if not dep.profile:
        out["note"] = "the model has no training-data profile, so drift cannot be measured"
    return out


def monitor_settings(window: str | None, minutes: str | None,
                     drift_window: str | None) -> MonitorSettings:
    """Window sizes from query parameters, checked."""
    base = MonitorSettings()
    try:
        labelled = int(window) if window else base.labelled_window
        mins = float(minutes) if minutes else base.minutes_window
        drift = int(drift_window) if drift_window else base.drift_window
    except ValueError as exc:
        raise InvalidInput("window and drift_window must be whole numbers and minutes a "
                           "number") from exc
    if (labelled < 1 or drift < 1 or not 0 < mins < 1e9 or labelled > 1_000_000
            or drift > 1_000_000):
        raise InvalidInput("windows must be positive (at most 1,000,000 rows)")
    return MonitorSettings(labelled_window=labelled, minutes_window=mins, drift_window=drift,
                           drift=base.drift)
