"""Curve tables, the curve laws (multipower, lr_annealing), forecasts and schedule optimisation.

References: per-step float64 NumPy sums written from the multi-power authors' code (their
`evaluation.py`: ``S1 = cumsum(lrs)[t]``, ``LD = sum_k (eta_k - eta_{k-1}) G(eta_k^-gamma S_k(t))``),
the annealing momentum by its recursion, the authors' published held-out errors, and parameters
recovered from simulated curves.
"""

from __future__ import annotations

import json
import re

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import scalelab
from _law_refs import per_step_multipower
from scalelab import curves, laws
from scalelab.laws import schedule
from scalelab.data import data_dir
from scalelab.fit import variants
from scalelab.fit.api import table_for
from scalelab.fit.many import fit_many
from scalelab.laws.curves import segments

# the module checks JAX kernels (schedule integrals) directly against float64 NumPy to 1e-12
pytestmark = pytest.mark.usefixtures("x64")

MP = laws.get("multipower")
LA = laws.get("lr_annealing")
TRAIN = ["cosine_24000", "constant_24000", "wsdcon_9"]
TEST = ["constant_72000", "cosine_72000", "wsd_20000_24000", "wsdld_20000_24000", "wsdcon_3", "wsdcon_18"]


# ----------------------------------------------------------------------------- references

def _per_step_annealing(p, lrs, t):
    """Tissue et al.'s recursion m_i = lam m_{i-1} + (eta_{i-1} - eta_i), S2 = sum m_i."""
    m, S2 = 0.0, np.zeros(len(lrs))
    for i in range(1, len(lrs)):
        m = p["lam"] * m + (lrs[i - 1] - lrs[i])
        S2[i] = S2[i - 1] + m
    cs = np.cumsum(lrs)
    return p["L0"] + p["A"] * cs[t] ** (-p["alpha"]) - p["C"] * S2[t]


def _random_schedule(rng, T=3000, warm=150, peak=1e-3):
    """Rows every ~50-150 steps of a warm-up + stable + decay + step-down schedule (run 'r')."""
    steps = np.unique(np.concatenate([np.cumsum(rng.integers(50, 150, 40)), [T]]))
    steps = steps[(steps > warm) & (steps <= T)]
    lrs = np.interp(steps, [warm, 1200, 2200, T], [peak, peak, 0.3 * peak, 0.1 * peak])
    lrs[steps > 2600] *= 0.5
    return pd.DataFrame({"run_id": "r", "step": steps, "lr": lrs})


# ----------------------------------------------------------------------------- integrals

def test_summed_lr_is_the_exact_per_step_sum():
    df = _random_schedule(np.random.default_rng(0))
    x = schedule.encode(df)
    g = segments({k: jnp.asarray(v) for k, v in x.items()})
    S_t, eta_t = g.S_t, g.eta_t
    per_step = schedule.per_step(df["step"], df["lr"])
    np.testing.assert_allclose(np.asarray(S_t), np.cumsum(per_step)[df["step"].to_numpy()], rtol=1e-12)
    np.testing.assert_allclose(np.asarray(eta_t), df["lr"].to_numpy(), rtol=1e-12)


def test_curve_laws_match_per_step_sums():
    # Two-point Gauss-Legendre per segment of <= T/256 steps vs the exact per-step sums: the
    # loss-drop terms are ~0.1-0.3 nats here; the worst row (the first after warm-up, where S is
    # small and G steep) is 5e-6 off; 2e-5 relative on the loss is the quadrature's error budget.
    df = _random_schedule(np.random.default_rng(1))
    lrs = schedule.per_step(df["step"], df["lr"])
    t = df["step"].to_numpy()
    p = {"L0": 2.5, "A": 0.6, "alpha": 0.45, "B": 400.0, "C": 2.0, "beta": 0.6, "gamma": 0.65}
    ours = np.asarray(MP(p, **{k: df[k].to_numpy() for k in ("run_id", "step", "lr")}))
    np.testing.assert_allclose(ours, per_step_multipower(p, lrs, t), rtol=2e-5)
    q = {"L0": 2.5, "A": 0.6, "alpha": 0.45, "C": 300.0, "lam": 0.995}
    ours = np.asarray(LA(q, **{k: df[k].to_numpy() for k in ("run_id", "step", "lr")}))
    np.testing.assert_allclose(ours, _per_step_annealing(q, lrs, t), rtol=1e-10)  # exact geometric sums


# ----------------------------------------------------------------------------- curve tables

