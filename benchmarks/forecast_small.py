"""Forecasts from small tables: public families cut down to 12-40 runs, the largest size forecast.

The private forecast families hold 12-404 runs; most public ones hold 30-240. This benchmark draws
``--draws`` random sub-tables of ``--sizes`` runs from the training part of every final-loss family
(every run below the largest model size, at least 4 distinct sizes kept), forecasts the largest size
with `scalelab.forecast` (laws="auto") and prints, per table size, the mean absolute relative error,
the share of tables whose 90% interval holds every target, and the median relative width, beside
Chinchilla alone (scalelab's fit of the Hoffmann form on the same sub-table). One process: programs
compiled for one sub-table serve the others of the same shape bucket.

    python benchmarks/forecast_small.py [--sizes 12,20,40] [--draws 3] [--jsonl out.jsonl] [--size-groups 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import device_name  # noqa: E402
from forecast import families, split  # noqa: E402

from scalelab.forecast import forecast, size_groups  # noqa: E402

FINAL_LOSS = ("epoch", "kyo_takano", "gadre_", "porian_rw_base_short_chinchilla_standard",
              "porian_owt2_base_short_chinchilla_standard", "sldbench")


def draw(train, n: int, rng, groups: int | None = None):
    """``n`` runs of ``train`` covering at least 4 size groups (None when the family cannot); with ``groups``, runs of
    exactly that many size groups, drawn at random (3: no rolling origin can be held out, the prior-only interval)."""
    g = size_groups(train["N"].to_numpy())
    if g.max() < max(3, (groups or 0) - 1) or len(train) <= n:
        return None
    for _ in range(50):
        pool = (np.arange(len(train)) if groups is None else
                np.flatnonzero(np.isin(g, rng.choice(g.max() + 1, groups, replace=False))))
        if len(pool) < n:
            continue
        idx = rng.choice(pool, n, replace=False)
        kept = len(np.unique(g[idx]))
        if (kept >= 4 if groups is None else kept == groups) and np.ptp(np.log(train["D"].to_numpy()[idx])) > 0:
            return train.iloc[np.sort(idx)].reset_index(drop=True)
    return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="12,20,40")
    ap.add_argument("--draws", type=int, default=3)
    ap.add_argument("--families", default=",".join(FINAL_LOSS))
    ap.add_argument("--laws", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jsonl")
    ap.add_argument("--size-groups", type=int, default=None, help="every sub-table holds exactly this many model sizes "
                    "(3: no rolling origin, the interval rests on its prior; default: at least 4)")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    fams = {k: v for k, v in families().items() if any(k.startswith(p) for p in args.families.split(","))}
    sink = open(args.jsonl, "a") if args.jsonl else None
    print(f"device: {device_name()}", flush=True)
    rows = []
    for n in map(int, args.sizes.split(",")):
        for name, df in fams.items():
            train, test = split(df)
            for k in range(args.draws):
                sub = draw(train, n, rng, args.size_groups)
                if sub is None:
                    continue
                y = test["loss"].to_numpy()
                t0 = time.perf_counter()
                fc = forecast(sub, test.drop(columns=["loss"]), laws=args.laws, progress=False)
                chin = fc.details["log_targets"][fc.details["names"].index("chinchilla")] \
                    if "chinchilla" in fc.details["names"] else np.full(len(y), np.nan)
                row = {"family": name, "n": n, "draw": k, "are": float(np.mean(np.abs(fc.loss - y) / y)),
                       "are_chinchilla": float(np.mean(np.abs(np.exp(chin) - y) / y)),
                       "covered": bool(np.all((fc.lo <= y) & (y <= fc.hi))),
                       "width": float(np.median((fc.hi - fc.lo) / fc.loss)), "seconds": time.perf_counter() - t0,
                       "weights": fc.weights, "y": y.tolist(),
                       "details": {a: (b.tolist() if isinstance(b, np.ndarray) else b) for a, b in fc.details.items()},
                       "s0": np.asarray(fc.s0).tolist(), "tau": np.asarray(fc.tau).tolist(),
                       "sigma": np.asarray(fc.sigma).tolist(), "nu": fc.nu}
                rows.append(row)
                top = max(fc.weights, key=fc.weights.get)
                print(f"{name[:40]:<41}{n:>4}{k:>3}{100 * row['are']:8.2f}%{100 * row['are_chinchilla']:8.2f}%"
                      f"{'yes' if row['covered'] else 'NO':>5}{100 * row['width']:7.2f}%  {top} "
                      f"{fc.weights[top]:.2f} ({row['seconds']:.0f} s)", flush=True)
                if sink:
                    sink.write(json.dumps(row, default=str) + "\n")
                    sink.flush()
    print()
    for n in sorted({r["n"] for r in rows}):
        rs = [r for r in rows if r["n"] == n]
        print(f"{n:>4} runs, {len(rs)} tables: forecast auto ARE {100 * np.mean([r['are'] for r in rs]):.2f}% "
              f"(chinchilla {100 * np.nanmean([r['are_chinchilla'] for r in rs]):.2f}%); every target inside the "
              f"90% interval on {sum(r['covered'] for r in rs)}/{len(rs)}; median width "
              f"{100 * np.median([r['width'] for r in rs]):.2f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
