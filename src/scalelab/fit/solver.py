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
falls below ``ftol * objective``; a lane that hits ``max_iter`` first reports
``converged = False``.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax.extend import core as jcore

from scalelab.fit import linalg, objectives


# Curvature given to runs outside the Huber band, relative to the IRLS weight
# delta/|r|. 1.0 is the IRLS majoriser (a guaranteed-descent surrogate, but only
# linear convergence on the near-L1 Huber(1e-3) problem); 0.1 halved the
# iterations on the Epoch data (76 -> 26 for the grid fit, 60 -> 30 mean per
# bootstrap resample) at the same optimum. The LM acceptance test keeps every
# accepted step a descent step whatever this value.
OUTLIER_CURVATURE = 0.1


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
    """The LM state at ``theta`` (``[P]``, or ``[*B, P]`` lanes with a ``lane_map``, see `lm_lanes`)."""
    f, g, H, _ = _lane_system(residual_fn, kind, lane_map)(theta, data, delta, free)
    dec = _decrement(H, g)
    f = jnp.where(jnp.isfinite(f), f, jnp.inf)
    lanes = f.shape
    return LMState(theta, f, jnp.full(lanes, lam0, theta.dtype), dec, jnp.zeros(lanes, int),
                   jnp.zeros(lanes, bool), jnp.zeros(lanes, bool), g, H)


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
    lam = jnp.where(ok, jnp.maximum(state.lam * 0.3, 1e-9), jnp.minimum(state.lam * 8.0, 1e12))
    # Converged when even the full surrogate step from theta would gain less than ftol relative,
    # or when damping is saturated and no step improves (a flat valley).
    converged = state.decrement <= ftol * jnp.maximum(f, jnp.finfo(f.dtype).tiny)
    done = converged | (lam >= 1e12)
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
    state = lm_init(residual_fn, theta0, data, kind, delta, free)

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


def lane_vmap(g):
    """The default `lm_lanes` lane map: lanes ``[L]`` sharing ``data``, ``delta`` and ``free``."""
    return jax.vmap(g, in_axes=(0, None, None, None))