def _curves_df():
    return pd.DataFrame({"run_id": ["a"] * 3 + ["b"] * 3, "step": [10, 20, 30, 10, 20, 40],
                         "lr": [1e-3] * 6, "loss": [3.0, 2.8, 2.7, 3.1, 2.9, 2.6],
                         "N": [1e6] * 3 + [2e6] * 3, "D": [1e7, 2e7, 3e7, 1e7, 2e7, 4e7]})


@pytest.mark.parametrize("edit, match", [
    # (rows merely out of step order are sorted when read: test_curve_rows.py)
    (lambda d: d.assign(step=[20, 30, 20, 10, 20, 40]), "resumed from an earlier checkpoint.*drop_duplicates"),
    (lambda d: d.assign(step=[10, 20, 20, 10, 20, 40]), "duplicate steps.*drop_duplicates"),
    (lambda d: d.assign(lr=[1e-3, -1e-3, 1e-3, 1e-3, 1e-3, 1e-3]), "lr"),
    (lambda d: pd.concat([d, d.iloc[:1].assign(run_id="c")], ignore_index=True), "single row.*final"),
])
def test_bad_curve_tables_are_refused(edit, match):
    """Refused where a curve law reads them; a final-loss law reads each row as a run of its own, with a warning
    (``run_id`` and ``step`` that are no curves are columns it does not use: a model's name shared by runs of
    several token budgets, W&B's 'Name' and 'Step')."""
    table = scalelab.read(edit(_curves_df()))
    with pytest.raises(scalelab.RunTableError, match=match):
        scalelab.fit(table, "multipower", starts=4)
    assert re.search(match, table.checkpoints) and "each row is a run of its own" in table.checkpoints
    assert not table.is_curve and table.final_points() is table


def test_missing_lr_is_refused_for_curve_laws():
    with pytest.raises(ValueError, match="lr"):
        curves.predict_table({"law": "multipower", "params": MP.reference["luo2025_100M"]},
                             _curves_df().drop(columns="lr"))
    # an lr cell left empty is read (a final-loss law does not read lr) and refused where a curve law needs it
    gap = scalelab.read(_curves_df().assign(lr=[1e-3, np.nan, 1e-3, 1e-3, 1e-3, 1e-3]))
    assert "lr" in gap.invalid
    with pytest.raises(ValueError, match="'lr' must be a finite number"):
        curves.predict_table({"law": "multipower", "params": MP.reference["luo2025_100M"]}, gap.df)
    with pytest.raises(ValueError, match="'lr'"):
        scalelab.fit(gap, "multipower", starts=4)


def test_final_keeps_last_checkpoint_and_final_loss_laws_use_it():
    table = scalelab.read(_curves_df())
    assert table.is_curve
    final = table.final()
    assert final.df["step"].tolist() == [30, 40] and final.df["loss"].tolist() == [2.7, 2.6]
    assert any("last checkpoint" in n for n in final.notes)
    assert len(table_for(table, MP)) == 6                        # curve law: every row
    # a final-loss law: two last checkpoints cannot determine it, and D is recorded at each step: every checkpoint
    points = table_for(table, laws.get("chinchilla"))
    assert len(points) == 6 and not points.is_curve and "only 2 runs" in points.checkpoints


TRUTH = {"E": 1.8, "A": 400.0, "B": 1000.0, "alpha": 0.34, "beta": 0.28}


def _logged_ladder(sizes, final_D, per_step_D=True):
    """A ladder logged as curves (run_id, step, N, D, lr, loss): 8 checkpoints per run from 1/30 of its final D on;
    D the tokens seen at each (or, ``per_step_D=False``, the run's final D on every row, as some exports write it);
    loss the Chinchilla form at (N, D seen); lr empty on every third row, as exports have it."""
    rows = []
    for i, (N, Dfin) in enumerate(zip(sizes, final_D)):
        for j, D in enumerate(np.geomspace(Dfin / 30, Dfin, 8)):
            rows.append({"run_id": f"m{i}", "step": 1000 * (j + 1), "N": N, "D": D if per_step_D else Dfin,
                         "lr": np.nan if (8 * i + j) % 3 == 0 else 3e-4,
                         "loss": TRUTH["E"] + TRUTH["A"] / N ** TRUTH["alpha"] + TRUTH["B"] / D ** TRUTH["beta"]})
    return pd.DataFrame(rows)


