"""Objectives on log-loss residuals ``r = log predicted - log observed``.

All objectives are *sums* over runs weighted by per-run weights ``w`` (0 masks a
run out, an integer counts a bootstrap resample), as Hoffmann and Epoch sum the
Huber loss (LAWS.md section 3: averaging made Chinchilla's L-BFGS stop early).

Each objective is given by ``rho`` (the per-run loss), ``psi = rho'`` and
``weight = psi / r``, the iteratively-reweighted-least-squares weight whose
quadratic ``rho(r0) + weight(r0) (r^2 - r0^2) / 2`` majorises ``rho`` (true for
Huber and squared loss), which is what makes the Gauss-Newton/LM steps of
`scalelab.fit.solver` descend.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax.scipy.special import ndtr

OBJECTIVES = ("huber", "mse")


def huber_rho(r, delta):
    """Huber loss: ``r^2/2`` for ``|r| <= delta``, else ``delta (|r| - delta/2)`` (SciPy's ``huber``)."""
    a = jnp.abs(r)
    return jnp.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


def huber_psi(r, delta):
    return jnp.clip(r, -delta, delta)


def huber_weight(r, delta, eta=1.0):
    a = jnp.abs(r)
    return jnp.where(a <= delta, 1.0, eta * delta / jnp.maximum(a, delta))


def rho(kind: str, r, delta):
    """Per-run loss for objective ``kind`` (``"huber"`` or ``"mse"``: ``r^2/2``)."""
    if kind == "huber":
        return huber_rho(r, delta)
    if kind == "mse":
        return 0.5 * r * r
    raise ValueError(f"unknown objective {kind!r}; choose one of {OBJECTIVES}")


def psi(kind: str, r, delta):
    return huber_psi(r, delta) if kind == "huber" else r


def irls_weight(kind: str, r, delta, eta=1.0):
    return huber_weight(r, delta, eta) if kind == "huber" else jnp.ones_like(r)


def total(kind: str, r, w, delta):
    """The summed objective ``sum_i w_i rho(r_i)``."""
    return jnp.sum(w * rho(kind, r, delta))


def silverman_width(r, w=None):
    """Silverman's kernel width ``1.06 sd n^-1/5`` for the density of residuals ``r`` (weights ``w``, default 1: sd
    their weighted root mean square about 0, n their total weight): the one width of every estimate of the
    residuals' density at 0 (`residual_scale`'s smoothed psi', bayes' Laplace curvature)."""
    w = jnp.ones_like(r) if w is None else w
    sw = jnp.sum(w)
    return 1.06 * jnp.sqrt(jnp.sum(w * r**2) / sw) * sw ** -0.2


def residual_scale(kind: str, r, delta, n_params: int):
    """The noise scale ``s`` of the fit's own covariance ``s^2 (J^T J)^-1`` (log-loss units, as ``r``).

    An M-estimator's asymptotic covariance is ``E[psi^2] / E[psi']^2 (J^T J)^-1`` (Huber & Ronchetti 2009, sec. 7.6).
    Here ``E[psi^2]`` is ``sum psi(r)^2 / (n - n_params)`` and ``E[psi']`` the mean of ``psi'`` smoothed by a Gaussian
    kernel of Silverman's width (`silverman_width`), ``Phi((delta - r)/h) - Phi((-delta - r)/h)``. With
    ``"mse"`` that is ``s^2 = RSS / (n - n_params)``; with ``"huber"`` and residuals much wider than ``delta`` (Epoch's
    delta = 1e-3 against residuals of ~5e-3) it is least absolute deviations' ``1 / (2 f(0))``, ``f`` the residuals'
    density, which a normal fit's ``1.4826 x MAD`` is not: the fit pins about ``n_params`` residuals at 0, so on 16
    runs the MAD gave 0.39x the forecast's sd over simulated tables where this gives 1.0x (benchmarks/RESULTS.md,
    "suggest's sd"). ``r``: ``[n]`` residuals of the runs fitted. Returns NaN for ``n <= n_params`` or no spread.
    """
    if kind not in OBJECTIVES:
        raise ValueError(f"unknown objective {kind!r}; choose one of {OBJECTIVES}")
    r = jnp.asarray(r)
    n = r.shape[0]
    if n <= n_params:
        return jnp.asarray(jnp.nan)
    if kind == "mse":
        return jnp.sqrt(jnp.sum(r * r) / (n - n_params))
    h = silverman_width(r)
    slope = jnp.mean(ndtr((delta - r) / h) - ndtr((-delta - r) / h))
    p = psi(kind, r, delta)
    return jnp.sqrt(jnp.sum(p * p) / (n - n_params)) / slope
