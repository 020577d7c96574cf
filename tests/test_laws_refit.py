"""Refits on real data against the papers' published coefficients (numbers reported in benchmarks/RESULTS.md).

* clark2022_routed on Clark et al.'s own runs (data/clark2022_routing_moe): final step (249k), validation
  loss, Dense + S-BASE runs in the standard setting (k = 1, routing frequency 0.5, no extra FLOPs), 61 runs.
* muennighoff2023_repeat on the data-constrained runs of SLDBench (data/sldbench_snapshot, 182 runs).
  The snapshot's columns are swapped relative to their names: ``unique_tokens`` holds the total training
  tokens D and ``tokens`` the unique tokens U_D (the run ids encode params/total/unique, e.g. 2b8-32b-4b is a
  2.8B model on 32B tokens of 4B unique; and unique_tokens >= tokens in every row).
"""

import numpy as np
import pandas as pd
import pytest

import scalelab
from scalelab import laws

from conftest import _need


@pytest.fixture(scope="module")
def clark_runs():
    c = pd.read_csv(_need("clark2022_routing_moe", "curves.csv"))
    last = c.loc[c.groupby("hyper_id").step.idxmax()]
    s = last[last.router_type.isin(["S-Base", "Dense"]) & (last.k == 1) & (last.flop_increase == 1)
             & (last.routing_frequency == 0.5)]
    return pd.DataFrame({"N": s.dense_parameter_count, "E": s.num_experts.astype(float), "loss": s.loss_validation})


@pytest.fixture(scope="module")
def muennighoff_runs():
    d = pd.read_csv(_need("sldbench_snapshot", "data_constrained_scaling_law__data.csv"))
    assert (d.unique_tokens >= d.tokens).all()  # the swap described above
    return pd.DataFrame({"N": d.params, "D": d.unique_tokens, "U_D": d.tokens, "loss": d.loss})


def _are(law, p, df):
    pred = np.asarray(law(p, **{k: df[k].to_numpy() for k in law.inputs}))
    return np.abs(pred / df["loss"].to_numpy() - 1)


def test_clark_published_coefficients_predict_clarks_runs(clark_runs):
    law = laws.get("clark2022_routed")
    re = _are(law, law.reference["clark2022_sbase"], clark_runs)
    assert len(clark_runs) == 61
    # base-10 logs (our convention) reproduce the runs to 0.7% mean, 2% max; natural logs would be off by x2+
    assert re.mean() < 0.008 and re.max() < 0.021


# Regression bounds: the gaps between our refit and Clark's Table 3 were measured on our own output
# (RESULTS.md: a -0.087, b -0.136, c 0.0121, d 1.146, E_start 2.66, E_max 274 against Table 3's a -0.082,
# b -0.108, c 0.009, d 1.104, E_start 1.847, E_max 314.5) and the bounds set just outside them. They guard
# against a change in our fit, not against the paper: the paper reports no uncertainty to test against.
CLARK_FREE_REGRESSION_ABS = {"a": 0.01, "b": 0.035, "c": 0.004, "d": 0.05}
CLARK_FIXED_SATURATION_REGRESSION_ABS = {"a": 0.003, "b": 0.012, "c": 0.0015, "d": 0.01}


def test_clark_refit_regression_bounds_and_agreement_with_table3(clark_runs):
    law = laws.get("clark2022_routed")
    ref = law.reference["clark2022_sbase"]
    N, E = clark_runs.N.to_numpy(), clark_runs.E.to_numpy()
    res = scalelab.fit(clark_runs, law, starts=32, seed=0)
    p = res.params
    f_ref = np.sum(_huber(np.log(np.asarray(law(ref, N=N, E=E))) - np.log(clark_runs.loss.to_numpy())))
    assert res.objective < f_ref
    # Agreement with the paper where it holds: the parameters trade off (b against E_start, E_max), but
    # the refit and Table 3 predict the same losses on Clark's runs, to within the published fit's own
    # error on them (0.7% mean, 2% max, test above).
    rel = np.abs(np.asarray(law(p, N=N, E=E)) / np.asarray(law(ref, N=N, E=E)) - 1)
    assert rel.mean() < 0.008 and rel.max() < 0.021, (rel.mean(), rel.max())
    for k, tol in CLARK_FREE_REGRESSION_ABS.items():
        assert p[k] == pytest.approx(ref[k], abs=tol), k
    assert 1.5 < p["E_start"] < 3.5 and 150 < p["E_max"] < 500  # regression bounds too (2.66, 274 measured)
    # with Clark's saturation (E_start, E_max) held at Table 3, a, b, c, d land closer still
    fx = scalelab.fit(clark_runs, law, starts=32, fixed={"E_start": ref["E_start"], "E_max": ref["E_max"]})
    for k, tol in CLARK_FIXED_SATURATION_REGRESSION_ABS.items():
        assert fx.params[k] == pytest.approx(ref[k], abs=tol), k


def test_muennighoff_refit_regression_bounds_against_c4(muennighoff_runs):
    # The paper's C4 coefficients do not describe these runs (first check), so the refit cannot agree
    # with them in predictions; the bounds on the refit below are regression bounds set around our own
    # measured output (ARE 3.5%, R_D* ~25, E within 0.15 of the paper's), not agreement with the paper.
    law = laws.get("muennighoff2023_repeat")
    ref = law.reference["muennighoff2023_c4"]
    re_ref = _are(law, ref, muennighoff_runs)
    # the published C4 fit under-predicts these losses: ARE ~8.3%, 78% of the rows predicted too low
    assert 0.07 < re_ref.mean() < 0.10
    res = scalelab.fit(muennighoff_runs, law, starts=32, seed=0)
    re_fit = _are(law, res.params, muennighoff_runs)
    assert re_fit.mean() < 0.04  # regression bound: measured 3.5%
    # the refit keeps a finite half-life of repeated data (R_D* ~ 25 repetitions vs the paper's 15.4)
    assert 10 < res.params["R_D_star"] < 60  # regression bound
    assert res.params["E"] == pytest.approx(ref["E"], abs=0.15)  # regression bound
    # Agreement with the paper where it holds, its headline: up to 4 epochs, repeated tokens are worth
    # almost as much as unique ones. Eq. 5's effective data after 4 epochs, D'/D = (1 + R_D* (1 -
    # exp(-3 / R_D*))) / 4, is 0.93 with the paper's C4 fit (R_D* 15.4); the refit must give >= 0.9 too.
    r_star = res.params["R_D_star"]
    assert (1 + r_star * -np.expm1(-3.0 / r_star)) / 4 >= 0.9, r_star


def _huber(r, delta=1e-3):
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r ** 2, delta * (a - 0.5 * delta))