def test_a_models_name_shared_by_runs_of_several_budgets_is_no_curve():
    """An export naming each run by its model ('name', read as run_id) with its last 'step': five sizes at three token
    budgets each, one size trained once. Those rows are no learning curves (the once-trained size has a single row):
    the table used to be refused; a final-loss law now reads every row as a run, as on the table without the two
    columns, and says so."""
    N = np.repeat(np.geomspace(5e7, 8e8, 5), 3)[:-2]
    D = N * np.tile([10.0, 20.0, 40.0], 5)[:-2]
    loss = TRUTH["E"] + TRUTH["A"] / N ** TRUTH["alpha"] + TRUTH["B"] / D ** TRUTH["beta"]
    plain = pd.DataFrame({"N": N, "D": D, "loss": loss})
    named = plain.assign(name=[f"model-{n:.0e}" for n in N], step=D / 1e6)
    table = scalelab.read(named)
    assert "has a single row" in table.checkpoints and not table.is_curve and len(table.final_points()) == len(N)
    fit, ref = scalelab.fit(table, "chinchilla"), scalelab.fit(plain, "chinchilla")
    np.testing.assert_allclose([fit.params[k] for k in TRUTH], [ref.params[k] for k in TRUTH], rtol=1e-9)
    assert any("each row is a run of its own" in w for w in fit.warnings)
    # read as runs, they are checked as runs: one (N, D) written twice with losses 20% apart is said to be two ladders
    mixed = scalelab.read(pd.concat([named, named.iloc[:1].assign(loss=1.2 * loss[0], step=D[0] / 1e6 + 1)]))
    assert any("look like two ladders mixed" in n for n in mixed.notes)


def test_checkpoints_become_runs_when_the_last_ones_cannot_determine_the_law():
    """The Hitchhiker protocol: five sizes all trained to 3e10 tokens leave one D among the last checkpoints, so
    every checkpoint (N, D seen) is a run; the fit recovers the generating law (closed form) and warns why; a
    forecast of a larger model's checkpoints meets the truth. Last checkpoints that suffice are kept as before."""
    sizes = np.geomspace(5e7, 1e9, 5)
    df = _logged_ladder(sizes, [3e10] * 5)
    points = scalelab.read(df).final_points()
    assert len(points) == 40 and "only 5 runs" in points.checkpoints
    fit = scalelab.fit(df, "chinchilla")
    np.testing.assert_allclose([fit.params[k] for k in TRUTH], list(TRUTH.values()), rtol=2e-3)
    assert any("every checkpoint is read as a run" in w for w in fit.warnings)
    big = 4e9
    at = pd.DataFrame({"N": [big, big], "D": [2e10, 3e10]})
    truth = TRUTH["E"] + TRUTH["A"] / big ** TRUTH["alpha"] + TRUTH["B"] / at["D"].to_numpy() ** TRUTH["beta"]
    fc = scalelab.forecast(df, at, laws=["chinchilla"], progress=False)  # one law: the rows are what is tested
    assert np.all(np.abs(fc.loss / truth - 1) < 0.01)
    assert any("every checkpoint is read as a run" in w for w in fc.warnings)
    # eight sizes whose last checkpoints span D at 10 and 40 tokens per parameter: those are the runs, as before
    N8 = np.geomspace(5e7, 1e9, 8)
    wide = scalelab.read(_logged_ladder(N8, N8 * np.tile([10.0, 40.0], 4)))
    assert len(wide.final_points()) == 8 and wide.final_points().checkpoints is None
    # every run stopped at 20 tokens per parameter: the last checkpoints cannot tell N's term from D's either
    ratio = scalelab.read(_logged_ladder(N8, 20 * N8)).final_points()
    assert len(ratio) == 64 and "D is a function of N" in ratio.checkpoints
    # a W&B export's names: Name (the run), Step, tokens, params; read as run_id, step, D, N: the same table
    export = _logged_ladder(sizes, [3e10] * 5).rename(columns={"run_id": "Name", "step": "Step", "N": "params",
                                                                 "D": "tokens"})
    assert scalelab.read(export).is_curve and "only 5 runs" in scalelab.read(export).final_points().checkpoints
    # D written as the run's final D on every row: the checkpoints hold no other D, so nothing changes
    flat = scalelab.read(_logged_ladder(sizes, [3e10] * 5, per_step_D=False)).final_points()
    assert len(flat) == 5 and flat.checkpoints is None


