"""What a new user tries with `suggest`, `simulate`, `fit_many` and the variants, and what they must be told.

Each case failed, before its fix, with a bare KeyError, a pandas or NumPy error from deep inside, or an answer the
package itself refuses (a suggested run of N = 880 parameters, which `read` and `predict` reject). References are
the package's own rules (`scalelab.runs.columns.RANGES`, the law's closed form), recomputed here.
"""

import numpy as np
import pandas as pd
import pytest

import scalelab
from scalelab import laws
from scalelab.fit import variants
from scalelab.fit.many import percentile_intervals
from scalelab.runs import RunTableError
from scalelab.runs.columns import RANGES

TRUTH = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}


@pytest.fixture(scope="module")
def runs():
    """40 Chinchilla runs on 5 isoFLOP budgets (1e18 to 1e20 FLOPs; N from 3e7 to 3e9), 1% noise."""
    return scalelab.simulate("chinchilla", TRUTH, scalelab.isoflop_design(), sigma=0.01, seed=3)


@pytest.fixture(scope="module")
def fit(runs):
    return scalelab.fit(runs, "chinchilla")


def in_ranges(N, D):
    (n_lo, n_hi), (d_lo, d_hi) = RANGES["N"], RANGES["D"]
    return np.all((N >= n_lo) & (N <= n_hi) & (D >= d_lo) & (D <= d_hi))


# --- A: suggest's law and candidates ---------------------------------------------------------------------------

def test_suggest_takes_the_fits_law_and_refuses_a_fit_of_another(runs):
    kaplan = scalelab.fit(runs, "kaplan")
    s = scalelab.suggest(runs, fit=kaplan, budget=1e21, k=2)
    assert s.law.name == "kaplan" and np.isfinite(s.sd_after)
    with pytest.raises(ValueError, match="fit is of law 'kaplan', not of the law given, 'chinchilla'"):
        scalelab.suggest(runs, "chinchilla", fit=kaplan, budget=1e21, k=2)


def test_suggest_candidates_need_n_and_d(runs, fit):
    with pytest.raises(RunTableError, match=r"candidates need columns N .* and D"):
        scalelab.suggest(runs, fit=fit, candidates=pd.DataFrame({"N": [1e9]}))


def test_suggest_reads_candidates_with_the_run_tables_aliases(runs, fit):
    """``params``/``tokens`` are N and D as in a run table: the same design scores the same."""
    N, D = np.array([1e9, 3e8]), np.array([2e10, 6e9])
    plain = scalelab.suggest(runs, fit=fit, k=2, candidates=pd.DataFrame({"N": N, "D": D}))
    alias = scalelab.suggest(runs, fit=fit, k=2, candidates=pd.DataFrame({"params": N, "tokens": D}))
    np.testing.assert_allclose(alias.runs[["N", "D", "C"]].to_numpy(), plain.runs[["N", "D", "C"]].to_numpy())
    np.testing.assert_allclose(alias.sd_after, plain.sd_after, rtol=1e-12)
    np.testing.assert_allclose(plain.runs["C"], 6 * plain.runs["N"] * plain.runs["D"], rtol=1e-12)
    # N and C give D = C / 6N, as a run table derives it
    by_c = scalelab.suggest(runs, fit=fit, k=2, candidates=pd.DataFrame({"N": N, "C": 6 * N * D}))
    np.testing.assert_allclose(by_c.runs["D"].to_numpy(), plain.runs["D"].to_numpy(), rtol=1e-12)


def test_suggest_refuses_implausible_candidates(runs, fit):
    with pytest.raises(RunTableError, match=r"candidates: column 'N' has implausible values"):
        scalelab.suggest(runs, fit=fit, candidates=pd.DataFrame({"N": [880.0, 1e9], "D": [1e9, 2e10]}))


# --- B: suggest proposes only runs the package accepts, and advises the right way -----------------------------

