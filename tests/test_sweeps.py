"""Hyper-parameter sweeps left in a run table (`scalelab.runs.sweeps`): each input point's tuned runs are fitted.

References: the setting each simulated point was built to have as its best (the others carry a known 2-6% penalty),
and the forecast of the table that holds only those runs.
"""

import numpy as np
import pandas as pd
import pytest

import scalelab
from scalelab.cli import main as cli_main
from scalelab.runs.sweeps import best_settings, setting_columns


def sweep_table(seed=0, seeds=1, column="lr"):
    """6 sizes x 2 tokens per parameter, each trained at 4 learning rates (one per point is the tuned one), ``seeds``
    runs per setting; Hoffmann's law, 0.3% noise. Returns the table and which rows are the tuned runs."""
    rng = np.random.default_rng(seed)
    rows = []
    for N in np.geomspace(5e7, 1.6e9, 6):
        for tpp in (10.0, 40.0):
            grid = 3e-3 * (N / 5e7) ** -0.3 * np.array([0.25, 0.5, 1.0, 2.0])  # the grid moves with size
            best = rng.integers(0, 4)
            for j, lr in enumerate(grid):
                penalty = 0.0 if j == best else rng.uniform(0.02, 0.06)
                for s in range(seeds):
                    L = (1.69 + 406.4 / N ** 0.34 + 410.7 / (tpp * N) ** 0.28) * (1 + penalty)
                    rows.append({"N": N, "D": tpp * N, column: lr, "seed": s, "tuned": j == best,
                                 "loss": L * np.exp(rng.normal(0, 0.003))})
    return pd.DataFrame(rows)


def test_each_swept_point_keeps_the_runs_of_its_best_setting():
    df = sweep_table(seeds=2)
    keep, note = best_settings(df.drop(columns="tuned"))
    np.testing.assert_array_equal(keep, df["tuned"].to_numpy())  # both seeds of the tuned setting, nothing else
    assert note == "12 input points (runs alike in N, D) were trained at 4 settings of lr (a sweep)"
    # an unread column named as a setting is one too; a seed column never is
    peak = df.rename(columns={"lr": "peak_lr"}).drop(columns="tuned")
    assert setting_columns(peak) == ["peak_lr"]
    np.testing.assert_array_equal(best_settings(peak)[0], df["tuned"].to_numpy())


def test_no_sweep_leaves_every_run():
    df = sweep_table().drop(columns="tuned")
    tuned = sweep_table()["tuned"].to_numpy()
    assert best_settings(df[tuned]) == (None, None)  # one setting per point: nothing to choose
    # seeds of one run with the learning rate logged for one of them only (an export's NaN) are no sweep
    seeds = pd.concat([df[tuned], df[tuned].assign(lr=np.nan)], ignore_index=True)
    assert best_settings(seeds) == (None, None)
    assert best_settings(df.drop(columns="lr")) == (None, None)


def test_forecast_fits_the_tuned_runs_and_says_so():
    df = sweep_table(seed=1)
    sweep, tuned = df.drop(columns=["tuned", "seed"]), df[df["tuned"]].drop(columns=["tuned", "seed"])
    at = {"N": [5e9], "D": [1e11]}
    fc = scalelab.forecast(sweep, at, laws="chinchilla,kaplan", progress=False)
    ref = scalelab.forecast(tuned, at, laws="chinchilla,kaplan", progress=False)
    np.testing.assert_allclose(fc.loss, ref.loss, rtol=1e-10)
    np.testing.assert_allclose([fc.lo, fc.hi], [ref.lo, ref.hi], rtol=1e-10)
    assert any("a loss law describes the tuned run" in w and "other 36 runs are left out" in w for w in fc.warnings)
    # a fit of every run says what it describes
    (said,) = [w for w in scalelab.fit(sweep, "chinchilla").warnings if "(a sweep)" in w]
    assert "describes the sweep's average run" in said and "(12 runs;" in said
    every = scalelab.forecast(sweep, at, laws="chinchilla,kaplan", progress=False, sweeps="all")
    assert every.details["residuals"].shape[1] == len(sweep)
    assert every.loss[0] > fc.loss[0] * 1.01  # the sweep's average run lies above the tuned one
    with pytest.raises(ValueError, match="sweeps is 'best'"):
        scalelab.forecast(sweep, at, laws="chinchilla", sweeps="tuned")


def test_the_command_keeps_the_tuned_runs_unless_told_all(tmp_path, capsys):
    df = sweep_table(seed=2).drop(columns=["tuned", "seed"])
    df.to_csv(tmp_path / "runs.csv", index=False)
    pd.DataFrame({"N": [5e9], "D": [1e11]}).to_csv(tmp_path / "at.csv", index=False)
    base = ["forecast", str(tmp_path / "runs.csv"), "--at", str(tmp_path / "at.csv"), "--law", "chinchilla", "--json"]
    assert cli_main(base) == 0
    assert "the other 36 runs are left out" in capsys.readouterr().err
    assert cli_main(base + ["--sweeps", "all"]) == 0
    assert "left out" not in capsys.readouterr().err


def test_what_is_no_sweep_and_what_still_is():
    """The second trial of the rule. Two ladders that differ in a column no law reads (a dataset), each at its own
    learning rate, are no sweep (the two-ladders warning names them); a setting logged as text or left empty is an
    unknown setting (left out at a swept point); ``wd`` is a setting; settings equal to 4 significant digits are one
    (seeds whose lr was logged with float noise); a seed column never splits a point."""
    df = sweep_table(seeds=2).drop(columns="tuned")
    tuned = sweep_table(seeds=2)["tuned"].to_numpy()
    tuned_only = df[tuned]
    ladders = pd.concat([tuned_only.assign(dataset="web"),
                         tuned_only.assign(dataset="code", lr=tuned_only["lr"] * 2, loss=tuned_only["loss"] * 0.85)])
    assert best_settings(ladders) == (None, None)
    texty = df.astype({"lr": object})
    texty.loc[[0, 1], "lr"] = ["cosine", None]  # the first point's first setting, both seeds: unknown
    keep, said = best_settings(texty)
    assert not keep[:2].any() and "2 of their runs have no readable setting" in said
    np.testing.assert_array_equal(keep[2:], tuned[2:])
    np.testing.assert_array_equal(best_settings(df.rename(columns={"lr": "wd"}))[0], tuned)
    noisy = tuned_only.assign(lr=tuned_only["lr"] * (1 + 1e-9 * np.arange(len(tuned_only))))
    assert best_settings(noisy) == (None, None)
    keep, said = best_settings(df)  # seeds 0 and 1 of each setting stay together
    np.testing.assert_array_equal(keep, tuned)


def test_an_lr_in_the_targets_is_said_to_be_ignored():
    df = sweep_table(seed=3).drop(columns=["tuned", "seed"])
    fc = scalelab.forecast(df, {"N": [5e9], "D": [1e11], "lr": [1e-3]}, laws="chinchilla", progress=False)
    assert any(w.startswith("the targets give lr, which no candidate law reads: ignored") for w in fc.warnings)