def test_curve_table_with_repeated_index_labels():
    """Two frames joined by ``pd.concat`` (labels 0, 1, 2 twice): the last checkpoints are found by position
    (they crashed the curve checks with an IndexError, or picked two rows per label). Reference: the same
    table with a fresh index."""
    df = _curves_df()
    joined = pd.concat([df.iloc[:3].reset_index(drop=True), df.iloc[3:].reset_index(drop=True)])
    assert joined.index.tolist() == [0, 1, 2, 0, 1, 2]
    final = scalelab.read(joined).final()
    ref = scalelab.read(df).final()
    np.testing.assert_array_equal(final.df["loss"], ref.df["loss"])
    np.testing.assert_array_equal(final.df["step"], [30, 40])
    with pytest.raises(scalelab.RunTableError, match="run 'b' has duplicate steps in rows 2"):
        scalelab.read(joined.assign(step=[10, 20, 30, 10, 20, 20])).require(["run_id", "step", "lr"])


# ----------------------------------------------------------------------------- published data

def _load(size, names):
    root = data_dir() / "multipower_law" / f"csv_{size}"
    if not root.exists():
        pytest.skip(f"public data {root} not found (set SCALELAB_DATA_DIR)")
    frames = []
    for n in names:
        df = pd.read_csv(root / f"{n}.csv")
        if df["step"].max() == 24000:  # the authors' loader keeps steps < 24000 of these files
            df = df[df["step"] < 24000]
        frames.append(df.assign(run_id=n))
    return pd.concat(frames, ignore_index=True)


def test_published_parameters_give_published_heldout_error():
    # Published PredE for 100M: 0.142% with the authors' per-step schedules; ours reads the
    # schedule from the CSV rows (piecewise linear): 0.143-0.145% (PROVENANCE.md).
    err = curves.relative_errors({"law": "multipower", "params": MP.reference["luo2025_100M"]},
                                 _load(100, TEST))
    assert abs(err["mean_rel_error"].mean() - 0.00142) < 0.00006
    # Worst row: published 0.58%; ours 1.8% on wsdcon_3's first row after its step change at 8000,
    # which the rows (7936 -> 8000) make a 64-step linear ramp under our convention.
    assert err["worst_rel_error"].drop("wsdcon_3").max() < 0.011 and err["worst_rel_error"].max() < 0.02


@pytest.fixture(scope="module")
def fit_25m():
    train = curves.thin(_load(25, TRAIN), 4)  # every 4th row (+ the step change of wsdcon_9): fast
    return scalelab.fit(train, "multipower")


def test_multipower_fit_forecasts_heldout_schedules(fit_25m):
    # The bar: mean relative error <= 0.2% on the 6 held-out schedules (published 0.110%).
    assert fit_25m.converged
    err = curves.relative_errors(fit_25m, _load(25, TEST))
    assert err["mean_rel_error"].mean() <= 0.002
    assert len(err) == 6 and err["rows"].sum() == len(_load(25, TEST))


def test_the_pruned_default_fit_reaches_every_starts_optimum(fit_25m):
    """A curve law's fit screens its 9 grid starts 8 sweeps and polishes the best 3 (`CURVE_FIT`; every
    sweep sums over hundreds of schedule knots per row): the same optimum as all 9 starts run to
    convergence (the former default), on the authors' 25M curves."""
    every = scalelab.fit(curves.thin(_load(25, TRAIN), 4), "multipower", keep=9)
    assert MP.solver_settings()[:2] == (3, 8) and every.converged
    np.testing.assert_allclose(fit_25m.objective, every.objective, rtol=1e-9)
    for k, v in every.params.items():
        if k not in ("C", "gamma", "beta"):  # the ridge the three curves leave (benchmarks/RESULTS.md)
            np.testing.assert_allclose(fit_25m.params[k], v, rtol=1e-4)


def test_a_schedule_beyond_the_fitted_runs_is_noted(fit_25m):
    """The fit records its runs' reach (the 25M runs: 24,000 steps at peak lr 3e-4, thinned from step 2,176), and a
    schedule beyond it says its predictions extrapolate: 32 steps at peak 1e-2 was "optimised" to 1.78 nats, 1.3
    below every observed loss, with no note (a new-user trial, twenty-sixth session). Inside the reach, no note."""
    train = curves.thin(_load(25, TRAIN), 4)
    last = train.groupby("run_id")["step"].max()
    span = fit_25m.span
    assert span == {"steps": [float(last.min()), float(last.max())], "peak_lr": float(train["lr"].max()),
                    "lowest_lr": schedule.decayed_to(train)}
    assert fit_25m.to_json()["span"] == span
    saved = json.loads(json.dumps(fit_25m.to_json()))  # a `fit --json` file, as `schedule --from` reads it
    far = curves.optimize_schedule(saved, 32, 1e-2, 4, knots=8, iterations=50)
    assert any("32 steps lie outside the fitted runs'" in n for n in far.notes)
    assert any(f"peak_lr 0.01 is above every fitted run's learning rate (at most {span['peak_lr']:g}" in n
               for n in far.notes)
    from scalelab.curves.optimize import beyond_span

    assert beyond_span(saved, int(span["steps"][1]), span["peak_lr"]) == []  # what optimize_schedule adds to its notes
    assert beyond_span(saved, int(span["steps"][0]), 0.5 * span["peak_lr"]) == []
    assert len(beyond_span({"law": "multipower", "params": saved["params"]}, 32, 1e-2)) == 0  # a fit saved without it


