"""Compute-optimal allocation under ``C = 6 N D`` for every posterior draw.

Chinchilla has a closed form (Hoffmann et al. 2022, Eq. 4; `scalelab.optimal`).
Any other law of ``N`` and ``D`` is minimised numerically in JAX by
`scalelab.frontier` (grid over ``log N``, then Newton steps) under ``vmap`` over
draws and budgets.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from scalelab.frontier import optimum
from scalelab.optimal import chinchilla_allocation


def _numeric(law, theta, C, extra):
    """``N_opt, D_opt, loss`` of shape ``[S, K]``: `scalelab.frontier.optimum` under vmap over draws and budgets."""
    def one(th, c):
        pt = optimum(law, th, c, extra)
        return pt["N_opt"], pt["D_opt"], pt["loss"]

    return jax.jit(jax.vmap(jax.vmap(one, (None, 0)), (0, None)))(theta, C)


def allocation_draws(law, theta, C, extra=None) -> dict:
    """``N_opt, D_opt, tokens_per_param, loss`` of shape ``[S, K]`` for draws ``theta [S, P]``, budgets ``C [K]``."""
    C = np.atleast_1d(np.asarray(C, float))
    if np.any(~np.isfinite(C)) or np.any(C <= 0):
        raise ValueError("compute C must be positive and finite (FLOPs)")
    if law.name == "chinchilla":
        p = {k: np.asarray(v)[:, None] for k, v in law.to_natural(law.unflatten(jnp.asarray(theta))).items()}
        return _chinchilla(p, C[None, :])
    if set(law.inputs) - {"N", "D"} - set(extra or {}):
        missing = sorted(set(law.inputs) - {"N", "D"} - set(extra or {}))
        raise ValueError(f"law {law.name!r} also needs inputs {missing} held fixed to allocate; pass them as extra")
    if not {"N", "D"} <= set(law.inputs):
        raise ValueError(f"law {law.name!r} does not take N and D; no compute-optimal split under C = 6ND")
    extra = {k: jnp.asarray(v, float) for k, v in (extra or {}).items()}
    N, D, L = (np.asarray(a) for a in _numeric(law, jnp.asarray(theta), jnp.asarray(C), extra))
    return {"N_opt": N, "D_opt": D, "tokens_per_param": D / N, "loss": L}


def _chinchilla(p, C):
    # chinchilla_allocation casts to float; this is its formula on arrays of draws.
    E, A, B, a, b = (p[k] for k in ("E", "A", "B", "alpha", "beta"))
    G = (a * A / (b * B)) ** (1.0 / (a + b))
    N = G * (C / 6.0) ** (b / (a + b))
    D = (C / 6.0) ** (a / (a + b)) / G
    return {"N_opt": N, "D_opt": D, "tokens_per_param": D / N, "loss": E + A / N**a + B / D**b}


__all__ = ["allocation_draws", "chinchilla_allocation"]
