"""The Python API as the session-29 trial used it (/work/ana/s29/api_report.md, findings 3, 4, 5 and 8): `allocate`
of the same shape and keys for every law, `allocate(fit, C)`, `simulate` reading its inputs
as `predict` does, and `scalelab.plot` given a point fit. References: Hoffmann's closed form written out here, SciPy's
bounded scalar minimiser on each law under C = 6ND, and the law's formula by hand. Then the session-30 trial: a saved
fit read back in Python (`FitResult.from_json`), checked by the round trip and the same closed forms.
"""

import json

import jax
import numpy as np
import pytest
from scipy.optimize import minimize_scalar

import scalelab
from scalelab import laws

# what allocate documents for every law, closed form or numeric (`scalelab.optimal.frontier.ALLOCATION_KEYS`)
ALLOCATION_KEYS = ("C", "N_opt", "D_opt", "tokens_per_param", "loss")
TRUTH = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}
# one point per law family the trial found different: the closed form (chinchilla) and the numeric frontier
PARAMS = {
    "chinchilla": TRUTH,
    "kaplan": laws.get("kaplan").reference["kaplan2020"],
    "chen2025_suboptimal": laws.get("chen2025_suboptimal").reference["chen2025"],
    "gadre2024_overtrain": {"E": 1.8, "a": 300.0, "b": 2000.0, "eta": 0.17},
    "skaling": {"E": 1.76, "A": 2300.0, "B": 9960.0, "alpha": 0.42, "beta": 0.43, "kappa": 0.77},
    "farseer": {"S": 0.79, "s": -0.09, "q": -0.085, "Q": -0.89, "B": -1.3, "b": -0.25, "E": -0.93, "A": -0.16,
                "a": 0.05},
}


def hoffmann_n_opt(p, C):
    """Hoffmann et al. 2022 Eq. 4: N_opt = G (C/6)^(beta/(alpha+beta)), G = (alpha A / (beta B))^(1/(alpha+beta))."""
    G = (p["alpha"] * p["A"] / (p["beta"] * p["B"])) ** (1 / (p["alpha"] + p["beta"]))
    return G * (np.asarray(C) / 6) ** (p["beta"] / (p["alpha"] + p["beta"]))


def chinchilla_loss(p, N, D):
    return p["E"] + p["A"] * np.asarray(N) ** -p["alpha"] + p["B"] * np.asarray(D) ** -p["beta"]


def scipy_n_opt(name, p, C):
    """N minimising log L(N, C / 6N), by SciPy's bounded Brent search in float64 (independent of scalelab's grid and
    Newton steps)."""
    law = laws.get(name)

    def f(u):
        N = np.exp(u)
        with jax.enable_x64(True):
            return float(np.log(law.predict(p, {"N": np.array(N), "D": np.array(C / (6 * N))})))

    return float(np.exp(minimize_scalar(f, bounds=(np.log(1e5), np.log(1e15)), method="bounded",
                                        options={"xatol": 1e-10}).x))


@pytest.fixture(scope="module")
def runs():
    design = scalelab.isoflop_design(budgets=np.geomspace(1e18, 1e21, 5), n_per_budget=8)
    return scalelab.simulate("chinchilla", TRUTH, design, sigma=0.01, seed=3)


