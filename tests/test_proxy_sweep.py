"""Sweeps: a real 2-run micro plan through the CLI, RunTable columns, resuming after a kill,
sharding, merging on read, and atomic writes."""

import dataclasses
import importlib

import jax
import pandas as pd
import pytest

from scalelab import cli
from scalelab.proxy import plans
from scalelab.proxy.sweep import append_row, parse_shard, read_runs, shard_path, sweep

sweep_mod = importlib.import_module("scalelab.proxy.sweep")  # the module; the package re-exports the function


@pytest.fixture(autouse=True)
def _x64():
    """JAX's 64-bit mode on around each test, as a caller may have it: the proxy is explicit about dtypes."""
    with jax.enable_x64(True):
        yield


CONTRACT = ["N", "N_total", "N_active", "D", "C", "loss", "E", "k", "S", "G", "U_D", "lr", "batch_size",
            "ngram_repeat", "run_id", "family", "step", "seed"]


def test_micro_plan_end_to_end_via_cli(tmp_path, capsys):
    out = tmp_path / "runs.csv"
    assert cli.main(["proxy", "sweep", "--plan", "micro", "--out", str(out), "--no-progress", "--json"]) == 0
    df = read_runs(out)
    assert len(df) == 2 and set(df["family"]) == {"dense", "moe"}
    assert set(CONTRACT) <= set(df.columns) and "density" not in df.columns  # density: Chen's, not the proxy's
    assert (df["N"] == df["N_total"]).all() and (df[["N", "D", "C", "loss"]] > 0).all().all()
    moe = df[df["family"] == "moe"].iloc[0]
    dense = df[df["family"] == "dense"].iloc[0]
    assert moe["N_active"] < moe["N_total"] and dense["D"] == moe["D"]
    assert abs(moe["C"] / dense["C"] - 1) < 0.05  # matched compute up to the router
    assert '"runs_finished_in_plan": 2' in capsys.readouterr().out


class _FakeTrainer:
    """Stands in for train_run: records calls, returns a row keyed by the spec."""

    def __init__(self, fail_at=None):
        self.calls, self.fail_at = [], fail_at

    def __call__(self, spec):
        if self.fail_at is not None and len(self.calls) == self.fail_at:
            raise KeyboardInterrupt("killed")
        self.calls.append(spec.run_id)
        return {"N": 1, "loss": 2.0 + len(self.calls), "run_id": spec.run_id, "family": spec.model.family}


def test_killed_sweep_resumes_without_redoing_or_losing_runs(tmp_path, monkeypatch):
    specs = plans.get_plan("tiny")
    out = tmp_path / "runs.csv"
    first = _FakeTrainer(fail_at=5)
    monkeypatch.setattr(sweep_mod, "train_run", first)
    with pytest.raises(KeyboardInterrupt):
        sweep(specs, out, progress=False)
    assert len(read_runs(out)) == 5
    second = _FakeTrainer()
    monkeypatch.setattr(sweep_mod, "train_run", second)
    table = sweep(specs, out, progress=False)
    assert len(second.calls) == len(specs) - 5 and not set(second.calls) & set(first.calls)
    assert sorted(table["run_id"]) == sorted(s.run_id for s in specs)
    third = _FakeTrainer()
    monkeypatch.setattr(sweep_mod, "train_run", third)
    sweep(specs, out, progress=False)
    assert third.calls == []


def test_shards_split_the_plan_and_merge_on_read(tmp_path, monkeypatch):
    specs = plans.get_plan("tiny")
    out = tmp_path / "runs.parquet"
    monkeypatch.setattr(sweep_mod, "train_run", _FakeTrainer())
    for i in range(3):
        sweep(specs, out, shard=(i, 3), progress=False)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == [f"runs.shard{i}of3.parquet" for i in range(3)]
    merged = read_runs(out)
    assert sorted(merged["run_id"]) == sorted(s.run_id for s in specs)
    assert len(read_runs(str(tmp_path / "*.parquet"))) == len(specs)
    # an unsharded restart sees the shards' runs as done
    fresh = _FakeTrainer()
    monkeypatch.setattr(sweep_mod, "train_run", fresh)
    sweep(specs, out, progress=False)
    assert fresh.calls == []


def test_append_is_atomic(tmp_path, monkeypatch):
    out = tmp_path / "runs.csv"
    append_row(out, {"run_id": "a", "loss": 1.0})
    before = out.read_bytes()

    def broken(self, *a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", broken)
    with pytest.raises(OSError):
        append_row(out, {"run_id": "b", "loss": 2.0})
    assert out.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["runs.csv"]


def test_shard_parsing_and_paths(tmp_path):
    assert parse_shard("1/4") == (1, 4) and parse_shard(None) == (0, 1)
    for bad in ("4/4", "x", "1-4"):
        with pytest.raises(ValueError, match="i/n"):
            parse_shard(bad)
    assert shard_path(tmp_path / "r.csv", (0, 1)).name == "r.csv"
    assert shard_path(tmp_path / "r.csv", (2, 5)).name == "r.shard2of5.csv"
    with pytest.raises(FileNotFoundError, match="sweep"):
        read_runs(tmp_path / "missing.csv")


def test_run_ids_are_stable_and_distinct():
    a, b = plans.get_plan("tiny"), plans.get_plan("tiny")
    assert [s.run_id for s in a] == [s.run_id for s in b]
    assert len({s.run_id for s in a}) == len(a)
    assert len({s.run_id for s in plans.get_plan("tiny", seed=1)} & {s.run_id for s in a}) == 0
    assert dataclasses.replace(a[0], plan="other").run_id == a[0].run_id


def test_plans_cover_the_spec():
    tiny = plans.get_plan("tiny")
    assert len(tiny) >= 12 and {s.model.family for s in tiny} == {"dense", "moe"}
    assert len(plans.get_plan("micro")) == 2
    # The demo's table extends tiny (same run ids, so `sweep` would reuse its rows); the density grid
    # crosses 3 widths x 5 token budgets x 3 duplication levels on one unique-token pool.
    demo = plans.get_plan("tiny-demo")
    assert len(demo) == 30 and {s.run_id for s in tiny} <= {s.run_id for s in demo}
    grid = plans.get_plan("tiny-density-grid")
    assert len(grid) == 45 and len({s.run_id for s in grid}) == 45
    assert {(s.model.d_model, s.train.tokens, s.data.duplication) for s in grid} == {
        (d, 2**k, dup) for d in (32, 48, 64) for k in range(16, 21) for dup in (0.0, 0.5, 0.9)}
    assert {s.data.unique_tokens for s in grid} == {2**16}
    with pytest.raises(KeyError, match="known plans"):
        plans.get_plan("nope")


def test_empty_shard_and_limit_zero_return_empty_tables(tmp_path, monkeypatch):
    fake = _FakeTrainer()
    monkeypatch.setattr(sweep_mod, "train_run", fake)
    one = plans.get_plan("micro")[:1]
    out = tmp_path / "runs.csv"
    assert sweep(one, out, shard=(1, 2), progress=False).empty  # shard 1 of 2 has no runs
    assert sweep(one, out, limit=0, progress=False).empty
    assert fake.calls == [] and list(tmp_path.iterdir()) == []
