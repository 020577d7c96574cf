"""Bootstrap refits (`scalelab fit --bootstrap`): fit_many's fast path against the plain program and SciPy.

Epoch's 240 runs, B bootstrap resamples (default 4,000), ``starts="auto"`` (every resample starts
from the full-table optimum and one jittered copy: 2 LM lanes per resample). Same process, same
resamples:

* plain: ``compaction=False, drop_unweighted=False``: one LM loop over all lanes of a batch, every
  run in every lane (the program before lane compaction), so every lane pays for every sweep until
  the slowest lane has finished;
* fast: fit_many's defaults (on a CPU: lanes still running gathered into rounds of 256, and each
  resample fitted on only the runs it weighs);
* anchor: Epoch's procedure, SciPy L-BFGS-B (analytic gradient) from the full-table optimum, one
  start per resample, on ``--scipy`` resamples, extrapolated to B.

Each path is called once to compile, then plain and fast alternate ``--repeat`` times; the best of
each is printed with the ratio, the load average and the device, and the largest relative
difference of the resamples' objectives between the two paths.

    python benchmarks/bootstrap_speed.py [--resamples 4000] [--repeat 2] [--scipy 40]
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from scipy import optimize

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import device_name, epoch_objective_and_grad  # noqa: E402

import scalelab  # noqa: E402
from scalelab.data import epoch_chinchilla  # noqa: E402
from scalelab.fit import variants as V  # noqa: E402
from scalelab.fit.many import fit_many  # noqa: E402


def load() -> str:
    return "load %.1f" % os.getloadavg()[0]


def scipy_bootstrap(df, weights, base):
    """Epoch's procedure on each weight row: L-BFGS-B from the full-table optimum ``base`` (a, b, e, alpha, beta)."""
    logN, logD, logL = (np.log(df[c].to_numpy()) for c in ("N", "D", "loss"))
    out = []
    for w in weights:
        reps = w.astype(int)
        args = (np.repeat(logN, reps), np.repeat(logD, reps), np.repeat(logL, reps))
        res = optimize.minimize(epoch_objective_and_grad, base, args=args, jac=True, method="L-BFGS-B",
                                options={"maxiter": 1000, "ftol": 1e-15, "gtol": 1e-12})
        out.append(res.fun)
    return np.array(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--resamples", type=int, default=4000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--scipy", type=int, default=40, help="resamples refitted by the SciPy anchor (0: skip)")
    args = ap.parse_args()

    runs = epoch_chinchilla()
    vs = V.bootstrap(runs, args.resamples, seed=0)
    print(f"device: {device_name()}; Epoch {len(runs)} runs, {args.resamples} resamples, 2 lanes each; {load()}")
    base = scalelab.fit(runs, "chinchilla")  # the table's fit (`scalelab fit` makes it before the bootstrap)
    paths = {"plain": dict(compaction=False, drop_unweighted=False), "fast": {}}
    first, best, rows = {}, {}, {}
    for name, kw in paths.items():
        t0 = time.perf_counter()
        rows[name] = fit_many(runs, "chinchilla", vs, start_fit=base, progress=False, **kw)
        first[name] = (time.perf_counter() - t0, rows[name].attrs["compile_seconds"])
        print(f"{name:<5} first call {first[name][0]:6.2f} s (compile {first[name][1]:.2f} s)  {load()}", flush=True)
    for r in range(args.repeat):
        for name, kw in paths.items():
            t0 = time.perf_counter()
            fit_many(runs, "chinchilla", vs, start_fit=base, progress=False, **kw)
            dt = time.perf_counter() - t0
            best[name] = min(best.get(name, np.inf), dt)
            print(f"{name:<5} warm {dt:6.2f} s  {load()}", flush=True)
    a, b = rows["plain"], rows["fast"]
    rel = (b["objective"] - a["objective"]) / a["objective"]
    it = b["n_iter"].to_numpy()
    print(f"\nwarm, best of {args.repeat}: plain {best['plain']:.2f} s, fast {best['fast']:.2f} s: "
          f"{best['plain'] / best['fast']:.1f}x  ({device_name()})")
    print(f"objectives fast vs plain: relative difference max {rel.max():+.1e}, min {rel.min():+.1e}; "
          f"converged {int(b['converged'].sum())}/{len(b)} vs {int(a['converged'].sum())}/{len(a)}")
    print(f"iterations of the winning lane: median {np.median(it):.0f}, 99% {np.percentile(it, 99):.0f}, "
          f"max {it.max()}")
    if args.scipy:
        u = base.unconstrained
        start = np.array([u["log_A"], u["log_B"], u["log_E"], u["alpha"], u["beta"]], float)
        k = min(args.scipy, args.resamples)
        t0 = time.perf_counter()
        ref = scipy_bootstrap(runs.df, vs.weights[:k], start)
        per = (time.perf_counter() - t0) / k
        gap = (b["objective"].to_numpy()[:k] - ref) / ref
        print(f"SciPy L-BFGS-B, one start per resample (Epoch's procedure): {per * 1e3:.1f} ms per resample, "
              f"{per * args.resamples:.1f} s for {args.resamples} (extrapolated from {k}): "
              f"{per * args.resamples / best['fast']:.0f}x the fast path; fast - SciPy objective: "
              f"max {gap.max():+.1e} relative (negative: ours lower)")


if __name__ == "__main__":
    main()