def lm_lanes(residual_fn: Callable, theta0, data, *, kind="huber", delta=1e-3, free=None,
             max_iter=100, ftol=None, fixed_iter=False, lane_map=lane_vmap) -> LMState:
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

    Returns:
      `LMState` with leading axes ``*B``.
    """
    dtype = theta0.dtype
    if free is None:
        free = jnp.ones(theta0.shape[-1:], dtype)
    free = jnp.asarray(free, dtype)
    if ftol is None:
        ftol = 1e-12 if dtype == jnp.float64 else 1e-5
    state = lm_init(residual_fn, theta0, data, kind, delta, free, lane_map=lane_map)

    def hold(s):
        return s.done | (s.it >= max_iter)

    def body(s):
        new = lm_step(residual_fn, s, data, kind, delta, free, ftol, lane_map=lane_map)
        h = hold(s)
        return jax.tree.map(lambda a, b: jnp.where(_hold(h, a), a, b), s, new)

    if fixed_iter:
        return jax.lax.fori_loop(0, max_iter, lambda _, s: body(s), state)
    return jax.lax.while_loop(lambda s: jnp.any(~hold(s)), body, state)


class Compaction(NamedTuple):
    """How `lm_lanes_compact` gathers the lanes still running (all counts are LM sweeps or lanes).

    Attributes:
      first: sweeps every lane gets in the full batch before any gathering (most lanes need
        more than this, so these sweeps waste little).
      width: lanes per compacted round.
      sweeps: sweeps per round; then the lanes still running are gathered again, so a lane that
        finishes early in a round idles for at most ``sweeps - 1`` sweeps.
    """

    first: int = 8
    width: int = 256
    sweeps: int = 4


def _take(data, data_axes, rows):
    """``data`` with every leaf that ``data_axes`` maps (axis 0) indexed by ``rows``; shared leaves as they are."""
    return jax.tree.map(lambda ax, sub: sub if ax is None else jax.tree.map(lambda a: jnp.take(a, rows, axis=0), sub),
                        data_axes, data, is_leaf=lambda a: a is None)


def split_data_part(residual_fn: Callable, theta, data):
    """``(pre, post)`` with ``post(theta, pre(data)) == residual_fn(theta, data)``, operation for operation.

    ``pre`` holds every operation of ``residual_fn`` that depends on ``data`` alone (for chinchilla
    ``log N`` and ``log D``), ``post`` the rest. Inside an LM loop the data are fixed, so computing
    ``pre`` once and ``post`` every sweep saves those operations per sweep; XLA does not hoist them
    out of the loop itself. Found by tracing one lane (``theta [P]``, ``data`` one lane's leaves) to a
    jaxpr and splitting its equations by whether any input depends on ``theta``; equations with
    effects stay in ``post``. ``pre(data)`` returns a list of arrays.
    """
    closed = jax.make_jaxpr(residual_fn)(theta, data)
    jaxpr = closed.jaxpr
    n_theta = len(jax.tree.leaves(theta))
    on_theta = set(jaxpr.invars[:n_theta])
    pre_eqns, post_eqns = [], []
    for eqn in jaxpr.eqns:
        if eqn.effects or any(isinstance(v, jcore.Var) and v in on_theta for v in eqn.invars):
            post_eqns.append(eqn)
            on_theta.update(eqn.outvars)
        else:
            pre_eqns.append(eqn)
    passed = []  # values of the data part that the rest reads
    for v in [v for e in post_eqns for v in e.invars] + list(jaxpr.outvars):
        if isinstance(v, jcore.Var) and v not in on_theta and v not in passed:
            passed.append(v)
    pre_jaxpr = jcore.Jaxpr(jaxpr.constvars, jaxpr.invars[n_theta:], passed, pre_eqns, debug_info=jaxpr.debug_info)
    post_jaxpr = jcore.Jaxpr([], jaxpr.invars[:n_theta] + passed, jaxpr.outvars, post_eqns,
                             debug_info=jaxpr.debug_info)
    pre_fn = jcore.jaxpr_as_fun(jcore.ClosedJaxpr(pre_jaxpr, closed.consts))
    post_fn = jcore.jaxpr_as_fun(jcore.ClosedJaxpr(post_jaxpr, []))
    out_tree = jax.tree.structure(jax.eval_shape(residual_fn, theta, data))

    def pre(d):
        return list(pre_fn(*jax.tree.leaves(d)))

    def post(t, parts):
        return jax.tree.unflatten(out_tree, post_fn(*jax.tree.leaves(t), *parts))

    return pre, post


def lm_lanes_compact(residual_fn: Callable, theta0, data, data_axes, *, kind="huber", delta, free,
                     max_iter=100, ftol=None, compaction: Compaction = Compaction()) -> LMState:
    """`lm_lanes` for ``G`` groups x ``S`` lanes, running only the lanes that have not finished.

    In one `lm_lanes` loop every lane pays for every sweep until the slowest lane of the batch
    has finished (on the Epoch bootstrap the median lane needs 27 iterations, the slowest 69). Here
    all lanes first run ``compaction.first`` sweeps together; then, round after round, the
    ``compaction.width`` lanes still running are gathered (a fixed-size ``top_k``, so the program
    has static shapes) with their group's data, run ``compaction.sweeps`` sweeps, and are
    scattered back, until no lane is left running. Each lane's iterations are exactly those of
    `lm_lanes` (lanes are independent; a gathered lane carries its whole state), so the result is
    the same to round-off; only lanes that still run cost anything after the first sweeps. In a
    round, what the residuals compute from the data alone (e.g. ``log N`` of each lane's runs, when
    runs are per group) is computed once for the round, not every sweep (`split_data_part`).

    Args:
      theta0: ``[G, S, P]`` unconstrained starts.
      data: the data dict; ``data_axes`` a pytree prefix of it: 0 where a leaf has a leading group
        axis (e.g. per-variant weights ``{"x": None, "y": None, "w": 0}``), None where shared.
      delta: ``[G]``; free: ``[G, P]``.
      compaction: a `Compaction`.

    Returns:
      `LMState` with leading axes ``[G, S]``.
    """
    G, S, P = theta0.shape
    L = G * S
    dtype = theta0.dtype
    delta, free = jnp.asarray(delta, dtype), jnp.asarray(free, dtype)
    if ftol is None:
        ftol = 1e-12 if dtype == jnp.float64 else 1e-5

    def group_map(g):
        return jax.vmap(jax.vmap(g, in_axes=(0, None, None, None)), in_axes=(0, data_axes, 0, 0))

    def hold(s):
        return s.done | (s.it >= max_iter)

    def _advance(rfn, s, n, d, dl, fr, lane_map):
        """At most ``n`` sweeps of every lane that is not held (fewer when all are)."""

        def body(c):
            r, s = c
            new = lm_step(rfn, s, d, kind, dl, fr, ftol, lane_map=lane_map)
            h = hold(s)
            return r + 1, jax.tree.map(lambda a, b: jnp.where(_hold(h, a), a, b), s, new)

        return jax.lax.while_loop(lambda c: (c[0] < n) & jnp.any(~hold(c[1])), body, (0, s))[1]

    def advance(s, n, d, dl, fr, lane_map):
        return _advance(residual_fn, s, n, d, dl, fr, lane_map)

    state = lm_init(residual_fn, theta0, data, kind, delta, free, lane_map=group_map)
    width = min(int(compaction.width), L)
    if width >= L:  # nothing to gather: the plain loop
        return advance(state, max_iter, data, delta, free, group_map)
    if compaction.first > 0:
        state = advance(state, int(compaction.first), data, delta, free, group_map)
    flat = jax.tree.map(lambda a: a.reshape((L,) + a.shape[2:]), state)

    # In a round, the residuals' data-only part (e.g. log N of each lane's runs) is computed once,
    # not every sweep: `split_data_part`.
    one_lane = jax.tree.map(lambda ax, sub: sub if ax is None else jax.tree.map(lambda a: a[0], sub),
                            data_axes, data, is_leaf=lambda a: a is None)
    spec = lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype)
    try:
        pre, post = split_data_part(residual_fn, spec(theta0[0, 0]), jax.tree.map(spec, one_lane))
    except Exception:  # a jaxpr this JAX cannot rebuild: evaluate the whole residual every sweep
        lane_tree = jax.tree.structure(one_lane)
        pre = jax.tree.leaves
        post = lambda t, parts: residual_fn(t, jax.tree.unflatten(lane_tree, parts))
    w_axis = data_axes.get("w") if isinstance(data_axes, dict) else data_axes

    def one_round(flat):
        _, idx = jax.lax.top_k((~hold(flat)).astype(jnp.int32), width)  # running lanes first
        owner = idx // S
        sub = jax.tree.map(lambda a: a[idx], flat)
        d = _take(data, data_axes, owner)
        parts = jax.vmap(pre, in_axes=(data_axes,))(d)  # [width, ...] each
        d_round = {"parts": parts, "w": d["w"]}

        def lane_map(g):
            return jax.vmap(g, in_axes=(0, {"parts": 0, "w": w_axis}, 0, 0))

        sub = _advance(lambda t, dd: post(t, dd["parts"]), sub, int(compaction.sweeps), d_round, delta[owner],
                       free[owner], lane_map)
        return jax.tree.map(lambda a, b: a.at[idx].set(b, unique_indices=True), flat, sub)

    flat = jax.lax.while_loop(lambda f: jnp.any(~hold(f)), one_round, flat)
    return jax.tree.map(lambda a: a.reshape((G, S) + a.shape[1:]), flat)