@pytest.fixture(scope="module")
def res(runs):
    return scalelab.fit(runs, "chinchilla")


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_allocate_has_the_shape_of_C_and_the_same_keys_for_every_law(name):
    # finding 4: a scalar C gave 0-d arrays for chinchilla but shape (1,) and two more keys for the numeric laws
    p = PARAMS[name]
    scalar = scalelab.allocate(name, p, 1e22)
    assert tuple(scalar) == ALLOCATION_KEYS
    assert all(np.shape(v) == () for v in scalar.values())
    # the reference: SciPy's minimiser (1e-6 relative: Brent's xatol 1e-10 in log N, scalelab's Newton to ~1e-12)
    assert float(scalar["N_opt"]) == pytest.approx(scipy_n_opt(name, p, 1e22), rel=1e-6)
    assert float(scalar["D_opt"]) == pytest.approx(1e22 / (6 * float(scalar["N_opt"])), rel=1e-12)
    grid = np.array([[1e20, 1e21], [1e22, 1e23]])
    out = scalelab.allocate(name, p, grid)
    assert tuple(out) == ALLOCATION_KEYS
    assert all(np.shape(v) == (2, 2) for v in out.values())
    np.testing.assert_allclose(out["C"], grid, rtol=0)
    assert out["N_opt"][1, 0] == pytest.approx(float(scalar["N_opt"]), rel=1e-9)  # the same budget, anywhere
    one = scalelab.allocate(name, p, [1e22])
    assert all(np.shape(v) == (1,) for v in one.values())


def test_numeric_and_closed_form_allocations_agree_on_chinchilla():
    # frontier keeps the elasticities (its documented extra keys) and, as allocate, the shape of C
    C = np.array([1e20, 1e23])
    num = scalelab.frontier("chinchilla", TRUTH, C)
    assert {"dlogL_dlogN", "dlogL_dlogD"} <= set(num) and np.shape(num["N_opt"]) == (2,)
    assert np.shape(scalelab.frontier("chinchilla", TRUTH, 1e22)["N_opt"]) == ()
    np.testing.assert_allclose(num["N_opt"], hoffmann_n_opt(TRUTH, C), rtol=1e-6)  # Newton in float64: ~1e-12


def test_allocate_takes_a_fit_alone(res):
    # finding 5: allocate(res, C) was "missing 1 required positional argument: 'C'"
    C = np.array([1e21, 1e24])
    ref = hoffmann_n_opt(res.params, C)
    for out in (scalelab.allocate(res, C), scalelab.allocate(res, res.params, C),
                scalelab.allocate("chinchilla", res, C)):
        assert tuple(out) == ALLOCATION_KEYS
        np.testing.assert_allclose(out["N_opt"], ref, rtol=1e-12)  # the same closed form, rounding only
    assert np.shape(scalelab.allocate(res, 1e24)["N_opt"]) == ()
    with pytest.raises(TypeError, match="with a FitResult, C comes second"):
        scalelab.allocate(res, 1e24, {"E": 8})
    with pytest.raises(TypeError, match="no compute budget C given"):
        scalelab.allocate("chinchilla", TRUTH)
    with pytest.raises(ValueError, match="a fit of 'chinchilla', not of 'kaplan'"):
        scalelab.allocate("kaplan", res, 1e24)


def test_simulate_takes_a_fit(res):
    # finding 8: simulate("chinchilla", res) raised "argument of type 'FitResult' is not iterable"
    x = {"N": [1e8, 1e9], "D": [2e9, 2e10]}
    ref = chinchilla_loss(res.params, x["N"], x["D"])
    for table in (scalelab.simulate("chinchilla", res, x, sigma=0.0), scalelab.simulate(res, inputs=x, sigma=0.0)):
        np.testing.assert_allclose(table["loss"], ref, rtol=1e-13)
    with pytest.raises(ValueError, match="give inputs by keyword"):
        scalelab.simulate(res, x)


