"""Influence of all 240 Epoch runs on a forecast vs 240 leave-one-out refits.

Target: predicted loss at the compute-optimal point of C = 1e24 FLOPs (Chinchilla,
Huber(1e-3), Epoch's 240 runs). Anchor: the 240 leave-one-out refits as one
compiled `fit_many` (warm-started from the full-data optimum + 1 jittered start),
the fastest way scalelab has to get the exact answer. Each timing is taken twice
in the same process: the first call includes compilation, the second is warm.

    python benchmarks/influence_speed.py
"""

import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import device_name  # noqa: E402

import scalelab  # noqa: E402,F401
from scalelab import design  # noqa: E402
from scalelab.data import epoch_chinchilla  # noqa: E402


def main(target="loss@C=1e24"):
    runs = epoch_chinchilla()
    print(f"device: {device_name()}")
    print(f"data: Epoch Chinchilla, {len(runs)} runs; target {target}; chinchilla, Huber(1e-3)")
    res = {}
    for method in ("first-order", "newton"):
        times = []
        for _ in range(2):
            r = design.influence(runs, "chinchilla", target, method=method)
            times.append(r.seconds)
        res[method] = r
        print(f"influence ({method}), all {len(runs)} runs: {times[1]:.3f} s warm, {times[0]:.2f} s with compile")
    T = design.target_fn("chinchilla", target)
    value = res["first-order"].value
    loo_times = []
    for _ in range(2):
        change, s = design.loo_changes(runs, scalelab.laws.get("chinchilla"), T, value)
        loo_times.append(s)
    print(f"leave-one-out refits (fit_many, {len(runs)} variants, float64): {loo_times[1]:.3f} s warm, "
          f"{loo_times[0]:.2f} s with compile")
    for method, r in res.items():
        a = r.influence
        print(f"{method}: warm speed-up {loo_times[1] / r.seconds:.1f}x; Spearman signed "
              f"{spearmanr(a, change)[0]:.4f}, |.| {spearmanr(np.abs(a), np.abs(change))[0]:.4f}; "
              f"median |pred - loo| / |loo| {np.median(np.abs(a - change) / np.abs(change)):.3f}; "
              f"top-10 runs by |loo| shared: {len(set(np.argsort(-np.abs(a))[:10]) & set(np.argsort(-np.abs(change))[:10]))}/10")
    print(f"value {value:.6f}; largest |loo change| {np.max(np.abs(change)):.2e}")


if __name__ == "__main__":
    main(*sys.argv[1:])
