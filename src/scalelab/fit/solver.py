"""Batched Levenberg-Marquardt on IRLS-weighted log-loss residuals.

Why not L-BFGS: under ``vmap`` every lane waits for the slowest lane's line
search (DESIGN.md, "Measured": a vmapped optax L-BFGS is only ~3x SciPy per
start). A damped Gauss-Newton step needs no line search: each iteration costs one
Jacobian (``P`` forward-mode tangents) and one ``P x P`` solve, and converges in
a few tens of iterations from any reasonable start, in every lane alike.

Step (one lane, parameters ``theta`` in the law's unconstrained space)::

    r = log predict(theta) - log y          J = dr/dtheta         (n x P)
    g = J^T (w psi(r))                      H = J^T diag(w * c(r)) J
    (H + lam * (diag H + eps)) step = -g    accept if objective decreases

``c(r)`` is 1 inside the Huber band and ``OUTLIER_CURVATURE * delta/|r|``
outside: a fraction of the IRLS weight ``psi(r)/r`` (whose quadratic majorises
the Huber loss), between it and the exact Gauss-Newton curvature 0. ``lam`` shrinks after an accepted step and grows after a rejected
one. Fixed parameters are handled by a 0/1 ``free`` mask (they never move).

Lanes: `lm_lanes` runs many lanes (starts, or variants x starts) in ONE loop
whose state has the lanes as leading axes. Only each lane's residual, Jacobian
and objective are vmapped (a ``lane_map``, no control flow inside); the ``P x P``
solves act on the batched arrays directly. A ``vmap`` wrapped around the
single-lane loop `lm_run` gives the same numbers, but JAX's batching rule for a
while loop re-batches its body several times per vmap level (to find which
carries are batched), and under the two nested vmaps `scalelab.fit.many` had,
that tracing took most of a fresh process's time, which no persistent
compilation cache can save (its key is computed after tracing). Lanes that have
finished are frozen with ``where``, as the batching rule froze them.

Convergence: the predicted decrease ``g^T (H + eps)^-1 g / 2`` of the surrogate
falls below ``ftol * objective``, or the objective itself is at rounding level (`exact_fit_floor`);
a lane that hits ``max_iter`` first reports ``converged = False``.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from scalelab.fit import linalg, objectives


# Curvature given to runs outside the Huber band, relative to the IRLS weight
# delta/|r|. 1.0 is the IRLS majoriser (a guaranteed-descent surrogate, but only
# linear convergence on the near-L1 Huber(1e-3) problem); 0.1 halved the
# iterations on the Epoch data (76 -> 26 for the grid fit, 60 -> 30 mean per
# bootstrap resample) at the same optimum. The LM acceptance test keeps every
# accepted step a descent step whatever this value.
OUTLIER_CURVATURE = 0.1


def exact_fit_floor(dtype) -> float:
    """The objective below which a fit is exact to rounding: ``eps^1.5`` of the dtype (3e-24 in float64, where a
    summed squared log residual that small means residuals ~1e-12; 4e-11 in float32)."""
    return float(jnp.finfo(dtype).eps) ** 1.5


class LMState(NamedTuple):
    theta: jax.Array      # [P] unconstrained parameters
    f: jax.Array          # objective at theta
    lam: jax.Array        # damping
    decrement: jax.Array  # predicted decrease at theta (convergence measure)
    it: jax.Array         # iterations done
    converged: jax.Array  # predicted decrease below ftol * objective
    done: jax.Array       # converged, or stalled (damping saturated, no step improves)
    g: jax.Array          # [P] masked gradient at theta
    H: jax.Array          # [P, P] masked curvature at theta


def _normal_equations(residual_fn, theta, data, kind, delta):
    r = residual_fn(theta, data)
    J = jax.jacfwd(residual_fn)(theta, data)  # [n, P]
    w = data["w"]
    g = J.T @ (w * objectives.psi(kind, r, delta))
    H = (J * (w * objectives.irls_weight(kind, r, delta, OUTLIER_CURVATURE))[:, None]).T @ J
    f = objectives.total(kind, r, w, delta)
    return f, g, H


def _masked(H, g, free):
    outer = free[:, None] * free[None, :]
    H = H * outer + jnp.diag(1.0 - free)
    return H, g * free


def _one_lane(g):
    return g


def _lane_system(residual_fn, kind, lane_map):
    """Per lane (under ``lane_map``): objective, masked gradient and curvature, and ``free``."""

    def one(theta, data, delta, free):
        f, g, H = _normal_equations(residual_fn, theta, data, kind, delta)
        H, g = _masked(H, g, free)
        return f, g, H, free

    return lane_map(one)


# Below, the linear algebra runs on arrays with any leading lane axes ``[..., P]``, outside the
# lane map: a vmapped P x P solve costs ~P^3 batching-rule calls to trace, a batched one none.

def _diag(H):
    return jnp.diagonal(H, axis1=-2, axis2=-1)


def _add_diag(H, d):
    """``H + diag(d)``, batched (only the diagonal changes: no ``0 * inf`` off it)."""
    eye = jnp.eye(H.shape[-1], dtype=bool)
    return jnp.where(eye, H + d[..., None, :], H)


def _decrement(H, g):
    eps = jnp.finfo(H.dtype).eps * (1.0 + jnp.max(jnp.abs(_diag(H)), axis=-1))
    step = linalg.spd_solve(_add_diag(H, jnp.broadcast_to(eps[..., None], g.shape)), g)
    dec = 0.5 * jnp.einsum("...i,...i->...", g, step)
    return jnp.where(jnp.isfinite(dec), jnp.abs(dec), jnp.inf)


def lm_init(residual_fn, theta, data, kind, delta, free, lam0=1e-3, lane_map=_one_lane):
    """The LM state at ``theta`` (``[P]``, or ``[*B, P]`` lanes with a ``lane_map``, see `lm_lanes`).

    The loops here start from `lm_blank` instead, whose first sweep computes this state inside the
    loop (one copy of the system in the compiled program, not two)."""
    f, g, H, _ = _lane_system(residual_fn, kind, lane_map)(theta, data, delta, free)
    dec = _decrement(H, g)
    f = jnp.where(jnp.isfinite(f), f, jnp.inf)
    lanes = f.shape
    return LMState(theta, f, jnp.full(lanes, lam0, theta.dtype), dec, jnp.zeros(lanes, int),
                   jnp.zeros(lanes, bool), jnp.zeros(lanes, bool), g, H)


def lm_blank(theta, lam0=1e-3) -> LMState:
    """Lanes at ``theta`` (``[*B, P]``) whose system is not evaluated yet: objective ``inf``, gradient 0,
    curvature the identity, ``it = -1``.

    The first `lm_step` from it takes a zero step, evaluates the residuals and Jacobian at ``theta`` and
    accepts them (a finite objective beats ``inf``) without changing ``lam``: the state `lm_init` gives,
    with ``it = 0``, one sweep later. A loop that starts from it holds one copy of the system for XLA to
    compile (its step) instead of two (`lm_init`'s before the loop and the step's inside it): about
    half of a fit program's compile time. A lane whose objective is not finite at ``theta`` (a start outside
    the law's domain) is done, unconverged, after that first sweep.
    """
    lanes, P = theta.shape[:-1], theta.shape[-1]
    dtype = theta.dtype
    inf = jnp.full(lanes, jnp.inf, dtype)
    no = jnp.zeros(lanes, bool)
    return LMState(theta, inf, jnp.full(lanes, lam0, dtype), inf, jnp.full(lanes, -1, int), no, no,
                   jnp.zeros(theta.shape, dtype), jnp.broadcast_to(jnp.eye(P, dtype=dtype), lanes + (P, P)))


def lm_step(residual_fn, state: LMState, data, kind, delta, free, ftol, max_step=2.0,
            lane_map=_one_lane) -> LMState:
    """One LM iteration for one lane, or for every lane at once with a ``lane_map`` (see `lm_lanes`).

    The objective, gradient and curvature at ``state.theta`` are carried in the state, so an
    iteration evaluates the residuals and Jacobian once, at the trial point: if the step is
    accepted they are the next iteration's system, if not the old one is kept. (Evaluating the
    system at ``theta`` and the objective again at the trial point, as a textbook LM step does,
    costs a second pass over the runs for the same numbers.)
    """
    theta, f, g, H = state.theta, state.f, state.g, state.H
    damp = state.lam[..., None] * (_diag(H) + 1e-12)
    free_l = lane_map(lambda t, d, dl, fr: fr)(theta, data, delta, free)  # ``free`` broadcast to the lanes
    step = -linalg.spd_solve(_add_diag(H, damp), g) * free_l
    # Trust region in the unconstrained space: flat directions (a term that can
    # vanish) otherwise send a lane to |theta| ~ 1e5, where exp() under/overflows
    # through denormals and the whole vmapped batch slows ~100x.
    size = jnp.max(jnp.abs(step), axis=-1, keepdims=True)
    step = step * jnp.minimum(1.0, max_step / jnp.where(size > 0, size, 1.0))
    trial = theta + step
    f_trial, g_trial, H_trial, _ = _lane_system(residual_fn, kind, lane_map)(trial, data, delta, free)
    ok = jnp.isfinite(f_trial) & (f_trial < f) & jnp.all(jnp.isfinite(trial), axis=-1)
    keep = lambda new, old: jnp.where(_hold(ok, new), new, old)
    # a lane's first evaluation (from `lm_blank`, objective inf) keeps its damping: `lm_init`'s
    lam = jnp.where(ok, jnp.where(jnp.isfinite(f), jnp.maximum(state.lam * 0.3, 1e-9), state.lam),
                    jnp.minimum(state.lam * 8.0, 1e12))
    # Converged when even the full surrogate step from theta would gain less than ftol relative, or
    # when the objective is at rounding level (an exact fit, e.g. noiseless simulated runs: there the
    # decrement is rounding noise too, never ftol below the objective). Done also when damping is
    # saturated and no step improves (a flat valley).
    converged = jnp.isfinite(f) & ((state.decrement <= ftol * jnp.maximum(f, jnp.finfo(f.dtype).tiny))
                                   | (f <= exact_fit_floor(f.dtype)))
    # done too: a lane whose first evaluation (from `lm_blank`) is not finite, a start outside the law's domain
    done = converged | (lam >= 1e12) | (~jnp.isfinite(f) & ~ok)
    H_new, g_new = keep(H_trial, H), keep(g_trial, g)
    dec = keep(_decrement(H_trial, g_trial), state.decrement)
    return LMState(keep(trial, theta), keep(f_trial, f), lam, dec, state.it + 1, converged, done, g_new, H_new)


def lm_run(residual_fn: Callable, theta0, data, *, kind="huber", delta=1e-3, free=None,
           max_iter=100, ftol=None, stop_early=True) -> LMState:
    """Run LM from ``theta0`` (one lane) for at most ``max_iter`` iterations.

    ``residual_fn(theta, data) -> r[n]``; ``data`` must hold per-run weights
    ``w[n]``. For many starts or variants use `lm_lanes` (the same numbers, far
    cheaper to trace than this loop under ``vmap``).
    """
    dtype = theta0.dtype
    if free is None:
        free = jnp.ones_like(theta0)
    free = jnp.asarray(free, dtype)
    if ftol is None:
        # float32 sums of a few hundred residuals resolve ~1e-6 relative; ask a bit less.
        ftol = 1e-12 if dtype == jnp.float64 else 1e-5
    state = lm_blank(theta0)  # its first sweep evaluates the system at theta0 (it -1 -> 0)

    def cond(s):
        go = s.it < max_iter
        return (go & ~s.done) if stop_early else go

    def body(s):
        new = lm_step(residual_fn, s, data, kind, delta, free, ftol)
        # once done, keep the state (lanes wait for the others under vmap)
        return jax.tree.map(lambda a, b: jnp.where(s.done, a, b), s, new)

    return jax.lax.while_loop(cond, body, state)


def _hold(mask, a):
    """``mask`` [*B] broadcast against a lane array ``a`` [*B, ...]."""
    return mask.reshape(mask.shape + (1,) * (a.ndim - mask.ndim))


def held(state: LMState, limit) -> jax.Array:
    """The lanes a loop holds where they are: done, or ``limit`` iterations reached."""
    return state.done | (state.it >= limit)


def lm_sweep(residual_fn, state: LMState, data, kind, delta, free, ftol, limit, lane_map=None) -> LMState:
    """One `lm_step` of every lane that is not `held` (``limit`` iterations); held lanes keep their state. The
    sweep of every loop here (`lm_lanes`, the compacted rounds, the chunked screen)."""
    new = lm_step(residual_fn, state, data, kind, delta, free, ftol, lane_map=lane_map or _one_lane)
    h = held(state, limit)
    return jax.tree.map(lambda a, b: jnp.where(_hold(h, a), a, b), state, new)


def lane_vmap(g):
    """The default `lm_lanes` lane map: lanes ``[L]`` sharing ``data``, ``delta`` and ``free``."""
    return jax.vmap(g, in_axes=(0, None, None, None))


def lm_lanes(residual_fn: Callable, theta0, data, *, kind="huber", delta=1e-3, free=None,
             max_iter=100, ftol=None, fixed_iter=False, lane_map=lane_vmap, prune=None) -> LMState:
    """Run LM on every lane of ``theta0`` ``[*B, P]`` at once, in one loop (no vmap around it).

    Each lane does what `lm_run` does for it (same iterations, same numbers): it
    stops when done or after ``max_iter`` iterations, and is then held fixed while
    the others go on.

    Args:
      theta0: ``[*B, P]`` unconstrained starts, ``*B`` the lane axes.
      data, delta, free: what the single-lane `lm_init` / `lm_step` take, batched as
        ``lane_map`` says (default: shared by all lanes; ``free`` [P]).
      fixed_iter: run exactly ``max_iter`` sweeps (a ``fori_loop``, for short
        screening runs) instead of a ``while_loop`` that stops when every lane has.
      lane_map: ``g -> batched g`` for ``g(theta[P], data, delta, free)`` (one lane's residual,
        Jacobian and objective: no control flow, cheap to vmap); e.g. two nested vmaps for
        variants x starts. The P x P solves run on the batched arrays, outside it.
      prune: ``(after, keep)``: after ``after`` sweeps, every lane but the ``keep`` best (one lane
        axis) is held where it is, and the rest go on in the same loop. That is `multistart`'s
        screen-then-polish in one loop body instead of two (a screen loop and a polish loop are two
        copies of the LM step for XLA to compile: on Epoch's fit, 4.4 s against 3.2-3.5 s of
        compiling; the held lanes are still computed, ~8% more run time for 32 lanes).

    Returns:
      `LMState` with leading axes ``*B``.
    """
    dtype = theta0.dtype
    if free is None:
        free = jnp.ones(theta0.shape[-1:], dtype)
    free = jnp.asarray(free, dtype)
    if ftol is None:
        ftol = 1e-12 if dtype == jnp.float64 else 1e-5
    state = lm_blank(theta0)  # its first sweep evaluates the system at theta0 (it -1 -> 0)

    def hold(s):
        return held(s, max_iter)

    def body(s):
        return lm_sweep(residual_fn, s, data, kind, delta, free, ftol, max_iter, lane_map)

    if prune is not None:
        after, keep = prune

        def body_pruned(c):
            k, s = c
            s = body(s)
            _, top = jax.lax.top_k(-jnp.where(jnp.isfinite(s.f), s.f, jnp.inf), keep)
            cut = jnp.ones(s.f.shape, bool).at[top].set(False) & (k == after)  # once, after `after` sweeps
            return k + 1, s._replace(done=s.done | cut)

        return jax.lax.while_loop(lambda c: jnp.any(~hold(c[1])), body_pruned, (0, state))[1]
    if fixed_iter:
        return jax.lax.fori_loop(0, max_iter + 1, lambda _, s: body(s), state)  # + the evaluating sweep
    return jax.lax.while_loop(lambda s: jnp.any(~hold(s)), body, state)
