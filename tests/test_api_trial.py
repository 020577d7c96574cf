"""The Python API as the session-29 trial used it (/work/ana/s29/api_report.md, findings 3, 4, 5 and 8): `allocate`
of the same shape and keys for every law, `allocate(fit, C)`, `simulate` reading its inputs
as `predict` does, and `scalelab.plot` given a point fit. References: Hoffmann's closed form written out here, SciPy's
bounded scalar minimiser on each law under C = 6ND, and the law's formula by hand.
"""

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
