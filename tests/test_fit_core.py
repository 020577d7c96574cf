"""Fitter behaviour against closed forms, simulation truth and float64 references."""

import numpy as np
import pytest

import scalelab
from scalelab.fit import linalg, objectives
from conftest import TRUTH


def test_recovers_parameters_from_simulated_chinchilla(simulated_runs):
    res = scalelab.fit(simulated_runs, "chinchilla")
    assert res.converged
    # 81 runs with 1% log-noise: exponents to ~0.03, E to ~2%, A/B only to a factor (they trade off with exponents).
    assert res.params["alpha"] == pytest.approx(TRUTH["alpha"], abs=0.03)
    assert res.params["beta"] == pytest.approx(TRUTH["beta"], abs=0.03)
    assert res.params["E"] == pytest.approx(TRUTH["E"], rel=0.02)
    assert 0.4 < res.params["A"] / TRUTH["A"] < 2.5 and 0.4 < res.params["B"] / TRUTH["B"] < 2.5


def test_noise_free_data_recovered_exactly():
    design = scalelab.isoflop_design(budgets=np.geomspace(1e18, 1e22, 6), n_per_budget=7)
    df = scalelab.simulate("chinchilla", TRUTH, design, sigma=0.0)
    res = scalelab.fit(df, "chinchilla", starts=200, seed=3)
    for k, v in TRUTH.items():
        assert res.params[k] == pytest.approx(v, rel=1e-5), k
    assert res.objective < 1e-14
    # an exact fit is a converged one: the decrement is rounding noise there, never 1e-10 below an objective of 1e-30
    grid = scalelab.fit(df, "chinchilla")  # the default: Hoffmann's grid, as the CLI fits
    assert grid.objective < 1e-20
    assert res.converged and grid.converged
    assert not any("convergence" in w for w in grid.warnings)


def test_float32_and_float64_agree(simulated_runs):
    import jax.numpy as jnp

    r64 = scalelab.fit(simulated_runs, "chinchilla", starts=200, seed=0)
    r32 = scalelab.fit(simulated_runs, "chinchilla", starts=200, seed=0, dtype=jnp.float32)
    assert r32.objective == pytest.approx(r64.objective, rel=1e-3)
    for k in ("alpha", "beta", "E"):
        assert r32.params[k] == pytest.approx(r64.params[k], rel=1e-2)


def test_random_starts_are_deterministic_per_seed(simulated_runs):
    a = scalelab.fit(simulated_runs, "chinchilla", starts=50, seed=7)
    b = scalelab.fit(simulated_runs, "chinchilla", starts=50, seed=7)
    assert a.params == b.params and a.best_start == b.best_start


def test_fixed_parameter_is_held_and_matches_scipy(simulated_runs):
    from scipy import optimize, special

    res = scalelab.fit(simulated_runs, "chinchilla", fixed={"alpha": 0.3}, starts=300, seed=1)
    assert res.params["alpha"] == pytest.approx(0.3, rel=1e-12)
    N, D, L = (simulated_runs[c].to_numpy() for c in ("N", "D", "loss"))

    def f(t):
        a, b, e, beta = t
        pred = special.logsumexp([a - 0.3 * np.log(N), b - beta * np.log(D), np.full_like(N, e)], axis=0)
        return np.sum(special.huber(1e-3, pred - np.log(L)))

    p = res.params
    x0 = np.array([np.log(p["A"]), np.log(p["B"]), np.log(p["E"]), p["beta"]])
    ref = optimize.minimize(f, x0, method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 4000})
    assert f(x0) == pytest.approx(res.objective, rel=1e-9)
    assert ref.fun >= res.objective * (1 - 1e-6)


