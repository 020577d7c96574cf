"""Every declared law: closed form vs float64 NumPy (tests/_law_refs.py), exact reductions, published values."""

import json
import subprocess
import sys

import numpy as np
import pytest

import scalelab
from scalelab import laws

from _law_refs import REFS

# the log form is called directly here (an internal pure-JAX function): the test asks for float64
pytestmark = pytest.mark.usefixtures("x64")

REQUIRED = ["chinchilla", "kaplan", "wang2024_moe", "chen2025_suboptimal", "hossain2025_sparse",
            "frantar2023_sparsity", "abnar2025_moe", "clark2022_routed", "krajewski2024_granularity",
            "muennighoff2023_repeat", "gadre2024_overtrain", "bnsl", "batch_size_loss", "lr_loss",
            "deepseek_batch_size", "deepseek_lr"]

RNG = np.random.default_rng(0)
K = 40
INPUTS = {
    "N": np.exp(RNG.uniform(np.log(1e7), np.log(1e11), K)),
    "N_active": np.exp(RNG.uniform(np.log(1e7), np.log(1e10), K)),
    "D": np.exp(RNG.uniform(np.log(1e9), np.log(1e12), K)),
    "E": RNG.choice([1.0, 2.0, 8.0, 64.0, 512.0], K),
    "S": RNG.uniform(0.0, 0.95, K),
    "G": RNG.choice([1.0, 2.0, 4.0, 16.0], K),
    "U_D": np.exp(RNG.uniform(np.log(1e8), np.log(1e12), K)),
    "C": np.exp(RNG.uniform(np.log(1e15), np.log(1e24), K)),
    "loss": RNG.uniform(1.8, 4.0, K),
    "density": RNG.uniform(0.0, 1.0, K),
}

# A plausible parameter set per law for the closed-form check (published where available).
PARAMS = {
    "wang2024_moe": {"A": 400.0, "B": 500.0, "sigma": 1.7, "alpha": 0.33, "beta": 0.29, "gamma": 0.08},
    "wang2024_moe_active": {"A": 400.0, "B": 500.0, "sigma": 1.7, "alpha": 0.33, "beta": 0.29, "gamma": 0.08},
    "chen2025_suboptimal_density": {**laws.get("chen2025_suboptimal").reference["chen2025"], "kappa": 0.3},
    "frantar2023_sparsity": {"aS": 86.0, "bS": 2.0, "cS": 29.0, "bN": 0.28, "aD": 1e10, "bD": 0.2, "c": 0.5},
    "gadre2024_overtrain": {"E": 1.8, "a": 300.0, "b": 2000.0, "eta": 0.17},
    "bnsl": {"a": 1.7, "b": 300.0, "c0": 0.05, "c1": 0.1, "d1": 1e19, "f1": 0.5},
    "bnsl2": {"a": 1.7, "b": 300.0, "c0": 0.05, "c1": 0.1, "d1": 1e19, "f1": 0.5, "c2": -0.03, "d2": 1e22, "f2": 2.0},
    "lr_loss": {"lambda_lr": 1e-3, "alpha_lr": -1.5},
    "skaling": {"E": 1.76, "A": 2300.0, "B": 9960.0, "alpha": 0.42, "beta": 0.43, "kappa": 0.77},
    "farseer": {"S": 0.79, "s": -0.09, "q": -0.085, "Q": -0.89, "B": -1.3, "b": -0.25, "E": -0.93, "A": -0.16,
                "a": 0.05},
}


def params_for(law):
    if law.name in PARAMS:
        return PARAMS[law.name]
    return next(iter(law.reference.values()))


def test_every_required_law_is_registered_once():
    names = laws.names()
    for n in REQUIRED:
        assert laws.get(n).name == n
    assert len(names) == len(set(names))
    # every registered law has an independent NumPy reference; the curve laws' (per-step sums over a
    # schedule) are in tests/test_curves.py
    curve = {n for n in names if getattr(laws.get(n), "prepare", None) is not None}
    assert set(names) - curve <= set(REFS)


