"""Chinchilla fit on Epoch's 240 runs: anchors and scalelab, same data, same process.

Anchors:

* SciPy L-BFGS-B from the Hoffmann grid starts (below);
* VPNLS, the procedure of arXiv 2603.22339 (variable projection: a grid over alpha, beta at
  resolution 0.01, scipy.optimize.nnls for E, A, B, Huber by IRLS), implemented here in
  NumPy/SciPy (`_common.vpnls`; the authors' Cython implementation is faster than this loop).

scalelab: the default fit (``starts="auto"``: variable-projection screening + LM polish,
`scalelab.fit.screen`) and the full 4,500-start grid (``starts="grid"``). Every method's
objective is reported under the Epoch convention (summed Huber(1e-3) of log residuals;
optimum 0.0010182740).

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
from _common import device_name, epoch_objective, epoch_objective_and_grad, vpnls  # noqa: E402

import scalelab  # noqa: E402
from scalelab.data import epoch_chinchilla  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scipy-starts", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    ap.add_argument("--vpnls-step", type=float, default=0.01, help="VPNLS grid resolution")
    args = ap.parse_args()
    import os

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

    N, D, L = (runs.column(c) for c in ("N", "D", "loss"))
    t0 = time.perf_counter()
    vp_params, vp_obj = vpnls(N, D, L, step=args.vpnls_step)
    t_vpnls = time.perf_counter() - t0

    dtype = jnp.float64 if args.dtype == "float64" else jnp.float32

    def timed(**kw):
        t0 = time.perf_counter()
        first = scalelab.fit(runs, law, dtype=dtype, **kw)  # compiles (or loads from the persistent cache)
        t_first = time.perf_counter() - t0
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            res = scalelab.fit(runs, law, dtype=dtype, **kw)
            times.append(time.perf_counter() - t0)
        return res, t_first, first.compile_seconds, min(times)

    auto, auto_first, auto_compile, t_auto = timed()
    res, t_first, grid_compile, t_fit = timed(starts="grid")
    per_start_ours = t_fit / len(grid)
    opt = 0.0010182740

    def theta(p):
        return np.array([np.log(p["A"]), np.log(p["B"]), np.log(p["E"]), p["alpha"], p["beta"]])

    print(f"device: {device_name()}; load average {os.getloadavg()[0]:.1f} (1 min)")
    print(f"data: epoch_chinchilla, {len(runs)} runs; objective summed Huber(1e-3) on log loss (optimum {opt})")
    print(f"scipy L-BFGS-B: {len(sub)} grid starts in {t_scipy:.1f} s = {1e3 * per_start_scipy:.2f} ms/start "
          f"(4,500 starts ~ {per_start_scipy * 4500:.0f} s); best objective {best:.10f}")
    print(f"VPNLS (arXiv 2603.22339; NumPy/SciPy here, grid {args.vpnls_step}): {t_vpnls:.2f} s; objective "
          f"{epoch_objective(theta(vp_params), logN, logD, logL):.10f} ({100 * (vp_obj / opt - 1):+.3f}%); "
          f"alpha {vp_params['alpha']:.2f} beta {vp_params['beta']:.2f}")
    print(f"scalelab default (projection, {args.dtype}): warm {t_auto:.4f} s (best of {args.repeat}); first call "
          f"{auto_first:.2f} s of which compile {auto_compile:.2f} s; objective "
          f"{epoch_objective(theta(auto.params), logN, logD, logL):.10f}; alpha {auto.params['alpha']:.4f} "
          f"beta {auto.params['beta']:.4f}; converged {auto.converged}")
    print(f"scalelab grid ({args.dtype}): 4,500 grid starts in {t_fit:.3f} s fitting (best of {args.repeat}); "
          f"first call {t_first:.2f} s of which compile {grid_compile:.2f} s; {1e3 * per_start_ours:.4f} ms/start; "
          f"objective {res.objective:.10f}; converged {res.converged}")
    print(f"ratios (warm): VPNLS / scalelab default {t_vpnls / t_auto:.1f}x; scalelab grid / default "
          f"{t_fit / t_auto:.1f}x; SciPy 4,500 starts / default {per_start_scipy * 4500 / t_auto:.0f}x; "
          f"target warm default <= 0.1 s: {'met' if t_auto <= 0.1 else 'NOT met'} on this device")
    print(f"speed-up per start (grid): {per_start_scipy / per_start_ours:.0f}x "
          f"(whole grid incl. compile: {per_start_scipy * 4500 / t_first:.0f}x)")


if __name__ == "__main__":
    main()
