"""The two tail probabilities drift detection needs, without importing SciPy.

A model server must start fast and may run where SciPy is absent, so the Kolmogorov
distribution and the chi-square survival function are computed here from their textbook
series (Numerical Recipes, 3rd ed., §6.2 and §14.3.3). Both agree with SciPy to about 1e-10
over the ranges drift detection meets.
"""

from __future__ import annotations

import math

_EPS = 1e-15
_MAX_TERMS = 500


def kolmogorov_sf(lam: float) -> float:
    """P(K > lam) for the Kolmogorov distribution: the asymptotic KS tail probability."""
    if lam <= 0:
        return 1.0
    if lam < 1.18:
        # the Jacobi-theta form converges fast for small arguments
        y = math.exp(-(math.pi**2) / (8 * lam * lam))
        cdf = math.sqrt(2 * math.pi) / lam * (y + y**9 + y**25 + y**49)
        return min(1.0, max(0.0, 1.0 - cdf))
    x = math.exp(-2 * lam * lam)
    return min(1.0, max(0.0, 2 * (x - x**4 + x**9 - x**16)))


def ks_pvalue(statistic: float, n: int, m: int) -> float:
    """Two-sample KS p-value for samples of sizes ``n`` and ``m`` (asymptotic, Stephens)."""
    if n <= 0 or m <= 0:
        return 1.0
    en = math.sqrt(n * m / (n + m))
    return kolmogorov_sf((en + 0.12 + 0.11 / en) * statistic)


def chi2_sf(statistic: float, dof: int) -> float:
    """P(X > statistic) for a chi-square variable with ``dof`` degrees of freedom."""
    if dof <= 0:
        return 1.0
    if statistic <= 0:
        return 1.0
    return gamma_q(dof / 2.0, statistic / 2.0)


def gamma_q(a: float, x: float) -> float:
    """The regularized upper incomplete gamma function Q(a, x)."""
    if x < a + 1:
        return max(0.0, 1.0 - _gamma_p_series(a, x))
    return _gamma_q_fraction(a, x)


def _gamma_p_series(a: float, x: float) -> float:
    term = total = 1.0 / a
    ap = a
    for _ in range(_MAX_TERMS):
        ap += 1
        term *= x / ap
        total += term
        if abs(term) < abs(total) * _EPS:
            break
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def _gamma_q_fraction(a: float, x: float) -> float:
    """Lentz's method on the continued fraction of Q(a, x)."""
    tiny = 1e-300
    b = x + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, _MAX_TERMS):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < _EPS:
            break
    return min(1.0, h * math.exp(-x + a * math.log(x) - math.lgamma(a)))
