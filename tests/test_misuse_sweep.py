"""The sweep writer under misuse and kills (issue 18): a user's table is never written into, files get
the user's umask, and a SIGKILL mid-run or mid-write through the CLI loses and duplicates nothing and
leaves no temp file once the sweep resumes.

The kill test runs `scalelab proxy sweep` in a child process with the trainer swapped for a stub that
returns a row at once (or blocks, to be killed): what is under test is the CLI, the resume logic and the
atomic writer, not the proxy trainer (whose real micro plan runs in test_proxy_sweep.py)."""

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from scalelab import cli
from scalelab.proxy import atomic, plans
from scalelab.proxy.sweep import MARKER, append_row, read_runs

SRC = str(Path(__file__).resolve().parents[1] / "src")


def test_out_onto_a_users_table_is_refused(tmp_path, capsys):
    p = tmp_path / "mine.csv"
    p.write_text("N,D,loss\n1e8,2e9,3.0\n")
    before = p.read_bytes()
    assert cli.main(["proxy", "sweep", "--plan", "micro", "--out", str(p), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --out") and "not written by `scalelab proxy sweep`" in err
    assert p.read_bytes() == before
    with pytest.raises(ValueError, match="not written by"):
        append_row(p, {"run_id": "x", "loss": 1.0})
    assert p.read_bytes() == before


def test_modes_follow_umask_and_existing_mode(tmp_path):
    old = os.umask(0o027)
    try:
        p = tmp_path / "runs.csv"
        append_row(p, {"run_id": "a", "loss": 1.0})
        assert stat.S_IMODE(p.stat().st_mode) == 0o640  # 0o666 & ~0o027, as open() would give
        os.chmod(p, 0o644)
        append_row(p, {"run_id": "b", "loss": 2.0})
        assert stat.S_IMODE(p.stat().st_mode) == 0o644  # an existing file keeps its mode
    finally:
        os.umask(old)
    assert list(read_runs(p)["run_id"]) == ["a", "b"] and (read_runs(p)[MARKER[0]] == MARKER[1]).all()


def test_stale_temp_files_are_removed_live_ones_kept(tmp_path):
    p = tmp_path / "runs.csv"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    stale = tmp_path / f".runs.csv.{dead}.deadbeef.tmp"
    live = tmp_path / f".runs.csv.{os.getpid()}.cafe0001.tmp"
    stale.write_text("partial")
    live.write_text("in flight")
    append_row(p, {"run_id": "a", "loss": 1.0})
    assert not stale.exists() and live.exists()


CHILD = textwrap.dedent("""
    import os, sys, time
    import pandas as pd
    import scalelab.proxy.sweep as sweep_mod
    from scalelab import cli
    mode, flag = sys.argv[1], sys.argv[2]
    calls = []

    def fake_train(spec):
        calls.append(spec.run_id)
        if mode == "run" and len(calls) == 2:
            open(flag, "w").close(); time.sleep(600)
        return {"N": 1e6, "D": 1e7, "loss": 3.0, "run_id": spec.run_id, "family": spec.model.family}

    sweep_mod.train_run = fake_train
    if mode == "write":
        real = pd.DataFrame.to_csv
        def slow(self, fh, **kw):
            if len(calls) == 1:  # the first row this process writes
                fh.write(b"N,D,lo"); fh.flush(); open(flag, "w").close(); time.sleep(600)
            return real(self, fh, **kw)
        pd.DataFrame.to_csv = slow
    os.umask(0o022)
    sys.exit(cli.main(["proxy", "sweep", "--plan", "tiny", "--out", sys.argv[3], "--no-progress"]))
""")


def _child(mode, flag, out):
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen([sys.executable, "-c", CHILD, mode, str(flag), str(out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _kill_when(proc, flag, timeout=120):
    t0 = time.time()
    while not flag.exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.time() - t0 < timeout, "the child never reached the kill point"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def test_sigkill_mid_run_and_mid_write_through_the_cli(tmp_path):
    out = tmp_path / "runs.csv"
    ids = [s.run_id for s in plans.get_plan("tiny")]
    # 1. killed while training its 2nd run: the 1st is on disk, nothing else
    proc = _child("run", tmp_path / "f1", out)
    _kill_when(proc, tmp_path / "f1")
    assert list(read_runs(out)["run_id"]) == ids[:1]
    os.chmod(out, 0o640)
    # 2. the resumed sweep is killed inside the atomic rewrite: the old file intact, an orphan temp file
    before = out.read_bytes()
    proc = _child("write", tmp_path / "f2", out)
    _kill_when(proc, tmp_path / "f2")
    assert out.read_bytes() == before and len(atomic.temp_files(out)) == 1
    # 3. resumed to the end: every run once, no temp file, the mode the user set kept
    proc = _child("none", tmp_path / "f3", out)
    assert proc.wait(timeout=120) == 0, proc.stderr.read().decode()
    df = read_runs(out)
    assert sorted(df["run_id"]) == sorted(ids) and df["run_id"].is_unique and len(pd.read_csv(out)) == len(ids)
    assert atomic.temp_files(out) == [] and sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    assert stat.S_IMODE(out.stat().st_mode) == 0o640


def test_a_sweep_written_in_shards_is_named_when_its_file_is_missing(tmp_path, capsys):
    """`proxy sweep --shard i/n --out sh.csv` writes sh.shard0of2.csv, ...; `fit sh.csv` said only "no such file"
    while `proxy show sh.csv` found them (a new-user trial, twenty-sixth session)."""
    from scalelab.cli import main

    for i in range(2):
        (tmp_path / f"sh.shard{i}of2.csv").write_text("N,D,loss\n1e8,2e9,3.1\n")
    assert main(["fit", str(tmp_path / "sh.csv")]) == 2
    err = capsys.readouterr().err
    assert "no such file; a sharded sweep wrote its runs to sh.shard0of2.csv, sh.shard1of2.csv" in err
    assert f"scalelab.proxy.read_runs({str(tmp_path / 'sh.csv')!r})" in err
    assert main(["fit", str(tmp_path / "other.csv")]) == 2
    assert capsys.readouterr().err.strip().endswith("other.csv: no such file")