# ----------------------------------------------------------------------------- lr_annealing

def test_lr_annealing_recovers_parameters_and_bootstraps_whole_runs():
    rng = np.random.default_rng(3)
    truth = {"L0": 2.2, "A": 0.5, "alpha": 0.5, "C": 15.0, "lam": 0.99}
    frames = []
    for name, lrs in (("cos", schedule.cosine(2000, 3e-3, 100, 3e-4)), ("const", schedule.constant(2000, 3e-3, 100)),
                      ("wsd", schedule.wsd(2000, 3e-3, 100, 0.3, 3e-4)), ("wsd2", schedule.wsd(1500, 3e-3, 100, 0.5))):
        frames.append(schedule.schedule_table(lrs, every=100, run_id=name))
    df = pd.concat(frames, ignore_index=True)
    clean = np.asarray(LA(truth, **{k: df[k].to_numpy() for k in ("run_id", "step", "lr")}))
    df["loss"] = clean * np.exp(2e-4 * rng.standard_normal(len(df)))
    boot = variants.bootstrap(df, 3, seed=0, by="run_id")
    codes = pd.factorize(df["run_id"])[0]
    assert all(len(set(w[codes == c])) == 1 for w in boot.weights for c in range(4))  # whole runs resampled
    # one compiled program: the full fit and 3 run-bootstrap refits, each from the law's start grid
    out = fit_many(df, "lr_annealing", variants.full(df) + boot, starts="grid", batch_size=4)
    assert len(out) == 4 and out["converged"].all()
    full = out.iloc[0]
    for k, tol in (("L0", 0.02), ("A", 0.05), ("alpha", 0.05), ("C", 0.1), ("lam", 0.002)):
        assert abs(full[k] / truth[k] - 1) < tol, (k, full[k])


# ----------------------------------------------------------------------------- schedules

@pytest.fixture(scope="module")
def optimised():
    fit = {"law": "multipower", "params": MP.reference["luo2025_100M"]}
    return fit, curves.optimize_schedule(fit, 6000, 3e-4, 300, min_lr=1e-6, knots=128, iterations=300)


def test_optimised_schedule_constraints_and_gain(optimised):
    fit, res = optimised
    lrs = res.lrs
    assert lrs.shape == (6001,)
    np.testing.assert_allclose(lrs[:301], 3e-4 * np.arange(301) / 300, rtol=1e-12)  # linear warm-up
    assert np.all(np.diff(lrs[300:]) <= 0)               # non-increasing after warm-up
    assert lrs.max() <= 3e-4 and lrs[300:].min() >= 1e-6
    p = res.predicted
    assert p["optimised"] <= p["cosine"] and p["optimised"] <= p["wsd"]
    assert res.gain_vs_cosine == pytest.approx(p["cosine"] - p["optimised"])
    # an independent path: the written schedule table through predict_table
    table = res.table(every=1).assign(run_id="opt")
    assert curves.predict_table(fit, table)[-1] == pytest.approx(p["optimised"], abs=2e-4)


def test_schedule_cli_writes_a_schedule(tmp_path):
    from scalelab.cli import main

    src = tmp_path / "fit.json"
    src.write_text(json.dumps({"law": "multipower", "params": MP.reference["luo2025_100M"]}))
    out = tmp_path / "schedule.csv"
    assert main(["schedule", "--from", str(src), "--steps", "6000", "--peak-lr", "3e-4", "--warmup", "300",
                 "--min-lr", "1e-6", "--knots", "128", "--iterations", "300", "--every", "10", "--out", str(out)]) == 0
    df = pd.read_csv(out)
    assert list(df.columns) == ["step", "lr", "written_by"] and df["step"].iloc[-1] == 6000
    assert np.all(np.diff(df["lr"][df["step"] >= 300]) <= 0)


