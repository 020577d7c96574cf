"""Curve forecasts (`scalelab.forecast` on a curve table): unseen schedules, one prediction per target row.

References: curves simulated from the multi-power law with known parameters (the 100M model's
published ones), evaluated per step in float64 NumPy by the authors' formula; the CLI's JSON
contract of the forecast issue.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json

import numpy as np
import pandas as pd
import pytest

import scalelab
from _law_refs import per_step_multipower
from scalelab.cli import main as cli_main
from scalelab.laws import schedule

fcc = importlib.import_module("scalelab.forecast.curves")
fcd = importlib.import_module("scalelab.forecast.curve_data")
TRUTH = scalelab.laws.get("multipower").reference["luo2025_100M"]
STEPS, PEAK, WARM = 3000, 3e-4, 150


def curve(name, lrs, every=200, sigma=0.0, rng=None):
    """Rows from the end of the warm-up (as the authors' curves; the convention restores the warm-up), every
    ``every`` steps (200: about 60 training rows, enough for the assertions, and a cheaper fit than 100)."""
    steps = np.unique(np.r_[WARM, np.arange(every, len(lrs), every), len(lrs) - 1])
    steps = steps[steps >= WARM]
    df = pd.DataFrame({"run_id": name, "step": steps, "lr": lrs[steps]})
    loss = per_step_multipower(TRUTH, lrs, steps)
    if sigma:
        loss = loss * np.exp(sigma * rng.standard_normal(len(loss)))
    return df.assign(loss=loss)


def tables():
    """4 noisy training curves (0.02% per row, two rows without a loss, an extra column with NaN),
    the held-out schedule's rows in shuffled order with a loss column that must not be read, its truth."""
    rng = np.random.default_rng(0)
    train = pd.concat([
        curve("cosine", schedule.cosine(STEPS, PEAK, WARM, 0.1 * PEAK), sigma=2e-4, rng=rng),
        curve("constant", schedule.constant(STEPS, PEAK, WARM), sigma=2e-4, rng=rng),
        curve("wsd", schedule.wsd(STEPS, PEAK, WARM, 0.2, 0.1 * PEAK), sigma=2e-4, rng=rng),
        curve("wsd_half", schedule.wsd(2000, PEAK, WARM, 0.5, 0.1 * PEAK), sigma=2e-4, rng=rng),
    ], ignore_index=True)
    train["grad_norm"] = np.where(np.arange(len(train)) % 3 == 0, np.nan, 1.0)
    train.loc[[5, 40], "loss"] = np.nan
    truth = curve("wsd_long", schedule.wsd(STEPS, PEAK, WARM, 0.35, 0.05 * PEAK), every=150)
    at = truth.sample(frac=1.0, random_state=1).reset_index(drop=True)
    return train, at.assign(loss=99.0), truth


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """4 training schedules (noisy, 0.02%), one held-out schedule (its true curve), and the forecast
    by exactly the CLI call ``scalelab forecast TRAIN --law multipower --at AT --ci 0.9 --json``."""
    train, at, truth = tables()
    tmp = tmp_path_factory.mktemp("curves")
    t, a = tmp / "train.csv", tmp / "at.csv"
    train.to_csv(t, index=False)
    at.to_csv(a, index=False)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli_main(["forecast", str(t), "--law", "multipower", "--at", str(a), "--ci", "0.9", "--json"])
    assert rc == 0, err.getvalue()
    true_loss = truth.set_index("step").loc[at["step"], "loss"].to_numpy()
    return train, at, true_loss, json.loads(out.getvalue()), err.getvalue()


def test_curve_forecast_recovers_an_unseen_schedule_with_the_json_contract(simulated):
    train, at, true_loss, out, stderr = simulated
    loss, lo, hi = (np.array([p[k] for p in out["predictions"]]) for k in ("loss", "lo", "hi"))
    # point forecast: the fitted law on a schedule it never saw, against the generating curve;
    # 0.2% = ten times the per-row noise of the training losses
    rel = np.abs(loss / true_loss - 1)
    assert rel.mean() < 2e-3 and rel.max() < 5e-3, (rel.mean(), rel.max())
    assert np.mean((lo <= true_loss) & (true_loss <= hi)) >= 0.9
    assert np.median((hi - lo) / loss) < 0.03  # informative, not a blanket
    kinds = [o["kind"] for o in out["diagnostics"]["origins"]]
    assert kinds == ["leave schedule out"] * 4 + ["truncated curves"]
    assert any("without a usable loss" in w for w in out["diagnostics"]["warnings"])
    assert "grad_norm" in stderr  # the unread column is named, and carried without complaint
    # the JSON contract (one test with the above: the forecast behind both is the expensive part)
    assert set(out) == {"laws", "method", "ci", "predictions", "diagnostics", "seconds"}
    assert out["laws"] == {"multipower": 1.0} and out["ci"] == 0.9 and isinstance(out["method"], str)
    assert out["diagnostics"]["rhat_max"] is None and isinstance(out["diagnostics"]["warnings"], list)
    assert out["seconds"] > 0
    preds = out["predictions"]
    assert len(preds) == len(at)  # one per AT row, in AT's order
    for p, (_, row) in zip(preds, at.iterrows()):
        assert set(p) == {"inputs", "loss", "lo", "hi"}
        assert p["inputs"] == {"run_id": row["run_id"], "step": int(row["step"]), "lr": row["lr"]}
        assert p["lo"] <= p["loss"] <= p["hi"]


def test_targets_keep_only_the_schedule():
    at = pd.DataFrame({"run_id": ["x", "x"], "step": [10, 20], "learning_rate": [1e-3, 5e-4], "loss": [99.0, -1.0],
                       "note": ["a", "b"]})
    tg = fcc.targets(at)  # the loss column is dropped before anything reads it; the lr alias is understood
    assert list(tg.columns) == ["run_id", "step", "lr"]
    np.testing.assert_array_equal(tg["lr"], [1e-3, 5e-4])


def test_targets_without_the_schedule_are_refused():
    train, at, _ = tables()
    for col in ("run_id", "step", "lr"):
        with pytest.raises(scalelab.RunTableError, match=rf"targets lack column\(s\) \['{col}'\].*run_id, step, lr"):
            scalelab.forecast(train, at.drop(columns=[col]), laws="multipower")
    with pytest.raises(scalelab.RunTableError, match="lr that is missing"):
        scalelab.forecast(train, at.assign(lr=np.where(at.index == 3, np.nan, at["lr"])), laws="multipower")


def test_targets_at_a_size_no_run_has_are_refused():
    """The curve laws have no N: a schedule asked at a model size no training run has was forecast from the pooled
    sizes, 50-75% off in a trial, with a warning about pooling only. Now refused, naming the final-loss route; a
    target at the runs' own size (to 2%) is answered."""
    train, at, _ = tables()
    train = train.assign(params=1e8)
    with pytest.raises(scalelab.RunTableError, match=r"N = 5e\+09, which no run has.*final-loss laws"):
        scalelab.forecast(train, at.assign(params=5e9), laws="multipower")
    assert fcd.unseen_sizes(at.assign(N=1.01e8), scalelab.read(train)) is None
    assert fcd.unseen_sizes(at, scalelab.read(train)) is None  # targets that give no size


def test_single_row_target_runs_follow_the_warmup_convention():
    sched, where = fcc.schedules(pd.DataFrame({"run_id": ["a", "b", "b"], "step": [1000.0, 500.0, 900.0],
                                                "lr": [2e-4, 3e-4, 1e-4]}))
    a = sched[sched["run_id"] == "a"]
    np.testing.assert_allclose(a[["step", "lr"]].to_numpy(), [[500.0, 1e-4], [1000.0, 2e-4]])  # on the warm-up line
    assert sched.iloc[where][["run_id", "step"]].values.tolist() == [["a", 1000.0], ["b", 500.0], ["b", 900.0]]


def test_which_path_a_forecast_takes():
    train, at, _ = tables()
    train = scalelab.read(train)
    assert fcc.is_curve_request(train, "auto", at) and fcc.is_curve_request(train, "multipower,lr_annealing")
    assert not fcc.is_curve_request(train, "auto", pd.DataFrame({"N": [1e9], "D": [2e10]}))  # final losses asked
    assert not fcc.is_curve_request(train.final(), "auto") and not fcc.is_curve_request(train, "chinchilla")
    assert {lw.name for lw in fcc.curve_candidates("auto")} == {"lr_annealing", "multipower"}
    with pytest.raises(ValueError, match="mix curve laws"):
        fcc.is_curve_request(train, "multipower,chinchilla")


def test_cli_targets_may_be_schedules_that_reach_lr_zero(tmp_path):
    from scalelab.cli.forecast import read_targets

    path = tmp_path / "at.csv"
    pd.DataFrame({"run_id": ["x", "x"], "step": [100, 200], "lr": [1e-3, 0.0]}).to_csv(path, index=False)
    np.testing.assert_array_equal(fcc.targets(read_targets(path))["lr"], [1e-3, 0.0])  # a cosine to 0 is a schedule


def test_branches_of_one_run_are_found_and_warned_about():
    """Runs that continue one run's checkpoints (a WSD decay branched off a constant run) log the same losses where
    their learning rates agree; independent runs of one schedule do not (their seeds' noise). Leaving one branch out
    keeps its trunk in the fit, so the interval misses the seed-to-seed spread: the forecast says so."""
    rng = np.random.default_rng(3)
    lrs = {"constant": schedule.constant(STEPS, PEAK, WARM), "wsd": schedule.wsd(STEPS, PEAK, WARM, 0.2, 0.1 * PEAK),
           "cosine": schedule.cosine(STEPS, PEAK, WARM, 0.1 * PEAK)}
    runs = {k: curve(k, v, sigma=2e-4, rng=rng) for k, v in lrs.items()}
    assert fcd.shared_trunks(pd.concat(runs.values()), np.ones(sum(map(len, runs.values())))) == []
    # the WSD run branched from the constant run: its rows before the decay are the constant run's checkpoints
    wsd, const = runs["wsd"].set_index("step"), runs["constant"].set_index("step")
    stable = wsd.index[np.isclose(wsd["lr"], PEAK)]
    wsd.loc[stable, "loss"] = const.loc[stable, "loss"]
    branched = pd.concat([runs["cosine"], const.reset_index(), wsd.reset_index()], ignore_index=True)
    w = np.ones(len(branched))
    assert fcd.shared_trunks(branched, w) == [["constant", "wsd"]]
    said = fcd.trunk_warnings(branched, w)
    assert len(said) == 1 and "'constant', 'wsd'" in said[0] and "branches of one run" in said[0]
    # rows that are not fitted (weight 0) do not count: without the stable rows the two runs share no checkpoint
    assert fcd.shared_trunks(branched, np.where(branched["step"].isin(stable) & (branched["run_id"] == "wsd"), 0.0, 1.0)) == []


def test_independent_training_runs_give_no_branch_warning(simulated):
    assert not any("branches of one run" in w for w in simulated[3]["diagnostics"]["warnings"])


def test_a_curve_forecasts_scatter_is_read_as_the_final_loss_forecasts():
    """One reading of the runs' scatter for both kinds of forecast (thirtieth session): the curve forecast keeps
    each law's parameter count in its details, and its s0 is `run_scatter` of the stacked residuals counted for
    them (not 1.4826 MAD); on curves logged with 0.02% noise per row it reads that noise."""
    from scalelab.forecast.calibrate import combine, run_scatter

    train, at, _ = tables()
    f = scalelab.forecast(train, at.drop(columns="loss"), laws="multipower", ci=0.9, progress=False)
    d = f.details
    assert list(d["n_params"]) == [len(scalelab.laws.get("multipower").params)]
    w = combine(d, 0.9, reference=None)["weights"]
    r = w @ np.asarray(d["residuals"], float)
    assert float(np.ravel(f.s0)[0]) == pytest.approx(max(run_scatter(r, None, float(w @ d["n_params"])), 1e-4),
                                                     rel=1e-9)
    assert 1e-4 <= float(np.ravel(f.s0)[0]) < 4e-4  # the rows' noise, 2e-4 (the floor is 1e-4)