@pytest.mark.parametrize("name", sorted(REFS))
def test_predict_matches_numpy_closed_form(name):
    law = laws.get(name)
    p = params_for(law)
    x = {k: INPUTS[k] for k in law.inputs}
    got = np.asarray(law(p, **x))
    want = REFS[name](p, **x)
    np.testing.assert_allclose(got, want, rtol=1e-10)  # same float64 formula, different code
    # the stable log form the fitter uses equals log(predict)
    u = law.to_unconstrained({k: np.float64(v) for k, v in p.items()})
    theta = law.flatten(u)
    np.testing.assert_allclose(np.asarray(law.log_predict_theta(theta, x)), np.log(want), rtol=1e-9, atol=1e-12)


def test_hyper_laws_declare_their_target():
    assert laws.get("batch_size_loss").target == "batch_size"
    assert laws.get("deepseek_batch_size").target == "batch_size"
    assert laws.get("lr_loss").target == "lr"
    assert laws.get("deepseek_lr").target == "lr"
    assert laws.get("chinchilla").target == "loss"


# --- reductions that must hold exactly -------------------------------------------------------

CH = laws.get("chinchilla")
N, D = INPUTS["N"], INPUTS["D"]
HOFF = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}


def chin(p, N=N, D=D):
    return np.asarray(CH(p, N=N, D=D))


def test_eq7_at_zero_sparsity_is_chinchilla():
    h = laws.get("hossain2025_sparse")
    for row in h.reference.values():
        got = np.asarray(h(row, N=N, D=D, S=np.zeros_like(N)))
        want = chin({"E": row["e"], "A": row["a"], "B": row["b"], "alpha": row["alpha"], "beta": row["beta"]})
        np.testing.assert_allclose(got, want, rtol=1e-14)


def test_eq7_hoffmann_row_is_hoffmann():
    h = laws.get("hossain2025_sparse")
    got = np.asarray(h(h.reference["hoffmann"], N=N, D=D, S=np.zeros_like(N)))
    np.testing.assert_allclose(got, chin(HOFF), rtol=1e-14)


def test_wang_at_one_expert_is_the_dense_law():
    w = laws.get("wang2024_moe")
    p = PARAMS["wang2024_moe"]
    got = np.asarray(w(p, N=N, D=D, E=np.ones_like(N)))
    want = chin({"E": p["sigma"], "A": p["A"], "B": p["B"], "alpha": p["alpha"], "beta": p["beta"]})
    np.testing.assert_allclose(got, want, rtol=1e-14)
    wa = laws.get("wang2024_moe_active")
    np.testing.assert_allclose(np.asarray(wa(p, N_active=N, D=D, E=np.ones_like(N))), want, rtol=1e-14)


def test_muennighoff_without_repetition_is_chinchilla():
    m = laws.get("muennighoff2023_repeat")
    p = m.reference["muennighoff2023_c4"]
    # U_D = 100 D: one pass over fresh data, and N below the compute-optimal size for U_D (~U_D/20).
    U_D = np.maximum(100.0 * D, 100.0 * N)
    assert np.all(N <= U_D / 20.0 / 4)  # compute-optimal N for U_D is ~U_D/20 under the C4 fit
    got = np.asarray(m(p, N=N, D=D, U_D=U_D))
    want = chin({k: p[k] for k in ("E", "A", "B", "alpha", "beta")})
    np.testing.assert_allclose(got, want, rtol=1e-14)


def test_muennighoff_repetition_is_worth_less_than_fresh_data():
    m = laws.get("muennighoff2023_repeat")
    p = m.reference["muennighoff2023_c4"]
    N0, U = 1e9, 2e10
    D_rep = np.array([1.0, 2.0, 4.0, 16.0, 64.0]) * U
    rep = np.asarray(m(p, N=N0, D=D_rep, U_D=U))
    fresh = chin({k: p[k] for k in ("E", "A", "B", "alpha", "beta")}, N=N0, D=D_rep)
    assert rep[0] == pytest.approx(fresh[0], rel=1e-14)
    assert np.all(rep[1:] > fresh[1:]) and np.all(np.diff(rep) < 0)
    # Closed form of D' at 4 epochs: U + U R* (1 - exp(-3/R*))
    Dp = U + U * 15.39 * (1 - np.exp(-3 / 15.39))
    want = chin({k: p[k] for k in ("E", "A", "B", "alpha", "beta")}, N=N0, D=Dp)
    assert rep[2] == pytest.approx(float(want), rel=1e-12)


