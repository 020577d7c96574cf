"""Variable-projection screening against the full 4,500-start grid: same optimum?

For each table, `scalelab.fit` with the default ``starts="auto"`` (variable projection
over (alpha, beta) + LM polish, `scalelab.fit.screen`) and with ``starts="grid"`` (every
Hoffmann start screened by LM, the best 64 polished), chinchilla law, summed
Huber(1e-3) of log residuals, float64. Tables: Epoch (240 runs), every Hitchhiker
family with N and D (benchmarks/extrapolation.py's `families`, full tables), and
simulated chinchilla tables with random truths, designs and noise (Gaussian and
Student-t). Prints the relative objective gap (projection - grid) / grid per table:
negative means projection found a lower optimum.

    python benchmarks/screen_exact.py [--simulated 20] [--points 4096] [--irls 3] [--keep 16]
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import device_name  # noqa: E402

import scalelab  # noqa: E402


def simulated_tables(n: int, seed: int = 0):
    """Chinchilla tables with random truths; deliberately varied (sizes 20-120 runs, 0.5-3% noise, t tails)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        truth = {"E": rng.uniform(1.0, 2.5), "A": float(np.exp(rng.uniform(4, 9))), "B": float(np.exp(rng.uniform(4, 10))),
                 "alpha": rng.uniform(0.15, 0.7), "beta": rng.uniform(0.15, 0.7)}
        lo = rng.uniform(16, 19)
        budgets = np.geomspace(10 ** lo, 10 ** (lo + rng.uniform(2, 5)), int(rng.integers(4, 10)))
        design = scalelab.isoflop_design(budgets=budgets, n_per_budget=int(rng.integers(5, 13)))
        df = rng.choice([None, 3.0, 5.0])
        out.append((f"sim{i:02d}", scalelab.simulate("chinchilla", truth, design, sigma=rng.uniform(0.005, 0.03),
                                                     df=df, seed=int(rng.integers(1 << 30)))))
    return out


def tables(n_sim: int):
    from scalelab.data import epoch_chinchilla

    out = [("epoch_chinchilla_240", epoch_chinchilla())]
    try:
        from extrapolation import families

        for name, (df, _) in families().items():
            if name != "epoch_chinchilla" and {"N", "D", "loss"} <= set(df):
                out.append((f"hitchhiker_{name}", df[["N", "D", "loss"]].reset_index(drop=True)))
    except Exception as err:  # the Hitchhiker data is optional
        print(f"(hitchhiker families skipped: {err})")
    return out + simulated_tables(n_sim)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--simulated", type=int, default=20)
    ap.add_argument("--points", type=int, default=None)
    ap.add_argument("--irls", type=int, default=None)
    ap.add_argument("--keep", type=int, default=None)
    args = ap.parse_args()
    from scalelab.fit import screen

    if args.points:
        screen.DEFAULT_POINTS = args.points
    if args.keep:
        screen.DEFAULT_KEEP = args.keep
    if args.irls is not None:
        screen.DEFAULT_IRLS = args.irls
    print(f"device: {device_name()}; screen: {screen.DEFAULT_POINTS} points, {screen.DEFAULT_IRLS} IRLS, "
          f"keep {screen.DEFAULT_KEEP}")
    worst, rows = 0.0, 0
    t_vp = t_grid = 0.0
    for name, table in tables(args.simulated):
        loss = np.asarray((table.df if hasattr(table, "df") else table)["loss"], float)
        if loss.max() > 20.0:  # a loss no language-model run has: refused by the data edge
            print(f"{name:<36} skipped: a simulated loss above 20 nats ({loss.max():.3g})")
            continue
        t0 = time.perf_counter()
        vp = scalelab.fit(table, "chinchilla")
        t1 = time.perf_counter()
        grid = scalelab.fit(table, "chinchilla", starts="grid")
        t2 = time.perf_counter()
        t_vp += t1 - t0 - vp.compile_seconds
        t_grid += t2 - t1 - grid.compile_seconds
        gap = (vp.objective - grid.objective) / grid.objective
        worst = max(worst, gap)
        rows += 1
        print(f"{name:<36} n={vp.n_runs:>4}  grid {grid.objective:.10g}  projection {vp.objective:.10g}  "
              f"gap {gap:+.1e}  alpha {vp.params['alpha']:.4f}/{grid.params['alpha']:.4f}  "
              f"beta {vp.params['beta']:.4f}/{grid.params['beta']:.4f}  conv {vp.converged}/{grid.converged}")
    print(f"{rows} tables: worst relative gap {worst:+.1e}; fitting time (compile excluded) projection {t_vp:.2f} s, "
          f"grid {t_grid:.2f} s ({t_grid / t_vp:.1f}x)")


if __name__ == "__main__":
    main()
