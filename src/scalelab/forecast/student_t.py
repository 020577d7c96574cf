"""Student-t quantiles in plain floats (no compiled program, no SciPy at run time): the forecast interval's
``t_q(nu)``."""

from __future__ import annotations

import math


def t_quantile(q: float, nu: float) -> float:
    """Student-t quantile by bisection on its CDF, ``1 - I_x(nu/2, 1/2) / 2`` with ``x = nu / (nu + t^2)``
    (the regularised incomplete beta by its continued fraction, `_betainc`: plain floats, no compiled program)."""
    lo, hi = 0.0, 1e3
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        cdf = 1.0 - 0.5 * _betainc(nu / 2.0, 0.5, nu / (nu + mid * mid))
        lo, hi = (mid, hi) if cdf < q else (lo, mid)
    return 0.5 * (lo + hi)


def _betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta ``I_x(a, b)`` by Lentz's continued fraction (Press et al., *Numerical
    Recipes*, 6.4), on the side of ``x`` where it converges fast."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_fraction(a, b, x) / a
    return 1.0 - front * _beta_fraction(b, a, 1.0 - x) / b


def _beta_fraction(a: float, b: float, x: float) -> float:
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        for num in (m * (b - m) * x / ((a + 2 * m - 1.0) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1.0))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


__all__ = ["t_quantile"]
