"""Multi-start fitting as one compiled program: run all, prune, polish.

Every start runs ``screen_iter`` (default 4) LM iterations under ``vmap``; the best
``keep`` (default 64) starts continue for up to ``max_iter`` iterations. On
the Epoch data the pruned search reaches the same optimum as running all 4,500
Hoffmann starts to convergence (tests/test_fit_epoch.py), at a fraction of the
work. All of it is pure and jit-able, and itself vmaps over variants (per-run
weights, Huber delta, fixed-parameter masks) in `scalelab.fit.many`.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from scalelab.fit import solver


class MultiStartResult(NamedTuple):
    theta: jax.Array       # [P] best unconstrained parameters
    f: jax.Array           # best objective
    converged: jax.Array   # did the best lane converge
    best_start: jax.Array  # index into the starts array of the winning start
    n_iter: jax.Array      # iterations of the winning lane (screen + polish)
    screen_f: jax.Array    # [S] objective of every start after screening


def multistart(residual_fn: Callable, starts, data, *, kind="huber", delta=1e-3, free=None,
               fixed=None, screen_iter=4, keep=64, max_iter=200, ftol=None) -> MultiStartResult:
    """Fit from every row of ``starts`` ([S, P], unconstrained) and return the best.

    Args:
      residual_fn: ``(theta[P], data) -> r[n]`` log-loss residuals.
      starts: [S, P] unconstrained start points.
      data: dict with inputs, observed log loss and per-run weights ``w[n]``.
      kind, delta: objective (``"huber"`` with threshold ``delta`` or ``"mse"``).
      free: [P] 1 for free, 0 for fixed parameters (default all free).
      fixed: [P] values used for the fixed parameters (ignored where free).
      screen_iter: iterations every start gets before pruning.
      keep: number of starts that continue after screening (``>= S``: no pruning).
      max_iter: iteration cap for the survivors.
    """
    S, P = starts.shape
    dtype = starts.dtype
    free = jnp.ones((P,), dtype) if free is None else jnp.asarray(free, dtype)
    if fixed is not None:
        starts = jnp.where(free > 0, starts, jnp.asarray(fixed, dtype)[None, :])

    run = lambda t0, n: solver.lm_run(residual_fn, t0, data, kind=kind, delta=delta, free=free,
                                      max_iter=n, ftol=ftol)
    keep = min(keep, S)
    if keep < S:
        screened = jax.vmap(lambda t0: run(t0, screen_iter))(starts)
        screen_f = jnp.where(jnp.isfinite(screened.f), screened.f, jnp.inf)
        _, idx = jax.lax.top_k(-screen_f, keep)
        survivors = jax.tree.map(lambda a: a[idx], screened)
        final = jax.vmap(lambda t0: run(t0, max_iter))(survivors.theta)
        n_iter = final.it + survivors.it
    else:
        idx = jnp.arange(S)
        final = jax.vmap(lambda t0: run(t0, max_iter))(starts)
        screen_f = final.f
        n_iter = final.it
    f = jnp.where(jnp.isfinite(final.f), final.f, jnp.inf)
    b = jnp.argmin(f)
    return MultiStartResult(final.theta[b], f[b], final.converged[b], idx[b], n_iter[b], screen_f)
