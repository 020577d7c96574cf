"""Compute-optimal frontier of any law of ``N`` and ``D`` by optimisation, differentiably.

Convention: ``C = 6 N D`` FLOPs (as `scalelab.optimal.closed_form`). For a budget ``C`` the
optimum minimises ``log L(N, C / 6N)`` over ``u = log N`` (natural log). Other
inputs of the law (experts ``E``, sparsity ``S``...) are held fixed at given
values. Method, per budget and under ``vmap``: the best of 513 grid points
spanning tokens per parameter e^-30..e^30, then clipped Newton steps on ``u``
with autodiff derivatives. The search runs under ``stop_gradient``; one final
Newton step ``u* - f'(u*)/f''(u*)`` is left differentiable, which at a
stationary point has exactly the implicit-function derivative
``du*/dtheta = -f'_theta / f''``. So `optimal_log_n` composes with ``grad``,
``jacfwd``, ``vmap`` and ``jit``, and `scalelab.design` differentiates
forecasts at the compute-optimal point through it.
"""

from __future__ import annotations

from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from scalelab import laws as _laws
from scalelab.laws.given import held_fit, law_and_params
from scalelab.optimal.closed_form import closed_form, compute_budgets, split_error
from scalelab.programs import float64

# What `allocate` returns, for every law (closed form or numeric)
ALLOCATION_KEYS = ("C", "N_opt", "D_opt", "tokens_per_param", "loss")
GRID_POINTS = 513
GRID_HALF_WIDTH = 15.0  # in log N around log sqrt(C/6): tokens per parameter e^-30 .. e^30
NEWTON_STEPS = 30


def check_law(law, extra):
    if not {"N", "D"} <= set(law.inputs):
        raise ValueError(f"law {law.name!r} does not take N and D; no compute-optimal split under C = 6ND")
    missing = sorted(set(law.inputs) - {"N", "D"} - set(extra or {}))
    if missing:
        raise ValueError(f"law {law.name!r} also needs inputs {missing} held fixed (e.g. E=8); give them as extra")
    unread = sorted(set(extra or {}) - (set(law.inputs) - {"N", "D"}))
    if unread:  # a typo, or E=8 for a dense law: the answer would silently be the other one
        raise ValueError(f"law {law.name!r} does not read {unread} (its inputs: {', '.join(law.inputs)}); drop them "
                         f"from extra")


def _log_loss(law, theta, u, C, extra):
    N = jnp.exp(u)
    return law.log_predict_theta(theta, {"N": N, "D": C / (6.0 * N), **extra})


def optimal_log_n(law, theta, C, extra: Mapping | None = None):
    """``log N_opt`` (natural log) at scalar compute ``C`` for unconstrained ``theta [P]``.

    Differentiable in ``theta``, ``C`` and ``extra`` (see module doc); vmap for many budgets.
    """
    extra = dict(extra or {})
    f = lambda u, th, c: _log_loss(law, th, u, c, extra)
    d1 = jax.grad(f)
    d2 = jax.grad(d1)
    th_s, c_s = jax.lax.stop_gradient(theta), jax.lax.stop_gradient(C)
    centre = 0.5 * jnp.log(c_s / 6.0)
    grid = centre + jnp.linspace(-GRID_HALF_WIDTH, GRID_HALF_WIDTH, GRID_POINTS)
    vals = jax.vmap(lambda g: f(g, th_s, c_s))(grid)
    vals = jnp.where(jnp.isfinite(vals), vals, jnp.inf)
    u0 = grid[jnp.argmin(vals)]
    step = grid[1] - grid[0]

    def newton(u, _):
        h = d2(u, th_s, c_s)
        du = jnp.where(h > 0, -d1(u, th_s, c_s) / h, 0.0)
        return u + jnp.clip(du, -step, step), None

    u, _ = jax.lax.scan(newton, u0, None, length=NEWTON_STEPS)
    u = jax.lax.stop_gradient(u)
    return u - d1(u, theta, C) / d2(u, theta, C)


def optimum(law, theta, C, extra):
    """N_opt, D_opt, loss and the law's partial elasticities at the optimum, for scalar C and
    unconstrained ``theta [P]`` (pure; vmap over budgets or posterior draws)."""
    u = optimal_log_n(law, theta, C, extra)
    N = jnp.exp(u)
    D = C / (6.0 * N)
    logL = lambda lN, lD: law.log_predict_theta(theta, {"N": jnp.exp(lN), "D": jnp.exp(lD), **extra})
    eN, eD = jax.grad(logL, argnums=(0, 1))(u, jnp.log(D))
    return {"N_opt": N, "D_opt": D, "tokens_per_param": D / N, "loss": jnp.exp(logL(u, jnp.log(D))),
            "dlogL_dlogN": eN, "dlogL_dlogD": eD}


def _theta(law, params):
    return law.flatten(law.to_unconstrained({k: jnp.asarray(params[k], jnp.float64) for k in law.params}))


