"""Bayesian layer: priors, Huber density, NUTS/Laplace against closed forms and simulated truth.

Fast settings throughout (2 chains x 300-400 draws); the full-size runs live in
benchmarks/calibration.py and benchmarks/bayes_speed.py.
"""

import json
import math
import warnings

import numpy as np
import pytest
from scipy import integrate

import scalelab
from scalelab import bayes, laws
from scalelab.optimal.frontier import _numeric
from scalelab.bayes.likelihoods import HuberDensity, huber_log_normaliser

# this module's own JAX reference computations (gradients, Jacobians, parameter transforms) run in float64
pytestmark = pytest.mark.usefixtures("x64")

warnings.filterwarnings("ignore", category=FutureWarning)

TRUE = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}
LAW = scalelab.laws.get("chinchilla")


def _design():
    return scalelab.isoflop_design(budgets=(1e18, 1e19, 1e20, 1e21), n_per_budget=10, tokens_per_param=(2, 400))


def _sim(seed, sigma=0.01):
    return scalelab.simulate("chinchilla", TRUE, _design(), sigma=sigma, seed=seed)


@pytest.fixture(scope="module")
def sim_post():
    table = _sim(0)
    fit = scalelab.fit(table, "chinchilla", objective="mse", starts=32)
    nuts = bayes.sample(table, "chinchilla", likelihood="normal", chains=2, draws=400, warmup=400, seed=0, init=fit,
                        retry=False)
    lap = bayes.laplace(table, "chinchilla", likelihood="normal", init=fit, draws=4000)
    return table, fit, nuts, lap


def test_default_priors_from_start_ranges():
    pri = bayes.default_priors(LAW)
    # chinchilla declares log_A in (0, 25): midpoint, half width; alpha in (0, 2) is wider than the
    # weakly informative exponent prior Normal(0.5, 0.5), which it gets instead.
    assert pri["log_A"] == (12.5, 12.5) and pri["alpha"] == (0.5, 0.5)
    resolved = bayes.resolve_priors(LAW, {"alpha": (0.3, 0.1)})
    assert float(resolved["alpha"].loc) == 0.3 and float(resolved["alpha"].scale) == 0.1
    with pytest.raises(ValueError, match="log_A"):
        bayes.resolve_priors(LAW, {"A": (6.0, 1.0)})


@pytest.mark.parametrize("delta", [1e-3, 0.5, 1.5])
def test_huber_density_normalises(delta):
    # Independent reference: the density integrates to 1 (SciPy quadrature) for LAWS.md's Z(delta).
    z = math.exp(float(huber_log_normaliser(delta)))
    rho = lambda t: 0.5 * t * t if abs(t) <= delta else delta * (abs(t) - 0.5 * delta)  # noqa: E731
    inner = integrate.quad(lambda t: math.exp(-rho(t)), -delta, delta)[0]
    tail = integrate.quad(lambda t: math.exp(-rho(t)), delta, np.inf)[0]
    assert (inner + 2 * tail) / z == pytest.approx(1.0, rel=1e-6)
    d = HuberDensity(0.0, 2.0, delta)
    assert float(d.log_prob(0.0)) == pytest.approx(-math.log(2.0 * z), rel=1e-9)


def test_huber_density_sampler_matches_density():
    import jax

    d = HuberDensity(0.0, 1.0, 0.5)
    x = np.asarray(d.sample(jax.random.PRNGKey(0), (200_000,)))
    grid = np.linspace(-25, 25, 20001)
    pdf = np.exp(np.asarray(d.log_prob(grid)))
    cdf = np.cumsum(pdf) * (grid[1] - grid[0])
    emp = np.searchsorted(np.sort(x), grid) / len(x)
    assert np.max(np.abs(emp - cdf)) < 0.01  # KS distance; 200k draws give ~0.003 sd


