"""Multi-start fitting as one compiled program: run all, prune, polish.

Every start runs ``screen_iter`` (default 4) LM iterations, all starts as lanes of
one loop (`scalelab.fit.solver.lm_lanes`); the best ``keep`` (default 64) starts
continue for up to ``max_iter`` iterations. On the Epoch data the pruned search
reaches the same optimum as running all 4,500 Hoffmann starts to convergence
(tests/test_fit_epoch.py), at a fraction of the work. All of it is pure and
jit-able. `multistart_variants` does the same for many variants at once (per-run
weights, Huber delta, fixed-parameter masks; `scalelab.fit.many`): every variant x
start is a lane of the same loops, so no vmap is wrapped around a loop.

On a CPU (`CHUNKED_SCREEN`) the screen runs ``keep`` starts at a time inside the polish's
own loop (`_chunked_search`): the same lanes and result, one LM step for XLA to compile
instead of two (a screen loop's and a polish loop's), and on thousands of starts a faster run.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from scalelab.fit import solver
from scalelab.fit.compaction import Compaction, lm_lanes_compact


# Platforms whose fits screen the starts keep at a time in the polish's loop (``chunked``, `_chunked_search`):
# half the LM steps to compile (benchmarks/trace_time.py). Not accelerators, where screening all starts at
# once fills the device.
CHUNKED_SCREEN = ("cpu",)


class MultiStartResult(NamedTuple):
    theta: jax.Array       # [P] best unconstrained parameters
    f: jax.Array           # best objective
    converged: jax.Array   # did the best lane converge
    best_start: jax.Array  # index into the starts array of the winning start
    n_iter: jax.Array      # iterations of the winning lane (screen + polish)
    screen_f: jax.Array    # [S] objective of every start after screening


def multistart(residual_fn: Callable, starts, data, *, kind="huber", delta=1e-3, free=None,
               fixed=None, screen_iter=4, keep=64, max_iter=200, ftol=None, one_loop=False,
               chunked=False) -> MultiStartResult:
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
      chunked: screen the starts ``keep`` at a time in the polish's loop (`_chunked_search`, as
        `multistart_variants` does on a CPU): one LM step to compile instead of two, the same result.
    """
    S, P = starts.shape
    dtype = starts.dtype
    free = jnp.ones((P,), dtype) if free is None else jnp.asarray(free, dtype)
    fixed = None if fixed is None else jnp.asarray(fixed, dtype)  # None: starts keep their own values
    if chunked and not one_loop and keep < S:  # one variant of `multistart_variants`'s chunked search
        one = lambda a: None if a is None else a[None]  # noqa: E731
        res = _search(residual_fn, starts, data, kind, jnp.asarray(delta, dtype)[None], free[None], one(fixed),
                      screen_iter, keep, max_iter, ftol, jax.tree.map(lambda _: None, data), chunked=True)
        return jax.tree.map(lambda a: a[0], res)
    return _search(residual_fn, starts, data, kind, delta, free, fixed, screen_iter, keep, max_iter, ftol,
                   None, one_loop=one_loop)


