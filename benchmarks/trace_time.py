"""Where a fresh process spends a `fit_many` call when the persistent compilation cache is warm.

The persistent cache (`scalelab.cache`) skips XLA compilation in a new process, but JAX
computes its key from the lowered program, so tracing and lowering are paid by every
process. This benchmark runs each measurement in a FRESH subprocess, twice (the first fills
the cache, the second is reported), and splits the one compiled call of `fit_many` into

* trace: ``jit(...).trace(*args)`` (Python tracing, vmap/while batching rules),
* lower: ``.lower()`` (jaxpr -> StableHLO),
* compile: ``.compile()`` (a persistent-cache load when warm),
* run: executing the program,

for ``fit_many(table, law, variants of 5 weight rows, starts=default_starts(law))`` on a
12-run and the 240-run Epoch table, and times ``scalelab forecast`` end to end on the
12-run table (second call). ``--src DIR`` runs another checkout's code (e.g. the code
before a change) in the subprocesses, so before/after are measured the same way.

Usage::

    python benchmarks/trace_time.py [--src DIR] [--laws a,b] [--sizes 12,240] [--no-forecast]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

FORECAST_LAWS = ("chen2025_suboptimal", "chinchilla", "farseer", "gadre2024_overtrain", "kaplan", "skaling")


def _table(n: int):
    """The Epoch table (240 runs) or ``n`` of its runs spread evenly over model size."""
    from scalelab.runs.data import epoch_chinchilla

    t = epoch_chinchilla()
    if n >= len(t):
        return t
    order = np.argsort(t.column("N"), kind="stable")
    pick = np.zeros(len(t), bool)
    pick[order[np.round(np.linspace(0, len(t) - 1, n)).astype(int)]] = True
    return t.select(pick)


def _variants(n: int):
    """5 weight rows: all runs, then each of the 4 largest runs (by N) held out in turn."""
    from scalelab.fit.variants import _make

    W = np.ones((5, n))
    order = np.argsort(-_table(n).column("N"), kind="stable")
    for k in range(1, 5):
        W[k, order[k - 1]] = 0.0
    return _make(W, {"variant": [f"v{k}" for k in range(5)]})


def _phase_timer(phases: dict):
    """A stand-in for `scalelab.programs.call_timed` that times each phase of the first call."""
    import jax

    def call_timed(jitted, *args, name=None, compiler_options=None):
        t0 = time.perf_counter()
        traced = jitted.trace(*args)
        t1 = time.perf_counter()
        lowered = traced.lower()
        t2 = time.perf_counter()
        compiled = lowered.compile(compiler_options) if compiler_options else lowered.compile()
        t3 = time.perf_counter()
        out = jax.block_until_ready(compiled(*args))
        t4 = time.perf_counter()
        for k, dt in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            phases[k] += dt
        return out, t3 - t0

    return call_timed


def child(law_name: str, n: int, what: str = "fit_many") -> dict:
    """One ``fit_many`` (or ``fit``) call in this (fresh) process, its compiled call split into phases."""
    from scalelab import laws
    from scalelab.fit import api, many
    from scalelab.fit.api import default_starts

    phases = {"trace": 0.0, "lower": 0.0, "compile": 0.0, "run": 0.0}
    many.call_timed = api.call_timed = _phase_timer(phases)
    table = _table(n)
    law = laws.get(law_name)
    t0 = time.perf_counter()
    if what == "fit":
        res = api.fit(table, law_name)
        rows = [res.params]
        objective = [res.objective]
    else:
        df = many.fit_many(table, law_name, _variants(len(table)), starts=default_starts(law), progress=False)
        rows = df.to_dict("records")
        objective = df["objective"].tolist()
    wall = time.perf_counter() - t0
    return {"law": law_name, "n": len(table), "what": what, "wall": wall, **phases, "objective": objective,
            "params": {p: [float(r[p]) for r in rows] for p in law.params}}


def _run_child(src: str | None, law: str, n: int, what: str) -> dict:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    bench = os.path.dirname(os.path.abspath(__file__))
    env["PYTHONPATH"] = env["PYTHONPATH"] + os.pathsep + bench if env.get("PYTHONPATH") else bench
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", law, str(n), what],
                         env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _forecast_seconds(src: str | None, n: int) -> float:
    """Wall seconds of ``scalelab forecast`` on the n-run table in a fresh process (second call)."""
    tmp = tempfile.mkdtemp()
    data, at = os.path.join(tmp, "runs.csv"), os.path.join(tmp, "at.csv")
    _table(n).df[["N", "D", "loss"]].to_csv(data, index=False)
    with open(at, "w") as f:
        f.write("N,D\n7e10,1.4e12\n")
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-m", "scalelab.cli", "forecast", data, "--at", at, "--json"]
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
    return times[-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", nargs=3, metavar=("LAW", "N", "WHAT"))
    ap.add_argument("--src", default=None, help="PYTHONPATH of the code to measure (default: this checkout's)")
    ap.add_argument("--laws", default=",".join(FORECAST_LAWS))
    ap.add_argument("--sizes", default="12,240")
    ap.add_argument("--what", default="fit_many", choices=("fit_many", "fit"),
                    help="time fit_many (5 weight rows, the law's default starts) or fit (default settings)")
    ap.add_argument("--no-forecast", action="store_true")
    ap.add_argument("--json", default=None, help="also write every row to this file")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]), args.child[2])))
        return
    from _common import device_name

    # a fresh persistent cache for this run: the first child of each row compiles cold, the second loads
    os.environ["SCALELAB_CACHE_DIR"] = tempfile.mkdtemp(prefix="scalelab-trace-time-")
    print(f"device: {device_name()}; code: {args.src or 'this checkout'}; {args.what}, fresh process, cache warm "
          f"(cold: the first process, empty cache)")
    print(f"{'law':22s} {'runs':>5s} {'wall':>7s} {'trace':>7s} {'lower':>7s} {'compile':>7s} {'run':>7s} "
          f"{'cold wall':>9s} {'cold compile':>12s}  objective[0]")
    rows = []
    for n in map(int, args.sizes.split(",")):
        for law in args.laws.split(","):
            cold = _run_child(args.src, law, n, args.what)  # fills the persistent cache
            r = _run_child(args.src, law, n, args.what)
            r["cold_wall"], r["cold_compile"] = cold["wall"], cold["compile"]
            rows.append(r)
            print(f"{law:22s} {r['n']:5d} {r['wall']:7.2f} {r['trace']:7.2f} {r['lower']:7.2f} {r['compile']:7.2f} "
                  f"{r['run']:7.2f} {r['cold_wall']:9.2f} {r['cold_compile']:12.2f}  {r['objective'][0]:.10g}",
                  flush=True)
        tot = [sum(r[k] for r in rows if r["n"] == rows[-1]["n"])
               for k in ("wall", "trace", "lower", "compile", "run", "cold_wall", "cold_compile")]
        print(f"{'total':22s} {rows[-1]['n']:5d} " + " ".join(f"{t:7.2f}" for t in tot[:5])
              + f" {tot[5]:9.2f} {tot[6]:12.2f}", flush=True)
    if not args.no_forecast:
        n = int(args.sizes.split(",")[0])
        print(f"scalelab forecast, {n}-run table, fresh process, second call: {_forecast_seconds(args.src, n):.2f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f)


if __name__ == "__main__":
    main()