def test_simulate_reads_its_inputs_as_predict_does():
    # finding 8: {N, C} and {N, tokens_per_param} were a bare KeyError 'D', N=7 was simulated at 246 nats
    N = np.array([1e8, 1e9])
    from_c = scalelab.simulate("chinchilla", TRUTH, {"N": N, "C": 1e20}, sigma=0.0)
    np.testing.assert_allclose(from_c["D"], 1e20 / (6 * N), rtol=1e-15)
    np.testing.assert_allclose(from_c["loss"], chinchilla_loss(TRUTH, N, 1e20 / (6 * N)), rtol=1e-13)
    from_r = scalelab.simulate("chinchilla", TRUTH, {"N": N, "tokens_per_param": 20}, sigma=0.0)
    np.testing.assert_allclose(from_r["D"], 20 * N, rtol=1e-15)
    np.testing.assert_allclose(from_r["C"], 6 * N * 20 * N, rtol=1e-15)
    np.testing.assert_allclose(from_r["loss"], chinchilla_loss(TRUTH, N, 20 * N), rtol=1e-13)
    kept = scalelab.simulate("chinchilla", TRUTH, scalelab.isoflop_design(), sigma=0.0)  # C beside N, D: kept
    np.testing.assert_allclose(kept["C"], 6 * kept["N"] * kept["D"], rtol=1e-12)
    with pytest.raises(ValueError, match=r"check the units \(7e9 for 7B, not 7\)"):
        scalelab.simulate("chinchilla", TRUTH, {"N": [7.0], "D": [1e9]})
    with pytest.raises(ValueError, match=r"needs inputs \['D'\] \(or D from C and N"):
        scalelab.simulate("chinchilla", TRUTH, {"N": [1e9], "d": [1e10]})


def test_simulate_says_what_a_law_beyond_n_and_d_needs():
    # finding 8: a curve law with the default design raised a bare KeyError 'run_id'
    law = laws.get("multipower")
    with pytest.raises(ValueError, match=r"reads inputs \['run_id', 'step', 'lr'\]; the default design gives only"):
        scalelab.simulate(law, law.reference["luo2025_25M"])
    with pytest.raises(ValueError, match=r"needs inputs \['lr'\] \(one entry per checkpoint\)"):
        scalelab.simulate(law, law.reference["luo2025_25M"], {"run_id": [0], "step": [10]})


def test_plot_draws_a_point_fit_without_bands(runs, res):
    # finding 3: fit_bands(runs, FitResult) failed with "does not read ['ci']", frontier_bands with an AttributeError
    fig = scalelab.plot.fit_bands(runs, res)
    lines = [ln for ln in fig.axes[0].get_lines() if ln.get_label().startswith("N = ")]
    assert lines and not fig.axes[0].collections[1:]  # the runs' scatter only: no band
    sizes = 10.0 ** np.unique(np.round(np.log10(runs["N"]), 1))  # the sizes fit_bands draws (log10 N to 0.1)
    for ln in lines:
        cs, loss = ln.get_data()
        n = sizes[np.argmin(np.abs(np.log(sizes / float(ln.get_label()[4:]))))]  # the label has 2 digits
        np.testing.assert_allclose(loss, chinchilla_loss(res.params, n, cs / (6 * n)), rtol=1e-12)
    C = np.geomspace(1e20, 1e24, 5)
    fig = scalelab.plot.frontier_bands(res, C)
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_ydata(), hoffmann_n_opt(res.params, C), rtol=1e-12)
    for call in (lambda: scalelab.plot.fit_bands(runs, TRUTH), lambda: scalelab.plot.frontier_bands(TRUTH)):
        with pytest.raises(TypeError, match="expected a Posterior .* or a FitResult"):
            call()


def kaplan_loss(p, N, D):
    """Kaplan et al. 2020 Eq. 1.5 by hand: ((Nc / N)^(aN / aD) + Dc / D)^aD."""
    return ((p["Nc"] / np.asarray(N, float)) ** (p["aN"] / p["aD"]) + p["Dc"] / np.asarray(D, float)) ** p["aD"]


def reads_back(fit, formula, tmp_path, C):
    """``fit`` read back from its object and from its file, as `scalelab fit --json > fit.json` writes it: equal, the
    same Law, parameters, predictions (exact: Python floats round-trip through JSON text) and allocation at ``C``."""
    N, D = np.array([1e8, 3e9, 7e10]), np.array([2e9, 6e10, 1.4e12])
    path = tmp_path / f"{fit.law.name}.json"
    path.write_text(json.dumps(fit.to_json()))
    ref = scalelab.allocate(fit, C)
    for back in (scalelab.FitResult.from_json(fit.to_json()), scalelab.FitResult.from_json(path),
                 scalelab.fit.FitResult.from_json(str(path))):
        assert back == fit and back.law is fit.law and back.params == fit.params and back.fixed == fit.fixed
        np.testing.assert_array_equal(back.predict(N=N, D=D), fit.predict(N=N, D=D))
        np.testing.assert_allclose(back.predict(N=N, D=D), formula(fit.params, N, D), rtol=1e-13)  # rounding only
        out = scalelab.allocate(back, C)
        assert tuple(out) == ALLOCATION_KEYS and all(np.array_equal(out[k], ref[k]) for k in ALLOCATION_KEYS)
    return ref


