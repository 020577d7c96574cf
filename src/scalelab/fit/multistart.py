"""Multi-start fitting as one compiled program: run all, prune, polish.

Every start runs ``screen_iter`` (default 4) LM iterations, all starts as lanes of
one loop (`scalelab.fit.solver.lm_lanes`); the best ``keep`` (default 64) starts
continue for up to ``max_iter`` iterations. On the Epoch data the pruned search
reaches the same optimum as running all 4,500 Hoffmann starts to convergence
(tests/test_fit_epoch.py), at a fraction of the work. All of it is pure and
jit-able. `multistart_variants` does the same for many variants at once (per-run
weights, Huber delta, fixed-parameter masks; `scalelab.fit.many`): every variant x
start is a lane of the same loops, so no vmap is wrapped around a loop.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from scalelab.fit import solver
from scalelab.fit.compaction import Compaction, lm_lanes_compact


class MultiStartResult(NamedTuple):
    theta: jax.Array       # [P] best unconstrained parameters
    f: jax.Array           # best objective
    converged: jax.Array   # did the best lane converge
    best_start: jax.Array  # index into the starts array of the winning start
    n_iter: jax.Array      # iterations of the winning lane (screen + polish)
    screen_f: jax.Array    # [S] objective of every start after screening


def multistart(residual_fn: Callable, starts, data, *, kind="huber", delta=1e-3, free=None,
               fixed=None, screen_iter=4, keep=64, max_iter=200, ftol=None, one_loop=False) -> MultiStartResult:
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
      one_loop: screen and polish in one LM loop (`scalelab.fit.solver.lm_lanes`'s ``prune``): half
        the program to compile, the pruned starts still computed while the survivors go on. For a
        few tens of starts (`scalelab.fit.screen`'s polish); with thousands, two loops run faster.
        ``screen_f`` then holds each start's last objective (a pruned start's: after screening).
    """
    S, P = starts.shape
    dtype = starts.dtype
    free = jnp.ones((P,), dtype) if free is None else jnp.asarray(free, dtype)
    fixed = None if fixed is None else jnp.asarray(fixed, dtype)  # None: starts keep their own values
    return _search(residual_fn, starts, data, kind, delta, free, fixed, screen_iter, keep, max_iter, ftol,
                   None, one_loop=one_loop)


def multistart_variants(residual_fn: Callable, starts, data, data_axes, *, kind="huber", delta, free, fixed,
                        screen_iter=4, keep=64, max_iter=200, ftol=None,
                        compaction: Compaction | None = None) -> MultiStartResult:
    """`multistart` for ``V`` variants at once: the same starts, per-variant data and settings.

    Every variant x start is one lane of one LM loop (`scalelab.fit.solver.lm_lanes`),
    so no vmap is wrapped around a loop; each variant's result equals `multistart`'s.

    Args:
      starts: [S, P] unconstrained starts, shared by every variant.
      data: the data dict; ``data_axes`` a pytree prefix of it: 0 where a leaf has a
        leading variant axis (e.g. ``{"x": None, "y": None, "w": 0}``), None where shared.
      delta: [V]; free, fixed: [V, P].
      compaction: None runs the polish as one loop over all variants x kept starts; a
        `scalelab.fit.compaction.Compaction` runs it with `scalelab.fit.compaction.lm_lanes_compact`
        (only the lanes still running cost a sweep; the same optimum, to round-off).

    Returns:
      `MultiStartResult` with a leading variant axis ``[V]`` on every field.
    """
    dtype = starts.dtype
    return _search(residual_fn, starts, data, kind, jnp.asarray(delta, dtype), jnp.asarray(free, dtype),
                   jnp.asarray(fixed, dtype), screen_iter, keep, max_iter, ftol, data_axes, compaction)


def _search(residual_fn, starts, data, kind, delta, free, fixed, screen_iter, keep, max_iter, ftol, data_axes,
            compaction=None, one_loop=False):
    """Screen, prune, polish. ``data_axes`` None: one variant; else a leading variant axis (see above)."""
    S = starts.shape[0]
    per_variant = data_axes is not None
    # one variant's loop-free steps, vmapped over variants when there are several
    over_v = (lambda f, axes: jax.vmap(f, in_axes=axes)) if per_variant else (lambda f, axes: f)

    def lane_map(g):
        return over_v(jax.vmap(g, in_axes=(0, None, None, None)), (0, data_axes, 0, 0))

    if fixed is not None:
        starts = over_v(lambda fr, fx: jnp.where(fr[None, :] > 0, starts, fx[None, :]), (0, 0))(free, fixed)
    def run(t0, n, fixed_iter):
        if per_variant and compaction is not None and not fixed_iter:
            return lm_lanes_compact(residual_fn, t0, data, data_axes, kind=kind, delta=delta, free=free,
                                           max_iter=n, ftol=ftol, compaction=compaction)
        return solver.lm_lanes(residual_fn, t0, data, kind=kind, delta=delta, free=free, max_iter=n, ftol=ftol,
                               fixed_iter=fixed_iter, lane_map=lane_map)

    keep = min(keep, S)
    if keep < S and one_loop and not per_variant:
        final = solver.lm_lanes(residual_fn, starts, data, kind=kind, delta=delta, free=free, max_iter=max_iter,
                                ftol=ftol, lane_map=lane_map, prune=(screen_iter, keep))
        idx, screen_f, n_iter = jnp.arange(S), final.f, final.it
    elif keep < S:
        screened = run(starts, screen_iter, True)

        def prune(theta, f, it):
            screen_f = jnp.where(jnp.isfinite(f), f, jnp.inf)
            _, idx = jax.lax.top_k(-screen_f, keep)
            return theta[idx], it[idx], idx, screen_f

        theta_s, it_s, idx, screen_f = over_v(prune, 0)(screened.theta, screened.f, screened.it)
        final = run(theta_s, max_iter, False)
        n_iter = final.it + it_s
    else:
        final = run(starts, max_iter, False)
        idx = jnp.broadcast_to(jnp.arange(S), final.f.shape)
        screen_f = final.f
        n_iter = final.it

    def best(theta, f, converged, idx, n_iter, screen_f):
        f = jnp.where(jnp.isfinite(f), f, jnp.inf)
        b = jnp.argmin(f)
        return MultiStartResult(theta[b], f[b], converged[b], idx[b], n_iter[b], screen_f)

    return over_v(best, 0)(final.theta, final.f, final.converged, idx, n_iter, screen_f)
