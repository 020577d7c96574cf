"""`schedule`, `fit` and `forecast` on curve tables: what they refuse, keep and warn about (s29 trial findings).

References: the files as written before the command (byte for byte), a saved fit JSON holding a warning written
here, schedules built by hand with a known lowest learning rate, and the run structure of a tiny curve table.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from scalelab.cli import main
from scalelab.laws import schedule

from conftest import ANNEALING_TRUTH, annealing_curves

TRUTH = ANNEALING_TRUTH
SCHEDULE = ["--steps", "600", "--peak-lr", "3e-3", "--warmup", "60", "--knots", "16", "--iterations", "20"]


def curves(every: int = 200) -> pd.DataFrame:
    """The curve tests' small lr_annealing table (`conftest.annealing_curves`), a checkpoint every 200 steps."""
    return annealing_curves(every)


def saved_fit(tmp_path, **extra) -> str:
    """A `fit --json` of lr_annealing at the true parameters, as `schedule --from` reads it."""
    path = tmp_path / "fit.json"
    path.write_text(json.dumps({"law": "lr_annealing", "params": TRUTH, **extra}))
    return str(path)


# ----------------------------------------------------------------------------- schedule --out

def test_schedule_never_overwrites_a_hand_written_schedule(tmp_path, capsys):
    """Trial finding 2: a user's own ``step, lr`` file passed the columns-only ownership test and was replaced by 5001
    rows. Only a file whose every row carries the ``written_by`` marker is ours; it stays readable by the proxy."""
    from scalelab.proxy.train import read_schedule

    fit = saved_fit(tmp_path)
    mine = tmp_path / "my_schedule.csv"
    mine.write_text("step,lr\n0,0\n100,0.003\n600,0.0003\n")
    before = mine.read_bytes()
    assert main(["schedule", "--from", fit, *SCHEDULE, "--out", str(mine)]) == 2
    assert "not a schedule `scalelab schedule` wrote" in capsys.readouterr().err
    assert mine.read_bytes() == before
    ours = tmp_path / "ours.csv"
    assert main(["schedule", "--from", fit, *SCHEDULE, "--out", str(ours)]) == 0
    df = pd.read_csv(ours)
    assert list(df.columns) == ["step", "lr", "written_by"] and (df["written_by"] == "scalelab schedule").all()
    assert read_schedule(ours, 600).shape == (600,)  # what `proxy sweep --schedule` reads
    assert main(["schedule", "--from", fit, *SCHEDULE, "--out", str(ours)]) == 0  # its own output is replaced


# ----------------------------------------------------------------------------- fit --plot

def test_fit_plot_of_a_curve_law_is_refused_before_the_fit(tmp_path, capsys):
    """Trial finding 4: `fit --plot` on a curve table fitted, then failed drawing ("column 'N' missing", exit 2) and
    printed nothing, --json included. Now refused at once, naming the reason; no figure and no fit."""
    path = tmp_path / "curves.csv"
    curves().to_csv(path, index=False)
    assert main(["fit", str(path), "--law", "lr_annealing", "--plot", str(tmp_path / "f.png"), "--json"]) == 2
    out = capsys.readouterr()
    assert "learning-curve law" in out.err and "drop --plot" in out.err
    assert "fitting" not in out.err and out.out == "" and not (tmp_path / "f.png").exists()


# ----------------------------------------------------------------------------- schedule --from: warnings

def test_schedule_carries_the_fits_warnings_and_strict_counts_them(tmp_path, capsys):
    """Trial finding 5: a fit whose runs never decay warned so in its JSON, and `schedule --from` dropped it (--strict
    exit 0). The saved warnings are said again, as predict/allocate --from say them, and --strict counts them."""
    said = "no run's learning rate decays after its peak"
    fit = saved_fit(tmp_path, warnings=[said])
    out = tmp_path / "s.csv"
    assert main(["schedule", "--from", fit, *SCHEDULE, "--out", str(out), "--json", "--strict"]) == 2
    got = capsys.readouterr()
    assert f"warning: the fit in {fit} warned: {said}" in got.err and "--strict: 1 warning(s)" in got.err
    assert json.loads(got.out)["warnings"] == [f"the fit in {fit} warned: {said}"]