def test_nuts_recovers_truth_and_matches_laplace(sim_post):
    _, _, nuts, lap = sim_post
    d = nuts.diagnostics()
    assert d["rhat_max"] < 1.05 and d["divergences"] == 0
    q = nuts.params(0.99)
    for k, v in TRUE.items():
        assert q[k]["lo"] < v < q[k]["hi"], (k, q[k])
    # On Gaussian data with a well-determined fit the Laplace approximation and NUTS agree:
    # means within 0.3 posterior sd, sds within 30% (Monte-Carlo error of 800 NUTS draws ~5%).
    dn, dl = nuts.theta, lap.theta
    sd_n, sd_l = dn.std(0), dl.std(0)
    assert np.all(np.abs(dn.mean(0) - dl.mean(0)) < 0.3 * sd_n)
    assert np.all((sd_l / sd_n > 0.7) & (sd_l / sd_n < 1.3)), sd_l / sd_n


def test_predict_intervals(sim_post):
    table, fit, nuts, _ = sim_post
    out = nuts.predict(N=np.array([1e8, 7e10]), D=np.array([2e9, 1.4e12]), ci=0.9)
    truth = np.asarray(LAW(TRUE, N=np.array([1e8, 7e10]), D=np.array([2e9, 1.4e12])))
    assert np.all(out["lo"] < out["median"]) and np.all(out["median"] < out["hi"])
    assert np.all(out["new_lo"] < out["lo"]) and np.all(out["new_hi"] > out["hi"])
    # the fit's prediction lies inside the curve's interval; truth inside the new-run interval
    pf = fit.predict(N=np.array([1e8, 7e10]), D=np.array([2e9, 1.4e12]))
    assert np.all((out["lo"] < pf) & (pf < out["hi"]))
    assert np.all((out["new_lo"] < truth) & (truth < out["new_hi"]))
    # the new-run band is the curve band widened by 1% log noise: 90% half-width ~ 1.645 * 0.01
    rel = (out["new_hi"] - out["new_lo"]) / out["median"] / 2
    assert np.all((rel > 0.012) & (rel < 0.03))
    # a point's intervals are the same asked alone or among others, in any order (a new-user trial found the new-run
    # interval moving by ~1e-3 with the other points of the call: the noise was drawn per point)
    alone = nuts.predict(N=np.array([7e10]), D=np.array([1.4e12]), ci=0.9)
    flipped = nuts.predict(N=np.array([7e10, 1e8]), D=np.array([1.4e12, 2e9]), ci=0.9)
    for k in ("lo", "hi", "new_lo", "new_hi"):
        assert alone[k][0] == out[k][1] == flipped[k][0], k


def test_allocation_closed_form_and_numeric_agree(sim_post):
    import jax.numpy as jnp

    _, _, nuts, _ = sim_post
    C = np.array([1e21, 1e24])
    alloc = nuts.allocate(C, ci=0.9)
    # closed form (Hoffmann Eq. 4) at the posterior median parameters is inside the interval
    p = {k: v["median"] for k, v in nuts.params().items()}
    cf = scalelab.chinchilla_allocation(p, C)
    assert np.all((alloc["N_opt"]["lo"] < cf["N_opt"]) & (cf["N_opt"] < alloc["N_opt"]["hi"]))
    # the numeric JAX frontier (used for laws without a closed form) equals the closed form per draw
    th = nuts.theta[:50]
    N, D, L = (np.asarray(a) for a in _numeric(LAW, jnp.asarray(th), jnp.asarray(C), {}))
    nat = LAW.to_natural(LAW.unflatten(jnp.asarray(th)))
    for i in range(0, 50, 7):
        ref = scalelab.chinchilla_allocation({k: float(v[i]) for k, v in nat.items()}, C)
        np.testing.assert_allclose(N[i], ref["N_opt"], rtol=1e-6)
        np.testing.assert_allclose(L[i], ref["loss"], rtol=1e-9)


