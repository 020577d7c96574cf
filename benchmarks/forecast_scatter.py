"""The forecast's run-to-run scatter ``s0``: 1.4826 MAD (before the thirtieth session) against `run_scatter`, the
residuals' clipped mean square counted for the parameters the fits spent.

Two checks, each printed with the device:

* ``--saved FILES``: on the saved fits of `forecast_calibration.py --jsonl` (simulated ladders of known noise, 0.5%
  by default) or `forecast.py --jsonl`, the median over tables of each estimate of the weighted residuals' scatter;
* ``--shapes NAMES --seeds K``: the private benchmark's shapes (`forecast_shapes.shapes()`, 0.5% noise, the largest
  size held out), forecast by `scalelab.forecast` on the same noise draws, each held-out run checked against the
  interval with today's ``s0`` and with the MAD: families with every held-out run inside, the share of noiseless
  truths inside, and the median width.

    python benchmarks/forecast_scatter.py --saved cal_sk6.jsonl cal_fs6.jsonl cal_sk8.jsonl cal_fs8.jsonl
    python benchmarks/forecast_scatter.py --shapes pythia,runs12_4x3,runs12_3x4,runs12_6x2,olmo_k1.2 --seeds 20
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import device_name, with_n_params  # noqa: E402
from forecast_scale_rules import mad_scatter, today  # noqa: E402

import scalelab  # noqa: E402
from scalelab.forecast.calibrate import combine, robust_scale, run_scatter  # noqa: E402


def saved(paths) -> None:
    print("| saved fits | tables | runs | s0 as 1.4826 MAD | run_scatter |")
    print("|---|---|---|---|---|")
    for path in paths:
        mad, ours, n = [], [], 0
        for line in open(path):
            r = json.loads(line)
            if "details" not in r:
                continue
            d = with_n_params(r["details"])
            w = combine(d, 0.9)["weights"]
            res = w @ np.asarray(d["residuals"], float)
            mad.append(robust_scale(res))
            ours.append(run_scatter(res, None, float(w @ np.asarray(d["n_params"], float))))
            n = len(res)
        print(f"| {Path(path).name} | {len(mad)} | {n} | {np.median(mad):.4f} | {np.median(ours):.4f} |")


def shapes(names, seeds: int, sigma: float) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from forecast_shapes import shapes as all_shapes

    table = all_shapes()
    law = scalelab.laws.get("skaling")
    rules = {"run_scatter (today)": today, "1.4826 MAD (before)": mad_scatter}
    print("| shape | s0 | every held-out run inside | noiseless truth inside | median width |")
    print("|---|---|---|---|---|")
    for name in names:
        N, D, truth, _ = table[name]
        clean = np.asarray(law(truth, N=N, D=D), float)
        tally = {k: [0, [], []] for k in rules}
        for seed in range(seeds):
            loss = clean * np.exp(sigma * np.random.default_rng(seed).standard_normal(len(N)))
            g = scalelab.forecast.size_groups(N, 0.05)
            test = g == g.max()
            train = pd.DataFrame({"N": N[~test], "D": D[~test], "loss": loss[~test]})
            f = scalelab.forecast(train, pd.DataFrame({"N": N[test], "D": D[test]}), progress=False)
            for k, rule in rules.items():
                point, lo, hi = rule(f.details, 0.9)
                tally[k][0] += bool(np.all((lo <= loss[test]) & (loss[test] <= hi)))
                tally[k][1].append(np.mean((lo <= clean[test]) & (clean[test] <= hi)))
                tally[k][2].append(np.median((hi - lo) / point))
        for k, (inside, truth_in, width) in tally.items():
            print(f"| {name} | {k} | {inside}/{seeds} | {np.mean(truth_in):.2f} | {100 * np.median(width):.2f}% |",
                  flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--saved", nargs="*", default=[], help="--jsonl files of forecast_calibration.py or forecast.py")
    ap.add_argument("--shapes", default="", help="comma-separated forecast_shapes.py shapes")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--sigma", type=float, default=0.005, help="log-loss noise sd of every run (shapes)")
    args = ap.parse_args()
    print(f"device: {device_name()}")
    if args.saved:
        saved(args.saved)
    if args.shapes:
        shapes([s for s in args.shapes.split(",") if s], args.seeds, args.sigma)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
