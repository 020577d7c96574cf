"""Proxy runs that log whole curves and follow a schedule CSV (scalelab.proxy.train / sweep)."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

import scalelab
from scalelab.proxy import plans
from scalelab.proxy.sweep import curves_path, read_runs, sweep
from scalelab.proxy.train import lr_schedule, read_schedule, train_run


def test_read_schedule_follows_the_curve_convention(tmp_path):
    path = tmp_path / "s.csv"
    pd.DataFrame({"step": [4, 8, 12], "lr": [1e-2, 1e-2, 2e-3]}).to_csv(path, index=False)
    lrs = read_schedule(path, 12)
    # update s (1-based) gets the piecewise-linear lr at step s; warm-up from 0 at step 0
    expected = np.interp(np.arange(1, 13), [0, 4, 8, 12], [0, 1e-2, 1e-2, 2e-3])
    np.testing.assert_allclose(lrs, expected, rtol=1e-6)
    with pytest.raises(ValueError, match="ends at step 12"):
        read_schedule(path, 20)
    pd.DataFrame({"step": [4, 3], "lr": [1e-2, 1e-2]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match="steps must increase"):
        read_schedule(path, 3)


def test_constant_schedule_warms_up_then_holds():
    t = plans._tiny_train(0, schedule="constant", warmup_frac=0.25)
    lrs = lr_schedule(t, 16)
    assert lrs[3] == pytest.approx(t.lr) and np.all(lrs[4:] == lrs[4]) and lrs[0] < lrs[1] < lrs[3]


@pytest.fixture(scope="module")
def micro_spec():
    return plans.get_plan("micro")[0]  # dense d=16, 1 layer, 32 steps


def test_train_run_logs_its_curve_under_a_custom_schedule(micro_spec):
    steps = micro_spec.train.steps(micro_spec.model.seq_len)
    lrs = np.linspace(1e-2, 1e-3, steps).astype(np.float32)
    row = train_run(micro_spec, lrs=lrs, curve_every=8)
    curve = pd.DataFrame(row["curve"])
    assert curve["step"].tolist() == [8, 16, 24, 32] and row["schedule"] == "custom"
    np.testing.assert_allclose(curve["lr"], lrs[curve["step"] - 1], rtol=1e-6)
    assert curve["loss"].iloc[-1] == pytest.approx(row["loss"], rel=1e-9)  # same parameters, same held-out set
    assert curve["loss"].iloc[0] > curve["loss"].iloc[-1] and np.isfinite(curve["train_loss"]).all()


def test_sweep_writes_a_curve_table_and_resumes(tmp_path, micro_spec):
    sched = tmp_path / "schedule.csv"
    pd.DataFrame({"step": [4, 32], "lr": [1e-2, 1e-3]}).to_csv(sched, index=False)
    out = tmp_path / "runs.csv"
    table = sweep([micro_spec], out, progress=False, curve_every=16, schedule=sched)
    assert len(table) == 1 and table["run_id"].iloc[0].startswith(micro_spec.run_id + "-s")
    cur = scalelab.read(curves_path(out))  # a valid curve table (run_id + step, lr per row)
    assert cur.is_curve and cur.df["step"].tolist() == [16, 32]
    assert len(cur.final()) == 1 and cur.final().df["loss"].iloc[0] == pytest.approx(table["loss"].iloc[0])
    sweep([micro_spec], out, progress=False, curve_every=16, schedule=sched)  # done: nothing new
    assert len(read_runs(out)) == 1 and len(pd.read_csv(curves_path(out))) == 2


def test_proxy_cli_logs_curves_under_a_schedule_csv(tmp_path, capsys, micro_spec):
    import json

    from scalelab.cli import main

    sched = tmp_path / "schedule.csv"
    pd.DataFrame({"step": [4, 32], "lr": [1e-2, 1e-3]}).to_csv(sched, index=False)
    out = tmp_path / "runs.csv"
    assert main(["proxy", "sweep", "--plan", "micro", "--out", str(out), "--limit", "1", "--curve-every", "8",
                 "--schedule", str(sched), "--no-progress", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    cur = pd.read_csv(summary["curves_file"])
    assert cur["step"].tolist() == [8, 16, 24, 32] and cur["run_id"].str.startswith(micro_spec.run_id + "-s").all()
    # the run followed the CSV: lr of update s is linear from (4, 1e-2) to (32, 1e-3)
    np.testing.assert_allclose(cur["lr"], np.interp(cur["step"], [4, 32], [1e-2, 1e-3]), rtol=1e-6)
    # the runs table records the rate the run reached (the CSV's peak), not the plan's (a new-user trial found the
    # plan's 1e-2 there under a 3e-4 schedule); a schedule far longer than the runs is cut, and said
    runs = pd.read_csv(summary["file"])
    assert runs["lr"].iloc[0] == pytest.approx(1e-2) and runs["schedule"].iloc[0] == "custom"
    long = tmp_path / "long.csv"
    pd.DataFrame({"step": [4, 24000], "lr": [3e-4, 3e-5]}).to_csv(long, index=False)
    assert main(["proxy", "sweep", "--plan", "micro", "--out", str(tmp_path / "b.csv"), "--limit", "1",
                 "--schedule", str(long), "--no-progress", "--json"]) == 0
    assert "runs to step 24000, and the plan's runs take at most 32 steps" in capsys.readouterr().err
    assert pd.read_csv(tmp_path / "b.csv")["lr"].iloc[0] == pytest.approx(3e-4, rel=1e-6)  # its peak, at step 4