def test_save_load_roundtrip(sim_post, tmp_path):
    _, _, nuts, _ = sim_post
    path = nuts.save(tmp_path / "post.nc")
    back = bayes.load(path)
    assert back.law is laws.get("chinchilla")  # the saved name resolved once, at load
    assert back.likelihood == "normal" and back.method == "nuts"
    np.testing.assert_array_equal(back.theta, nuts.theta)
    with pytest.raises(FileNotFoundError):
        bayes.load(tmp_path / "missing.nc")


def test_check_warns_when_diagnostics_fall_short(sim_post):
    _, _, nuts, _ = sim_post
    with pytest.warns(UserWarning) as rec:
        d = nuts.check(rhat_max=1.0, ess_min=1e9)  # thresholds no chain can meet
    msgs = " ".join(str(w.message) for w in rec)
    assert "R-hat" in msgs and "effective sample size" in msgs
    assert d["ess_min"] < 1e9
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nuts.check(rhat_max=1.05, ess_min=50)  # the fixture's 2 x 400 draws pass loose thresholds


def test_laplace_coverage_loose():
    # Coverage on simulated data (the calibration benchmark's fast cousin): 40 data sets,
    # Laplace 90% intervals for alpha, beta and E cover the truth 90% of the time in
    # expectation; with 40 sets a binomial 99.9% band is about [0.70, 1.0]. A 90% interval
    # cannot be caught over-covering with 40 sets (all 40 covered happens 1.5% of the time), so
    # the upper bound comes from the 50% intervals of the same draws: binomial(40, 0.5) 99.9%
    # band [0.24, 0.76] (0.5 +- 3.29 x 0.079); intervals twice too wide would cover ~0.82.
    hits, hits50 = [], []
    for seed in range(40):
        table = _sim(100 + seed)
        fit = scalelab.fit(table, "chinchilla", objective="mse", starts=16, seed=seed)
        lap = bayes.laplace(table, "chinchilla", likelihood="normal", init=fit, draws=2000, seed=seed)
        q, q50 = lap.params(0.9), lap.params(0.5)
        hits.append([q[k]["lo"] < TRUE[k] < q[k]["hi"] for k in ("E", "alpha", "beta")])
        hits50.append([q50[k]["lo"] < TRUE[k] < q50[k]["hi"] for k in ("E", "alpha", "beta")])
    cov, cov50 = np.mean(hits, axis=0), np.mean(hits50, axis=0)
    assert np.all(cov >= 0.7), cov
    assert np.all((cov50 >= 0.24) & (cov50 <= 0.76)), cov50


@pytest.mark.slow  # make test-all; CI's time budget
def test_sample_many_nuts_coverage_loose():
    # NUTS for 24 simulated data sets in one program (`sample_many`). Each posterior must be
    # that data set's own (means at its own least-squares fit, within 0.5 posterior sd: a
    # mixed-up lane would fail), and 90% intervals for E, alpha, beta cover the truth 90% of
    # the time in expectation; with 24 sets a binomial 99.9% band is about [0.70, 1.0].
    tables = [_sim(300 + k) for k in range(24)]
    fits = [scalelab.fit(t, "chinchilla", objective="mse", starts=16, seed=k) for k, t in enumerate(tables)]
    posts = bayes.sample_many(tables, "chinchilla", likelihood="normal", inits=fits, chains=2, draws=300,
                              warmup=300, seed=1, retry=False, progress=False)
    hits, hits50 = [], []
    for fit, post in zip(fits, posts):
        assert post.diagnostics()["rhat_max"] < 1.1
        th = post.theta
        own = np.array([fit.unconstrained[u] for u in LAW.unconstrained_names])
        assert np.all(np.abs(th.mean(0) - own) < 0.5 * th.std(0)), (th.mean(0), own)
        q, q50 = post.params(0.9), post.params(0.5)
        hits.append([q[k]["lo"] < TRUE[k] < q[k]["hi"] for k in ("E", "alpha", "beta")])
        hits50.append([q50[k]["lo"] < TRUE[k] < q50[k]["hi"] for k in ("E", "alpha", "beta")])
    cov, cov50 = np.mean(hits, axis=0), np.mean(hits50, axis=0)
    assert np.all(cov >= 0.7), cov
    # upper bound, as in the Laplace test: 50% intervals, binomial(24, 0.5) 99.9% band [0.16, 0.84]
    assert np.all((cov50 >= 0.16) & (cov50 <= 0.84)), cov50


