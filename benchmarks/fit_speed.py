"""Chinchilla grid fit: SciPy L-BFGS-B from every Hoffmann grid start vs scalelab, same data, same process.

The anchor is the Hoffmann/Epoch procedure: scipy.optimize.minimize(method="L-BFGS-B")
of the summed Huber(1e-3) objective from each of the 4,500 grid starts, float64,
given the analytic gradient (SciPy's default finite differences would be ~5x slower).
By default SciPy runs an evenly spaced subset of the grid (``--scipy-starts``) and
its time per start is reported (and extrapolated to 4,500); ``--scipy-starts 4500``
runs it all. scalelab fits the full 4,500-start grid; compile time is reported
separately from fitting time (best of ``--repeat``).

    python benchmarks/fit_speed.py [--scipy-starts 300] [--repeat 3] [--dtype float64]
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import optimize

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import device_name, epoch_objective_and_grad  # noqa: E402

import scalelab  # noqa: E402
from scalelab.data import epoch_chinchilla  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scipy-starts", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    args = ap.parse_args()

    runs = epoch_chinchilla()
    logN, logD, logL = (np.log(runs.column(c)) for c in ("N", "D", "loss"))
    law = scalelab.laws.get("chinchilla")
    grid = law.grid_starts()  # [4500, 5] in (log_E, log_A, log_B, alpha, beta)
    # SciPy works in Epoch's order (a, b, e, alpha, beta).
    grid_scipy = grid[:, [1, 2, 0, 3, 4]]

    sub = grid_scipy[np.linspace(0, len(grid) - 1, min(args.scipy_starts, len(grid))).astype(int)]
    t0 = time.perf_counter()
    best = np.inf
    for x0 in sub:  # the anchor is a Python loop by definition
        r = optimize.minimize(epoch_objective_and_grad, x0, args=(logN, logD, logL), jac=True, method="L-BFGS-B")
        best = min(best, r.fun)
    t_scipy = time.perf_counter() - t0
    per_start_scipy = t_scipy / len(sub)

    import jax.numpy as jnp

    dtype = jnp.float64 if args.dtype == "float64" else jnp.float32
    t0 = time.perf_counter()
    scalelab.fit(runs, law, starts="grid", dtype=dtype)  # compile
    t_first = time.perf_counter() - t0
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        res = scalelab.fit(runs, law, starts="grid", dtype=dtype)
        times.append(time.perf_counter() - t0)
    t_fit = min(times)
    per_start_ours = t_fit / len(grid)

    print(f"device: {device_name()}")
    print(f"data: epoch_chinchilla, {len(runs)} runs; objective summed Huber(1e-3) on log loss")
    print(f"scipy L-BFGS-B: {len(sub)} grid starts in {t_scipy:.1f} s = {1e3 * per_start_scipy:.2f} ms/start "
          f"(4,500 starts ~ {per_start_scipy * 4500:.0f} s); best objective {best:.10f}")
    print(f"scalelab ({args.dtype}): 4,500 grid starts in {t_fit:.3f} s fitting (best of {args.repeat}); "
          f"compile {t_first - t_fit:.1f} s; {1e3 * per_start_ours:.4f} ms/start; objective {res.objective:.10f}; "
          f"converged {res.converged}")
    print(f"speed-up per start: {per_start_scipy / per_start_ours:.0f}x "
          f"(whole grid incl. compile: {per_start_scipy * 4500 / t_first:.0f}x)")


if __name__ == "__main__":
    main()
