"""The Python API as a notebook user calls it: inputs a DataFrame user passes, misuse refused with a message,
results that agree with an independent NumPy computation and go through pickle.

Each case was found by trying the API as a new user would (session 9): a pandas Series of weights applied
by position to a shuffled table, a fit on 3 weighted runs reported as converged, ``predict(N=7)`` answering
245 nats, a reversed posterior interval at ``ci=-0.5``, an empty target table failing after every fit, and
more below.
"""

import pickle

import numpy as np
import pandas as pd
import pytest

import scalelab
from scalelab import bayes
from scalelab.runs import RunTableError

TRUTH = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}


def closed_form(p, N, D):
    return p["E"] + p["A"] * N ** -p["alpha"] + p["B"] * D ** -p["beta"]


@pytest.fixture(scope="module")
def runs():
    """48 Chinchilla runs (6 budgets x 8 sizes, 1% noise) under a shuffled integer index, as after df.sample."""
    design = scalelab.isoflop_design(budgets=np.geomspace(1e18, 1e21, 6), n_per_budget=8)
    df = scalelab.simulate("chinchilla", TRUTH, design, sigma=0.01, seed=3)
    return df.sample(frac=1.0, random_state=0)


@pytest.fixture(scope="module")
def res(runs):
    return scalelab.fit(runs, "chinchilla")


def test_weights_series_are_matched_by_label_not_position(runs):
    big = pd.Series((runs["N"] > 3e8).astype(float).to_numpy(), index=runs.index)
    by_label = scalelab.fit(runs, "chinchilla", weights=big.sort_index())  # same labels, another order
    by_position = scalelab.fit(runs, "chinchilla", weights=big.to_numpy())
    assert by_label.n_runs == int(big.sum())
    assert by_label.params == pytest.approx(by_position.params, rel=1e-9)
    with pytest.raises(ValueError, match="index does not match"):
        scalelab.fit(runs, "chinchilla", weights=big.reset_index(drop=True).set_axis([f"r{i}" for i in range(len(big))]))


def test_weights_that_leave_too_few_runs_are_refused(runs):
    w = np.zeros(len(runs))
    w[:3] = 1.0
    with pytest.raises(RunTableError, match="3 of the 48 runs have a weight > 0"):
        scalelab.fit(runs, "chinchilla", weights=w)
    with pytest.raises(RunTableError, match="0 of the 48 runs"):
        scalelab.fit(runs, "chinchilla", weights=np.zeros(len(runs)))


def test_predict_checks_inputs_like_the_cli(res):
    N, D = np.array([7e10, 1e9]), np.array([1.4e12, 2e10])
    assert res.predict(N=N, D=D) == pytest.approx(closed_form(res.params, N, D), rel=1e-12)
    # D from C = 6 N D, as `scalelab predict --N --C` derives it
    assert res.predict(N=N, C=6 * N * D) == pytest.approx(closed_form(res.params, N, D), rel=1e-12)
    with pytest.raises(ValueError, match="check the units"):
        res.predict(N=7, D=1.4e12)  # 7B meant
    with pytest.raises(ValueError, match=r"does not read \['foo'\]"):
        res.predict(N=7e10, D=1.4e12, foo=3)
    # C beside N and D could disagree with them: said as one amount given two ways, not as an input the law "does not
    # read" (a Python-API trial)
    with pytest.raises(ValueError, match=r"\['C'\] was given beside \['D'\]: give each amount one way"):
        res.predict(N=7e10, D=1.4e12, C=1.0)
    with pytest.raises(ValueError, match=r"needs inputs \['D'\]"):
        res.predict(N=7e10)
    with pytest.raises(ValueError, match="do not broadcast"):
        res.predict(N=[1e9, 2e9, 3e9], D=[2e10, 3e10])
    # counts written as the CLI takes them (--N 70B --D 1.4T): a new-user trial found Python refusing '1.3B'
    assert res.predict(N=["70B", "1B"], D=["1.4T", 2e10]) == pytest.approx(closed_form(res.params, N, D), rel=1e-12)
    assert res.predict(N="70B", D="1.4T") == pytest.approx(closed_form(res.params, N[0], D[0]), rel=1e-12)
    with pytest.raises(ValueError, match="N = 'big' reads as no number"):
        res.predict(N="big", D=2e10)


