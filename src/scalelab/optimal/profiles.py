"""Approach 2's pieces: budgets from compute, per-budget minima of loss against log N (parabola,
cubic, Akima interpolation) and the power law of the minima. NumPy only; `scalelab.optimal.isoflop`
assembles them into the analysis.
"""

from __future__ import annotations

import numpy as np

from scalelab.levels import check_ci

METHODS = ("parabola", "cubic", "akima")
DEFAULT_METHOD = "akima"
DEFAULT_TOLERANCE = 0.1
MIN_SIZES = 3
SIZE_TOLERANCE = 0.02  # relative: runs of one budget whose N differ by less are one model size



def group_budgets(C, tolerance: float = DEFAULT_TOLERANCE) -> tuple[np.ndarray, np.ndarray]:
    """Budget label of every run and the budgets' values (FLOPs, geometric means), ascending.

    Sorted by ``C``, a budget opens at its smallest run and takes every later run with
    ``C <= (1 + tolerance) * C_first``.
    """
    C = np.asarray(C, float)
    if not (np.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f"tolerance must be a number >= 0 (a relative FLOP difference), got {tolerance}")
    order = np.argsort(C, kind="stable")
    labels = np.empty(C.size, int)
    k, first = -1, None
    for i in order:  # one pass over the sorted runs (grouping data, not a loop over fits)
        if first is None or C[i] > (1.0 + tolerance) * first:
            k, first = k + 1, C[i]
        labels[i] = k
    budgets = np.array([np.exp(np.mean(np.log(C[labels == j]))) for j in range(k + 1)])
    return labels, budgets


# --- per-budget minima, vectorised over resamples/rows of Y --------------------------------------


