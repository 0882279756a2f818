"""Drift of live inputs against the profile of the data a model was trained on.

Per numeric feature:

- **PSI** (population stability index) over the profile's histogram bins. Live values below
  the first edge count in the first bin and above the last edge in the last, so a shift out of
  the training range still shows. Empty bins get a proportion of 1e-4 on both sides.
  ``PSI >= 0.2`` (the usual "significant shift") marks drift.
- **Kolmogorov–Smirnov, two-sample.** The profile keeps quantiles and a histogram, not the
  training rows, so the reference sample is *reconstructed*: ``m = min(count, 2000)`` points
  at the reference quantile function evaluated at ``(i + 0.5) / m``. The quantile function is
  the linear interpolation through the profile's 101 percentiles (or its deciles), the most
  exact description kept, and otherwise through the histogram's cumulative counts (values
  spread evenly inside each bin). The statistic is the usual sup-distance between the two empirical
  CDFs and the p-value is the asymptotic Kolmogorov tail with Stephens' correction for
  ``n·m/(n+m)``. ``p < alpha`` (default 0.01) also marks drift. With ``m`` capped at 2,000
  the test is slightly less sensitive than one against the full training set would be.

Per categorical feature: PSI over the training categories plus one bucket for every other
value, and Pearson's chi-square goodness of fit of the live counts against the training
frequencies. The other bucket expects the profile's ``other`` count (values beyond its top
categories), and at least half a training row, so a new category raises drift without
dividing by zero.

A feature with fewer than ``min_count`` live values is not judged. The dataset drifts when at
least half of the judged features drift.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cairn.monitoring.tail_probabilities import chi2_sf, ks_pvalue

PSI_THRESHOLD = 0.2
KS_ALPHA = 0.01
MIN_COUNT = 30
RECONSTRUCTED_MAX = 2000
_FLOOR = 1e-4


@dataclass(frozen=True)
class DriftSettings:
    psi_threshold: float = PSI_THRESHOLD
    alpha: float = KS_ALPHA
    min_count: int = MIN_COUNT


@dataclass(frozen=True)
class FeatureDrift:
    """The verdict for one feature; ``drifted`` is None when there were too few values."""

    feature: str
    kind: str  # numeric | categorical
    n: int
    psi: float | None = None
    ks_statistic: float | None = None
    ks_pvalue: float | None = None
    chi2_statistic: float | None = None
    chi2_pvalue: float | None = None
    drifted: bool | None = None
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"feature": self.feature, "kind": self.kind, "n": self.n,
                               "psi": self.psi, "drifted": self.drifted}
        if self.kind == "numeric":
            out["ks_statistic"] = self.ks_statistic
            out["ks_pvalue"] = self.ks_pvalue
        else:
            out["chi2_statistic"] = self.chi2_statistic
            out["chi2_pvalue"] = self.chi2_pvalue
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True)
class DriftReport:
    features: list[FeatureDrift]
    n: int
    settings: DriftSettings = field(default_factory=DriftSettings)

    @property
    def judged(self) -> list[FeatureDrift]:
        return [f for f in self.features if f.drifted is not None]

    @property
    def drifted_share(self) -> float | None:
        judged = self.judged
        if not judged:
            return None
        return sum(1 for f in judged if f.drifted) / len(judged)

    @property
    def dataset_drift(self) -> bool | None:
        share = self.drifted_share
        return None if share is None else share >= 0.5

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "psi_threshold": self.settings.psi_threshold,
            "alpha": self.settings.alpha,
            "dataset_drift": self.dataset_drift,
            "drifted_share": self.drifted_share,
            "features": {f.feature: f.to_json() for f in self.features},
        }


# -- reading a profile --------------------------------------------------------------------------
@dataclass(frozen=True)
class NumericReference:
    count: int
    edges: np.ndarray | None  # histogram bin edges (k + 1)
    counts: np.ndarray | None  # histogram counts (k)
    levels: np.ndarray | None  # quantile levels in [0, 1], increasing
    values: np.ndarray | None  # the quantiles at those levels

    def quantile_function(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(levels, values) to interpolate the reference's inverse CDF through."""
        if self.levels is not None and self.values is not None and len(self.levels) >= 2:
            return self.levels, self.values
        if self.edges is not None and self.counts is not None and self.counts.sum() > 0:
            cdf = np.concatenate([[0.0], np.cumsum(self.counts) / self.counts.sum()])
            return cdf, self.edges
        return None

    def bins(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(edges, expected proportions) for PSI: the histogram, else the quantile bands."""
        if self.edges is not None and self.counts is not None and self.counts.sum() > 0:
            return self.edges, self.counts / self.counts.sum()
        if self.levels is not None and self.values is not None and len(self.levels) >= 3:
            edges, keep = np.unique(self.values, return_index=True)
            if len(edges) < 2:
                return None
            levels = self.levels[keep]
            return edges, np.diff(levels) / max(levels[-1] - levels[0], 1e-12)
        return None


def feature_kind(spec: Mapping[str, Any]) -> str:
    kind = str(spec.get("kind") or spec.get("type") or "").lower()
    if kind in ("categorical", "category", "string", "object", "bool", "boolean"):
        return "categorical"
    if kind in ("numeric", "number", "float", "integer", "int"):
        return "numeric"
    has_freq = "frequencies" in spec or "categories" in spec
    return "categorical" if has_freq else "numeric"


def numeric_reference(spec: Mapping[str, Any]) -> NumericReference:
    """The histogram and quantiles of a numeric profile entry, in whichever shape it has."""
    hist = spec.get("histogram")
    edges = counts = None
    if isinstance(hist, Mapping):
        edges = hist.get("edges", hist.get("bin_edges", hist.get("bins")))
        counts = hist.get("counts", hist.get("bin_counts"))
    elif isinstance(hist, Sequence) and len(hist) == 2:
        counts, edges = hist
    edges = edges if edges is not None else spec.get("bin_edges")
    counts = counts if counts is not None else spec.get("bin_counts")
    levels, values = _quantiles(spec)
    count = spec.get("count")
    e = np.asarray(edges, dtype=float) if edges is not None else None
    c = np.asarray(counts, dtype=float) if counts is not None else None
    if e is not None and c is not None and len(e) != len(c) + 1:
        e = c = None
    if count is None:
        count = int(c.sum()) if c is not None else 0
    return NumericReference(int(count), e, c, levels, values)


def _quantiles(spec: Mapping[str, Any]) -> tuple[np.ndarray | None, np.ndarray | None]:
    raw = spec.get("percentiles") or spec.get("quantiles")
    pairs: list[tuple[float, float]] = []
    if isinstance(raw, Mapping):
        for key, value in raw.items():
            level = _level(key)
            if level is not None and value is not None:
                pairs.append((level, float(value)))
    elif isinstance(raw, Sequence) and raw:
        levels = spec.get("quantile_levels") or spec.get("levels")
        if levels is not None and len(levels) == len(raw):
            pairs = [(float(q), float(v)) for q, v in zip(levels, raw, strict=True)]
        elif all(isinstance(x, Sequence) and len(x) == 2 for x in raw):
            pairs = [(float(q), float(v)) for q, v in raw]
        else:  # evenly spaced quantiles from 0 to 1
            k = len(raw) - 1
            pairs = [(i / k if k else 0.0, float(v)) for i, v in enumerate(raw)]
    for level, key in ((0.0, "min"), (1.0, "max")):
        if spec.get(key) is not None and all(abs(q - level) > 1e-12 for q, _ in pairs):
            pairs.append((level, float(spec[key])))
    pairs = [(q, v) for q, v in pairs if math.isfinite(v)]
    if len(pairs) < 2:
        return None, None
    pairs.sort()
    levels = np.array([q for q, _ in pairs])
    values = np.maximum.accumulate(np.array([v for _, v in pairs]))
    return levels, values


def _level(key: Any) -> float | None:
    text = str(key).strip().lower().lstrip("pq").rstrip("%")
    try:
        level = float(text)
    except ValueError:
        return None
    if level > 1:
        level /= 100
    return level if 0 <= level <= 1 else None


def categorical_reference(spec: Mapping[str, Any]) -> dict[str, float]:
    """Training counts per category, keyed by the category's text."""
    raw = spec.get("frequencies", spec.get("categories")) or {}
    if not isinstance(raw, Mapping):
        raw = {str(c): 1 for c in raw} if isinstance(raw, Sequence) else {}
    return {str(k): float(v) for k, v in raw.items() if v is not None and float(v) >= 0}


# -- the tests ------------------------------------------------------------------------------------
def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index of two proportion vectors over the same bins."""
    e = np.maximum(np.asarray(expected, dtype=float), _FLOOR)
    a = np.maximum(np.asarray(actual, dtype=float), _FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def ks_two_sample(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(statistic, p-value) of the two-sample Kolmogorov–Smirnov test."""
    a = np.sort(np.asarray(a, dtype=float))
    b = np.sort(np.asarray(b, dtype=float))
    if len(a) == 0 or len(b) == 0:
        return 0.0, 1.0
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / len(a)
    cdf_b = np.searchsorted(b, grid, side="right") / len(b)
    statistic = float(np.max(np.abs(cdf_a - cdf_b)))
    return statistic, ks_pvalue(statistic, len(a), len(b))


def reconstruct_sample(reference: NumericReference) -> np.ndarray | None:
    """Points spread evenly over the reference's quantile function (see the module doc)."""
    qf = reference.quantile_function()
    if qf is None:
        return None
    levels, values = qf
    m = max(2, min(reference.count or RECONSTRUCTED_MAX, RECONSTRUCTED_MAX))
    u = (np.arange(m) + 0.5) / m
    sample: np.ndarray = np.interp(u, levels, values)
    return sample


def numeric_drift(name: str, spec: Mapping[str, Any], values: Sequence[Any],
                  settings: DriftSettings = DriftSettings()) -> FeatureDrift:
    live = _finite(values)
    n = len(live)
    if n < settings.min_count:
        return FeatureDrift(name, "numeric", n, note=f"needs {settings.min_count} values")
    ref = numeric_reference(spec)
    psi_value: float | None = None
    bins = ref.bins()
    if bins is not None:
        edges, expected = bins
        clipped = np.clip(live, edges[0], edges[-1])
        actual, _ = np.histogram(clipped, bins=edges)
        psi_value = psi(expected, actual / n)
    ks_stat = ks_p = None
    sample = reconstruct_sample(ref)
    if sample is not None:
        ks_stat, ks_p = ks_two_sample(live, sample)
    if psi_value is None and ks_p is None:
        return FeatureDrift(name, "numeric", n, note="the profile has no histogram or quantiles")
    drifted = (psi_value is not None and psi_value >= settings.psi_threshold) or (
        ks_p is not None and ks_p < settings.alpha)
    return FeatureDrift(name, "numeric", n, psi=psi_value, ks_statistic=ks_stat,
                        ks_pvalue=ks_p, drifted=bool(drifted))


def categorical_drift(name: str, spec: Mapping[str, Any], values: Sequence[Any],
                      settings: DriftSettings = DriftSettings()) -> FeatureDrift:
    live = [_category(v) for v in values if v is not None]
    n = len(live)
    if n < settings.min_count:
        return FeatureDrift(name, "categorical", n, note=f"needs {settings.min_count} values")
    expected = categorical_reference(spec)
    if not expected:
        return FeatureDrift(name, "categorical", n, note="the profile has no frequencies")
    seen = Counter(live)
    cats = list(expected)
    outside = sum(c for k, c in seen.items() if k not in expected)
    other = max(float(spec.get("other") or 0), 0.5)  # never expect an impossible bucket
    exp = np.array([expected[c] for c in cats] + [other])
    exp = exp / exp.sum()
    obs = np.array([seen.get(c, 0) for c in cats] + [outside], dtype=float)
    psi_value = psi(exp, obs / n)
    chi2 = float(np.sum((obs - n * exp) ** 2 / (n * exp)))
    p = chi2_sf(chi2, len(cats))
    drifted = psi_value >= settings.psi_threshold or p < settings.alpha
    return FeatureDrift(name, "categorical", n, psi=psi_value, chi2_statistic=chi2,
                        chi2_pvalue=p, drifted=bool(drifted))


def profile_features(profile: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    """The per-feature entries of a model's profile (``{"features": {...}}`` or the bare map)."""
    if not profile:
        return {}
    inner = profile.get("features", profile)
    return {str(k): v for k, v in inner.items() if isinstance(v, Mapping)}


def drift_report(profile: Mapping[str, Mapping[str, Any]], columns: Mapping[str, Sequence[Any]],
                 n: int, settings: DriftSettings = DriftSettings()) -> DriftReport:
    """One verdict per profiled feature, from the live ``columns`` (feature -> values)."""
    features = []
    for name, spec in profile.items():
        values = columns.get(name, [])
        if feature_kind(spec) == "categorical":
            features.append(categorical_drift(name, spec, values, settings))
        else:
            features.append(numeric_drift(name, spec, values, settings))
    return DriftReport(features, n, settings)


def _finite(values: Sequence[Any]) -> np.ndarray:
    out = []
    for v in values:
        if isinstance(v, bool):
            out.append(float(v))
        elif isinstance(v, (int, float)):
            if math.isfinite(v):
                out.append(float(v))
        elif isinstance(v, str):
            try:
                f = float(v)
            except ValueError:
                continue
            if math.isfinite(f):
                out.append(f)
    return np.asarray(out, dtype=float)


def _category(value: Any) -> str:
    """A value as the profile keys categories: ``true``/``false``, ``1``, ``a``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