def multistart_variants(residual_fn: Callable, starts, data, data_axes, *, kind="huber", delta, free, fixed,
                        screen_iter=4, keep=64, max_iter=200, ftol=None,
                        compaction: Compaction | None = None, chunked: bool = False) -> MultiStartResult:
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
      chunked: screen the starts ``keep`` at a time in the polish's own loop (`_chunked_search`): one
        copy of the LM step to compile instead of two, the same lanes and result. For a CPU, where
        ``V x keep`` lanes already fill the cores; with compaction it does not apply.

    Returns:
      `MultiStartResult` with a leading variant axis ``[V]`` on every field.
    """
    dtype = starts.dtype
    return _search(residual_fn, starts, data, kind, jnp.asarray(delta, dtype), jnp.asarray(free, dtype),
                   jnp.asarray(fixed, dtype), screen_iter, keep, max_iter, ftol, data_axes, compaction,
                   chunked=chunked)


def _search(residual_fn, starts, data, kind, delta, free, fixed, screen_iter, keep, max_iter, ftol, data_axes,
            compaction=None, one_loop=False, chunked=False):
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
    elif keep < S and chunked and per_variant and compaction is None:
        final, idx, screen_f, it_s = _chunked_search(residual_fn, starts, data, kind, delta, free, screen_iter, keep,
                                                     max_iter, ftol, lane_map)
        n_iter = final.it + it_s
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


def _chunked_search(residual_fn, starts, data, kind, delta, free, screen_iter, keep, max_iter, ftol, lane_map):
    """Screen, prune and polish ``[V, S]`` starts in ONE loop over ``[V, keep]`` lanes.

    The starts are screened ``keep`` at a time (``ceil(S / keep)`` chunks; each chunk's lanes start from
    `scalelab.fit.solver.lm_blank` and run the sweep that evaluates them plus ``screen_iter``); after each chunk a
    running ``top_k`` keeps each variant's ``keep`` best screened starts; then those lanes are polished in the same loop. Every
    lane does the iterations it does in the two-loop search (lanes are independent), the running
    ``top_k`` selects what one ``top_k`` over all starts selects, ties to the lower start as it does, so
    the result is the same; the program holds one LM step instead of two.

    Returns: the polished `LMState` ``[V, keep]``, the kept starts' indices ``[V, keep]``, every start's
    screened objective ``[V, S]`` and the kept starts' screening iterations ``[V, keep]``.
    """
    if starts.ndim == 2:  # starts shared by every variant (no fixed values set)
        starts = jnp.broadcast_to(starts, delta.shape + starts.shape)
    V, S, P = starts.shape
    K = keep
    C = -(-S // K)
    if ftol is None:  # `scalelab.fit.solver.lm_lanes`'s default
        ftol = 1e-12 if starts.dtype == jnp.float64 else 1e-5
    padded = jnp.concatenate([starts, jnp.broadcast_to(starts[:, -1:], (V, C * K - S, P))], axis=1)
    chunks = padded.reshape(V, C, K, P)
    valid = (jnp.arange(C * K) < S).reshape(C, K)  # the last chunk's padding never competes
    lane_ids = jnp.arange(K)

    def body(c):
        i, k, lanes, pool, screen_f = c
        screening = i < C
        lanes = solver.lm_sweep(residual_fn, lanes, data, kind, delta, free, ftol,
                                jnp.where(screening, screen_iter, max_iter), lane_map)
        k = k + 1
        end = screening & (k == screen_iter + 1)  # a chunk screened: merge it into the pool
        i_c = jnp.minimum(i, C - 1)
        f_chunk = jnp.where(jnp.isfinite(lanes.f) & valid[i_c][None, :], lanes.f, jnp.inf)
        screen_f = jnp.where(end, jax.lax.dynamic_update_slice_in_dim(screen_f, f_chunk, i_c * K, axis=1), screen_f)
        cat = lambda a, b: jnp.concatenate([a, b], axis=1)  # noqa: E731
        pool_f, pool_theta, pool_idx, pool_it = pool
        _, top = jax.lax.top_k(-cat(pool_f, f_chunk), K)  # pool (earlier, lower starts) first: ties as one top_k
        take = lambda a: jnp.take_along_axis(a, top.reshape(top.shape + (1,) * (a.ndim - 2)), axis=1)  # noqa: E731
        merged = (take(cat(pool_f, f_chunk)), take(cat(pool_theta, lanes.theta)),
                  take(cat(pool_idx, jnp.broadcast_to(i_c * K + lane_ids, pool_idx.shape))),
                  take(cat(pool_it, lanes.it)))
        pool = jax.tree.map(lambda m, p: jnp.where(end, m, p), merged, pool)
        nxt = jnp.where(i + 1 < C, jax.lax.dynamic_index_in_dim(chunks, jnp.minimum(i + 1, C - 1), 1, keepdims=False),
                        pool[1])  # the next chunk, or the pool to polish
        lanes = jax.tree.map(lambda a, b: jnp.where(end, b, a), lanes, solver.lm_blank(nxt))
        return i + end, jnp.where(end, 0, k), lanes, pool, screen_f

    dtype = starts.dtype
    pool = (jnp.full((V, K), jnp.inf, dtype), jnp.zeros((V, K, P), dtype), jnp.zeros((V, K), int),
            jnp.zeros((V, K), int))
    zero = jnp.zeros((), int)
    init = (zero, zero, solver.lm_blank(chunks[:, 0]), pool, jnp.full((V, C * K), jnp.inf, dtype))
    going = lambda c: (c[0] < C) | jnp.any(~solver.held(c[2], max_iter))  # noqa: E731  chunks left, or polishing
    _, _, final, pool, screen_f = jax.lax.while_loop(going, body, init)
    return final, pool[2], screen_f[:, :S], pool[3]
