"""Lane compaction: LM over many variants x starts where only the lanes still running cost a sweep.

`scalelab.fit.solver.lm_lanes` runs every lane until the slowest has finished: on a bootstrap of
thousands of resamples most lanes finish in ~30 iterations and wait for a few that need ~70.
`lm_lanes_compact` gathers the lanes still running into fixed-width rounds instead (the same optimum,
to round-off), and `split_data_part` computes the data-only part of a residual once per round.
Used by `scalelab.fit.many` through `scalelab.fit.multistart.multistart_variants`.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax.extend import core as jcore

from scalelab.fit.solver import LMState, held, lm_blank, lm_sweep


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
        return held(s, max_iter)

    def _advance(rfn, s, n, d, dl, fr, lane_map):
        """At most ``n`` sweeps of every lane that is not held (fewer when all are)."""

        def body(c):
            r, s = c
            return r + 1, lm_sweep(rfn, s, d, kind, dl, fr, ftol, max_iter, lane_map)

        return jax.lax.while_loop(lambda c: (c[0] < n) & jnp.any(~hold(c[1])), body, (0, s))[1]

    def advance(s, n, d, dl, fr, lane_map):
        return _advance(residual_fn, s, n, d, dl, fr, lane_map)

    state = lm_blank(theta0)  # its first sweep evaluates the system (`scalelab.fit.solver.lm_blank`)
    width = min(int(compaction.width), L)
    if width >= L:  # nothing to gather: the plain loop
        return advance(state, max_iter + 1, data, delta, free, group_map)
    if compaction.first > 0:  # + 1: the evaluating sweep
        state = advance(state, int(compaction.first) + 1, data, delta, free, group_map)
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