def test_outlying_run_is_named_in_the_results_warnings(runs):
    bad = runs.copy()
    label = bad.index[5]
    bad.loc[label, "loss"] *= 1.5
    warned = scalelab.fit(bad, "chinchilla").warnings
    assert any("6 MADs" in w and f"rows {label}" in w for w in warned), warned
    w = np.ones(len(bad))
    w[5] = 0.0  # weighted out: not part of the fit, not named
    assert not any("6 MADs" in s for s in scalelab.fit(bad, "chinchilla", weights=w).warnings)
    assert not any("6 MADs" in s for s in scalelab.fit(runs, "chinchilla").warnings)


def test_posterior_refuses_a_level_outside_0_1(runs, res):
    post = bayes.laplace(runs, "chinchilla", init=res, draws=400)
    assert post.params(0.9)["alpha"]["lo"] < post.params(0.9)["alpha"]["hi"]
    for ci in (-0.5, 0.0, 1.0, 95, "0.9", None):
        with pytest.raises(ValueError, match="ci must"):
            post.params(ci)
    with pytest.raises(ValueError, match="for 90% give ci=0.9"):
        post.predict(ci=90, N=1e10, D=2e11)
    with pytest.raises(ValueError, match="check the units"):
        post.predict(N=7, D=1.4e12)


def test_forecast_refuses_empty_targets_and_empty_law_lists_before_fitting(runs):
    with pytest.raises(RunTableError, match="targets hold no rows"):
        scalelab.forecast(runs, at={"N": [], "D": []}, laws="chinchilla")
    with pytest.raises(ValueError, match="names no law"):
        scalelab.forecast(runs, at={"N": [7e10], "D": [1.4e12]}, laws=[])
    with pytest.raises(ValueError, match="ci must"):
        scalelab.forecast(runs, at={"N": [7e10], "D": [1.4e12]}, ci="0.9")
    with pytest.raises(RunTableError, match="expected a CSV or parquet path"):
        scalelab.forecast(runs, at=7e10, laws="chinchilla")


def test_inputs_a_notebook_user_passes(runs, res):
    # a dict of columns reads as the DataFrame it makes
    as_dict = scalelab.fit({c: runs[c].to_numpy() for c in runs.columns}, "chinchilla")
    assert as_dict.params == pytest.approx(res.params, rel=1e-9)
    with pytest.raises(RunTableError, match="got a int"):
        scalelab.read(3)
    # a numeric family column, named by its value
    kept = scalelab.read(runs.assign(family=np.where(runs["N"] > 3e8, 1, 2)), family=1)
    assert len(kept) == int((runs["N"] > 3e8).sum())
    # a result where a law is asked for: told what to pass (allocate takes the fit itself, and its law from it)
    with pytest.raises(TypeError, match=r"pass its \.law"):
        scalelab.frontier(res, res.params, 1e24)
    assert scalelab.allocate(res, res.params, 1e24) == pytest.approx(scalelab.allocate(res.law, res.params, 1e24))
    # the compare module is callable, like forecast and report
    assert callable(scalelab.compare) and scalelab.compare.compare_one is not None
    # and each such module shows its function's signature, not the call's (*args, **kwargs)
    import inspect

    from scalelab.forecast import forecast
    assert inspect.signature(scalelab.forecast) == inspect.signature(forecast)
    assert list(inspect.signature(scalelab.report).parameters)[:3] == ["runs", "law", "out"]
    import pydoc  # and help() shows the call's arguments (it showed the package's docstring alone)

    shown = pydoc.render_doc(scalelab.fit, renderer=pydoc.plaintext)
    assert "Called as a function: fit(runs, law='chinchilla'" in shown and "objective: ``\"huber\"``" in shown
    # a target's inputs read under the run table's aliases (c is C)
    assert scalelab.design.targets.parse_target("loss@c=1e24").at == {"C": 1e24}