def test_zero_weight_equals_dropping_rows(simulated_runs):
    w = np.ones(len(simulated_runs))
    w[:10] = 0
    a = scalelab.fit(simulated_runs, "chinchilla", weights=w, starts=200)
    b = scalelab.fit(simulated_runs.iloc[10:], "chinchilla", starts=200)
    assert a.n_runs == len(simulated_runs) - 10
    assert a.objective == pytest.approx(b.objective, rel=1e-8)
    for k in TRUTH:
        assert a.params[k] == pytest.approx(b.params[k], rel=1e-4)


def test_mse_objective_matches_scipy_least_squares(simulated_runs):
    from scipy import optimize, special

    res = scalelab.fit(simulated_runs, "chinchilla", objective="mse", starts=200)
    N, D, L = (simulated_runs[c].to_numpy() for c in ("N", "D", "loss"))

    def resid(t):
        a, b, e, al, be = t
        return special.logsumexp([a - al * np.log(N), b - be * np.log(D), np.full_like(N, e)], axis=0) - np.log(L)

    p = res.params
    x0 = np.array([np.log(p["A"]), np.log(p["B"]), np.log(p["E"]), p["alpha"], p["beta"]])
    ref = optimize.least_squares(resid, x0, xtol=1e-15, ftol=1e-15, gtol=1e-15)
    assert 0.5 * np.sum(ref.fun ** 2) == pytest.approx(res.objective, rel=1e-8)


def test_kaplan_recovers_parameters():
    truth = {"Nc": 6.4e13, "Dc": 1.8e13, "aN": 0.076, "aD": 0.103}
    design = scalelab.isoflop_design(budgets=np.geomspace(1e17, 1e21, 6), n_per_budget=8)
    df = scalelab.simulate("kaplan", truth, design, sigma=0.0)
    res = scalelab.fit(df, "kaplan", starts=300, seed=0)
    assert res.params["aN"] == pytest.approx(truth["aN"], rel=1e-3)
    assert res.params["aD"] == pytest.approx(truth["aD"], rel=1e-3)


def test_bad_settings_raise(simulated_runs):
    with pytest.raises(ValueError, match="objective"):
        scalelab.fit(simulated_runs, "chinchilla", objective="l7")
    with pytest.raises(ValueError, match="delta"):
        scalelab.fit(simulated_runs, "chinchilla", delta=-1.0)
    with pytest.raises(ValueError, match="cannot fix"):
        scalelab.fit(simulated_runs, "chinchilla", fixed={"gamma": 1.0})
    with pytest.raises(KeyError, match="unknown law"):
        scalelab.fit(simulated_runs, "no_such_law")
    with pytest.raises(KeyError, match="unknown law 'chinchila'; did you mean 'chinchilla'"):  # a typo is named
        scalelab.fit(simulated_runs, "chinchila")
    with pytest.raises(ValueError, match="shape"):
        scalelab.fit(simulated_runs, "chinchilla", starts=np.zeros((3, 4)))


def test_huber_matches_scipy(x64):  # the internal kernel called directly: the caller picks float64
    from scipy import special

    r = np.linspace(-0.01, 0.01, 101)
    np.testing.assert_allclose(objectives.huber_rho(r, 1e-3), special.huber(1e-3, r), rtol=1e-12, atol=1e-18)


def test_cholesky_solve_matches_numpy(x64):
    rng = np.random.default_rng(0)
    M = rng.standard_normal((20, 7, 7))
    A = M @ np.swapaxes(M, 1, 2) + 7 * np.eye(7)
    b = rng.standard_normal((20, 7))
    np.testing.assert_allclose(linalg.spd_solve(A, b), np.linalg.solve(A, b[..., None])[..., 0], rtol=1e-10)


def test_fit_result_predict_matches_formula(simulated_runs):
    res = scalelab.fit(simulated_runs, "chinchilla", starts=100)
    p = res.params
    N, D = np.array([1e9, 7e10]), np.array([2e10, 1.4e12])
    expected = p["E"] + p["A"] / N ** p["alpha"] + p["B"] / D ** p["beta"]
    np.testing.assert_allclose(res.predict(N=N, D=D), expected, rtol=1e-12)
