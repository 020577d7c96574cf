"""Each loss law recovers known parameters from simulated runs (scalelab.simulate + scalelab.fit).

Assertions, per law: (1) the fit's summed Huber objective is no worse than that of the true parameters
(computed in float64 NumPy from tests/_law_refs.py) - the fitter found the optimum; (2) the identifiable
parameters come back within a tolerance set by the noise (sigma = 0.3% log-loss noise); (3) the fitted law
predicts held-out, larger-scale points within 1%. Few random starts keep each test to seconds.
"""

import numpy as np
import pytest

import scalelab
from scalelab import laws

from _law_refs import REFS, huber

SIGMA = 0.003


def _grid(**axes):
    mesh = np.meshgrid(*axes.values(), indexing="ij")
    return {k: m.ravel() for k, m in zip(axes, mesh)}


def _nd(n_budgets=7, per=7, lo=1e18, hi=1e21):
    d = scalelab.isoflop_design(budgets=np.geomspace(lo, hi, n_budgets), n_per_budget=per,
                                tokens_per_param=(1.0, 500.0))
    return {"N": d["N"], "D": d["D"]}


def _tile(base, **extra):
    """Every (N, D) pair of ``base`` combined with every value of each extra column."""
    n = len(base["N"])
    keys = list(extra)
    mesh = np.meshgrid(np.arange(n), *extra.values(), indexing="ij")
    out = {k: v[mesh[0].ravel()] for k, v in base.items()}
    for k, m in zip(keys, mesh[1:]):
        out[k] = m.ravel()
    return out


CASES = {
    "wang2024_moe": (
        {"A": 400.0, "B": 900.0, "sigma": 1.7, "alpha": 0.33, "beta": 0.31, "gamma": 0.08},
        lambda: _tile(_nd(6, 6), E=np.array([1.0, 4.0, 16.0, 64.0])),
        ("alpha", "beta", "gamma", "sigma")),
    "wang2024_moe_active": (
        {"A": 400.0, "B": 900.0, "sigma": 1.7, "alpha": 0.33, "beta": 0.31, "gamma": 0.08},
        lambda: {("N_active" if k == "N" else k): v
                 for k, v in _tile(_nd(6, 6), E=np.array([1.0, 4.0, 16.0, 64.0])).items()},
        ("alpha", "beta", "gamma", "sigma")),
    "chen2025_suboptimal": (
        dict(laws.get("chen2025_suboptimal").reference["chen2025"]),
        lambda: _nd(8, 8),
        ("alpha", "beta", "E", "k_D")),
    "hossain2025_sparse": (
        {"e": 1.2, "a": 300.0, "b": 900.0, "c": 20.0, "alpha": 0.32, "beta": 0.30, "gamma": 0.3},
        lambda: _tile(_nd(5, 6), S=np.array([0.0, 0.5, 0.75, 0.9])),
        ("alpha", "beta", "gamma", "e")),
    "frantar2023_sparsity": (
        {"aS": 200.0, "bS": 1.5, "cS": 60.0, "bN": 0.3, "aD": 1e10, "bD": 0.3, "c": 1.6},
        lambda: _tile(_nd(5, 6), S=np.array([0.0, 0.5, 0.75, 0.875])),
        ("bS", "bN", "bD", "c")),
    "abnar2025_moe": (
        dict(laws.get("abnar2025_moe").reference["abnar2025"]),
        lambda: _tile(_nd(5, 6, 1e18, 1e22), S=np.array([0.0, 0.5, 0.75, 0.875, 0.95])),
        ("beta",)),
    "clark2022_routed": (
        dict(laws.get("clark2022_routed").reference["clark2022_sbase"]),
        lambda: _grid(N=np.geomspace(1.5e7, 1.3e9, 8), E=np.array([1.0, 2, 4, 8, 16, 32, 64, 128, 256, 512])),
        ("a", "b", "d")),
    "krajewski2024_granularity": (
        dict(laws.get("krajewski2024_granularity").reference["krajewski2024"]),
        lambda: _tile(_nd(6, 6, 1e18, 1e22), G=np.array([1.0, 2.0, 4.0, 8.0, 16.0])),
        ("alpha", "beta", "gamma")),
    "muennighoff2023_repeat": (
        dict(laws.get("muennighoff2023_repeat").reference["muennighoff2023_c4"]),
        lambda: _tile(_nd(5, 6), U_D=np.array([1e8, 1e9, 1e10, 1e13])),
        ("alpha", "beta", "E", "R_D_star")),
    "gadre2024_overtrain": (
        {"E": 1.8, "a": 300.0, "b": 2000.0, "eta": 0.17},
        lambda: _nd(7, 7),
        ("E", "a", "b", "eta")),
    "bnsl": (
        {"a": 1.7, "b": 30.0, "c0": 0.05, "c1": 0.1, "d1": 1e19, "f1": 0.5},  # losses 2.1-7.0 nats (<= 20)
        lambda: {"C": np.geomspace(1e15, 1e23, 60)},
        ("a", "c0", "c1")),
}

TOL = {"k_D": 0.3, "R_D_star": 0.3, "gamma": 0.15, "e": 0.15, "c1": 0.15}
EXTRA = {"N": 4.0, "N_active": 4.0, "D": 4.0, "C": 8.0}  # held-out points: each scale input times this


@pytest.mark.parametrize("name", sorted(CASES))
def test_recovers_simulated_parameters(name):
    law = laws.get(name)
    truth, design, identifiable = CASES[name]
    x = design()
    runs = scalelab.simulate(law, truth, x, sigma=SIGMA, seed=3)
    res = scalelab.fit(runs, law, starts=48, seed=0, keep=48, max_iter=300)  # keep = starts: one compiled stage
    xin = {k: runs[k].to_numpy() for k in law.inputs}
    y = runs["loss"].to_numpy()
    f_true = huber(np.log(REFS[name](truth, **xin)) - np.log(y)).sum()
    f_fit = huber(np.log(REFS[name](res.params, **xin)) - np.log(y)).sum()
    assert f_fit == pytest.approx(res.objective, rel=1e-6)  # our objective is the NumPy one
    assert f_fit <= f_true * (1 + 1e-6)
    for k in identifiable:
        assert res.params[k] == pytest.approx(truth[k], rel=TOL.get(k, 0.08)), k
    # extrapolate: every scale input x4 (compute x8) beyond the design's largest runs
    big = {k: (v * EXTRA[k] if k in EXTRA else v) for k, v in xin.items()}
    pred, want = REFS[name](res.params, **big), REFS[name](truth, **big)
    assert np.max(np.abs(pred / want - 1)) < 0.01  # 0.3% noise, x4 beyond the data