def _prepare(law, params, C, extra):
    law = _laws.get(law)
    check_law(law, extra)
    missing = [p for p in law.params if p not in params]
    if missing:
        raise ValueError(f"parameters {missing} missing for law {law.name!r}")
    C = np.atleast_1d(compute_budgets(C)).ravel()
    extra = {k: jnp.asarray(float(v)) for k, v in (extra or {}).items() if k in law.inputs}
    return law, C, extra


@float64
def frontier(law, params: Mapping[str, float], C, extra: Mapping[str, float] | None = None) -> dict:
    """Compute-optimal ``N`` and ``D`` at budgets ``C`` for any law of ``N`` and ``D``.

    Args:
      law: name or `Law`.
      params: natural parameters.
      C: compute in FLOPs (scalar or array; ``C = 6 N D``).
      extra: other law inputs held fixed (e.g. ``{"E": 8}`` experts).

    Returns a dict of float arrays of the shape of ``C`` (0-d for a scalar): ``C``, ``N_opt`` (parameters), ``D_opt``
    (tokens), ``tokens_per_param``, ``loss`` (nats/token) at the optimum, and the
    law's partial elasticities there, ``dlogL_dlogN`` (D held) and ``dlogL_dlogD``
    (N held); at an interior optimum of ``C = 6ND`` the two are equal. Where they differ the
    loss keeps falling toward an edge of the search (tokens per parameter e^-30..e^30): that budget
    has no interior optimum, and `allocate` refuses it.
    """
    shape = np.shape(C)
    law, C, extra = _prepare(law, params, C, extra)
    theta = _theta(law, params)
    out = jax.jit(jax.vmap(lambda c: optimum(law, theta, c, extra)))(jnp.asarray(C))
    return {k: np.asarray(v, float).reshape(shape) for k, v in {"C": C, **out}.items()}


@float64
def sensitivities(law, params: Mapping[str, float], C, extra: Mapping[str, float] | None = None) -> dict:
    """Derivatives of the frontier with respect to the law's natural parameters.

    Returns ``{"N_opt": {param: [K]}, "D_opt": {...}, "loss": {...},
    "dlogNopt_dlogC": [K]}``: ``d N_opt / d param`` etc. at each budget (implicit
    differentiation of the optimum, see module doc), and the frontier's slope
    ``d log N_opt / d log C`` (``beta/(alpha+beta)`` for Chinchilla).
    """
    law, C, extra = _prepare(law, params, C, extra)
    p0 = {k: jnp.asarray(float(params[k])) for k in law.params}

    def outputs(p, c):
        th = law.flatten(law.to_unconstrained(p))
        pt = optimum(law, th, c, extra)
        return {"N_opt": pt["N_opt"], "D_opt": pt["D_opt"], "loss": pt["loss"]}

    jac = jax.jit(jax.vmap(jax.jacfwd(outputs), (None, 0)))(p0, jnp.asarray(C))
    slope = jax.jit(jax.vmap(jax.grad(lambda lc: optimal_log_n(law, _theta(law, params), jnp.exp(lc), extra))))(
        jnp.log(jnp.asarray(C)))
    return {**{k: {p: np.asarray(v[p], float) for p in law.params} for k, v in jac.items()},
            "dlogNopt_dlogC": np.asarray(slope, float)}


def allocate(law, params, C=None, extra: Mapping[str, float] | None = None) -> dict:
    """Compute-optimal N and D at compute ``C`` for a fitted law: ``allocate(law, params, C)`` (law: name or `Law`;
    params: a dict of its natural parameters, or its `FitResult`) or ``allocate(fit, C)`` (a `FitResult` names its
    law and parameters; ``allocate(fit, params, C)`` uses those parameters with the fit's law).

    The law's declared closed form (`Law.allocation`, e.g. chinchilla's) when it has one; any
    other law of ``N`` and ``D`` by numeric minimisation under ``C = 6ND`` (`frontier`), with
    other inputs (e.g. ``E``) held at ``extra`` (by keyword with a fit: ``allocate(fit, C, extra={"E": 8})``).

    Returns the same keys for every law, `ALLOCATION_KEYS`, each a float array of the shape of ``C`` (0-d for a
    scalar ``C``): ``C`` (FLOPs), ``N_opt`` (parameters), ``D_opt`` (tokens), ``tokens_per_param`` and ``loss``
    (nats/token) at the optimum. (`frontier` also gives a numeric optimum's elasticities; `allocate` checks them.)

    Raises:
      ValueError: no finite, interior split at these parameters. TypeError: no ``C``, or a fit followed by
        something other than C or parameters.
    """
    if held_fit(law) and C is None:  # allocate(fit, C)
        params, C = None, params
    elif held_fit(law) and not (isinstance(params, Mapping) or held_fit(params)):
        raise TypeError(f"allocate(fit, C, extra=...): with a FitResult, C comes second (the fit names its law and "
                        f"parameters) and extra by keyword; got a {type(C).__name__} third")
    if C is None:
        raise TypeError("allocate: no compute budget C given; call allocate(law, params, C) or allocate(fit, C)")
    law, params = law_and_params(law, params)  # a dict, or a FitResult's
    check_law(law, extra)  # extra inputs the law reads, none it does not (a closed form would ignore them)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        out = closed_form(law, params, C) if law.allocation is not None else frontier(law, params, C, extra)
    shown = ", ".join(f"{k}={float(params[k]):.4g}" for k in law.params if k in params)
    if "dlogL_dlogN" in out:  # the numeric optimum: stationary under C = 6ND, or the search ran into its edge
        eN, eD, c, r = (np.ravel(out[k]) for k in ("dlogL_dlogN", "dlogL_dlogD", "C", "tokens_per_param"))
        edge = ~np.isclose(eN, eD, rtol=1e-3, atol=1e-9)
        if edge.any():
            raise ValueError(f"no interior compute-optimal split for {law.name} at these parameters ({shown}) at "
                             f"C = {c[edge][0]:.3g}: the loss keeps falling toward {r[edge][0]:.3g} tokens per "
                             f"parameter, the edge of the search (its elasticities in N and D differ: "
                             f"{eN[edge][0]:.4g} vs {eD[edge][0]:.4g})")
    if not all(np.isfinite(np.asarray(out[k], float)).all() for k in ("N_opt", "D_opt")):
        raise split_error(law, params)
    return {k: out[k] for k in ALLOCATION_KEYS}


