"""The Chinchilla fit on Epoch's 240 runs against Epoch's published numbers and SciPy in float64."""

import numpy as np
import pytest
from scipy import optimize, special

# Epoch (Besiroglu et al. 2024; LAWS.md): the grid fit's objective, published to 10 decimals, and the
# final estimates they publish (from a Huber *likelihood* with a learned scale: a different estimator from
# the summed-Huber grid fit, so they agree with our optimum only to ~3% in B, see below).
EPOCH_OBJECTIVE = 0.0010182740
EPOCH_PUBLISHED = {"alpha": 0.3478, "beta": 0.3658, "E": 1.8169, "A": 482.01, "B": 2085.43}
# Not published by Epoch: the optimum of the same summed-Huber objective found by an independent SciPy
# L-BFGS-B probe in float64 (benchmarks/RESULTS.md, "Core fit"), rounded. Our grid fit must land on it.
SCIPY_PROBE_OPTIMUM = {"alpha": 0.3473, "beta": 0.3672, "E": 1.8172, "A": 477.9, "B": 2144.0}


def scipy_objective(theta, N, D, L, delta=1e-3):
    """Epoch's objective, float64 NumPy/SciPy: sum Huber(LSE(a - alpha logN, b - beta logD, e) - log L)."""
    a, b, e, alpha, beta = theta
    pred = special.logsumexp([a - alpha * np.log(N), b - beta * np.log(D), np.full_like(N, e)], axis=0)
    return np.sum(special.huber(delta, pred - np.log(L)))


def test_reaches_epoch_objective(epoch_fit):
    # Published value has 10 decimals; ours must round to it or below.
    assert epoch_fit.objective < EPOCH_OBJECTIVE + 0.5e-10
    assert epoch_fit.converged
    assert epoch_fit.n_runs == 240 and epoch_fit.n_starts == 4500


@pytest.mark.parametrize("name,rel", [("alpha", 0.005), ("beta", 0.005), ("E", 0.005), ("A", 0.05), ("B", 0.05)])
def test_parameters_match_scipy_probe_optimum(epoch_fit, name, rel):
    assert epoch_fit.params[name] == pytest.approx(SCIPY_PROBE_OPTIMUM[name], rel=rel)


# Relative gaps to Epoch's published estimates (measured: alpha 0.14%, beta 0.37%, E 0.02%, A 0.87%,
# B 2.8%); the tolerances allow for the different estimator, not for a different optimum.
@pytest.mark.parametrize("name,rel", [("alpha", 0.005), ("beta", 0.01), ("E", 0.001), ("A", 0.02), ("B", 0.04)])
def test_parameters_agree_with_epoch_published(epoch_fit, name, rel):
    assert epoch_fit.params[name] == pytest.approx(EPOCH_PUBLISHED[name], rel=rel)


def test_objective_agrees_with_scipy_float64(epoch_fit, epoch_runs):
    N, D, L = (epoch_runs.column(c) for c in ("N", "D", "loss"))
    p = epoch_fit.params
    theta = np.array([np.log(p["A"]), np.log(p["B"]), np.log(p["E"]), p["alpha"], p["beta"]])
    assert scipy_objective(theta, N, D, L) == pytest.approx(epoch_fit.objective, rel=1e-10)


def test_log_residuals_match_numpy(epoch_fit, epoch_runs):
    """FitResult.log_residuals (computed inside the fit's program) are log L_pred - log L in float64
    NumPy at the reported parameters, in the table's row order."""
    N, D, L = (epoch_runs.column(c) for c in ("N", "D", "loss"))
    p = epoch_fit.params
    theta = np.array([np.log(p["A"]), np.log(p["B"]), np.log(p["E"]), p["alpha"], p["beta"]])
    a, b, e, alpha, beta = theta
    ref = special.logsumexp([a - alpha * np.log(N), b - beta * np.log(D), np.full_like(N, e)], axis=0) - np.log(L)
    assert epoch_fit.log_residuals.shape == ref.shape
    np.testing.assert_allclose(epoch_fit.log_residuals, ref, rtol=0, atol=1e-12)


def test_scipy_cannot_improve_on_our_optimum(epoch_fit, epoch_runs):
    """L-BFGS-B started at our optimum finds nothing meaningfully lower (it is a minimum)."""
    N, D, L = (epoch_runs.column(c) for c in ("N", "D", "loss"))
    p = epoch_fit.params
    theta = np.array([np.log(p["A"]), np.log(p["B"]), np.log(p["E"]), p["alpha"], p["beta"]])
    res = optimize.minimize(scipy_objective, theta, args=(N, D, L), method="L-BFGS-B")
    assert res.fun >= epoch_fit.objective * (1 - 1e-9)


@pytest.mark.slow  # 500 starts run to convergence; `make test-all`. In CI, test_reaches_epoch_objective
# already shows the pruned search reaching the published optimum.
def test_pruned_search_finds_full_grid_optimum(epoch_runs, epoch_fit):
    """Keeping all 4,500 starts to convergence gives the same optimum as screening + keeping 32."""
    import scalelab

    # Every 9th grid start run to convergence (500 starts, no pruning) reaches the same optimum.
    law = scalelab.laws.get("chinchilla")
    starts = law.grid_starts()[::9]
    full = scalelab.fit(epoch_runs, law, starts=starts, keep=len(starts))
    assert full.objective == pytest.approx(epoch_fit.objective, rel=1e-9)
