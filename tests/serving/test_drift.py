"""Drift against a model's training profile: shifted inputs raise it, unshifted ones do not."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from cairn.models.profile import build_profile
from cairn.monitoring.drift import (
    DriftSettings,
    drift_report,
    numeric_reference,
    profile_features,
    psi,
    reconstruct_sample,
)


def frame(rng: np.random.Generator, n: int, shift: float = 0.0,
          plans: tuple[float, float, float] = (0.6, 0.3, 0.1)) -> pd.DataFrame:
    return pd.DataFrame({
        "age": rng.normal(40 + shift * 10, 10, n),
        "spend": rng.exponential(100 * (1 + shift), n),
        "visits": rng.integers(0, 6, n),
        "plan": rng.choice(["basic", "pro", "team"], n, p=list(plans)),
    })


@pytest.fixture(scope="module")
def profile() -> dict[str, Any]:
    return profile_features(build_profile(frame(np.random.default_rng(0), 5000)))


def columns(df: pd.DataFrame) -> dict[str, list[Any]]:
    return {k: df[k].tolist() for k in df.columns}


def test_data_like_the_training_data_does_not_drift(profile: dict[str, Any]) -> None:
    live = frame(np.random.default_rng(7), 1000)
    report = drift_report(profile, columns(live), len(live))
    assert report.dataset_drift is False
    assert [f.feature for f in report.features if f.drifted] == []
    for f in report.features:
        assert f.psi is not None and f.psi < 0.1


def test_shifted_inputs_drift_feature_by_feature(profile: dict[str, Any]) -> None:
    live = frame(np.random.default_rng(8), 1000, shift=1.0, plans=(0.2, 0.3, 0.5))
    report = drift_report(profile, columns(live), len(live))
    verdicts = {f.feature: f for f in report.features}
    assert verdicts["age"].drifted and verdicts["age"].psi is not None
    assert verdicts["age"].psi > 0.2
    assert verdicts["age"].ks_pvalue is not None and verdicts["age"].ks_pvalue < 1e-6
    assert verdicts["spend"].drifted
    plan_p = verdicts["plan"].chi2_pvalue
    assert verdicts["plan"].drifted and plan_p is not None and plan_p < 1e-6
    assert verdicts["visits"].drifted is False  # unchanged
    assert report.dataset_drift is True and report.drifted_share == 0.75
    as_json = report.to_json()
    assert as_json["features"]["age"]["drifted"] is True
    assert set(as_json["features"]["plan"]) >= {"psi", "chi2_statistic", "chi2_pvalue"}


def test_dataset_drift_needs_half_the_features(profile: dict[str, Any]) -> None:
    live = frame(np.random.default_rng(9), 1000)
    live["age"] = live["age"] + 30
    one = drift_report(profile, columns(live), len(live))
    assert [f.feature for f in one.features if f.drifted] == ["age"]
    assert one.dataset_drift is False
    live["spend"] = live["spend"] * 3
    assert drift_report(profile, columns(live), len(live)).dataset_drift is True


def test_values_outside_the_training_range_and_new_categories_drift(
        profile: dict[str, Any]) -> None:
    live = frame(np.random.default_rng(10), 500)
    live["age"] = 500.0
    live["plan"] = "enterprise"
    verdicts = {f.feature: f for f in drift_report(profile, columns(live), 500).features}
    assert verdicts["age"].drifted and verdicts["plan"].drifted


def test_too_few_values_are_not_judged(profile: dict[str, Any]) -> None:
    live = frame(np.random.default_rng(11), 10, shift=3.0)
    report = drift_report(profile, columns(live), 10, DriftSettings(min_count=30))
    assert all(f.drifted is None for f in report.features)
    assert report.dataset_drift is None


def test_the_reference_sample_follows_the_profile(profile: dict[str, Any]) -> None:
    sample = reconstruct_sample(numeric_reference(profile["age"]))
    assert sample is not None and len(sample) == 2000
    assert sample.mean() == pytest.approx(40, abs=0.5)
    assert np.quantile(sample, 0.9) == pytest.approx(profile["age"]["quantiles"]["0.9"],
                                                     rel=0.01)


def test_a_histogram_alone_is_enough() -> None:
    rng = np.random.default_rng(3)
    counts, edges = np.histogram(rng.normal(size=4000), bins=10)
    spec = {"type": "numeric", "count": 4000,
            "histogram": {"edges": edges.tolist(), "counts": counts.tolist()}}
    same = drift_report({"x": spec}, {"x": rng.normal(size=800).tolist()}, 800)
    moved = drift_report({"x": spec}, {"x": rng.normal(1.0, size=800).tolist()}, 800)
    assert same.features[0].drifted is False
    assert moved.features[0].drifted is True


def test_psi_is_zero_for_equal_distributions_and_grows_with_the_shift() -> None:
    even = np.full(10, 0.1)
    assert psi(even, even) == 0
    skew = np.array([0.3, 0.2, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.03, 0.02])
    assert psi(even, skew) > 0.2
    assert 0 < psi(even, (even + skew) / 2) < psi(even, skew)
