"""Implicit gradients of a fit vs central finite differences of warm-started refits.

Reference: refits of the perturbed problem (the same LM solver plus its Newton
polish, started from the unperturbed optimum, ftol=1e-30) differenced centrally
with step 1e-6. In float64 the polished optimum has a gradient ~1e-15, so the FD
error (truncation ~h^2, round-off ~1e-13/h) is ~1e-7 relative, far below the 1e-4
tolerance; the step is small enough that no residual crosses the Huber band edge
(checked: margin > 1e-4, perturbation of any residual < 3e-5).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scalelab
from scalelab import laws
from scalelab.fit import implicit
from scalelab.fit.api import fixed_vectors, prepare_data

# this module's own JAX reference computations (gradients, Jacobians, parameter transforms) run in float64
pytestmark = pytest.mark.usefixtures("x64")

H_FD = 1e-6
RTOL = 1e-4


def _setup(law_name, truth, design, kind, delta, fixed=None, seed=1):
    law = laws.get(law_name)
    df = scalelab.simulate(law_name, truth, design, sigma=0.01, seed=seed)
    data = jax.tree.map(jnp.asarray, prepare_data(scalelab.read(df), law))
    free, fixed_u = (jnp.asarray(a) for a in fixed_vectors(law, fixed))
    th0 = law.flatten(law.to_unconstrained({k: jnp.asarray(v) for k, v in truth.items()}))
    solve = implicit.solution(law, kind, keep=1, max_iter=400, ftol=1e-30)
    return law, data, free, fixed_u, solve, th0


def _directional(law, data, free, fixed_u, solve, th0, delta, dirs):
    """Optimum, implicit Jacobian [P, K] and central FD [P, K] along K directions of (y, w, delta, fixed).

    One compiled program (compilation dominates the test time on a 2-core machine):
    the fit and its pullback vmapped over the P cotangents, then the 2K perturbed
    refits under vmap, warm-started from the truth like the fit itself.
    """
    dy, dw, dd, df = (jnp.asarray(a) for a in dirs)
    K, P = dy.shape[0], th0.shape[0]

    def F(e):  # e [K]: one scalar per direction
        d = {**data, "y": data["y"] + dy.T @ e, "w": data["w"] + dw.T @ e}
        return solve(th0[None], d, delta + dd @ e, free, fixed_u + df.T @ e)

    @jax.jit
    def run():
        theta, pullback = jax.vjp(F, jnp.zeros(K))
        J = jax.vmap(lambda v: pullback(v)[0])(jnp.eye(P))  # [P, K]
        E = jnp.concatenate([H_FD * jnp.eye(K), -H_FD * jnp.eye(K)])
        out = jax.vmap(F)(E)
        return theta, J, (out[:K] - out[K:]).T / (2 * H_FD)

    return tuple(np.asarray(a) for a in run())


def _check(J, fd, free):
    rows = np.asarray(free) > 0
    J, fd = J[rows], fd[rows]
    scale = np.maximum(np.abs(fd), 1e-3 * np.max(np.abs(fd), axis=0, keepdims=True))
    rel = np.abs(J - fd) / scale
    assert np.max(rel) < RTOL, f"implicit vs FD relative error {np.max(rel):.2e}\nJ={J}\nfd={fd}"


def test_chinchilla_huber_all_inputs(simulated_runs):
    truth = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}
    design = scalelab.isoflop_design(budgets=np.geomspace(1e18, 1e22, 9), n_per_budget=9)
    delta = 0.01  # sigma 0.01: about a third of the runs lie outside the band, so d/d delta is not 0
    law, data, free, fixed_u, solve, th0 = _setup("chinchilla", truth, design, "huber", delta,
                                                  fixed={"beta": 0.37})
    n, P = len(data["y"]), law.n_params
    rng = np.random.default_rng(0)
    K = 4
    dy, dw = np.zeros((K, n)), np.zeros((K, n))
    dd, dfx = np.zeros(K), np.zeros((K, P))
    dy[0] = rng.standard_normal(n)        # log losses
    dw[1] = rng.random(n)                 # per-run weights
    dd[2] = 1.0                           # Huber delta
    dfx[3, law.unconstrained_names.index("beta")] = 1.0  # the fixed parameter's value
    theta, J, fd = _directional(law, data, free, fixed_u, solve, th0, jnp.asarray(delta), (dy, dw, dd, dfx))
    r = np.asarray(law.log_predict_theta(jnp.asarray(theta), data["x"]) - data["y"])
    # Huber is once differentiable at the band edge: the test needs every run well away from it
    assert np.min(np.abs(np.abs(r) - delta)) > 1e-4
    assert 5 < (np.abs(r) > delta).sum() < n - 10
    _check(J, fd, free)
    assert np.all(np.abs(J[:, 2][np.asarray(free) > 0]) > 0)  # delta matters here


def test_wang_moe_mse_y_and_weights():
    """A six-parameter law with an extra input (experts E)."""
    truth = {"A": 400.0, "B": 900.0, "sigma": 1.7, "alpha": 0.33, "beta": 0.31, "gamma": 0.08}
    base = scalelab.isoflop_design(budgets=np.geomspace(1e18, 1e21, 6), n_per_budget=6)
    Es = np.array([1.0, 4.0, 16.0, 64.0])
    design = {k: np.repeat(v, len(Es)) for k, v in base.items() if k in ("N", "D")}
    design["E"] = np.tile(Es, len(base["N"]))
    law, data, free, fixed_u, solve, th0 = _setup("wang2024_moe", truth, design, "mse", 1.0)
    n = len(data["y"])
    rng = np.random.default_rng(1)
    dy = np.stack([rng.standard_normal(n), np.zeros(n)])
    dw = np.stack([np.zeros(n), rng.random(n)])
    _, J, fd = _directional(law, data, free, fixed_u, solve, th0, jnp.asarray(1.0),
                            (dy, dw, np.zeros(2), np.zeros((2, law.n_params))))
    _check(J, fd, free)
