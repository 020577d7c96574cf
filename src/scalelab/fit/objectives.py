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
