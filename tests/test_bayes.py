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
from scalelab import bayes
from scalelab.bayes.frontier import _numeric
from scalelab.bayes.likelihoods import HuberDensity, huber_log_normaliser

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
    nuts = bayes.sample(table, "chinchilla", likelihood="normal", chains=2, draws=400, warmup=400, seed=0, init=fit)
    lap = bayes.laplace(table, "chinchilla", likelihood="normal", init=fit, draws=4000)
    return table, fit, nuts, lap


def test_default_priors_from_start_ranges():
    pri = bayes.default_priors(LAW)
    # chinchilla declares log_A in (0, 25), alpha in (0, 2): midpoint, half width.
    assert pri["log_A"] == (12.5, 12.5) and pri["alpha"] == (1.0, 1.0)
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
    assert back.law == "chinchilla" and back.likelihood == "normal" and back.method == "nuts"
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
    # expectation; with 40 sets a binomial 99.9% band is about [0.70, 1.0].
    law = LAW
    hits = []
    for seed in range(40):
        table = _sim(100 + seed)
        fit = scalelab.fit(table, "chinchilla", objective="mse", starts=16, seed=seed)
        q = bayes.laplace(table, "chinchilla", likelihood="normal", init=fit, draws=2000, seed=seed).params(0.9)
        hits.append([q[k]["lo"] < TRUE[k] < q[k]["hi"] for k in ("E", "alpha", "beta")])
    cov = np.mean(hits, axis=0)
    assert np.all((cov >= 0.7) & (cov <= 1.0)), cov
    assert law.name == "chinchilla"


def test_sample_many_nuts_coverage_loose():
    # NUTS for 24 simulated data sets in one program (`sample_many`). Each posterior must be
    # that data set's own (means at its own least-squares fit, within 0.5 posterior sd: a
    # mixed-up lane would fail), and 90% intervals for E, alpha, beta cover the truth 90% of
    # the time in expectation; with 24 sets a binomial 99.9% band is about [0.70, 1.0].
    tables = [_sim(300 + k) for k in range(24)]
    fits = [scalelab.fit(t, "chinchilla", objective="mse", starts=16, seed=k) for k, t in enumerate(tables)]
    posts = bayes.sample_many(tables, "chinchilla", likelihood="normal", inits=fits, chains=2, draws=300,
                              warmup=300, seed=1, progress=False)
    hits = []
    for fit, post in zip(fits, posts):
        assert post.diagnostics()["rhat_max"] < 1.1
        th = post.theta
        own = np.array([fit.unconstrained[u] for u in LAW.unconstrained_names])
        assert np.all(np.abs(th.mean(0) - own) < 0.5 * th.std(0)), (th.mean(0), own)
        q = post.params(0.9)
        hits.append([q[k]["lo"] < TRUE[k] < q[k]["hi"] for k in ("E", "alpha", "beta")])
    cov = np.mean(hits, axis=0)
    assert np.all(cov >= 0.7), cov


def test_sample_many_lockstep_equals_sequential(sim_post):
    # The same chains advanced one after another (CPU default) or in lock-step under vmap
    # (accelerator default) sample the same posterior: means within 0.25 sd, sds within 20%.
    table, fit, _, _ = sim_post
    seq, vec = (bayes.sample_many([table], "chinchilla", likelihood="normal", inits=[fit], chains=2, draws=400,
                                  warmup=300, seed=3, vectorize=v, progress=False)[0] for v in (1, 2))
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
    np.testing.assert_allclose(out["lo"], ref["lo"]) and np.testing.assert_allclose(out["hi"], ref["hi"])
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