def test_chen_with_fixed_factors_is_rescaled_chinchilla():
    c = laws.get("chen2025_suboptimal")
    p = dict(c.reference["chen2025"])
    # k_D = k_N = 0: both factors are exactly 1.5
    p0 = {**p, "k_D": 0.0, "k_N": 0.0}
    got = np.asarray(c(p0, N=N, D=D))
    want = chin({"E": p["E"], "A": 1.5 * p["A"], "B": 1.5 * p["B"], "alpha": p["alpha"], "beta": p["beta"]})
    np.testing.assert_allclose(got, want, rtol=1e-14)
    # at a fixed OTR the published factors are constants R_D, R_N: Chinchilla with A R_N, B R_D
    otr = 20.0
    Ns = np.geomspace(1e8, 1e10, 5)
    rd, rn = 1 + 1 / (1 + np.exp(-0.0081 * otr)), 1 + 1 / (1 + np.exp(-0.00114 * otr))
    got = np.asarray(c(p, N=Ns, D=otr * Ns))
    want = chin({"E": p["E"], "A": rn * p["A"], "B": rd * p["B"], "alpha": p["alpha"], "beta": p["beta"]},
                N=Ns, D=otr * Ns)
    np.testing.assert_allclose(got, want, rtol=1e-14)
    # the factors lie in [1.5, 2) for OTR >= 0 (LAWS.md)
    assert 1.5 <= rn < rd < 2.0


def test_chen_density_zero_is_base_law():
    cd, c = laws.get("chen2025_suboptimal_density"), laws.get("chen2025_suboptimal")
    p = c.reference["chen2025"]
    got = np.asarray(cd({**p, "kappa": 0.7}, N=N, D=D, density=np.zeros_like(N)))
    np.testing.assert_allclose(got, np.asarray(c(p, N=N, D=D)), rtol=1e-14)
    dens = np.asarray(cd({**p, "kappa": 0.7}, N=N, D=D, density=np.full_like(N, 0.6)))
    assert np.all(dens > got)  # denser data: less loss reduction from D


def test_frantar_at_zero_sparsity_is_chinchilla():
    f = laws.get("frantar2023_sparsity")
    p = PARAMS["frantar2023_sparsity"]
    got = np.asarray(f(p, N=N, D=D, S=np.zeros_like(N)))
    want = chin({"E": p["c"], "A": p["aS"] + p["cS"], "B": p["aD"] ** p["bD"], "alpha": p["bN"], "beta": p["bD"]})
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_gadre_is_chinchilla_with_tied_exponents():
    g = laws.get("gadre2024_overtrain")
    p = PARAMS["gadre2024_overtrain"]
    s = 6.0 ** -p["eta"]
    want = chin({"E": p["E"], "A": p["a"] * s, "B": p["b"] * s, "alpha": 2 * p["eta"], "beta": 2 * p["eta"]})
    np.testing.assert_allclose(np.asarray(g(p, N=N, D=D)), want, rtol=1e-12)


def test_bnsl_limits():
    b = laws.get("bnsl")
    p = PARAMS["bnsl"]
    # far below the break: a + b x^-c0 ; far above: slope c0 + c1 in log-log of the reducible part
    lo = np.asarray(b(p, C=np.array([1e10]))) - p["a"]
    assert lo[0] == pytest.approx(p["b"] * 1e10 ** -p["c0"], rel=1e-6)
    hi = np.asarray(b(p, C=np.array([1e28, 1e29]))) - p["a"]
    slope = -np.log(hi[1] / hi[0]) / np.log(10.0)
    assert slope == pytest.approx(p["c0"] + p["c1"], rel=1e-6)
    # zero-break BNSL is a plain saturating power law; n breaks are any number
    from scalelab.laws.bnsl import make_bnsl
    b0 = make_bnsl(0, "C", name="bnsl0_test")
    assert np.asarray(b0({"a": 1.0, "b": 2.0, "c0": 0.1}, C=np.array([1e20])))[0] == pytest.approx(1 + 2 * 1e20 ** -0.1)
    b3 = make_bnsl(3, "N", name="bnsl3_test")
    assert b3.inputs == ("N",) and b3.n_params == 12