def test_a_schedule_below_the_fitted_runs_lowest_lr_is_warned_about(tmp_path, capsys):
    """Trial finding 5: optimised schedules ended at lr 2e-14, far below the 3e-5 any fitted run reached after its
    peak, with no word (forecast warns of such targets). The fit now records that lowest lr (`span["lowest_lr"]`,
    here the 3e-4 the cosine and WSD runs end at); a schedule below half of it is warned about, naming the --min-lr
    that keeps it inside the fit, and with that --min-lr it is not."""
    import scalelab

    span = scalelab.fit(curves(), "lr_annealing").span
    assert span["lowest_lr"] == pytest.approx(3e-4, rel=1e-9) and span["peak_lr"] == pytest.approx(3e-3)
    fit = saved_fit(tmp_path, span=span)
    out = tmp_path / "s.csv"
    assert main(["schedule", "--from", fit, *SCHEDULE, "--out", str(out), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    low = pd.read_csv(out)["lr"].iloc[-1]
    assert low < 1.5e-4  # the law's optimum decays further than the runs did (else this test checks nothing)
    assert len(res["warnings"]) == 1 and f"decays to lr {low:.3g}, below the lowest" in res["warnings"][0]
    assert "--min-lr 0.0003" in res["warnings"][0]
    assert main(["schedule", "--from", fit, *SCHEDULE, "--min-lr", "3e-4", "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["warnings"] == []


# ----------------------------------------------------------------------------- forecast targets

def test_targets_not_given_from_their_start_are_warned_about(tmp_path, capsys):
    """Trial finding 3: a target given by its last row (lr 3e-5 at step 23,904) was read, by the documented convention,
    as a warm-up from 0 over the whole run and forecast 3.61 [3.59, 3.62] against a true 2.95, without a word. A run
    of one row, or one starting far past every training run's warm-up (peak lr at the first row logged, step 200),
    is now warned about on stderr and in the JSON; a whole schedule is not. --plot of a curve forecast is said to
    draw nothing before the work, not after it (trial, polish)."""
    train, at = tmp_path / "curves.csv", tmp_path / "at.csv"
    curves().to_csv(train, index=False)
    whole = schedule.schedule_table(schedule.cosine(2000, 3e-3, 100, 1e-3), every=200, run_id="whole")
    late = schedule.schedule_table(schedule.cosine(2000, 3e-3, 100, 1e-3), every=200, run_id="late")
    late = late[late["step"] >= 1000]
    one = pd.DataFrame({"run_id": ["one"], "step": [2000], "lr": [1e-3]})
    pd.concat([whole[whole["step"] > 0], late, one])[["run_id", "step", "lr"]].to_csv(at, index=False)
    assert main(["forecast", str(train), "--law", "lr_annealing", "--at", str(at), "--json",
                 "--plot", str(tmp_path / "f.png")]) == 0
    got = capsys.readouterr()
    said = [w for w in json.loads(got.out)["diagnostics"]["warnings"] if w.startswith("target run(s)")]
    assert len(said) == 2
    assert said[0].startswith("target run(s) 'one' have one row") and "over 2000 steps" in said[0]
    assert said[1].startswith("target run(s) 'late' begin far past") and "begins at step 1000" in said[1]
    assert "by step 200;" in said[1] and all(f"warning: {w}" in got.err for w in said)
    assert got.err.index("--plot draws final-loss forecasts only") < got.err.index("forecasting from")


# ----------------------------------------------------------------------------- fit --bootstrap

def test_curve_bootstrap_resamples_whole_runs_and_says_when_they_are_too_few(tmp_path, capsys):
    """Trial finding 7: `fit --bootstrap` of a curve law drew single checkpoints as if independent (L0's interval 2x
    narrower than by run). Reference: the same command with an explicit --bootstrap-by run_id (same seed) must give
    the same intervals; 3 runs (10 distinct run resamples) are warned about, in the JSON as on stderr."""
    path = tmp_path / "curves.csv"
    curves().to_csv(path, index=False)
    cmd = ["fit", str(path), "--law", "lr_annealing", "--bootstrap", "6", "--json"]
    assert main(cmd) == 0
    got = capsys.readouterr()
    out = json.loads(got.out)
    assert "resamples whole runs (run_id)" in got.err
    said = [w for w in out["warnings"] if w.startswith("--bootstrap: 3 run(s) give only 10 distinct resamples")]
    assert len(said) == 1 and f"warning: {said[0]}" in got.err
    assert main([*cmd, "--bootstrap-by", "run_id"]) == 0
    assert json.loads(capsys.readouterr().out)["intervals"] == out["intervals"]


# ----------------------------------------------------------------------------- polish

def test_schedule_help_states_its_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["schedule", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines anywhere
    assert "default 512)" in text and "Adam iterations (default 3000)" in text and "(default 1: every step)" in text


def test_predict_table_names_what_to_pass_for_a_tuple():
    """A ``(law, params)`` tuple raised a bare "AttributeError: 'tuple' object has no attribute 'law'"."""
    from scalelab import curves as C

    sched = pd.DataFrame({"run_id": "r", "step": [100, 200], "lr": [3e-3, 3e-3]})
    with pytest.raises(TypeError, match=r"got a tuple: for a law and its parameters write \{'law': 'multipower'"):
        C.predict_table(("lr_annealing", TRUTH), sched)
    assert C.predict_table({"law": "lr_annealing", "params": TRUTH}, sched).shape == (2,)
    assert {"predict_table", "optimize_schedule"} <= set(dir(C))


def test_an_outlying_checkpoint_is_called_a_checkpoint():
    """On a curve table the outlier warning said "1 run(s)" of one checkpoint (a row of a run); reference: the one
    checkpoint whose loss is raised 10% here, on curves with 0.02% noise."""
    import scalelab

    df = curves()
    df.loc[5, "loss"] *= 1.1
    said = [w for w in scalelab.fit(df, "lr_annealing").warnings if "6 MADs" in w]
    assert len(said) == 1 and said[0].startswith("1 checkpoint(s) lie more than 6 MADs from the fit (")