@pytest.mark.slow  # make test-all; CI's time budget
def test_sample_many_lockstep_equals_sequential(sim_post):
    # The same chains advanced one after another (CPU default) or in lock-step under vmap
    # (accelerator default) sample the same posterior: means within 0.25 sd, sds within 20%.
    table, fit, _, _ = sim_post
    seq, vec = (bayes.sample_many([table], "chinchilla", likelihood="normal", inits=[fit], chains=2, draws=400,
                                  warmup=300, seed=3, vectorize=v, retry=False, progress=False)[0] for v in (1, 2))
    a, b = seq.theta, vec.theta
    assert np.all(np.abs(a.mean(0) - b.mean(0)) < 0.25 * a.std(0))
    assert np.all(np.abs(b.std(0) / a.std(0) - 1) < 0.2)


def test_unconverged_init_warns():
    table = _sim(0)
    fit = scalelab.fit(table, "chinchilla", objective="mse", starts=4, keep=4, screen_iter=1, max_iter=2)
    assert not fit.converged
    with pytest.warns(RuntimeWarning, match="did not converge"):
        bayes.laplace(table, "chinchilla", likelihood="normal", init=fit, draws=100)


def test_sample_many_rejects_bad_input():
    with pytest.raises(ValueError, match="same number of runs"):
        bayes.sample_many([_sim(0), _sim(1).iloc[:-3]], "chinchilla", likelihood="normal", draws=10, warmup=10)
    with pytest.raises(ValueError, match="at least one"):
        bayes.sample_many([], "chinchilla")
    with pytest.raises(ValueError, match="draws"):
        bayes.sample_many([_sim(0)], "chinchilla", draws=0)
    with pytest.raises(ValueError, match="likelihood"):
        bayes.sample_many([_sim(0)], "chinchilla", likelihood="cauchy")


def test_cli_bayes_json(tmp_path, capsys):
    from scalelab.cli import main

    csv = tmp_path / "runs.csv"
    _sim(2).to_csv(csv, index=False)
    save = tmp_path / "p.nc"
    rc = main(["bayes", str(csv), "--law", "chinchilla", "--likelihood", "normal", "--chains", "2",
               "--samples", "400", "--ci", "0.99", "--json", "--save", str(save)])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"law", "params", "ci", "rhat_max", "ess_min", "seconds"}
    assert out["ci"] == 0.99 and set(out["params"]["alpha"]) == {"mean", "median", "lo", "hi"}
    assert out["params"]["alpha"]["lo"] < TRUE["alpha"] < out["params"]["alpha"]["hi"]
    assert save.exists()


