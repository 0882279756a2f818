"""``GET /metrics`` in the Prometheus text exposition format (version 0.0.4).

Request counters and latency histograms live in each server process (with ``--workers N`` a
scrape sees the worker that answered it, as with any multi-process server without a shared
registry); prediction and feedback counts, live metrics and drift come from the store and are
the same in every worker.
"""

from __future__ import annotations

import bisect
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                   5.0, 10.0)


@dataclass
class Histogram:
    buckets: tuple[float, ...] = LATENCY_BUCKETS
    counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    total: float = 0.0
    count: int = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value
        self.count += 1


class RequestMetrics:
    """This process's request counters, updated on every request."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, int], int] = {}
        self.errors: dict[tuple[str, str], int] = {}
        self.latency: dict[str, Histogram] = {}
        self.predictions = 0

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        key = (endpoint, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        hist = self.latency.get(endpoint)
        if hist is None:
            hist = self.latency[endpoint] = Histogram()
        hist.observe(seconds)

    def error(self, endpoint: str, code: str) -> None:
        key = (endpoint, code)
        self.errors[key] = self.errors.get(key, 0) + 1


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Mapping[str, Any]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{escape(str(v))}"' for k, v in labels.items()) + "}"


def _num(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


class Exposition:
    """Families of samples, written with their HELP and TYPE lines."""

    def __init__(self) -> None:
        self._lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str,
               samples: Iterable[tuple[Mapping[str, Any], float]]) -> None:
        self._lines.append(f"# HELP {name} {help_text}")
        self._lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            self._lines.append(f"{name}{_labels(labels)} {_num(value)}")

    def histogram(self, name: str, help_text: str, per_label: Mapping[str, Histogram],
                  label: str) -> None:
        self._lines.append(f"# HELP {name} {help_text}")
        self._lines.append(f"# TYPE {name} histogram")
        for key, hist in sorted(per_label.items()):
            cumulative = 0
            for bound, count in zip((*hist.buckets, math.inf), hist.counts, strict=True):
                cumulative += count
                le = "+Inf" if math.isinf(bound) else repr(bound)
                self._lines.append(f'{name}_bucket{{{label}="{escape(key)}",le="{le}"}} '
                                   f"{cumulative}")
            self._lines.append(f'{name}_sum{{{label}="{escape(key)}"}} {_num(hist.total)}')
            self._lines.append(f'{name}_count{{{label}="{escape(key)}"}} {hist.count}')

    def text(self) -> str:
        return "\n".join(self._lines) + "\n"


def render(*, model: str, version: int, flavor: str | None, requests: RequestMetrics,
           log_stats: Mapping[str, int], monitor: Mapping[str, Any] | None,
           batches: int | None = None) -> str:
    """The whole exposition: this worker's counters, then the store's view from ``monitor``."""
    out = Exposition()
    out.family("cairn_model_info", "gauge", "The model version this server answers with.",
               [({"model": model, "version": version, "flavor": flavor or "",
                  "pid": os.getpid()}, 1)])
    out.family("cairn_requests_total", "counter", "HTTP requests answered by this worker.",
               [({"endpoint": e, "status": s}, n)
                for (e, s), n in sorted(requests.requests.items())])
    out.histogram("cairn_request_duration_seconds", "Time to answer a request, in seconds.",
                  requests.latency, "endpoint")
    out.family("cairn_request_errors_total", "counter", "Requests refused or failed, by code.",
               [({"endpoint": e, "code": c}, n) for (e, c), n in sorted(requests.errors.items())])
    out.family("cairn_predictions_total", "counter", "Predictions made by this worker.",
               [({}, requests.predictions)])
    out.family("cairn_prediction_log_written_total", "counter",
               "Prediction log rows this worker wrote to the store.",
               [({}, log_stats.get("written", 0))])
    out.family("cairn_prediction_log_dropped_total", "counter",
               "Prediction log rows dropped because the log queue was full.",
               [({}, log_stats.get("dropped", 0))])
    out.family("cairn_prediction_log_pending", "gauge",
               "Prediction log rows waiting to be written.", [({}, log_stats.get("pending", 0))])
    if batches is not None:
        out.family("cairn_model_batches_total", "counter",
                   "Calls to the model that scored micro-batched requests together.",
                   [({}, batches)])
    if monitor:
        _store_families(out, monitor)
    return out.text()


def _store_families(out: Exposition, monitor: Mapping[str, Any]) -> None:
    counts = monitor.get("counts") or {}
    out.family("cairn_logged_predictions", "gauge", "Predictions of this version in the log.",
               [({}, counts.get("predictions", 0))])
    out.family("cairn_labelled_predictions", "gauge", "Logged predictions with ground truth.",
               [({}, counts.get("labelled", 0))])
    out.family("cairn_feedback_total", "counter", "Labels received, replacements included.",
               [({}, counts.get("feedback", 0))])
    live = []
    for window, block in (monitor.get("live") or {}).items():
        for metric, value in (block.get("metrics") or {}).items():
            if isinstance(value, (int, float)):
                live.append(({"window": window, "metric": metric}, float(value)))
    out.family("cairn_live_metric", "gauge", "Live model quality over a sliding window.", live)
    drift = monitor.get("drift") or {}
    features = (drift.get("features") or {}).values()
    for key, name, help_text in (
            ("psi", "cairn_drift_psi", "Population stability index against the training data."),
            ("ks_statistic", "cairn_drift_ks_statistic", "Kolmogorov-Smirnov statistic."),
            ("ks_pvalue", "cairn_drift_ks_pvalue", "Kolmogorov-Smirnov p-value."),
            ("chi2_pvalue", "cairn_drift_chi2_pvalue", "Chi-square p-value (categorical).")):
        out.family(name, "gauge", help_text,
                   [({"feature": f["feature"]}, f[key]) for f in features
                    if f.get(key) is not None])
    out.family("cairn_drift_feature_drifted", "gauge", "1 when the feature drifted.",
               [({"feature": f["feature"]}, 1.0 if f["drifted"] else 0.0) for f in features
                if f.get("drifted") is not None])
    if drift.get("dataset_drift") is not None:
        out.family("cairn_drift_dataset", "gauge", "1 when at least half the features drifted.",
                   [({}, 1.0 if drift["dataset_drift"] else 0.0)])
