"""Which rows of a curve table a curve law is fitted on, what its design cannot tell, and exports read as written.

References: the same table without the rows in question (the fit must not move), a table built to trigger each
warning, the merged W&B export written by hand, strict JSON (`json.loads` refusing NaN/Infinity tokens).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import scalelab
from scalelab import laws
from scalelab.bayes.adjust import resolve_adjust
from scalelab.fit import identify
from scalelab.laws import schedule

from conftest import ANNEALING_TRUTH, annealing_curves

LA = laws.get("lr_annealing")
TRUTH = ANNEALING_TRUTH


curves = annealing_curves  # every=100 by default


def test_step_zero_and_lr_only_rows_stay_in_the_schedule_but_are_not_fitted():
    """A step-0 row (the loss at initialisation, lr 0) made `fit` return its first start with an infinite objective
    (exit 0), and rows holding only an lr were refused ("loss has NaN"), while dropping them cuts the schedule. Both
    now keep the schedule and are not fitted: the fit equals the fit of the logged rows alone."""
    base = curves()
    start = base.groupby("run_id", sort=False).head(1).assign(step=0, lr=0.0, loss=10.8)
    mids = base.assign(step=base["step"] - 50, loss=np.nan)  # lr-only rows on the same linear pieces
    mids = mids[mids["step"] > 100]
    mids = mids.assign(lr=[np.interp(s, base.loc[base["run_id"] == r, "step"], base.loc[base["run_id"] == r, "lr"])
                           for r, s in zip(mids["run_id"], mids["step"])])  # the schedule's own lr at those steps
    full = pd.concat([start, base, mids]).sort_values(["run_id", "step"], kind="stable").reset_index(drop=True)
    ref = scalelab.fit(base, "lr_annealing", starts="grid")
    got = scalelab.fit(full, "lr_annealing", starts="grid")
    assert np.isfinite(got.objective) and got.converged
    assert got.objective == pytest.approx(ref.objective, rel=1e-6)
    for k, v in ref.params.items():
        assert got.params[k] == pytest.approx(v, rel=1e-5), k
    # the runs and the rows fitted: 3 runs, their logged checkpoints (`fit --json` said n_runs = rows: 57 "runs")
    assert (got.n_runs, got.n_rows) == (3, len(base)) and got.to_json()["n_rows"] == len(base)
    assert any("rows at step 0" in n for n in got.notes) and any("without a usable loss" in n for n in got.notes)


def test_fit_cli_counts_runs_and_checkpoints_and_bootstraps_a_curve_law(capsys, tmp_path):
    """`fit --law lr_annealing --bootstrap`: the resamples start from the fit of every row (`start_fit`, matched to
    the table by the rows it fitted, not its runs), and the JSON counts 3 runs of 30 checkpoints."""
    from scalelab import cli

    path = tmp_path / "curves.csv"
    curves(every=200).to_csv(path, index=False)
    assert cli.main(["fit", str(path), "--law", "lr_annealing", "--bootstrap", "8", "--json"]) == 0, capsys.readouterr().err
    out = json.loads(capsys.readouterr().out)
    assert (out["n_runs"], out["n_rows"]) == (3, 30) and set(out["intervals"]) >= {"L0", "alpha"}
    # fit_many's rows count the same way: whole runs resampled, each variant's distinct runs and their checkpoints
    from scalelab.fit import variants
    from scalelab.fit.many import fit_many

    table = scalelab.read(curves(every=200))
    vs = variants.bootstrap(table, 4, seed=0, by="run_id")
    got = fit_many(table, "lr_annealing", vs, progress=False)
    kept = vs.weights > 0
    want = [len(set(table.df["run_id"][k])) for k in kept]
    assert got["n_runs"].tolist() == want and got["n_rows"].tolist() == kept.sum(axis=1).tolist()
    assert got["n_runs"].max() <= 3 and (got["n_rows"] >= 10 * got["n_runs"]).all()  # runs, not rows (10 per run)


def test_curve_design_warnings():
    """Several model sizes pooled into one curve law (its fit said only that N spans less than a decade, of an N
    exponent the law does not have), and no run whose lr decays (the annealing term undetermined)."""
    df = curves(every=200)
    assert identify.curve_warnings(scalelab.read(df)) == []
    sized = df.assign(N=np.where(df["run_id"] == "cos", 2.5e7, 1e8))
    said = identify.curve_warnings(scalelab.read(sized))
    assert len(said) == 1 and "several model sizes" in said[0]
    const = df[df["run_id"] == "const"]
    said = identify.curve_warnings(scalelab.read(const))
    assert len(said) == 1 and "decays after its peak" in said[0]
    fit = scalelab.fit(sized, "lr_annealing", starts="grid")
    assert any("several model sizes" in w for w in fit.warnings)
    assert not any("decades in N" in w for w in fit.warnings)


def test_loss_and_lr_logged_in_separate_rows_are_merged(tmp_path):
    """A W&B export logs the loss and the lr in separate rows at one step (with W&B's own _step counter): refused
    as duplicate steps, with advice (drop_duplicates) that loses one of the two. Now merged into one row per step."""
    df = curves(every=200)
    lr_rows = df.drop(columns="loss").assign(_step=np.arange(len(df)) * 2)
    loss_rows = df.drop(columns="lr").assign(_step=np.arange(len(df)) * 2 + 1)
    export = pd.concat([lr_rows, loss_rows]).sort_values(["run_id", "step", "_step"], kind="stable")
    path = tmp_path / "export.csv"
    export.to_csv(path, index=False)
    table = scalelab.read(path)
    assert len(table) == len(df) and any("merged into one row per step" in n for n in table.notes)
    got = table.df.sort_values(["run_id", "step"])[["run_id", "step", "lr", "loss"]].reset_index(drop=True)
    want = df.sort_values(["run_id", "step"])[["run_id", "step", "lr", "loss"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    # rows of one step that disagree on a value the laws read stay two rows: the duplicate step is refused
    clash = pd.concat([df, df.iloc[[3]].assign(loss=df["loss"].iloc[3] * 1.1)]).sort_values(["run_id", "step"], kind="stable")
    with pytest.raises(scalelab.RunTableError, match="duplicate steps"):
        scalelab.fit(clash, "lr_annealing")


def test_no_sandwich_on_checkpoints_and_json_is_strict():
    """`bayes --method laplace` on a curve law took its 228 checkpoints of 3 runs for 228 independent runs and
    sandwich-adjusted; a target no law can forecast printed bare NaN/Infinity tokens in --json."""
    from scalelab.cli import options

    kind, why = resolve_adjust("auto", LA, "huber", 10_000)
    assert kind is None and "checkpoints" in why
    assert resolve_adjust("auto", laws.get("chinchilla"), "huber", 10_000)[0] == "sandwich"

    def strict(text):
        return json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))

    out = strict(options.dumps({"loss": [1.0, float("nan"), np.float64("inf")], "n": np.int64(3), "ok": np.bool_(True)}))
    assert out == {"loss": [1.0, None, None], "n": 3, "ok": True}


def test_a_runs_prediction_does_not_depend_on_the_other_runs_of_its_table():
    """The quadrature's segments were cut from the longest run of the table: a 400k-step target beside an 8k-step one
    coarsened the 8k one's forecast by 0.0024 (ten times its quadrature error). Now each run is cut by its own length."""
    mp = laws.get("multipower")
    p = mp.reference["luo2025_100M"]
    short = schedule.schedule_table(schedule.wsd(8000, 3e-4, 500, 0.2, 3e-5), every=500, run_id="short")
    long = schedule.schedule_table(schedule.cosine(400_000, 3e-4, 500, 3e-5), every=20_000, run_id="long")
    both = pd.concat([short, long], ignore_index=True)

    def predict(df):
        return np.asarray(mp(p, **{k: df[k].to_numpy() for k in ("run_id", "step", "lr")}))

    alone, beside = predict(short), predict(both)[: len(short)]
    np.testing.assert_allclose(beside, alone, rtol=1e-12)


def test_predict_points_a_curve_law_to_forecast(capsys):
    """`predict --law multipower` asked for --run_id, an option predict does not have."""
    from scalelab import cli

    assert cli.main(["predict", "--law", "multipower", "--reference", "luo2025_100M", "--lr", "3e-4"]) == 2
    err = capsys.readouterr().err
    assert "learning-curve law" in err and "scalelab forecast" in err and "--run_id" not in err


def test_shuffled_curves_are_sorted_and_a_resumed_run_is_named(tmp_path):
    """A curve table with its rows shuffled was read as a table of runs (each row its own run), so `forecast --law
    auto` asked to map N and D. Now each run's rows are sorted by step, with a note; a run resumed from an earlier
    checkpoint (steps going back and repeating) is refused with advice that keeps the resumed rows."""
    df = curves(every=200)
    path = tmp_path / "shuffled.csv"
    df.sample(frac=1.0, random_state=0).to_csv(path, index=False)
    table = scalelab.read(path)
    assert table.is_curve and any("sorted by step within each run" in n for n in table.notes)
    got = table.df[["run_id", "step", "lr", "loss"]].reset_index(drop=True)
    want = df.set_index("run_id").loc[got["run_id"].unique()].reset_index()[["run_id", "step", "lr", "loss"]]
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    cos = df[df["run_id"] == "cos"]
    resumed = pd.concat([cos, cos[cos["step"] >= 1200].assign(loss=lambda d: d["loss"] * 0.99)])
    with pytest.raises(scalelab.RunTableError, match="resumed from an earlier checkpoint"):
        scalelab.fit(resumed, "lr_annealing")


def test_the_lowest_lr_a_run_decays_to():
    """Targets that decay below every training run's lowest lr after its peak are warned about (the annealing term
    is extrapolated there; on the authors' 400M curves such a schedule fell outside its interval); this is the
    number compared: warm-up rows before the peak do not count."""
    from scalelab.laws.schedule import decayed_to as _decayed_to

    df = curves(every=200)
    ends = {r: g.sort_values("step")["lr"].iloc[-1] for r, g in df.groupby("run_id")}
    assert _decayed_to(df) == pytest.approx(min(ends["cos"], ends["wsd"]), rel=1e-12)
    warm = pd.DataFrame({"run_id": "w", "step": [10, 50, 100, 2000], "lr": [1e-5, 1e-4, 3e-3, 3e-3]})
    assert _decayed_to(warm) == 3e-3


def test_compare_and_report_name_the_command_for_curve_laws(capsys, tmp_path):
    """`compare --laws multipower,lr_annealing` printed a garbled header ("largest None (-)", "column 'N/C'"), skipped
    both and exited 0; `report --law lr_annealing` blamed a missing N. Both now say what a curve law needs instead."""
    from scalelab import cli

    path = tmp_path / "curves.csv"
    curves(every=400).to_csv(path, index=False)
    assert cli.main(["compare", str(path), "--laws", "multipower,lr_annealing"]) == 2
    err = capsys.readouterr().err
    assert "learning-curve laws" in err and "scalelab forecast" in err and "N/C" not in err
    assert cli.main(["report", str(path), "--law", "lr_annealing", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "learning-curve law" in err and "column 'N'" not in err and not (tmp_path / "r").exists()
    # the Python API says it too (the refusal lives in compare and report, not in their commands)
    with pytest.raises(ValueError, match="learning-curve law"):
        scalelab.compare.compare(path, ["multipower"])
    with pytest.raises(ValueError, match="learning-curve law"):
        scalelab.report(path, "lr_annealing", tmp_path / "r2")
    assert not (tmp_path / "r2").exists()


def test_a_numeric_run_id_is_echoed_as_written():
    """A target row's run_id 2 came back as 2.0 in --json (the row was read across columns of mixed types)."""
    from scalelab.forecast.curves import CurveForecast

    fc = object.__new__(CurveForecast)  # only the targets matter here; a whole forecast is tested elsewhere
    object.__setattr__(fc, "inputs", pd.DataFrame({"run_id": [2, 3], "step": [100.0, 150.5], "lr": [1e-3, 0.0]}))
    got = fc.target_inputs(0)
    assert got == {"run_id": 2, "step": 100, "lr": 1e-3} and type(got["run_id"]) is int and type(got["step"]) is int
    assert fc.target_inputs(1)["step"] == 150.5


def test_split_rows_are_merged_by_position():
    """Frames joined by pd.concat repeat index labels: merging by label would have dropped or overwritten the rows of
    other runs that share a label."""
    df = curves(every=400)
    lr_rows = df.drop(columns="loss")
    loss_rows = df.drop(columns="lr")
    joined = pd.concat([lr_rows, loss_rows])  # labels 0..n-1 twice
    table = scalelab.read(joined)
    got = table.df.sort_values(["run_id", "step"])[["run_id", "step", "lr", "loss"]].reset_index(drop=True)
    want = df.sort_values(["run_id", "step"])[["run_id", "step", "lr", "loss"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)


def test_the_new_readings_do_not_misfire(tmp_path):
    """A second trial of the rules above: a shuffled final-loss sweep (run_id a model's name, step each run's length,
    D per row) was sorted into checkpoints and 14 of 22 runs dropped; --family picked rows by the sorted table's
    positions from the file's; seeds whose rounded losses tie, and a crashed seed beside its sibling, were merged."""
    base = curves(every=200).assign(family=lambda d: np.where(d["run_id"] == "wsd", "y", "x"))
    path = tmp_path / "family.csv"
    base.sample(frac=1.0, random_state=1).to_csv(path, index=False)  # shuffled, families interleaved
    cols = ["run_id", "step", "lr", "loss"]
    kept = scalelab.read(path, family="x")
    assert kept.notes[0].startswith("kept the 2 runs (20 rows) of family x")  # runs, not checkpoint rows
    got = kept.df[cols].sort_values(cols[:2]).reset_index(drop=True)
    want = base[base["family"] == "x"][cols].sort_values(cols[:2]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    split = pd.concat([base.drop(columns="loss"), base.drop(columns="lr")]).sort_values(["run_id", "step"], kind="stable")
    split.to_csv(path, index=False)
    got = scalelab.read(path, family="x").df[cols].sort_values(cols[:2]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)

    N = np.repeat([2e7, 4e7, 8e7], 3)
    sweep = pd.DataFrame({"run_id": np.repeat(["20M", "40M", "80M"], 3), "N": N, "D": N * np.tile([10, 20, 40], 3),
                          "loss": np.linspace(4.0, 3.0, 9), "lr": 3e-4})
    sweep["step"] = (sweep["D"] / 5e5).astype(int)
    sweep.sample(frac=1.0, random_state=2).to_csv(path, index=False)
    table = scalelab.read(path)
    assert len(table.final_points()) == 9 and not any("sorted" in n for n in table.notes)

    seeds = pd.DataFrame({"run_id": ["a", "a", "b", "b"], "seed": [0, 1, 0, 1], "N": [2e7] * 2 + [4e7] * 2,
                          "D": [4e8] * 2 + [8e8] * 2, "step": [800] * 2 + [1600] * 2, "loss": [4.31, 4.31, 4.02, 4.02],
                          "batch_size": [256, np.nan, 256, np.nan]})
    assert len(scalelab.read(seeds)) == 4
    crashed = seeds.assign(loss=[4.31, np.nan, 4.02, np.nan], lr=[np.nan, 3e-4, np.nan, 3e-4]).drop(columns="batch_size")
    assert len(scalelab.read(crashed)) == 4


def test_one_rule_tells_curve_laws_apart():
    """`laws.is_curve_law`, the one test every module uses: the laws that read whole schedules, and no other."""
    curve = {lw.name for lw in laws.all_laws() if laws.is_curve_law(lw)}
    assert curve == {lw.name for lw in laws.all_laws() if isinstance(lw, laws.curves.CurveLaw)} == {"multipower", "lr_annealing"}
    assert not laws.is_curve_law(laws.get("chinchilla")) and not laws.is_curve_law("multipower")  # a name is no law


def test_checkpoints_without_a_run_and_two_columns_naming_the_runs_are_refused(tmp_path):
    """Found by a trial of exports: checkpoints whose run_id cell is empty were fitted as one made-up run whose
    schedule was pieced from three runs' rows (exit 0; and the curve forecast ended in 'error: nan'); and a table
    with two run-id columns ('run': one sweep name; 'name': the runs) was read by whichever came first, said to be
    'the same values', because both read as no numbers at all. Both are now refused, saying why, where a curve law
    reads them; a copy of the run ids under a second name is still read once."""
    df = curves()
    blank = df.astype({"run_id": object})
    blank.loc[[5, 25, 45], "run_id"] = np.nan
    path = tmp_path / "blank.csv"
    blank.to_csv(path, index=False)
    want = r"column 'run_id' is empty in lines 7, 27, 47: each checkpoint must name its run"
    with pytest.raises(scalelab.RunTableError, match=want):
        scalelab.fit(path, "lr_annealing")
    at = schedule.schedule_table(schedule.cosine(3000, 3e-3, 100, 3e-4), every=500, run_id="long")
    with pytest.raises(scalelab.RunTableError, match=want):
        scalelab.forecast(path, at, laws="lr_annealing", progress=False)

    two = df.rename(columns={"run_id": "name"}).assign(run="sweep1")[["run", "name", "step", "lr", "loss"]]
    with pytest.raises(scalelab.RunTableError, match="columns 'run' and 'name' both mean 'run_id'"):
        scalelab.fit(two, "lr_annealing")
    copy = df.rename(columns={"run_id": "name"}).assign(run=df["run_id"])[["run", "name", "step", "lr", "loss"]]
    table = scalelab.read(copy)
    assert any("column 'name' repeats 'run' (the same values)" in n for n in table.notes)
    ref = scalelab.fit(df, "lr_annealing")
    assert scalelab.fit(table, "lr_annealing").params == pytest.approx(ref.params, rel=1e-9)
