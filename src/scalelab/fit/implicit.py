"""Implicit gradients of a fit: differentiate the optimum, not the solver.

The fitted parameters ``theta*`` (unconstrained, `Law.unconstrained_names` order)
minimise ``h(theta, phi) = objectives.total(kind, r(theta_full, data), w, delta)``
with ``theta_full = where(free, theta, fixed)``. At the optimum the free part of
the gradient vanishes, so by the implicit function theorem::

    d theta*_free / d phi = -H_ff^-1  d/dphi [grad_theta h]_free        (H = hess_theta h)
    d theta*_fixed / d fixed = I

for every input ``phi`` the objective depends on: observed log losses ``y``,
per-run weights ``w``, the law's inputs ``x``, the Huber ``delta`` and the
values of fixed parameters. `solution` wraps the batched Levenberg-Marquardt
multistart (`scalelab.fit.multistart`) in a `jax.custom_vjp` whose backward
pass is one ``P x P`` solve with the exact Hessian (``jax.hessian`` of the
summed objective) and one vector-Jacobian product of ``grad_theta h``; the
solver's iterations are never unrolled. It composes with `jax.jit`, `jax.vmap`
and `jax.grad`/`jax.jacrev` (reverse mode; use ``jacrev`` for Jacobians), for
any declared law.

Validity: ``theta*`` must be a strict local minimum (``H_ff`` positive
definite) and, for Huber, no residual may sit exactly on the band's edge
``|r| = delta`` (the objective is only once differentiable there).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from scalelab.fit import objectives
from scalelab.fit.api import residual_fn_for
from scalelab.fit.multistart import multistart
from scalelab.programs import per_law



def objective_fn(law, kind: str = "huber") -> Callable:
    """``h(theta, data, delta, free, fixed)``: the summed objective with fixed parameters substituted."""
    residual = residual_fn_for(law)

    def h(theta, data, delta, free, fixed):
        full = jnp.where(free > 0, theta, fixed)
        return objectives.total(kind, residual(full, data), data["w"], delta)

    return h


def masked_hessian(law, kind, theta, data, delta, free, fixed):
    """Exact Hessian of the summed objective in the free block, identity on fixed parameters."""
    H = jax.hessian(objective_fn(law, kind))(theta, data, delta, free, fixed)
    outer = free[:, None] * free[None, :]
    return H * outer + jnp.diag(1.0 - free)


@per_law
def solution(law, kind: str = "huber", *, screen_iter: int = 8, keep: int = 32, max_iter: int = 200,
             ftol: float | None = None, newton_steps: int = 3) -> Callable:
    """The fit as a differentiable function ``(starts, data, delta, free, fixed) -> theta*``.

    Args (of the returned function):
      starts: ``[S, P]`` unconstrained starts (e.g. ``law.grid_starts()``, or the
        previous optimum ``theta[None]`` for a warm start). No gradient.
      data: ``{"x": {input: [n]}, "y": [n] log observed, "w": [n] weights}``
        (`scalelab.fit.api.prepare_data`). Differentiable in all three.
      delta: Huber threshold (differentiable; ignored by ``"mse"``).
      free: ``[P]`` 1 free, 0 fixed (no gradient).
      fixed: ``[P]`` unconstrained values of fixed parameters (differentiable).

    ``newton_steps`` exact-Hessian Newton steps (each kept only if it does not
    raise the objective) polish the LM optimum, so that the stationarity the
    implicit function theorem assumes holds to round-off.

    Returns ``theta*`` ``[P]`` in the law's unconstrained space. Cached per law
    and setting, so repeated calls reuse one traced function.
    """
    residual = residual_fn_for(law)
    h = objective_fn(law, kind)

    def newton(theta, data, delta, free, fixed):
        # Exact-Hessian Newton steps, kept only when they do not raise the objective (beyond round-off): the
        # LM surrogate (0.1x IRLS curvature outside the Huber band) stops ~1e-8 short of
        # the optimum on near-L1 problems, and the implicit gradient is only as exact as
        # the optimum it is taken at.
        def step(th, _):
            g = jax.grad(h)(th, data, delta, free, fixed) * free
            H = masked_hessian(law, kind, th, data, delta, free, fixed)
            trial = th - jnp.linalg.solve(H, g) * free
            f0, f1 = h(th, data, delta, free, fixed), h(trial, data, delta, free, fixed)
            # near the optimum the decrease is below the objective's round-off; allow that much
            tol = 64 * jnp.finfo(th.dtype).eps * jnp.abs(f0)
            ok = jnp.isfinite(f1) & (f1 <= f0 + tol) & jnp.all(jnp.isfinite(trial))
            return jnp.where(ok, trial, th), None

        theta, _ = jax.lax.scan(step, theta, None, length=newton_steps)
        return theta

    def forward_solve(starts, data, delta, free, fixed):
        res = multistart(residual, starts, data, kind=kind, delta=delta, free=free, fixed=fixed,
                         screen_iter=screen_iter, keep=keep, max_iter=max_iter, ftol=ftol)
        theta = jnp.where(free > 0, res.theta, fixed)
        return newton(theta, data, delta, free, fixed) if newton_steps else theta

    @jax.custom_vjp
    def solve(starts, data, delta, free, fixed):
        return forward_solve(starts, data, delta, free, fixed)

    def fwd(starts, data, delta, free, fixed):
        theta = forward_solve(starts, data, delta, free, fixed)
        return theta, (theta, starts, data, delta, free, fixed)

    def bwd(res, v):
        theta, starts, data, delta, free, fixed = res
        H = masked_hessian(law, kind, theta, data, delta, free, fixed)
        u = jnp.linalg.solve(H, v * free) * free  # H is symmetric: H^-T v = H^-1 v
        grad_theta = lambda d, dl, fx: jax.grad(h)(theta, d, dl, free, fx)
        _, pullback = jax.vjp(grad_theta, data, delta, fixed)
        g_data, g_delta, g_fixed = pullback(-u)
        g_fixed = g_fixed + v * (1.0 - free)
        return (jnp.zeros_like(starts), g_data, g_delta, jnp.zeros_like(free), g_fixed)

    solve.defvjp(fwd, bwd)
    return solve


def weight_jacobian(law, kind, theta, data, delta, free=None, fixed=None):
    """``d theta* / d w`` ``[P, n]`` at an optimum ``theta`` (closed form of the backward pass).

    Column ``i`` is ``-H^-1 d/dw_i grad h = -H^-1 grad rho(r_i)``: the first-order
    change of the fit per unit weight on run ``i``. Removing run ``i`` (weight
    1 -> 0) changes ``theta*`` by about minus that column.
    """
    P = theta.shape[0]
    free = jnp.ones((P,), theta.dtype) if free is None else free
    fixed = jnp.zeros((P,), theta.dtype) if fixed is None else fixed
    h = objective_fn(law, kind)
    H = masked_hessian(law, kind, theta, data, delta, free, fixed)
    G = jax.jacfwd(lambda w: jax.grad(h)(theta, {**data, "w": w}, delta, free, fixed))(data["w"])  # [P, n]
    return -jnp.linalg.solve(H, G * free[:, None]) * free[:, None]


__all__ = ["solution", "objective_fn", "masked_hessian", "weight_jacobian"]