def test_clark_effective_experts_saturate():
    from scalelab.laws.moe import clark_effective_experts
    E = np.array([1.0, 2.0, 64.0, 1e6])
    Eh = np.asarray(clark_effective_experts(E, 1.847, 314.478))
    assert Eh[0] == pytest.approx(1.847, rel=1e-12)  # Ê(1) = E_start
    assert np.all(np.diff(Eh) > 0) and Eh[-1] < 314.478 and Eh[-1] == pytest.approx(314.478, rel=1e-3)


# --- published values ------------------------------------------------------------------------


def test_eq7_abnar_row_tracks_abnars_law():
    h, a = laws.get("hossain2025_sparse"), laws.get("abnar2025_moe")
    ph, pa = h.reference["abnar"], a.reference["abnar2025"]
    # LAWS.md's check: N_total 1e9, D 2e10, S 0.5 gives 2.66 (Eq. 7) vs 2.59 (Abnar).
    lh = float(h(ph, N=1e9 * 0.5, D=2e10, S=0.5))
    la = float(a(pa, N=1e9, D=2e10, S=0.5))
    assert lh == pytest.approx(2.66, abs=0.005) and la == pytest.approx(2.59, abs=0.005)
    # and within 0.12 over the region LAWS.md probed (N_total 1e9-1e10, D 2e10-2e11, S <= 0.75)
    Nt, Dg, S = np.meshgrid([1e9, 1e10], [2e10, 2e11], [0.0, 0.5, 0.75], indexing="ij")
    diff = np.asarray(h(ph, N=Nt * (1 - S), D=Dg, S=S)) - np.asarray(a(pa, N=Nt, D=Dg, S=S))
    assert np.max(np.abs(diff)) < 0.12


def test_deepseek_published_hyperparameters():
    # DeepSeek LLM (arXiv 2401.02954) Eq. 1 at C = 1e20 and 1e24 FLOPs.
    b, l = laws.get("deepseek_batch_size"), laws.get("deepseek_lr")
    for C in (1e20, 1e24):
        assert float(b(b.reference["deepseek2024"], C=C)) == pytest.approx(0.2920 * C ** 0.3271, rel=1e-12)
        assert float(l(l.reference["deepseek2024"], C=C)) == pytest.approx(0.3118 * C ** -0.1250, rel=1e-12)
    # 1e24 FLOPs: ~2.3e7 tokens per batch (about 5.6k sequences of 4k) and lr ~ 3.1e-4
    assert float(b(b.reference["deepseek2024"], C=1e24)) == pytest.approx(2.2e7, rel=0.1)
    assert float(l(l.reference["deepseek2024"], C=1e24)) == pytest.approx(3.1e-4, rel=0.05)


def test_kaplan_critical_batch_reference():
    b = laws.get("batch_size_loss")
    # Kaplan Eq. 5.4: B_crit(L) = B_star / L^(1/alpha_B); at L = 3 nats: 2e8 / 3^(1/0.21) ~ 1.1e6 tokens.
    got = float(b(b.reference["kaplan2020"], loss=3.0))
    assert got == pytest.approx(2e8 / 3.0 ** (1 / 0.21), rel=1e-12)
    assert 1e6 < got < 1.3e6


def test_cli_laws_json_lists_everything():
    out = subprocess.run([sys.executable, "-m", "scalelab.cli", "laws", "--json"], capture_output=True,
                         text=True, check=True)
    listed = {d["name"]: d for d in json.loads(out.stdout)["laws"]}
    for n in REQUIRED:
        assert n in listed and listed[n]["inputs"] and listed[n]["params"] and listed[n]["citation"]
    assert listed["deepseek_lr"]["target"] == "lr"
