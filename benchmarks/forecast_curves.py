"""`scalelab forecast` on whole curves: the authors' multi-power split, point errors and 90% intervals.

Data: ``data/multipower_law`` (Luo et al. 2025; split in its PROVENANCE.md, loaded as in
``benchmarks/multipower.py``): per size (25M, 100M, 400M) the forecast is fitted on the 3 training
schedules (``cosine_24000, constant_24000, wsdcon_9``) and asked for every row of the 6 held-out
schedules, given only their ``run_id, step, lr`` (their losses are never shown), exactly as
``scalelab forecast TRAIN.csv --law auto --at AT.csv --ci 0.9 --json`` does.

Printed per size: PredE (mean over the 6 schedules of each one's mean |pred - loss| / loss, the
authors' metric) of the weighted forecast (`scalelab.forecast`'s) and of each law's own point forecast, WorstE, the law
weights, the coverage of the 90% intervals (fraction of held-out rows whose loss lies inside, overall
and per schedule), their median relative width (hi - lo) / loss, the calibrated scale (s0, sigma,
tau), and the wall time, with the device.

Usage: python benchmarks/forecast_curves.py [--sizes 25,100,400] [--laws auto] [--ci 0.9] [--json out.json] [--by-step]

``--by-step`` also prints, per size, which runs are branches of one run (`shared_trunks` over the training and
held-out runs together: the same losses where their learning rates agree), the loss of each run at the first
step every run logs at the peak learning rate, and the signed log error (%) of the weighted forecast and of each
law per held-out schedule and step range, beside the interval's half-width.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import device_name  # noqa: E402
from multipower import PUBLISHED_PREDE, TEST, TRAIN, load  # noqa: E402

import scalelab  # noqa: E402


def scores(pred: np.ndarray, lo: np.ndarray | None, hi: np.ndarray | None, test: pd.DataFrame) -> dict:
    loss = test["loss"].to_numpy(float)
    rel = pd.Series(np.abs(pred / loss - 1), index=test.index)
    per = rel.groupby(test["run_id"].to_numpy(), sort=False)
    out = {"PredE": float(per.mean().mean()), "WorstE": float(rel.max()),
           "per_schedule": {k: float(v) for k, v in per.mean().items()}}
    if lo is not None:
        inside = pd.Series((lo <= loss) & (loss <= hi), index=test.index)
        out.update(coverage=float(inside.mean()),
                   coverage_per_schedule={k: float(v) for k, v in
                                          inside.groupby(test["run_id"].to_numpy(), sort=False).mean().items()},
                   median_width=float(np.median((hi - lo) / pred)))
    return out


def by_step(train: pd.DataFrame, test: pd.DataFrame, fc) -> None:
    """Branches of one run, each run's loss at a shared peak-lr step, and signed errors per schedule and step range."""
    from scalelab.forecast.curve_data import shared_trunks

    both = pd.concat([train, test], ignore_index=True)
    print(f"   branches of one run (training and held-out runs): {shared_trunks(both, np.ones(len(both)))}",
          file=sys.stderr)
    # each run's row nearest a quarter of the shortest run (before any decay of these schedules): runs of one
    # schedule differ there by their seeds' noise only
    ref = 0.25 * both.groupby("run_id")["step"].max().min()
    near = both.loc[(both["step"] - ref).abs().groupby(both["run_id"]).idxmin()].set_index("run_id")
    print(f"   loss (step, lr) near step {ref:g}: " + ", ".join(f"{k} {v['loss']:.4f} ({v['step']:g}, {v['lr']:.3g})"
                                                            for k, v in near.iterrows()), file=sys.stderr)
    y = np.log(test["loss"].to_numpy(float))
    cols = {"forecast": np.log(fc.loss) - y, **{nm: fc.details["log_targets"][i] - y
                                               for i, nm in enumerate(fc.details["names"])},
            "half-width": np.log(fc.hi) - np.log(fc.loss)}
    df = pd.DataFrame({"run": test["run_id"].to_numpy(), "steps": pd.cut(test["step"], [0, 12000, 24000, 48000, 72000]),
                       **cols})
    table = (100 * df.groupby(["run", "steps"], observed=True)[list(cols)].mean()).round(3)
    print("   signed log error (%, forecast - loss) per schedule and step range:\n" + table.to_string(), file=sys.stderr)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="25,100,400")
    ap.add_argument("--laws", default="auto", help="auto, multipower, lr_annealing")
    ap.add_argument("--ci", type=float, default=0.9)
    ap.add_argument("--json", default=None)
    ap.add_argument("--by-step", action="store_true", help="branches, offsets and signed errors per step range")
    args = ap.parse_args(argv)
    device = device_name()
    out = {"device": device, "laws": args.laws, "ci": args.ci, "sizes": {}}
    for size in args.sizes.split(","):
        train, test = load(size, TRAIN), load(size, TEST)
        at = test[["run_id", "step", "lr"]]  # the held-out losses are never shown
        t0 = time.perf_counter()
        fc = scalelab.forecast(train, at, laws=args.laws, ci=args.ci)
        seconds = time.perf_counter() - t0
        entry = {"weights": {k: float(v) for k, v in fc.weights.items()}, "seconds": seconds,
                 "s0": np.asarray(fc.s0).tolist(), "sigma": np.asarray(fc.sigma).tolist(), "tau": np.asarray(fc.tau).tolist(), "nu": fc.nu, "origins": fc.origins,
                 "warnings": fc.warnings, "published_PredE": PUBLISHED_PREDE[size],
                 "forecast": scores(fc.loss, fc.lo, fc.hi, test)}
        for i, name in enumerate(fc.details["names"]):  # each law's own point forecast
            entry[name] = scores(np.exp(fc.details["log_targets"][i]), None, None, test)
        out["sizes"][size] = entry
        f = entry["forecast"]
        laws = ", ".join(f"{k} {v:.2f}" for k, v in entry["weights"].items())
        each = ", ".join(f"{nm} {100 * entry[nm]['PredE']:.3f}%" for nm in fc.details["names"])
        print(f"{size}M: PredE {100 * f['PredE']:.3f}% (published multipower {100 * PUBLISHED_PREDE[size]:.3f}%; "
              f"{each}), WorstE {100 * f['WorstE']:.2f}%, weights {laws}; 90% coverage {100 * f['coverage']:.1f}% "
              f"of {len(test)} rows, median width {100 * f['median_width']:.2f}%; s0 {np.max(fc.s0):.2g} sigma {np.max(fc.sigma):.2g} "
              f"tau {np.max(fc.tau):.2g} (largest over targets); {seconds:.0f} s on {device}", file=sys.stderr)
        print("   coverage per schedule: " + ", ".join(f"{k} {100 * v:.0f}%"
                                                      for k, v in f["coverage_per_schedule"].items()), file=sys.stderr)
        if args.by_step:
            by_step(train, test, fc)
    text = json.dumps(out, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
