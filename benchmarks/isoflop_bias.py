"""Approach 2's parabola bias on simulated isoFLOP data, and how much of it the cubic and Akima remove.

Truth: Chinchilla with Hoffmann et al.'s (2022) published fit (E 1.69, A 406.4, B 410.7,
alpha 0.34, beta 0.28), so ``N_opt ~ C^a`` with ``a = beta / (alpha + beta) = 0.4516`` and
isoFLOP profiles that are asymmetric in ln N (alpha != beta). Nine budgets 1e18..1e22 FLOPs,
nine model sizes per budget log-spaced from ``lo`` decades below to ``hi`` decades above a
grid centre. Grids:

* ``centred``: +-1 decade around the true N_opt(C);
* ``shifted``: the same grid centred 0.4 decades above the true N_opt at every budget;
* ``drifting``: the centre drifts from 0.5 decades below to 0.5 above the true N_opt across
  the budgets (a grid laid out with a wrong exponent);
* ``wide-shifted``: +-1.5 decades, centred 0.4 decades above;
* ``lopsided``: from 0.3 decades below to 1.5 decades above the true N_opt.

Noise: multiplicative, sd ``sigma`` of log loss (0 and 0.5%), ``--reps`` seeds each. For each
method the mean error of ``a`` (bias) and its sd over seeds, and the mean error of log10 N_opt
per budget. Pure NumPy (no compilation): the timing line is for the record only.

Usage: python benchmarks/isoflop_bias.py [--reps 50]
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import pandas as pd

from scalelab.optimal.isoflop import METHODS, isoflop

TRUTH = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}


def true_n_opt(C):
    E, A, B, a, b = (TRUTH[k] for k in ("E", "A", "B", "alpha", "beta"))
    G = (a * A / (b * B)) ** (1 / (a + b))
    return G * (C / 6) ** (b / (a + b))


GRIDS = {  # (shift of the centre per budget, decades below, decades above)
    "centred": (np.zeros(9), 1.0, 1.0),
    "shifted": (np.full(9, 0.4), 1.0, 1.0),
    "drifting": (np.linspace(-0.5, 0.5, 9), 1.0, 1.0),
    "wide-shifted": (np.full(9, 0.4), 1.5, 1.5),
    "lopsided": (np.zeros(9), 0.3, 1.5),
}


def table(kind: str, sigma: float, seed: int, n_per: int = 9) -> pd.DataFrame:
    budgets = np.geomspace(1e18, 1e22, 9)
    shift, below, above = GRIDS[kind]
    rows = []
    rng = np.random.default_rng(seed)
    for C, s in zip(budgets, shift):
        centre = np.log10(true_n_opt(C)) + s
        N = 10 ** np.linspace(centre - below, centre + above, n_per)
        D = C / (6 * N)
        L = TRUTH["E"] + TRUTH["A"] / N ** TRUTH["alpha"] + TRUTH["B"] / D ** TRUTH["beta"]
        rows.append(pd.DataFrame({"N": N, "D": D, "C": C, "loss": L * np.exp(sigma * rng.standard_normal(n_per))}))
    return pd.concat(rows, ignore_index=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=50)
    args = ap.parse_args()
    a_true = TRUTH["beta"] / (TRUTH["alpha"] + TRUTH["beta"])
    print(f"truth a = {a_true:.4f}; 9 budgets x 9 sizes; {args.reps} seeds with noise")
    print("bias: mean error over seeds (log10 N_opt: averaged over budgets too); removed: 1 - |bias| / |parabola's|")
    print(f"{'grid':<13} {'noise':>6} {'method':<9} {'bias of a':>10} {'sd of a':>8} {'bias log10 N_opt':>17} "
          f"{'removed':>8}")
    t0 = time.perf_counter()
    for kind in GRIDS:
        for sigma in (0.0, 0.005):
            reps = 1 if sigma == 0 else args.reps
            a = {m: [] for m in METHODS}
            err = {m: [] for m in METHODS}
            for seed in range(reps):  # independent data sets: a benchmark loop, not a fit axis
                res = isoflop(table(kind, sigma, seed), approach3=None, n_boot=10)
                for m in METHODS:
                    a[m].append(res.methods[m]["a"])
                    err[m].append(np.nanmean(np.log10(res.methods[m]["N_opt"] / true_n_opt(res.budgets))))
            base = abs(np.mean(err["parabola"]))
            for m in METHODS:
                bias = np.mean(a[m]) - a_true
                removed = 1 - abs(np.mean(err[m])) / base if base > 1e-9 else float("nan")
                print(f"{kind:<13} {sigma:>6.3f} {m:<9} {bias:>+10.4f} {np.std(a[m]):>8.4f} {np.mean(err[m]):>+17.4f} "
                      f"{'' if m == 'parabola' else format(removed, '8.0%'):>8}")
    print(f"{time.perf_counter() - t0:.1f} s on {platform.processor() or platform.machine()} (NumPy only)")


if __name__ == "__main__":
    main()