def test_a_law_prints_as_its_name_inputs_and_parameters(res, runs):
    """A Law's repr is one line, and results that hold it print it so: it was 2 KB of functions, transforms and start
    grid, every FitResult 3 KB and a Forecast 14 KB in a notebook (a Python-API trial)."""
    law = scalelab.laws.get("chinchilla")
    assert repr(law) == "Law('chinchilla', inputs=('N', 'D'), params=('E', 'A', 'B', 'alpha', 'beta'))"
    assert repr(res).startswith(f"FitResult(law={law!r}, params=") and "PjitFunction" not in repr(res)
    # a run table and variants print in one line too (the whole frame, the whole weight matrix)
    table = scalelab.read(runs)
    assert repr(table) == f"RunTable(48 rows from <DataFrame>, columns {list(table.df.columns)})"
    assert repr(scalelab.variants.bootstrap(table, 30)) == "Variants(30 variants of 48 runs, kind bootstrap)"


def test_starts_as_natural_values(runs, res):
    """``fit(starts={...})``: natural values, as bayes' ``init`` takes them, are one start (or S of arrays) and reach
    the grid's optimum; a dict missing a parameter or outside its domain is refused naming it (it was a bare float()
    TypeError: a Python-API trial)."""
    one = scalelab.fit(runs, "chinchilla", starts={"E": 1.8, "A": 400.0, "B": 400.0, "alpha": 0.3, "beta": 0.3})
    assert one.n_starts == 1 and one.objective == pytest.approx(res.objective, rel=1e-6)
    two = scalelab.fit(runs, "chinchilla", starts={"E": [1.8, 1.5], "A": 400.0, "B": 400.0, "alpha": 0.3,
                                                   "beta": [0.3, 0.2]})
    assert two.n_starts == 2
    with pytest.raises(ValueError, match=r"missing \['A', 'B', 'alpha', 'beta'\]"):
        scalelab.fit(runs, "chinchilla", starts={"E": 1.8})
    with pytest.raises(ValueError, match="outside the domain"):
        scalelab.fit(runs, "chinchilla", starts={"E": -1.0, "A": 400.0, "B": 400.0, "alpha": 0.3, "beta": 0.3})


def test_results_pickle(res, runs):
    # two fits of the same runs are equal, whatever their wall-clock timings (a Python-API trial: they compared unequal)
    again = scalelab.fit(runs, "chinchilla")
    assert again == res and again.seconds != res.seconds
    back = pickle.loads(pickle.dumps(res))
    assert back.law is res.law and back.params == res.params
    assert back.predict(N=1e10, D=2e11) == pytest.approx(res.predict(N=1e10, D=2e11), rel=0, abs=0)


def test_influence_rows_are_the_tables_labels_and_file_lines(runs, tmp_path):
    small = runs.iloc[:24].copy()
    small.index = [f"run{i}" for i in range(len(small))]
    infl = scalelab.influence(small, "chinchilla", "loss@N=1e10,D=2e11", starts=16)
    t = infl.table()
    assert set(t["row"]) == set(small.index)
    assert "loo_change" not in t.columns  # no refits asked: no column of NaN (a new-user trial found one)
    top = t["row"].iloc[0]
    assert small.loc[top, "N"] > 0 and infl.to_json()["runs"][0]["row"] == top
    path = tmp_path / "runs.csv"
    small.to_csv(path, index=False)
    from_file = scalelab.influence(path, "chinchilla", "loss@N=1e10,D=2e11", starts=16)
    lines = from_file.table()
    assert (lines["line"] == lines["row"] + 2).all()  # line 1 is the header
    assert from_file.to_json()["runs"][0]["line"] == int(lines["line"].iloc[0])


def test_curve_table_errors_name_file_lines(tmp_path):
    df = pd.DataFrame({"run_id": ["a"] * 3 + ["b"] * 3, "step": [1, 2, 3, 1, 2, 2],
                       "lr": 1e-3, "N": 1e8, "D": [1e8, 2e8, 3e8] * 2, "loss": [4.0, 3.5, 3.2, 4.1, 3.6, 3.3]})
    path = tmp_path / "curves.csv"
    df.to_csv(path, index=False)
    with pytest.raises(RunTableError, match="duplicate steps in lines 7"):
        scalelab.read(path).require(["run_id", "step", "lr"], law="multipower")


# --- a second trial: bayes, variants, allocation, isoFLOP, report -------------------------------------------------