def _poly_min(x, Y, degree: int) -> np.ndarray:
    """``argmin`` in ``x`` of the least-squares polynomial of ``degree`` through each row of ``Y``.

    ``x [m]``, ``Y [B, m]`` -> ``[B]``; NaN where the polynomial has no local minimum inside
    ``[min x, max x]``.
    """
    x = np.asarray(x, float)
    Y = np.atleast_2d(Y)
    mu, sc = x.mean(), max(np.ptp(x), 1e-12) / 2
    z = (x - mu) / sc
    V = np.vander(z, degree + 1, increasing=True)  # [m, degree+1]
    coef = np.linalg.lstsq(V, Y.T, rcond=None)[0].T  # [B, degree+1]: c0 + c1 z + c2 z^2 (+ c3 z^3)
    if degree == 2:
        c1, c2 = coef[:, 1], coef[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            z0 = np.where(c2 > 0, -c1 / (2 * c2), np.nan)
    elif degree == 3:
        c1, c2, c3 = coef[:, 1], coef[:, 2], coef[:, 3]
        # p'(z) = c1 + 2 c2 z + 3 c3 z^2; the local minimum is the root where p'' = 2 c2 + 6 c3 z > 0
        disc = c2**2 - 3 * c3 * c1
        with np.errstate(divide="ignore", invalid="ignore"):
            sq = np.sqrt(np.where(disc >= 0, disc, np.nan))
            cubic = (-c2 + sq) / (3 * c3)  # the root with p'' = 2 sq > 0
            quad = np.where(c2 > 0, -c1 / (2 * c2), np.nan)
            z0 = np.where(np.abs(c3) > 1e-12 * (np.abs(c2) + np.abs(c1) + 1e-300), cubic, quad)
    else:
        raise ValueError(f"degree must be 2 or 3, got {degree}")
    z0 = np.where((z0 >= z.min()) & (z0 <= z.max()), z0, np.nan)
    return mu + sc * z0


def akima_slopes(x, Y) -> np.ndarray:
    """Akima (1970) derivatives at the knots ``x [m]`` of each row of ``Y [B, m]`` -> ``[B, m]``.

    End slopes are extended linearly (two ghost intervals each side), as in Akima's paper
    and SciPy's ``Akima1DInterpolator``.
    """
    x = np.asarray(x, float)
    Y = np.atleast_2d(np.asarray(Y, float))
    m = np.diff(Y, axis=1) / np.diff(x)  # [B, m-1]
    left1 = 2 * m[:, :1] - m[:, 1:2]
    left0 = 2 * left1 - m[:, :1]
    right1 = 2 * m[:, -1:] - m[:, -2:-1]
    right2 = 2 * right1 - m[:, -1:]
    mm = np.concatenate([left0, left1, m, right1, right2], axis=1)  # [B, m+3]
    dm = np.abs(np.diff(mm, axis=1))  # [B, m+2]
    f1, f2 = dm[:, 2:], dm[:, :-2]  # [B, m]
    f12 = f1 + f2
    t = 0.5 * (mm[:, 3:] + mm[:, :-3])
    defined = f12 > 1e-9 * np.max(f12, axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        weighted = (f1 * mm[:, 1:-2] + f2 * mm[:, 2:-1]) / f12
    return np.where(defined, weighted, t)


def akima_eval(x, Y, xq) -> np.ndarray:
    """The Akima interpolant of each row of ``Y [B, m]`` at ``xq [q]`` -> ``[B, q]`` (for figures)."""
    x = np.asarray(x, float)
    Y = np.atleast_2d(np.asarray(Y, float))
    t = akima_slopes(x, Y)
    i = np.clip(np.searchsorted(x, xq, side="right") - 1, 0, x.size - 2)
    h = x[i + 1] - x[i]
    s = np.asarray(xq, float) - x[i]
    mi = (Y[:, i + 1] - Y[:, i]) / h
    c2 = (3 * mi - 2 * t[:, i] - t[:, i + 1]) / h
    c3 = (t[:, i] + t[:, i + 1] - 2 * mi) / h**2
    return Y[:, i] + t[:, i] * s + c2 * s**2 + c3 * s**3


def _akima_min(x, Y) -> tuple[np.ndarray, np.ndarray]:
    """Exact minimum of the Akima interpolant of each row: (``x_min [B]``, ``y_min [B]``).

    Each piece ``y_i + t_i s + c2 s^2 + c3 s^3`` on ``s in [0, h_i]`` is minimised in closed
    form; ``x_min`` is NaN when the minimum lies at either end of the data (not bracketed).
    """
    x = np.asarray(x, float)
    Y = np.atleast_2d(np.asarray(Y, float))
    t = akima_slopes(x, Y)
    h = np.diff(x)  # [m-1]
    mi = np.diff(Y, axis=1) / h
    ti, tj = t[:, :-1], t[:, 1:]
    c2 = (3 * mi - 2 * ti - tj) / h
    c3 = (ti + tj - 2 * mi) / h**2
    # p'(s) = ti + 2 c2 s + 3 c3 s^2 = 0
    a, b, c = 3 * c3, 2 * c2, ti
    disc = b**2 - 4 * a * c
    with np.errstate(divide="ignore", invalid="ignore"):
        sq = np.sqrt(np.where(disc >= 0, disc, np.nan))
        small = np.abs(a) < 1e-12 * (np.abs(b) + 1e-300)
        r1 = np.where(small, -c / b, (-b + sq) / (2 * a))
        r2 = np.where(small, np.nan, (-b - sq) / (2 * a))
    cands, vals = [], []
    for r in (r1, r2):  # two roots per piece
        ok = (r > 0) & (r < h)
        s = np.where(ok, r, 0.0)
        v = Y[:, :-1] + ti * s + c2 * s**2 + c3 * s**3
        cands.append(x[:-1] + s)
        vals.append(np.where(ok, v, np.inf))
    cands.append(np.broadcast_to(x, Y.shape))
    vals.append(Y)
    X = np.concatenate(cands, axis=1)
    V = np.concatenate(vals, axis=1)
    j = np.argmin(V, axis=1)
    xm = np.take_along_axis(X, j[:, None], 1)[:, 0]
    ym = np.take_along_axis(V, j[:, None], 1)[:, 0]
    interior = (xm > x[0]) & (xm < x[-1])
    return np.where(interior, xm, np.nan), ym


def minimum(x, Y, method: str) -> np.ndarray:
    """``ln N_opt`` of each row of ``Y`` (``ln loss``) against ``x = ln N`` by ``method`` (see module doc)."""
    if method == "parabola":
        return _poly_min(x, Y, 2)
    if method == "cubic":
        return _poly_min(x, Y, 3)
    if method == "akima":
        return _akima_min(x, Y)[0]
    raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")


def curve(x, y, method: str, xq) -> np.ndarray:
    """The fitted ``ln loss`` of one budget at ``xq`` (``ln N``), for figures."""
    x, y, xq = (np.asarray(v, float) for v in (x, y, xq))
    if method == "akima":
        return akima_eval(x, y[None], xq)[0]
    degree = {"parabola": 2, "cubic": 3}[method]
    mu, sc = x.mean(), max(np.ptp(x), 1e-12) / 2
    coef = np.linalg.lstsq(np.vander((x - mu) / sc, degree + 1, increasing=True), y, rcond=None)[0]
    return np.vander((xq - mu) / sc, degree + 1, increasing=True) @ coef


# --- power laws over budgets ---------------------------------------------------------------------


def _slopes(logC, logY, W) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least-squares slope and intercept of ``logY`` on ``logC`` for each weight row ``W [B, K]``."""
    sw = W.sum(1)
    mx = (W * logC).sum(1) / sw
    my = (W * logY).sum(1) / sw
    sxx = (W * (logC - mx[:, None]) ** 2).sum(1)
    sxy = (W * (logC - mx[:, None]) * (logY - my[:, None])).sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(sxx > 1e-12, sxy / sxx, np.nan)
    return slope, my - slope * mx


def power_law(C, N_opt, n_boot: int = 1000, ci: float = 0.9, seed: int = 0) -> dict:
    """``N_opt = k C^a`` by OLS on logs, with a percentile interval from resampling budgets.

    Returns ``{"a", "coef", "a_interval", "n_budgets"}`` (NaN when fewer than two budgets; the interval NaN with two:
    every resample of two budgets that has a slope has the same one, an interval of zero width that says nothing).
    """
    C, N_opt = np.asarray(C, float), np.asarray(N_opt, float)
    ok = np.isfinite(N_opt)
    lc, ln = np.log(C[ok]), np.log(N_opt[ok])
    K = lc.size
    if K < 2:
        return {"a": float("nan"), "coef": float("nan"), "a_interval": [float("nan")] * 2, "n_budgets": int(K)}
    a, c0 = _slopes(lc, ln, np.ones((1, K)))
    if K < 3:  # two points fix the line: resampling them cannot say how uncertain it is
        return {"a": float(a[0]), "coef": float(np.exp(c0[0])), "a_interval": [float("nan")] * 2, "n_budgets": int(K)}
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, K, size=(n_boot, K))
    W = np.zeros((n_boot, K))
    np.add.at(W, (np.arange(n_boot)[:, None], idx), 1.0)
    boot, _ = _slopes(lc, ln, W)
    q = 50 * (1 - check_ci(ci))
    lo, hi = np.nanpercentile(boot, [q, 100 - q]) if np.isfinite(boot).any() else (np.nan, np.nan)
    return {"a": float(a[0]), "coef": float(np.exp(c0[0])), "a_interval": [float(lo), float(hi)],
            "n_budgets": int(K)}


# --- result ------------------------------------------------------------------------------------