def test_suggest_small_budget_proposes_only_plausible_runs(runs, fit):
    s = scalelab.suggest(runs, fit=fit, budget=1e10)
    assert len(s.runs) >= 1 and s.spent <= s.budget * (1 + 1e-12)
    N, D = s.runs["N"].to_numpy(), s.runs["D"].to_numpy()
    assert in_ranges(N, D), s.runs
    fit.predict(N=N, D=D)  # what predict refuses (N < 1e3) is not proposed
    far = [w for w in s.warnings if "outside the runs' model sizes" in w]
    assert far and "larger budget" in far[0]


def test_suggest_refuses_a_budget_that_buys_no_plausible_run(runs, fit):
    with pytest.raises(ValueError, match=r"buys no plausible run.*raise the budget"):
        scalelab.suggest(runs, fit=fit, budget=1e6)  # N = D = 1e3 costs 6e6 FLOPs
    with pytest.raises(ValueError, match=r"buys no plausible run.*lower the budget"):
        scalelab.suggest(runs, fit=fit, budget=1e40)  # N = sqrt(C / 6000) > 1e16 for all of the pool


def test_suggest_huge_budget_advises_a_smaller_one(runs, fit):
    s = scalelab.suggest(runs, fit=fit, budget=1e30)
    N, D = s.runs["N"].to_numpy(), s.runs["D"].to_numpy()
    assert in_ranges(N, D), s.runs
    assert np.all(N > 10 * runs["N"].max())  # beyond the ladder
    far = [w for w in s.warnings if "outside the runs' model sizes" in w]
    assert far and "smaller budget" in far[0] and "larger budget" not in far[0]


# --- C: simulate with scalars ------------------------------------------------------------------------------------

def test_simulate_scalars_are_one_run():
    out = scalelab.simulate("chinchilla", TRUTH, {"N": 1e8, "D": 1e9}, sigma=0.0)
    assert len(out) == 1
    closed = TRUTH["E"] + TRUTH["A"] / 1e8 ** TRUTH["alpha"] + TRUTH["B"] / 1e9 ** TRUTH["beta"]
    np.testing.assert_allclose(out["loss"].iloc[0], closed, rtol=1e-6)  # float32 law evaluation allowed
    np.testing.assert_allclose(out["C"].iloc[0], 6e17)
    # a scalar N beside several D: that N for every run
    out = scalelab.simulate("chinchilla", TRUTH, {"N": 1e8, "D": [1e9, 1e10, 1e11]}, sigma=0.0)
    assert len(out) == 3 and np.all(out["N"] == 1e8)
    np.testing.assert_allclose(out["loss"], laws.get("chinchilla")(TRUTH, N=np.full(3, 1e8),
                                                                    D=np.array([1e9, 1e10, 1e11])), rtol=1e-6)
    with pytest.raises(ValueError, match="one length"):
        scalelab.simulate("chinchilla", TRUTH, {"N": [1e8, 2e8], "D": [1e9, 1e10, 1e11]})


# --- D: fit_many and its helpers ---------------------------------------------------------------------------------

def test_bootstrap_refuses_no_resamples(runs):
    for bad in (0, -3, 2.5):
        with pytest.raises(ValueError, match="n_resamples must be a whole number >= 1"):
            variants.bootstrap(runs, bad)


def test_fit_many_refuses_what_is_not_variants(runs):
    with pytest.raises(TypeError, match=r"variants must be a scalelab\.fit\.variants\.Variants.*got a list"):
        scalelab.fit_many(runs, "chinchilla", [1] * len(runs))
    with pytest.raises(ValueError, match="no variant"):
        scalelab.fit_many(runs, "chinchilla", variants.deltas(runs, []))


def test_percentile_intervals_names_the_columns():
    boot = pd.DataFrame({"law": "chinchilla", "alpha": [0.30, 0.34, 0.38], "beta": [0.3, 0.3, 0.3]})
    with pytest.raises(ValueError, match=r"no column \['gamma'\].*'alpha', 'beta'"):
        percentile_intervals(boot, ["gamma"])
    lo, hi = percentile_intervals(boot, "alpha", ci=0.5)["alpha"]
    np.testing.assert_allclose([lo, hi], np.percentile(boot["alpha"], [25, 75]))


