"""The tail probabilities behind drift tests agree with SciPy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from cairn.monitoring.drift import ks_two_sample
from cairn.monitoring.tail_probabilities import chi2_sf, kolmogorov_sf


@pytest.mark.parametrize("lam", [0.2, 0.5, 0.9, 1.18, 1.5, 2.5])
def test_kolmogorov_tail(lam: float) -> None:
    assert kolmogorov_sf(lam) == pytest.approx(stats.kstwobign.sf(lam), abs=1e-10)


@pytest.mark.parametrize(("x", "dof"), [(0.5, 1), (3.0, 2), (10.0, 5), (30.0, 10), (100.0, 3),
                                        (50.0, 60)])
def test_chi_square_tail(x: float, dof: int) -> None:
    assert chi2_sf(x, dof) == pytest.approx(stats.chi2.sf(x, dof), rel=1e-8, abs=1e-300)


def test_two_sample_ks_statistic_and_asymptotic_pvalue() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=800)
    b = rng.normal(0.2, size=1200)
    statistic, pvalue = ks_two_sample(a, b)
    ref = stats.ks_2samp(a, b, method="asymp")
    assert statistic == pytest.approx(ref.statistic)
    assert pvalue == pytest.approx(ref.pvalue, rel=0.05)