def test_a_saved_fit_reads_back_as_the_fit(runs, res, tmp_path):
    """Session-30 trial: ``fit.to_json()`` had no way back; the CLI alone read a saved fit (``--from``). The object,
    or its file, rebuilds the result holding its Law. References: the JSON round trip, the law's formula by hand in
    float64 NumPy, and Hoffmann's closed form of the allocation."""
    C = np.array([1e21, 1e24])
    held = scalelab.fit(runs, "chinchilla", fixed={"alpha": 0.35})
    assert held.fixed == {"alpha": 0.35} and held.params["alpha"] == 0.35
    for fit in (res, held):
        out = reads_back(fit, chinchilla_loss, tmp_path, C)
        np.testing.assert_allclose(out["N_opt"], hoffmann_n_opt(fit.params, C), rtol=1e-12)  # one closed form


def test_a_saved_fit_of_a_law_with_a_held_parameter_reads_back(runs, tmp_path):
    """As above for Kaplan's law (no closed-form allocation: the numeric frontier) with aD held; reference for the
    allocation: SciPy's bounded minimiser (1e-6 relative, as above)."""
    p = PARAMS["kaplan"]
    table = scalelab.simulate("kaplan", p, runs[["N", "D"]], sigma=0.01, seed=4)
    held = scalelab.fit(table, "kaplan", fixed={"aD": p["aD"]})
    assert held.fixed == {"aD": p["aD"]} and held.params["aD"] == p["aD"]
    out = reads_back(held, kaplan_loss, tmp_path, np.array([1e22]))
    assert float(out["N_opt"][0]) == pytest.approx(scipy_n_opt("kaplan", held.params, 1e22), rel=1e-6)


def test_a_saved_fit_that_is_not_one_is_refused_by_name(res, tmp_path):
    """What from_json refuses names the file and the cause; a file saved before the fields it now writes still reads
    (the unconstrained values from the parameters: log of the positive ones, to rounding)."""
    saved = res.to_json()
    old = {k: v for k, v in saved.items() if k not in ("unconstrained", "method", "n_starts", "best_start", "n_iter",
                                                          "notes")}
    back = scalelab.FitResult.from_json(old)
    assert back.params == res.params and back.n_starts == 0
    np.testing.assert_allclose([back.unconstrained[k] for k in res.unconstrained], list(res.unconstrained.values()),
                               rtol=1e-12, atol=1e-15)
    assert back.unconstrained["log_E"] == pytest.approx(np.log(res.params["E"]), rel=1e-15)
    with pytest.raises(ValueError, match=r"not a saved fit: keys \['objective', 'objective_kind'"):
        scalelab.FitResult.from_json({"law": "chinchilla", "params": TRUTH})
    with pytest.raises(ValueError, match="unknown law 'chinchila'; did you mean 'chinchilla'"):
        scalelab.FitResult.from_json({**saved, "law": "chinchila"})
    with pytest.raises(ValueError, match="holds a fit of law 'chinchilla', not 'kaplan'"):
        scalelab.FitResult.from_json(saved, law="kaplan")
    with pytest.raises(ValueError, match=r"\['gamma'\] are not parameters of law 'chinchilla'"):
        scalelab.FitResult.from_json({**saved, "params": {**saved["params"], "gamma": 1.0}})
    with pytest.raises(ValueError, match="a posterior's summary"):
        scalelab.FitResult.from_json({**saved, "params": {k: {"median": v} for k, v in saved["params"].items()}})
    with pytest.raises(ValueError, match=r"parameters \['beta'\] missing"):
        scalelab.FitResult.from_json({**saved, "params": {k: v for k, v in saved["params"].items() if k != "beta"}})
    bad = tmp_path / "runs.csv"
    bad.write_text("N,D,loss\n1e9,2e10,3\n")
    with pytest.raises(ValueError, match=f"{bad}: not the JSON of `scalelab fit --json`"):
        scalelab.FitResult.from_json(bad)
    with pytest.raises(FileNotFoundError, match="missing.json: no such file"):
        scalelab.FitResult.from_json(tmp_path / "missing.json")