def test_cli_predict_and_allocate_from_posterior(sim_post, tmp_path, capsys):
    from scalelab.cli import main

    _, _, nuts, _ = sim_post
    path = nuts.save(tmp_path / "post.nc")
    assert main(["predict", "--posterior", str(path), "--N", "1e9,7e10", "--D", "2e10,1.4e12", "--ci", "0.9",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    ref = nuts.predict(ci=0.9, N=np.array([1e9, 7e10]), D=np.array([2e10, 1.4e12]))
    np.testing.assert_allclose(out["lo"], ref["lo"])  # two statements: assert_allclose returns None
    np.testing.assert_allclose(out["hi"], ref["hi"])
    assert main(["allocate", "--posterior", str(path), "--C", "1e21,1e23", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["N_opt"]["lo"][0] < out["N_opt"]["median"][0] < out["N_opt"]["hi"][0]
    assert out["C"] == [1e21, 1e23]


def test_recommend_batch_size_from_loss(sim_post):
    # Kaplan's B_crit(L) = lambda_B L^-alpha_B (LAWS.md) at the optimal loss: the interval is the
    # law applied to the loss interval's ends (monotone transform of each draw, so quantiles map).
    _, _, nuts, _ = sim_post
    ref = scalelab.laws.get("batch_size_loss").reference["kaplan2020"]
    rec = nuts.recommend("batch_size_loss", ref, [1e21, 1e23], ci=0.9)
    loss = nuts.allocate([1e21, 1e23], ci=0.9)["loss"]
    np.testing.assert_allclose(rec["lo"], ref["lambda_B"] * loss["hi"] ** -ref["alpha_B"], rtol=1e-2)
    np.testing.assert_allclose(rec["hi"], ref["lambda_B"] * loss["lo"] ** -ref["alpha_B"], rtol=1e-2)


# -- sandwich adjustment (misspecification) ------------------------------------------------

def _chinchilla_log_loss_np(u, N, D):
    """float64 NumPy log L for unconstrained (log_E, log_A, log_B, alpha, beta): the independent reference."""
    return np.log(np.exp(u[0]) + np.exp(u[1]) / N ** u[3] + np.exp(u[2]) / D ** u[4])


def test_sandwich_matches_numpy_reference(sim_post):
    # Adjusted draws keep the posterior mean and have covariance S J S, J = n/(n-q) sum g_i g_i^T
    # with g_i the per-run score of the Normal log density at the posterior mean: here by central
    # finite differences in float64 NumPy, not autodiff.
    table, _, nuts, _ = sim_post
    adj = bayes.sandwich(nuts, table, small_sample=False)  # the asymptotic form, as published
    assert adj.adjustment == "sandwich" and adj.method == "nuts"
    phi = np.column_stack([nuts.theta, nuts._flat("log_s")])
    N, D = table["N"].to_numpy(float), table["D"].to_numpy(float)
    y = np.log(table["loss"].to_numpy(float))

    def loglik(p):
        s = np.exp(p[-1])
        r = y - _chinchilla_log_loss_np(p[:-1], N, D)
        return -0.5 * (r / s) ** 2 - np.log(s) - 0.5 * np.log(2 * np.pi)

    m = phi.mean(0)
    h = 1e-6
    G = np.column_stack([(loglik(m + h * e) - loglik(m - h * e)) / (2 * h) for e in np.eye(len(m))])
    n, q = G.shape
    S = np.cov(phi.T)
    target = S @ (G.T @ G * n / (n - q)) @ S
    phi_adj = np.column_stack([adj.theta, adj._flat("log_s")])
    np.testing.assert_allclose(phi_adj.mean(0), m, atol=1e-9)
    np.testing.assert_allclose(np.cov(phi_adj.T), target, rtol=1e-5, atol=1e-12)
    # Same chains, same draw order: an affine map of each draw (R-hat unchanged to 1e-3).
    assert abs(adj.diagnostics()["rhat_max"] - nuts.diagnostics()["rhat_max"]) < 1e-2


def _hetero_table(seed, K):
    """Simulated chinchilla runs with noise sd 0.01 (1 + (K-1) z^2), z = log(D/N) scaled to [-1, 1]."""
    t = scalelab.simulate("chinchilla", TRUE, _design(), sigma=0.0, seed=seed)
    lr = np.log(t["D"] / t["N"]).to_numpy()
    z = (lr - 0.5 * (lr.min() + lr.max())) / (0.5 * (lr.max() - lr.min()))
    t["loss"] = t["loss"] * np.exp(0.01 * (1 + (K - 1) * z**2) * np.random.default_rng(seed + 999).standard_normal(len(t)))
    return t, 0.01 * (1 + (K - 1) * z**2)


@pytest.mark.slow  # 80 fits + Laplace posteriors; `make test-all`. The sandwich's algebra is checked in CI
# by test_sandwich_matches_numpy_reference; this is its statistical behaviour over simulated sets.
def test_sandwich_widens_by_the_closed_form_under_heteroscedastic_noise():
    # Normal likelihood, i.i.d. working model; true noise 4x larger at both ends of tokens per
    # parameter (the high-leverage runs for alpha, beta). Closed form for the variance ratio
    # (sandwich / i.i.d.): diag((X'X)^-1 X' Omega X (X'X)^-1) / diag(mean(sd^2) (X'X)^-1), X the
    # Jacobian of log L at the truth (float64 NumPy); it is 1 for homoscedastic noise. Averaged
    # over 40 simulated sets, the Laplace posterior's adjusted/plain variance ratio must match
    # it within 25% (the sandwich is a noisy estimate with 40 runs, and runs ~10% low at high
    # leverage, as HC1 does), and the sandwich must widen
    # alpha and beta only when the noise is heteroscedastic.
    u0 = np.array([np.log(TRUE["E"]), np.log(TRUE["A"]), np.log(TRUE["B"]), TRUE["alpha"], TRUE["beta"]])
    for K in (1.0, 4.0):
        ratios = []
        for seed in range(40):
            t, sd = _hetero_table(seed, K)
            fit = scalelab.fit(t, "chinchilla", objective="mse", starts=16, seed=seed)
            lap = bayes.laplace(t, "chinchilla", likelihood="normal", init=fit, draws=2000, seed=seed)
            ratios.append(bayes.sandwich(lap, t, small_sample=False).theta.var(0) / lap.theta.var(0))
        N, D = t["N"].to_numpy(float), t["D"].to_numpy(float)
        X = np.column_stack([(_chinchilla_log_loss_np(u0 + 1e-6 * e, N, D) - _chinchilla_log_loss_np(u0 - 1e-6 * e, N, D))
                             / 2e-6 for e in np.eye(5)])
        XtXi = np.linalg.inv(X.T @ X)
        expected = np.diag(XtXi @ (X.T * sd**2) @ X @ XtXi) / np.diag(np.mean(sd**2) * XtXi)
        got = np.mean(ratios, axis=0)
        np.testing.assert_allclose(got, expected, rtol=0.25)
        if K == 1.0:
            assert np.all(np.abs(got - 1) < 0.15), got
        else:
            assert np.all(got[3:] > 1.1), got  # alpha, beta: expected 1.39 (measured 1.24, 1.30; HC1 runs low)


def test_sandwich_rejects_bad_input(sim_post):
    table, _, nuts, lap = sim_post
    with pytest.raises(ValueError, match="i.i.d."):
        bayes.laplace(table, "chinchilla", likelihood="normal", groups="N", adjust="sandwich", draws=100)
    with pytest.raises(ValueError, match="unknown adjust"):
        bayes.sample(table, "chinchilla", adjust="bootstrap")
    with pytest.raises(ValueError, match="rows"):
        bayes.sandwich(nuts, table.iloc[:-2])
    adj = bayes.sandwich(lap, table)
    with pytest.raises(ValueError, match="already"):
        bayes.sandwich(adj, table)
    # Laplace draws hold the noise scale fixed: it stays fixed.
    assert np.ptp(adj._flat("log_s")) == 0


def test_sandwich_save_load_and_cli(sim_post, tmp_path, capsys):
    from scalelab.cli import main

    table, fit, _, lap = sim_post
    adj = bayes.laplace(table, "chinchilla", likelihood="normal", init=fit, adjust="sandwich", draws=400)
    back = bayes.load(adj.save(tmp_path / "adj.nc"))
    assert back.adjustment == "sandwich"
    np.testing.assert_allclose(back.theta, adj.theta)
    csv = tmp_path / "runs.csv"
    table.to_csv(csv, index=False)
    assert main(["bayes", str(csv), "--likelihood", "normal", "--method", "laplace", "--adjust", "sandwich",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["adjustment"] == "sandwich" and out["method"] == "laplace"