# --- E: rollout labels -------------------------------------------------------------------------------------------

def test_rollout_labels_tell_close_rungs_apart():
    """Two sizes 3e-7 apart (6.322240e8 and 6.322243e8, as in Epoch's table) are one rung (a Python-API trial: Epoch's
    ~42 sizes gave 135 rollouts, 94 of them within 1e-4 decades of the one before); with ``tol=0`` each distinct value
    is a rung, and the two had shared the label 'N < 6.322e+08'."""
    N = np.r_[np.geomspace(1e8, 5e8, 8), 6.322240e8, 6.322243e8, 8e8]
    table = scalelab.simulate("chinchilla", TRUTH, {"N": N, "D": 20 * N}, sigma=0.0)
    one = variants.rollouts(table, by="N")
    assert one.info["target_rung"].tolist() == [6.322240e8, 8e8]  # each rung's smallest value
    np.testing.assert_array_equal(one.weights[0], N < 6.322240e8)
    v = variants.rollouts(table, by="N", tol=0)
    labels = v.info["variant"].tolist()
    assert len(set(labels)) == len(labels) == 3, labels
    cuts = [float(t.split("<")[1]) for t in labels]
    assert np.all(np.diff(cuts) > 0)  # the labels order as the rungs do
    np.testing.assert_allclose(cuts, v.info["target_rung"], rtol=1e-7)


def test_rollouts_refuse_no_rungs_and_intervals_refuse_no_fits(tmp_path):
    from scalelab.fit import variants
    from scalelab.fit.many import percentile_intervals

    runs = scalelab.simulate("chinchilla", {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37},
                             scalelab.isoflop_design(budgets=np.geomspace(1e18, 1e21, 4), n_per_budget=6), seed=0)
    for bad in (0, -1, 1.5):  # 0 kept every rung (rows[-0:] is the whole list)
        with pytest.raises(ValueError, match="n_rungs must be a whole number >= 1"):
            variants.rollouts(runs, n_rungs=bad)
    assert len(variants.rollouts(runs, n_rungs=1)) == 1
    with pytest.raises(ValueError, match="the fits hold no row"):
        percentile_intervals(pd.DataFrame({"E": []}), ["E"])


def test_influence_and_suggest_fit_as_fit_does(runs):
    """`influence` and `suggest` (and their CLI commands, whose help says 'auto' is the default) fitted from the law's
    grid while `fit` uses variable projection: on a table whose runs all share one N the two optima differ off that N,
    and the three commands gave three answers for one question (1.12 from fit, 1.73 and 1.75 from the others; a
    new-user trial, twenty-sixth session). Reference: `scalelab.fit`'s prediction with its defaults."""
    one_n = runs.assign(N=1e9)
    target = "loss@N=1e10,D=2e11"
    ref = float(np.ravel(scalelab.fit(one_n, "chinchilla").predict(N=1e10, D=2e11))[0])
    assert scalelab.influence(one_n, "chinchilla", target).value == pytest.approx(ref, rel=1e-6)
    import inspect

    assert inspect.signature(scalelab.suggest).parameters["starts"].default == "auto"
    # suggest ranks runs by the target's Laplace variance, which one N leaves singular: it printed sd NaN, or a run
    # that raised the variance, as the best; it now says why there is nothing to rank
    with pytest.raises(ValueError, match="Laplace covariance is singular .* The fit says: .*one N"):
        scalelab.suggest(one_n, "chinchilla", target, budget=1e21, k=1)
    from scalelab.cli import build_parser
    for argv in (["influence", "runs.csv"], ["suggest", "runs.csv", "--budget", "1e21"]):
        assert build_parser().parse_args(argv).starts == "auto"


