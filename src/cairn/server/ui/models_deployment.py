"""The deployment page: live metrics, drift per feature and the prediction log of a version.

Live metrics and drift come from ``monitoring.report.monitor_report``, the function behind
``cairn monitor`` and the model server's ``GET /monitor``, so the three always agree. The
page never loads the model: its signature and training profile are read from the two small
files of its stored folder. NumPy (``cairn[serve]``) is imported only here, when the page is
asked for, so the registry pages work without it.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cairn._util.fmt import fmt_value
from cairn.errors import CairnError, MissingExtra
from cairn.models.registry import ModelVersion, RegisteredModel, get_version, model_id
from cairn.objects.base import ObjectStore
from cairn.server.ui import models_charts
from cairn.server.ui.models_views import (
    PER_PAGE,
    PredictionRow,
    find_model,
    maybe_run,
    model_files,
    page_of_predictions,
    prediction_row,
)
from cairn.store import predictions
from cairn.store import runs as run_store
from cairn.store.core import MetaStore

if TYPE_CHECKING:
    from cairn.monitoring.report import Deployment, MonitorSettings


def require_numpy() -> None:
    """Live metrics and drift need NumPy (``cairn[serve]``); the registry pages do not."""
    try:
        import numpy  # noqa: F401
    except ImportError as exc:
        raise MissingExtra("numpy", "serve") from exc


def monitor_settings(window: str | None, minutes: str | None,
                     drift_window: str | None) -> MonitorSettings:
    """Window sizes from the query string, checked as ``GET /monitor`` checks them."""
    require_numpy()
    from cairn.monitoring.report import monitor_settings as parse

    return parse(window, minutes, drift_window)


def deployment_of(store: MetaStore, objects: ObjectStore, version: ModelVersion
                  ) -> tuple[Deployment, str | None]:
    """What ``monitor_report`` needs about ``version``, as ``cairn monitor`` gathers it; and a
    note when the model's files are missing here (live metrics still work, drift does not)."""
    from cairn.monitoring.report import deployment_for

    note = None
    meta: dict[str, Any] = {}
    profile = None
    try:
        meta, profile = model_files(objects, version)
    except (CairnError, ValueError, OSError) as exc:
        note = (f"the files of {version.ref} cannot be read here ({_reason(exc)}), so its "
                "training profile is unknown")
    dep = deployment_for(store, version, meta, profile)
    return dep, note


def _reason(exc: Exception) -> str:
    return exc.message if isinstance(exc, CairnError) else str(exc)


def pick_version(store: MetaStore, name: str, selector: str | None) -> ModelVersion:
    """The version asked for; else the one that answered last, else production, else latest."""
    if selector:
        return get_version(store, name, selector)
    served = predictions.latest_version(store.db, model_id(store, name))
    if served is not None:
        return get_version(store, name, served)
    found = find_model(store, name)
    return get_version(store, name, "production" if "production" in found.aliases else "latest")


@dataclass(frozen=True)
class FeatureRow:
    name: str
    drift: dict[str, Any]  # one feature of the report's ``drift.features``
    trend: str  # SVG
    bars: str  # SVG

    @property
    def statistic(self) -> float | None:
        value = self.drift.get("ks_statistic", self.drift.get("chi2_statistic"))
        return value if isinstance(value, (int, float)) else None

    @property
    def pvalue(self) -> float | None:
        value = self.drift.get("ks_pvalue", self.drift.get("chi2_pvalue"))
        return value if isinstance(value, (int, float)) else None


@dataclass
class DeploymentPage:
    model: RegisteredModel
    version: ModelVersion
    run: run_store.RunRow | None
    served: list[tuple[int, int]]
    settings: MonitorSettings
    report: dict[str, Any]
    note: str | None
    metric_names: list[str]
    charts: dict[str, Any]
    features: list[FeatureRow]
    rows: list[PredictionRow]
    page: int
    per_page: int
    task: str | None = None
    windows: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return int(self.report["counts"]["predictions"])

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def drifted(self) -> list[str]:
        return [f.name for f in self.features if f.drift.get("drifted")]

    @property
    def judged(self) -> int:
        return sum(1 for f in self.features if f.drift.get("drifted") is not None)