def test_a_posteriors_allocation_has_the_shape_of_C(runs, res):
    """Session-30 trial: ``Posterior.allocate(1e22)`` gave shape (1,) where ``scalelab.allocate(fit, 1e22)`` gives 0-d.
    Every interval bound now has C's shape, and a budget's values do not depend on the others asked with it. Reference:
    Hoffmann's closed form on each posterior draw in float64 NumPy, and NumPy's quantiles of it."""
    from scalelab import bayes

    post = bayes.laplace(runs, "chinchilla", init=res, draws=400)
    C = np.array([1e21, 1e22, 1e24])
    one = [post.allocate(c, ci=0.9) for c in C]
    three = post.allocate(C, ci=0.9)
    stats = ("mean", "median", "lo", "hi")
    assert np.shape(one[0]["C"]) == () and np.shape(three["C"]) == (3,)
    for k in ALLOCATION_KEYS[1:]:
        assert all(np.shape(o[k][s]) == () for o in one for s in stats)
        assert all(np.shape(three[k][s]) == (3,) for s in stats)
        for s in stats:
            # the same draws; the mean sums them in another order over [S, 3] than over [S]: rounding only
            np.testing.assert_allclose(three[k][s], [float(o[k][s]) for o in one], rtol=1e-14)
    grid = post.allocate(C.reshape(3, 1), ci=0.9)  # any shape, as scalelab.allocate
    assert np.shape(grid["C"]) == (3, 1) and all(np.shape(grid["N_opt"][s]) == (3, 1) for s in stats)
    d = post.draws()
    n_opt = hoffmann_n_opt({k: d[k][:, None] for k in ("A", "B", "alpha", "beta")}, C)  # [S, 3]
    lo, med, hi = np.quantile(n_opt, [0.05, 0.5, 0.95], axis=0)
    for got, ref in ((three["N_opt"]["median"], med), (three["N_opt"]["lo"], lo), (three["N_opt"]["hi"], hi)):
        np.testing.assert_allclose(got, ref, rtol=1e-10)  # the same closed form: rounding only
    assert np.shape(scalelab.allocate(res, 1e22)["N_opt"]) == np.shape(one[1]["N_opt"]["median"]) == ()
    # recommend too (it gave shape (1,) for a scalar C): Kaplan's B_crit(L) = lambda_B L^-alpha_B on each draw's
    # optimal loss, in NumPy
    ref = scalelab.laws.get("batch_size_loss").reference["kaplan2020"]
    rec_one = post.recommend("batch_size_loss", ref, 1e22, ci=0.9)
    rec = post.recommend("batch_size_loss", ref, C, ci=0.9)
    assert all(np.shape(rec_one[s]) == () for s in stats) and all(np.shape(rec[s]) == (3,) for s in stats)
    E, A, B, a, b = (d[k][:, None] for k in ("E", "A", "B", "alpha", "beta"))
    loss = E + A * n_opt**-a + B * (C / (6 * n_opt)) ** -b
    np.testing.assert_allclose(rec["median"], np.median(ref["lambda_B"] * loss ** -ref["alpha_B"], axis=0),
                               rtol=1e-9)
    assert float(rec_one["median"]) == pytest.approx(float(rec["median"][1]), rel=1e-12)