def test_a_target_far_beyond_the_runs_is_warned_about_in_influence_and_suggest(runs):
    """Found by a new-user trial: `influence` and `suggest` at loss@C=1e30, 8 decades of compute beyond the runs,
    answered with no word (suggest: a target sd of 0.3% of the loss). A budget more than two decades of compute above
    the runs' largest (about one decade of N and D), or an N or D more than a decade above, is now warned about."""
    from scalelab.design.targets import reach_warnings

    table = scalelab.read(runs)
    top = float(np.max(6 * runs["N"] * runs["D"]))
    assert reach_warnings(f"loss@C={top * 50:g}", table) == []  # 1.7 decades: within
    (w,) = reach_warnings(f"loss@C={top * 1e8:g}", table)
    assert "8.0 decades beyond the runs' largest C" in w
    assert reach_warnings(f"loss@N={runs['N'].max() * 5:g},D={runs['D'].max() * 5:g}", table) == []
    assert len(reach_warnings(f"loss@N={runs['N'].max() * 20:g},D={runs['D'].max() * 20:g}", table)) == 2
    far = f"loss@C={top * 1e8:g}"
    assert w in scalelab.influence(runs, "chinchilla", far, starts=16).warnings
    assert w in scalelab.suggest(runs, "chinchilla", far, budget=1e20, k=2).warnings
    assert not any("decades beyond" in x for x in scalelab.influence(runs, "chinchilla", f"loss@C={top * 50:g}",
                                                                      starts=16).warnings)


def test_a_singular_laplace_covariance_is_refused_at_every_noise_scale(x64):
    """Every run at one N: E, A and alpha enter the log loss through one number, so the Gauss-Newton information is
    singular (rank 3 of 5) and its inverse is float64 round-off. Its eigenvalues' signs then depend on the noise scale
    that multiplies it: `check_covariance` accepted 10 of 40 such covariances (4 tables x 10 scales), and `suggest`
    answered on one table at one noise scale and refused at another (thirtieth session). Reference: the closed-form
    rank. An identified ladder (4 sizes x 3 ratios) is accepted at every scale."""
    import jax
    import jax.numpy as jnp

    from scalelab.design import next_runs as nr

    law = laws.get("chinchilla")
    truth = {"E": 1.82, "A": 482.0, "B": 2085.4, "alpha": 0.3478, "beta": 0.3658}
    D = np.geomspace(1e9, 1e11, 8)
    N = np.repeat(np.geomspace(5e7, 2e9, 4), 3)
    designs = {"one N": {"N": np.full(8, 3e8), "D": D}, "ladder": {"N": N, "D": N * np.tile([10.0, 20.0, 40.0], 4)}}
    for name, design in designs.items():
        for seed in range(2):
            t = scalelab.simulate("chinchilla", truth, design, sigma=0.003, seed=seed)
            fit = scalelab.fit(t, "chinchilla")
            theta = law.flatten({k: jnp.asarray(v, jnp.float64) for k, v in fit.unconstrained.items()})
            g = np.asarray(jax.grad(nr.target_fn(law, "loss@C=1e20"))(theta))
            x = {c: jnp.asarray(t[c].to_numpy(float)) for c in ("N", "D")}
            y = jnp.log(jnp.asarray(t["loss"].to_numpy(float)))
            n = len(t)
            J = np.asarray(jax.jacfwd(lambda th: law.log_predict_theta(th, x))(theta))
            assert np.linalg.matrix_rank(J) == (3 if name == "one N" else 5)
            for s in np.geomspace(1e-3, 1e-1, 6):
                cov = np.asarray(nr._laplace_program(law)(theta, x, y, jnp.ones(n), jnp.zeros(5), jnp.asarray(s),
                                                          jnp.ones(5))["cov"])
                if name == "one N":
                    with pytest.raises(ValueError, match="Laplace covariance is singular"):
                        nr.check_covariance(cov, g, law)
                else:
                    nr.check_covariance(cov, g, law)
    # a parameter at its bound (a fit's E -> 0 gave E's direction a variance of 3e33 in benchmarks/design.py) that
    # the target does not depend on is no reason to refuse; one the target does depend on is
    e0 = np.eye(5)[0]
    nr.check_covariance(cov + 1e30 * np.outer(e0, e0), g * (1 - e0), law)
    with pytest.raises(ValueError, match="Laplace covariance is singular"):
        nr.check_covariance(cov + 1e30 * np.outer(e0, e0), g * (1 - e0) + 0.1 * e0, law)