def deployment_page(store: MetaStore, objects: ObjectStore, name: str, *,
                    version: str | None, settings: MonitorSettings, page: int = 1,
                    per_page: int = PER_PAGE) -> DeploymentPage:
    require_numpy()
    from cairn.monitoring.live import infer_task
    from cairn.monitoring.report import monitor_report

    found = find_model(store, name)
    mv = pick_version(store, name, version)
    dep, note = deployment_of(store, objects, mv)
    report = monitor_report(store.db, dep, settings)
    rows = page_of_predictions(store, dep.model_id, mv.version, page, per_page)
    task = dep.task or (infer_task([r.output for r in rows], [r.label for r in rows
                                                             if r.label is not None])
                        if rows else None)
    names: list[str] = []
    for block in report["live"].values():
        names += [k for k in block["metrics"] if k not in names]
    return DeploymentPage(
        model=found, version=mv, run=maybe_run(store, mv.run_id),
        served=predictions.served_versions(store.db, dep.model_id), settings=settings,
        report=report, note=note, metric_names=names, charts=live_charts(report),
        features=feature_rows(store, dep, report, settings),
        rows=[prediction_row(r, dep.feature_names, task) for r in rows], page=page,
        per_page=per_page, task=task, windows=list(report["live"].items()),
    )


def live_charts(report: Mapping[str, Any]) -> dict[str, Any]:
    """The live history as the chart helper's data: x is time, or labelled predictions."""
    history = report.get("live_history") or []
    series: dict[str, Any] = {}
    seen = 0
    steps: list[int] = []
    for point in history:
        seen += int(point["n"])
        steps.append(seen)
    names = {k for point in history for k in point["metrics"]}
    for key in sorted(names):
        series[key] = {"steps": steps, "times": [p["t"] for p in history],
                       "values": [p["metrics"].get(key) for p in history],
                       "count": len(history)}
    return {"runs": [{"id": "live", "series": series}]}


def feature_rows(store: MetaStore, dep: Deployment, report: Mapping[str, Any],
                 settings: MonitorSettings) -> list[FeatureRow]:
    """Each profiled feature's verdict with its PSI trend and training-vs-live shares."""
    from cairn.monitoring.report import feature_columns
    drift = report["drift"]
    if not drift["features"]:
        return []
    recent = predictions.recent_predictions(store.db, dep.model_id, version=dep.version,
                                limit=settings.drift_window)
    names = list(dep.feature_names) or list(dep.profile)
    columns = feature_columns(recent, names)
    out = []
    for name, verdict in drift["features"].items():
        trend = models_charts.sparkline_svg(drift.get("psi_history", {}).get(name) or [],
                                            threshold=drift["psi_threshold"],
                                            alarm=bool(verdict.get("drifted")),
                                            label=f"PSI of {name} over time")
        labels, training, live = shares(dep.profile.get(name) or {}, columns.get(name, []))
        bars = models_charts.bars_svg(labels, training, live, drifted=verdict.get("drifted"),
                                      label=f"{name}: training and live")
        out.append(FeatureRow(name, verdict, trend, bars))
    return out


def shares(spec: Mapping[str, Any], values: Sequence[Any]
           ) -> tuple[list[str], list[float], list[float]]:
    """Bin labels, training shares and live shares of one feature, over the profile's bins
    (live values outside the training range count in the first or last bin, as PSI does)."""
    import numpy as np

    from cairn.monitoring.drift import categorical_reference, feature_kind, numeric_reference

    if not values:
        return [], [], []
    if feature_kind(spec) == "categorical":
        expected = categorical_reference(spec)
        total = sum(expected.values()) or 1.0
        seen = Counter(("true" if v else "false") if isinstance(v, bool) else str(v)
                       for v in values if v is not None)
        cats = list(expected)[:12]
        n = sum(seen.values()) or 1
        return cats, [expected[c] / total for c in cats], [seen.get(c, 0) / n for c in cats]
    bins = numeric_reference(spec).bins()
    live = np.asarray([float(v) for v in values if isinstance(v, (int, float))
                       and not isinstance(v, bool) and math.isfinite(v)])
    if bins is None or live.size == 0:
        return [], [], []
    edges, proportions = bins
    counts, _ = np.histogram(np.clip(live, edges[0], edges[-1]), bins=edges)
    labels = [f"{fmt_value(float(lo), 3)} to {fmt_value(float(hi), 3)}"
              for lo, hi in itertools.pairwise(edges)]
    return labels, [float(x) for x in proportions], [float(c) / live.size for c in counts]

