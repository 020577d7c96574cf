"""The Python API under the inputs a new user passes (found by a trial of every public function): a clear error
naming the problem and the fix, or the obvious reading, never a failure from deep inside or a silent NaN."""

import importlib

import numpy as np
import pandas as pd
import pytest

import scalelab

P = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}


def test_the_fit_and_simulate_packages_import_their_submodules_and_still_call():
    # `scalelab.fit` was a function hiding the package of that name: `import scalelab.fit.many as m` failed
    m = importlib.import_module("scalelab.fit.many")
    import scalelab.fit.many as many
    import scalelab.fit.api as api

    assert many is m and many.fit_many is scalelab.fit_many and api.fit is scalelab.fit.fit
    import scalelab.simulate as sim

    runs = scalelab.simulate("chinchilla", P, scalelab.isoflop_design(budgets=np.geomspace(1e18, 1e21, 4),
                                                                      n_per_budget=6), sigma=0.0, seed=0)
    assert sim.simulate is scalelab.runs.simulate.simulate
    res = scalelab.fit(runs, "chinchilla")  # the package, called, is its function
    assert res.params["alpha"] == pytest.approx(P["alpha"], rel=1e-6)


def test_an_unknown_law_is_a_value_error_read_as_written_and_case_does_not_matter():
    with pytest.raises(ValueError) as caught:
        scalelab.laws.get("chinchila")
    assert isinstance(caught.value, KeyError)  # what the earlier code caught still catches it
    assert str(caught.value).startswith("unknown law 'chinchila'; did you mean 'chinchilla'?")  # no KeyError quotes
    assert scalelab.laws.get("Chinchilla") is scalelab.laws.get("chinchilla")
    assert scalelab.laws.get(" KAPLAN ") is scalelab.laws.get("kaplan")


def test_laws_arguments_take_a_law_object_and_refuse_other_things(simulated_runs):
    law = scalelab.laws.get("chinchilla")
    at = {"N": [2e10], "D": [4e11]}
    by_object = scalelab.forecast(simulated_runs, at, laws=law, progress=False)
    by_name = scalelab.forecast(simulated_runs, at, laws="chinchilla", progress=False)
    assert by_object.weights == {"chinchilla": 1.0} and by_object.loss == pytest.approx(by_name.loss, rel=1e-12)
    res = scalelab.fit(simulated_runs, "chinchilla")
    with pytest.raises(TypeError, match="pass its .law"):
        scalelab.forecast(simulated_runs, at, laws=res, progress=False)
    with pytest.raises(TypeError, match="got a value of type int"):
        scalelab.laws.listed(["chinchilla", 3])
    one = scalelab.compare(simulated_runs, law)
    both = scalelab.compare(simulated_runs, [law, "chinchilla"])  # the same law twice is compared once
    assert [r["law"] for r in one["laws"]] == [r["law"] for r in both["laws"]] == ["chinchilla"]
    assert one["laws"][0]["extrapolation_are"] == pytest.approx(
        scalelab.compare(simulated_runs, "chinchilla")["laws"][0]["extrapolation_are"], rel=1e-9)
    with pytest.raises(ValueError, match="holdout_by='foo' is not a column"):  # it was a note, and no error
        scalelab.compare(simulated_runs, "chinchilla", holdout_by="foo")


def test_allocations_refuse_what_has_no_split_and_read_a_fit_result(simulated_runs):
    with pytest.raises(ValueError, match="no compute-optimal split for chinchilla"):  # it returned NaN silently
        scalelab.chinchilla_allocation({**P, "alpha": -0.1}, 1e24)
    res = scalelab.fit(simulated_runs, "chinchilla")
    want = scalelab.chinchilla_allocation(res.params, 1e24)
    # closed form (Hoffmann et al. 2022, Eq. 4) in float64, independently
    a, b = res.params["alpha"], res.params["beta"]
    G = (a * res.params["A"] / (b * res.params["B"])) ** (1 / (a + b))
    assert want["N_opt"] == pytest.approx(G * (1e24 / 6) ** (b / (a + b)), rel=1e-12)
    for got in (scalelab.allocate("chinchilla", res, 1e24), scalelab.chinchilla_allocation(res, 1e24)):
        assert got["N_opt"] == pytest.approx(want["N_opt"], rel=1e-12)
    kaplan = scalelab.fit(simulated_runs, "kaplan")
    with pytest.raises(ValueError, match="a fit of 'kaplan', not of 'chinchilla'"):
        scalelab.allocate("chinchilla", kaplan, 1e24)
    with pytest.raises(TypeError, match="expected a dict of chinchilla's parameter values"):
        scalelab.allocate("chinchilla", [1.8, 480.0], 1e24)


def test_sampler_settings_are_checked_before_sampling(simulated_runs):
    with pytest.raises(ValueError, match=r"target_accept .* in \(0, 1\)"):  # 1.5 ran silently
        scalelab.bayes.sample(simulated_runs, "chinchilla", target_accept=1.5, chains=1, draws=10, warmup=10)
    with pytest.raises(ValueError, match="draws must be a whole number >= 1, got 10.5"):  # a slice TypeError
        scalelab.bayes.sample(simulated_runs, "chinchilla", draws=10.5, chains=1, warmup=10)


def test_run_table_methods_refuse_arguments_they_cannot_mean(simulated_runs):
    t = scalelab.read(simulated_runs)
    for n in (-1, 2.5, True):  # -1 dropped nothing, 2.5 failed inside pandas
        with pytest.raises(ValueError, match="n counts runs, a whole number >= 0"):
            t.drop_highest_loss(n)
    assert len(t.drop_highest_loss(np.int64(2))) == len(t) - 2
    for bad in ([0, 1, 2], np.ones(len(t) - 1, bool), np.arange(len(t))):  # positions, or a mask one short
        with pytest.raises(ValueError, match=f"select: expected {len(t)} booleans, one per row"):
            t.select(bad)
    keep = np.arange(len(t)) % 2 == 0
    np.testing.assert_array_equal(t.select(keep).column("N"), t.column("N")[keep])
    np.testing.assert_array_equal(t.select(list(keep)).column("N"), t.column("N")[keep])


def test_report_budgets_and_fit_dtype_are_checked_first(simulated_runs, tmp_path):
    out = tmp_path / "rep"
    with pytest.raises(ValueError, match="budgets: compute C must be positive"):  # a report with an empty table
        scalelab.report(simulated_runs, "chinchilla", out, budgets=[-1], n_boot=0, compare_laws=None,
                        influence=False, progress=False)
    assert not out.exists()  # refused before anything was written
    with pytest.raises(ValueError, match="dtype must be float64 .* or float32; got int32"):  # a jacfwd TypeError
        scalelab.fit(simulated_runs, "chinchilla", dtype=np.int32)
    df = pd.DataFrame({"N": [1e8, 2e8, 4e8, 8e8, 1.6e9, 3.2e9], "D": [2e9, 4e9, 8e9, 1.6e10, 3.2e10, 6.4e10]})
    df["loss"] = scalelab.laws.get("chinchilla")(P, N=df["N"].to_numpy(), D=df["D"].to_numpy())
    assert scalelab.fit(df, "chinchilla", dtype=np.float32).params["E"] == pytest.approx(P["E"], rel=1e-2)