def test_laplace_from_a_rounded_start_is_centred_at_the_optimum(runs, res):
    # a dict is where a fit starts, not the centre: at the rounded truth the Gaussian's curvature means nothing
    # (on Epoch, alpha's 95% interval was 0.105-0.587 against 0.327-0.367 from the fit)
    at_fit = bayes.laplace(runs, "chinchilla", init=res, draws=400, adjust=None).params(0.9)
    rounded = {k: float(f"{v:.2g}") for k, v in res.params.items()}
    from_dict = bayes.laplace(runs, "chinchilla", init=rounded, draws=400, adjust=None).params(0.9)
    for k in ("E", "alpha", "beta"):
        assert from_dict[k]["lo"] == pytest.approx(at_fit[k]["lo"], rel=1e-5)
        assert from_dict[k]["hi"] == pytest.approx(at_fit[k]["hi"], rel=1e-5)
    with pytest.raises(ValueError, match="draws must be a whole number >= 4"):
        bayes.laplace(runs, "chinchilla", init=res, draws=0)


def test_groups_series_by_label_and_missing_labels_refused(runs, res):
    size = pd.Series(np.round(np.log10(runs["N"].to_numpy()), 1), index=runs.index)
    a = bayes.laplace(runs, "chinchilla", groups=size.to_numpy(), init=res, draws=400).params(0.9)
    b = bayes.laplace(runs, "chinchilla", groups=size.sort_index(), init=res, draws=400).params(0.9)
    assert b["alpha"] == pytest.approx(a["alpha"], rel=1e-12) and b["tau"] == pytest.approx(a["tau"], rel=1e-12)
    with pytest.raises(ValueError, match="have no group label"):
        bayes.laplace(runs, "chinchilla", groups=size.where(size > size.min()), init=res, draws=400)
    with pytest.raises(TypeError, match="use bayes.sample"):
        bayes.sample_many(runs, "chinchilla")


def test_variants_refuse_what_would_silently_reweight(runs):
    fam = runs.assign(family=np.where(runs["N"] > 3e8, "big", None))
    with pytest.raises(RunTableError, match="have no 'family'"):
        scalelab.variants.bootstrap(fam, 10, by="family")
    for bad in ("N", "D / N"):  # values, not conditions: they would become the runs' weights
        with pytest.raises(ValueError, match="is not a condition on each run"):
            scalelab.variants.from_table(runs, pd.DataFrame({"filter": [bad]}))
    ok = scalelab.variants.from_table(runs, pd.DataFrame({"filter": ["N < 3e8"]}))
    assert ok["chinchilla"].weights.sum() == (runs["N"] < 3e8).sum()
    # a filter written with the file's own column names (read as N and D) says what to write (a new-user trial,
    # twenty-sixth session: "name 'params' is not defined"); a name that is no column lists the columns
    exported = runs.rename(columns={"N": "params", "D": "tokens"})
    with pytest.raises(ValueError, match="read under their canonical names: write N for params, D for tokens"):
        scalelab.variants.from_table(exported, pd.DataFrame({"filter": ["params < 3e8 and tokens > 1e9"]}))
    with pytest.raises(ValueError, match=r"the run table's columns are \['N', 'D',"):
        scalelab.variants.from_table(runs, pd.DataFrame({"filter": ["width < 3"]}))
    from scalelab.fit.many import percentile_intervals

    draws = pd.DataFrame({"alpha": np.linspace(0.3, 0.4, 101)})
    assert percentile_intervals(draws, "alpha", ci=0.9) == {"alpha": [pytest.approx(0.305), pytest.approx(0.395)]}


def test_allocation_refuses_an_optimum_at_the_edge_of_its_search():
    # a steep D term (as a fit on one D gives): the numeric minimum runs into tokens per parameter e^-30, where the
    # elasticities in N and D differ; the closed form for the same chinchilla parameters is the reference
    P = {"E": 1.5, "A": 35.0, "B": 0.0038, "alpha": 0.18, "beta": 2.46}
    num = scalelab.frontier("chinchilla", P, [1e22])
    G = (P["alpha"] * P["A"] / (P["beta"] * P["B"])) ** (1 / (P["alpha"] + P["beta"]))
    exact = G * (1e22 / 6) ** (P["beta"] / (P["alpha"] + P["beta"]))
    assert scalelab.allocate("chinchilla", P, 1e22)["N_opt"] == pytest.approx(exact, rel=1e-10)
    assert not np.isclose(num["dlogL_dlogN"][0], num["dlogL_dlogD"][0], rtol=1e-3)  # the numeric one missed
    Pw = {"A": 35.19, "B": 0.0038, "sigma": 1.485, "alpha": 0.182, "beta": 2.46, "gamma": 0.0706}
    with pytest.raises(ValueError, match="no interior compute-optimal split"):
        scalelab.allocate("wang2024_moe", Pw, 1e22, extra={"E": 8})
    with pytest.raises(ValueError, match=r"does not read \['E'\]"):
        scalelab.allocate("chinchilla", TRUTH, 1e22, extra={"E": 8})