def test_compare_skips_curve_laws_with_a_reason():
    from scalelab import compare

    out = compare.compare_one(scalelab.read(_curves_df()).final(), "multipower")
    assert out["status"] == "skipped" and "relative_errors" in out["reason"]


def test_thinned_schedule_table_is_the_optimised_schedule(tmp_path, capsys):
    # `--every K` once wrote only every K-th step: the end of warm-up and the final decay were lost and
    # the file read back predicted a worse loss than the one reported. Reference: the authors' per-step
    # multi-power sum (float64 NumPy, _law_refs) of the file read back under the schedule convention,
    # against the reported final loss; 1e-5 relative is the brief's bar (the quadrature of final_loss
    # and the per-step sum agree to ~1e-8 on these schedules).
    from scalelab.cli import main

    p = MP.reference["luo2025_100M"]
    src, out = tmp_path / "fit.json", tmp_path / "schedule.csv"
    src.write_text(json.dumps({"law": "multipower", "params": p}))
    assert main(["schedule", "--from", str(src), "--steps", "3000", "--peak-lr", "3e-4", "--warmup", "270",
                 "--knots", "64", "--iterations", "300", "--every", "1000", "--out", str(out), "--json"]) == 0
    reported = json.loads(capsys.readouterr().out)["predicted"]["optimised"]
    df = pd.read_csv(out)
    back = schedule.per_step(df["step"], df["lr"], 3000)
    assert per_step_multipower(p, back, [3000])[0] == pytest.approx(reported, rel=1e-5)
    assert 270 in df["step"].tolist() and df["step"].iloc[-1] == 3000  # the end of warm-up and the last step
    assert len(df) < 300                                                 # still a thinned file



def test_schedule_baselines_obey_min_lr():
    # With --min-lr the cosine/WSD baselines once decayed to 0.1 x peak, below the bound, and WSD "beat"
    # the optimiser (trial 5: gain -0.02). Reference: baselines built here under the same bound, predicted
    # by the authors' per-step multi-power sum (float64 NumPy); at 3000 steps the law's quadrature agrees
    # with it to ~1e-8 relative (1e-6 allowed).
    p = MP.reference["luo2025_100M"]
    steps, warmup, min_lr = 3000, 270, 1e-4
    res = curves.optimize_schedule({"law": "multipower", "params": p}, steps, 3e-4, warmup, min_lr=min_lr,
                                   knots=64, iterations=300)
    ref = {name: per_step_multipower(p, lrs, [steps])[0] for name, lrs in
           (("cosine", schedule.cosine(steps, 3e-4, warmup, min_lr)), ("wsd", schedule.wsd(steps, 3e-4, warmup, 0.2, min_lr)),
            ("constant", schedule.constant(steps, 3e-4, warmup)))}
    for name, loss in ref.items():
        assert res.predicted[name] == pytest.approx(loss, rel=1e-6), name
    assert per_step_multipower(p, res.lrs, [steps])[0] <= min(ref.values())
    assert res.gain_vs_wsd >= 0 and res.gain_vs_cosine >= 0
    floor = min_lr * (1 - 1e-12)  # WSD's peak + 1.0 * (end - peak) may round one ulp below the end
    for name, lrs in res.baselines.items():
        assert np.all(lrs[warmup:] >= floor), name
    assert np.all(res.lrs[warmup:] >= floor) and np.all(np.diff(res.lrs[warmup:]) <= 0)
    assert res.source == "optimised" and res.baseline_final_lr == min_lr and "min_lr=0.0001" in res.notes[0]


def test_schedule_is_never_worse_than_its_baselines():
    # At 50 steps the best schedule is constant, which the parameterisation (a decrement softplus(z) > 0 per
    # knot) cannot reach: the optimiser once returned a schedule predicted worse than its constant baseline.
    # Reference: the constant schedule built here, and both predicted by the per-step multi-power sum.
    p = MP.reference["luo2025_100M"]
    res = curves.optimize_schedule({"law": "multipower", "params": p}, 50, 3e-4, knots=64, iterations=300)
    const = schedule.constant(50, 3e-4)
    assert per_step_multipower(p, res.lrs, [50])[0] <= per_step_multipower(p, const, [50])[0]
    assert res.predicted["optimised"] <= min(res.predicted[k] for k in ("cosine", "wsd", "constant"))
    assert res.source == "constant" and "constant schedule is returned" in res.notes[0]