def _numeric(law, theta, C, extra):
    """``N_opt, D_opt, loss`` of shape ``[S, K]``: `optimum` under vmap over draws and budgets."""
    def one(th, c):
        pt = optimum(law, th, c, extra)
        return pt["N_opt"], pt["D_opt"], pt["loss"]

    return jax.jit(jax.vmap(jax.vmap(one, (None, 0)), (0, None)))(theta, C)


@float64
def allocation_draws(law, theta, C, extra=None) -> dict:
    """``N_opt, D_opt, tokens_per_param, loss`` of shape ``[S, K]`` for draws ``theta [S, P]``, budgets ``C [K]``."""
    C = np.atleast_1d(compute_budgets(C))
    if law.allocation is not None:  # the law's closed form, on arrays of draws [S, 1] x budgets [1, K]
        p = {k: np.asarray(v)[:, None] for k, v in law.to_natural(law.unflatten(jnp.asarray(theta))).items()}
        return {k: np.asarray(v) for k, v in law.allocation(p, C[None, :]).items()}
    if set(law.inputs) - {"N", "D"} - set(extra or {}):
        missing = sorted(set(law.inputs) - {"N", "D"} - set(extra or {}))
        raise ValueError(f"law {law.name!r} also needs inputs {missing} held fixed to allocate; pass them as extra")
    if not {"N", "D"} <= set(law.inputs):
        raise ValueError(f"law {law.name!r} does not take N and D; no compute-optimal split under C = 6ND")
    extra = {k: jnp.asarray(v, float) for k, v in (extra or {}).items()}
    N, D, L = (np.asarray(a) for a in _numeric(law, jnp.asarray(theta), jnp.asarray(C), extra))
    return {"N_opt": N, "D_opt": D, "tokens_per_param": D / N, "loss": L}


def allocation_warnings(C, N_opt, D_opt) -> list[str]:
    """A warning for each compute budget ``C`` (FLOPs) whose compute-optimal split ``N_opt`` parameters, ``D_opt``
    tokens lies where no language-model run does (N or D outside [1e3, 1e16], `scalelab.runs.columns.RANGES`, or
    tokens per parameter outside [1e-3, 1e5]): a law whose parameters the runs do not determine (every run at one
    D, an exponent at its bound), or a budget far beyond the fitted runs. Arrays of one length, or scalars."""
    from scalelab.runs.columns import RANGES

    C, N, D = (np.atleast_1d(np.asarray(v, float)) for v in (C, N_opt, D_opt))
    (n_lo, n_hi), (d_lo, d_hi), (r_lo, r_hi) = RANGES["N"], RANGES["D"], RANGES["tokens_per_param"]
    with np.errstate(divide="ignore", invalid="ignore"):
        off = (N < n_lo) | (N > n_hi) | (D < d_lo) | (D > d_hi) | (D / N < r_lo) | (D / N > r_hi)
    return [f"the compute-optimal split at C = {c:.3g} FLOPs, N_opt = {n:.3g} parameters and D_opt = {d:.3g} tokens "
            f"({d / n:.3g} tokens per parameter), lies where no language-model run does (N and D in [{n_lo:.0e}, "
            f"{n_hi:.0e}], {r_lo:g}-{r_hi:g} tokens per parameter): the fit does not determine it (see its warnings: "
            f"every run at one D or one N, a parameter at its bound) or the budget lies far beyond the runs"
            for c, n, d in zip(C[off], N[off], D[off])]


__all__ = ["allocate", "ALLOCATION_KEYS", "frontier", "sensitivities", "optimal_log_n", "optimum", "allocation_draws",
           "allocation_warnings"]
