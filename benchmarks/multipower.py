"""Multi-power law (and the LR-annealing law) on the authors' loss curves: fit 3 schedules, forecast 6.

Data: ``data/multipower_law`` (Luo et al. 2025; see its PROVENANCE.md): per model size (25M, 100M,
400M) one CSV per schedule with ``step, lr, loss`` every 128 steps after a 2,160-step linear warm-up.
The authors' split: fit on ``cosine_24000, constant_24000, wsdcon_9``; forecast ``constant_72000,
cosine_72000, wsd_20000_24000, wsdld_20000_24000, wsdcon_3, wsdcon_18``. Files ending at step 24,000
keep their steps below 24,000 (as the authors' loader does).

For each size and law: ``scalelab.fit`` (summed Huber(1e-3) on log loss, the law's start grid, every
row), then `scalelab.curves.relative_errors` on the held-out schedules: PredE = mean over the 6
schedules of each one's mean |pred - loss| / loss (the authors' README metric), WorstE = the worst
row. The published parameters are evaluated the same way. Timing: the forecast of the 6 held-out
curves by the authors' per-step formula (NumPy, a loop over rows, as their ``evaluation.py``) beside
`scalelab.curves.predict_table` (JAX, all rows at once), same process, with the device named.

Usage: python benchmarks/multipower.py [--sizes 25,100,400] [--laws multipower,lr_annealing] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import jax
import numpy as np
import pandas as pd

import scalelab
from scalelab import curves, laws
from scalelab.laws import schedule
from scalelab.data import data_dir

TRAIN = ["cosine_24000", "constant_24000", "wsdcon_9"]
TEST = ["constant_72000", "cosine_72000", "wsd_20000_24000", "wsdld_20000_24000", "wsdcon_3", "wsdcon_18"]
PUBLISHED_PREDE = {"25": 0.00110, "100": 0.00142, "400": 0.00168}


def load(size: str, names) -> pd.DataFrame:
    frames = []
    for n in names:
        df = pd.read_csv(data_dir() / "multipower_law" / f"csv_{size}" / f"{n}.csv")
        if df["step"].max() == 24000:
            df = df[df["step"] < 24000]
        frames.append(df.assign(run_id=n))
    return pd.concat(frames, ignore_index=True)


def numpy_forecast(p, df) -> np.ndarray:
    """The authors' evaluation formula, per row (float64), on per-step lrs from the rows."""
    out = np.empty(len(df))
    for run, idx in df.groupby("run_id", sort=False).groups.items():
        sub = df.loc[idx]
        lrs = schedule.per_step(sub["step"], sub["lr"])
        cs = np.cumsum(lrs)
        gap = np.zeros_like(lrs)
        gap[1:] = np.diff(lrs)
        for i, s in zip(idx, sub["step"].to_numpy(int)):
            G = 1 - (1 + p["C"] * lrs[1:s + 1] ** (-p["gamma"]) * (cs[s] - cs[:s])) ** (-p["beta"])
            out[df.index.get_loc(i)] = p["L0"] + p["A"] * cs[s] ** (-p["alpha"]) + p["B"] * np.sum(gap[1:s + 1] * G)
    return out


def errors(fit, test) -> dict:
    err = curves.relative_errors(fit, test)
    return {"PredE": float(err["mean_rel_error"].mean()), "WorstE": float(err["worst_rel_error"].max()),
            "per_schedule": {k: float(v) for k, v in err["mean_rel_error"].items()}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="25,100,400")
    ap.add_argument("--laws", default="multipower,lr_annealing")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    device = f"{jax.devices()[0].device_kind} ({platform.processor() or platform.machine()})"
    out = {"device": device, "sizes": {}}
    mp = laws.get("multipower")
    for size in args.sizes.split(","):
        train, test = load(size, TRAIN), load(size, TEST)
        entry = {"published": {"params": mp.reference[f"luo2025_{size}M"], "PredE_published": PUBLISHED_PREDE[size],
                               **errors({"law": "multipower", "params": mp.reference[f"luo2025_{size}M"]}, test)}}
        for name in args.laws.split(","):
            t0 = time.perf_counter()
            fit = scalelab.fit(train, name)
            fit_s = time.perf_counter() - t0
            entry[name] = {"params": fit.params, "objective": fit.objective, "converged": fit.converged,
                           "n_iter": fit.n_iter, "fit_seconds": fit_s, **errors(fit, test)}
            print(f"{size}M {name}: PredE {100 * entry[name]['PredE']:.3f}% WorstE {100 * entry[name]['WorstE']:.2f}% "
                  f"fit {fit_s:.1f} s, objective {fit.objective:.4g}, converged {fit.converged}", file=sys.stderr)
            if name == "multipower":
                curves.predict_table(fit, test)  # compiled once
                t0 = time.perf_counter()
                curves.predict_table(fit, test)
                ours = time.perf_counter() - t0
                t0 = time.perf_counter()
                ref = numpy_forecast(fit.params, test)
                anchor = time.perf_counter() - t0
                entry["forecast_timing"] = {"numpy_per_step_s": anchor, "scalelab_s": ours, "ratio": anchor / ours,
                                            "max_rel_diff": float(np.max(np.abs(curves.predict_table(fit, test) / ref - 1))),
                                            "rows": int(len(test))}
                print(f"  forecast of {len(test)} rows: NumPy per-step {anchor:.2f} s, scalelab {ours:.3f} s "
                      f"({anchor / ours:.0f}x) on {device}", file=sys.stderr)
        print(f"{size}M published params: PredE {100 * entry['published']['PredE']:.3f}% "
              f"(README {100 * PUBLISHED_PREDE[size]:.3f}%)", file=sys.stderr)
        out["sizes"][size] = entry
    text = json.dumps(out, indent=1)
    print(text)
    if args.json:
        open(args.json, "w").write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
