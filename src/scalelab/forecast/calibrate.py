"""The pure pieces of `scalelab.forecast`: rolling origins, stacking weights, the calibrated scale.

Arrays in, arrays out (NumPy); distances in decades (log10), errors in log loss.
"""

from __future__ import annotations

import numpy as np

from scalelab.programs import float64

def size_groups(N: np.ndarray, tol: float = 0.05) -> np.ndarray:
    """Group index per run, 0 = smallest: sorted log10 N split where consecutive gaps exceed ``tol`` decades."""
    logn = np.log10(np.asarray(N, float))
    order = np.unique(logn)
    breaks = np.concatenate([[0], np.cumsum(np.diff(order) > tol)])
    return breaks[np.searchsorted(order, logn)]


def origin_weights(groups: np.ndarray, n_params: int, max_origins: int = 4, min_train_sizes: int = 3,
                   min_train_frac: float = 0.4) -> np.ndarray:
    """Run weights ``[K, n]`` of the rolling origins: origin k trains on all but the k largest size groups.

    An origin is kept while its training part has at least ``min_train_sizes`` sizes, more than
    ``n_params + 1`` runs and at least ``min_train_frac`` of the runs.
    """
    n, top = len(groups), int(groups.max())
    rows = []
    for k in range(1, max_origins + 1):  # a handful of weight vectors; the fits are one vmapped program
        train = groups <= top - k
        n_sizes = top - k + 1
        if n_sizes < min_train_sizes or train.sum() <= n_params + 1 or train.sum() < min_train_frac * n:
            break
        rows.append(train.astype(float))
    return np.array(rows).reshape(len(rows), n)


def extrapolation_distance(train: dict[str, np.ndarray], x: dict[str, np.ndarray], cols=("N", "D")) -> np.ndarray:
    """Decades beyond the training runs: ``max(0, log10(x / max train))`` maximised over ``cols``."""
    d = 0.0
    for c in cols:
        if c in train and c in x:
            d = np.maximum(d, np.log10(np.asarray(x[c], float) / np.max(train[c])))
    return np.maximum(np.asarray(d, float), 0.0)


def stack_weights(errors: np.ndarray, origin: np.ndarray, shrink: float = 0.0, iters: int = 2000) -> np.ndarray:
    """Simplex weights minimising the mean squared stacked error, each origin counting equally.

    Args:
      errors: ``[L, m]`` held-out log-loss errors of L laws on m held-out runs.
      origin: ``[m]`` origin index of each held-out run.
      shrink: the result is ``(1 - shrink) w + shrink / L`` (guards against a weight fitted to a few runs).
    """
    L = errors.shape[0]
    if L == 1:
        return np.ones(1)
    ks = np.unique(origin)
    omega = np.zeros(errors.shape[1])
    for k in ks:  # per-run weights so that each origin counts equally
        omega[origin == k] = 1.0 / (len(ks) * np.sum(origin == k))
    Q = (errors * omega) @ errors.T  # [L, L]: w' Q w is the weighted mean squared stacked error
    w = np.full(L, 1.0 / L)
    scale = np.trace(Q) / L + 1e-300
    for _ in range(iters):  # exponentiated gradient on the simplex (a convex quadratic)
        g = 2.0 * Q @ w / scale
        w = w * np.exp(-0.5 * np.clip(g, -50, 50))
        w /= w.sum()
    return (1.0 - shrink) * w + shrink / L


def honest_errors(errors: np.ndarray, origin: np.ndarray, shrink: float = 0.0) -> np.ndarray:
    """Stacked held-out errors in which no origin's errors chose its own weights.

    The errors of origin k are combined with the weights stacked on the *other* origins (equal weights
    when there is no other), so the scale calibrated on them includes the error of choosing the laws.
    """
    L = errors.shape[0]
    out = np.empty(errors.shape[1])
    for k in np.unique(origin):  # a handful of origins; each is a small quadratic programme
        mine = origin == k
        w = stack_weights(errors[:, ~mine], origin[~mine], shrink) if (~mine).any() else np.full(L, 1.0 / L)
        out[mine] = w @ errors[:, mine]
    return out


def calibrate_scale(e: np.ndarray, d: np.ndarray, origin: np.ndarray, s0: float, tau_prior: float = 0.01,
                    prior_weight: float = 1.0) -> tuple[float, float]:
    """``(tau, sigma)``: the held-out error scale, by penalised maximum likelihood on a grid.

    ``e_j ~ Normal(0, s0^2 + sigma^2 + tau^2 d_j^2)``: ``sigma`` is a discrepancy that appears as soon
    as a size is held out (a law that bends away from the largest sizes, whatever the distance),
    ``tau`` the part that grows per decade of extrapolation. Each origin's runs count as one origin
    in total, and a prior worth ``prior_weight`` origins sits at ``tau_prior`` (one observation at
    distance 1 with squared error ``tau_prior^2``), so a table whose few origins happen to
    extrapolate perfectly still gets a non-zero scale.
    """
    ks = np.unique(origin)
    omega = np.zeros(len(e))
    for k in ks:
        omega[origin == k] = 1.0 / np.sum(origin == k)
    taus = np.concatenate([[0.0], np.geomspace(1e-4, 1.0, 160)])
    sigmas = np.concatenate([[0.0], np.geomspace(1e-4, 0.3, 160)])
    T, S = np.meshgrid(taus, sigmas, indexing="ij")
    base = s0 ** 2 + S ** 2
    ll = np.zeros_like(T)
    for j in range(len(e)):  # held-out runs (tens): accumulate instead of a [taus, sigmas, runs] block
        var = base + T ** 2 * d[j] ** 2
        ll -= 0.5 * omega[j] * (np.log(var) + e[j] ** 2 / var)
    var_p = base + T ** 2
    ll -= 0.5 * prior_weight * (np.log(var_p) + (s0 ** 2 + tau_prior ** 2) / var_p)
    i = np.unravel_index(np.argmax(ll), ll.shape)
    return float(T[i]), float(S[i])


@float64
def t_quantile(q: float, nu: float) -> float:
    """Student-t quantile by bisection on its CDF (regularised incomplete beta via continued fraction)."""
    import jax.scipy.special as jss

    lo, hi = 0.0, 1e3
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        x = nu / (nu + mid * mid)
        cdf = 1.0 - 0.5 * float(jss.betainc(nu / 2.0, 0.5, x))
        lo, hi = (mid, hi) if cdf < q else (lo, mid)
    return 0.5 * (lo + hi)


__all__ = ["size_groups", "origin_weights", "extrapolation_distance", "stack_weights", "honest_errors",
           "calibrate_scale", "t_quantile"]