def test_approach3_in_float64_and_checked(runs):
    from scalelab.optimal.isoflop import approach3_frontier

    out = approach3_frontier(runs, "chinchilla", [1e20, 1e22], n_boot=2)
    fit = scalelab.fit(runs, "chinchilla", starts="grid")
    # exactly beta / (alpha + beta) for Chinchilla: float32 left ~1e-6 of error
    assert out["a"] == pytest.approx(fit.params["beta"] / (fit.params["alpha"] + fit.params["beta"]), rel=1e-9)
    with pytest.raises(ValueError, match="does not take N and D"):
        approach3_frontier(runs, "bnsl", [1e20, 1e22])
    with pytest.raises(ValueError, match="two or more compute budgets"):
        approach3_frontier(runs, "chinchilla", [1e20])


def test_simulation_inputs_checked():
    with pytest.raises(ValueError, match=r"needs parameters \['beta'\]"):
        scalelab.simulate("chinchilla", {k: v for k, v in TRUTH.items() if k != "beta"})
    with pytest.raises(ValueError, match="sigma"):
        scalelab.simulate("chinchilla", TRUTH, sigma=float("nan"))
    with pytest.raises(ValueError, match="budgets must be"):
        scalelab.isoflop_design(budgets=[-1e19, 1e20])
    assert len(scalelab.isoflop_design(budgets=1e19, n_per_budget=5)["N"]) == 5  # one budget as a number


def test_fit_warns_when_it_did_not_converge(runs):
    short = scalelab.fit(runs, "chinchilla", starts=4, max_iter=1)
    assert not short.converged and any("did not meet the convergence test" in w for w in short.warnings)
    # the advice is a number of iterations that can help: twice the law's default (200), not twice the 1 given
    assert any("give more iterations (max_iter=400, --max-iter 400)" in w for w in short.warnings)


def test_isoflop_carries_the_tables_notes():
    design = scalelab.isoflop_design(budgets=np.geomspace(1e18, 1e20, 3), n_per_budget=7)
    df = scalelab.simulate("chinchilla", TRUTH, design, sigma=0.002, seed=0)
    twin = df.iloc[[3]].assign(loss=df["loss"].iloc[3] * 1.3)  # a second ladder's run at the same N, D, C
    iso = scalelab.isoflop(pd.concat([df, twin], ignore_index=True), approach3=None, n_boot=10)
    assert any("apart" in n for n in iso.notes) and iso.to_json()["notes"] == list(iso.notes)


def test_the_schedule_optimiser_and_the_laplace_state_run_in_float64():
    """Both are `float64` functions (the published optima need it); a helper inserted above each took its decorator
    in this session's first version, and the optimiser then ran in float32 (JAX warned, the suite still passed)."""
    import warnings

    from scalelab import curves, laws

    p = laws.get("multipower").reference["luo2025_100M"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = curves.optimize_schedule({"law": "multipower", "params": p}, 200, 3e-4, 10, knots=16, iterations=20)
    assert res.lrs.dtype == np.float64 and res.predicted["optimised"] <= res.predicted["cosine"]
    from scalelab.design.next_runs import laplace_state

    law = laws.get("chinchilla")
    N, D = np.geomspace(1e8, 1e10, 8), np.geomspace(2e9, 2e11, 8)[::-1]
    theta = law.flatten({k: np.asarray(v) for k, v in law.to_unconstrained(law.reference["hoffmann2022"]).items()})
    y = np.log(np.asarray(law.predict(law.reference["hoffmann2022"], {"N": N, "D": D}))) + 0.01 * np.sin(np.arange(8))
    Sigma, sigma = laplace_state(law, theta, {"N": N, "D": D}, y, np.ones(8))
    assert Sigma.dtype == np.float64 and np.all(np.linalg.eigvalsh(Sigma) > 0) and sigma > 0
