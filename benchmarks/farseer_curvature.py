"""Would a tamer Farseer extrapolate stably enough from the rolling origins to earn weight?

On the Hitchhiker families Farseer (9 parameters) fitted to every training run forecasts the largest model
best of all the laws (gadre_rw_original 0.4%, where the others miss by 2.5-17%), but fitted to the
origins' runs (the largest one or two training sizes held out) it misses those sizes by tens to hundreds of
percent, so `scalelab.forecast` rightly gives it no weight there. Its three curvatures (``q, b, a``: how the
irreducible part, the data coefficient and the D-exponent bend in log N) are what a ladder of 4-5 sizes
determines least. Two tamer fits, on the same runs:

- ``fixed``: the curvatures held at 0 (each term linear in log N; ``scalelab.fit(..., fixed=...)``, 6 free);
- ``penalised lam``: all 9 free, summed Huber(1e-3) of log residuals plus ``lam x n x 1e-3 x (q^2 + b^2 + a^2)``
  (n runs; SciPy L-BFGS-B on the NumPy form below, from the free and the fixed optimum).

Printed per family: mean absolute log error (%) at the target (the largest model, fit on the rest) and on
each origin's held-out sizes (origin k: the k largest training sizes held out), for every fit. A fit that
helped would keep the target error of the free fit and bring the origins' errors down to the other laws'.

    python benchmarks/farseer_curvature.py [--families gadre,epoch,kyo,porian_rw_base_short_chinchilla]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy import special
from scipy.optimize import minimize

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import device_name  # noqa: E402

import scalelab  # noqa: E402
from scalelab.forecast import size_groups  # noqa: E402
from scalelab.laws.coupled import FARSEER_FIT, FARSEER_N_UNIT, FARSEER_D_REF  # noqa: E402

NAMES = ("S", "s", "q", "Q", "B", "b", "E", "A", "a")
CURVATURES = {"q": 0.0, "b": 0.0, "a": 0.0}
LAMBDAS = (0.1, 1.0, 10.0)


def log_farseer(v, N, D):
    """Farseer's log loss in scalelab's centred form (`scalelab.laws.coupled`), float64 NumPy, ``v`` in NAMES order."""
    S, s, q, Q, B, b, E, A, a = v
    n = N / FARSEER_N_UNIT
    irreducible = S + s * special.boxcox(n, q)  # (n**q - 1) / q, log n at q = 0
    exponent = np.exp(E + A * special.boxcox(n, a))
    data = Q + B * special.boxcox(n, b) + np.exp(E) * np.log(FARSEER_D_REF) - exponent * np.log(D)
    return np.logaddexp(irreducible, data)


def penalised(train, lam, starts):
    """The penalised fit's parameters (NAMES order): the best L-BFGS-B optimum from ``starts``."""
    N, D, y = (train[c].to_numpy(float) for c in ("N", "D", "loss"))
    y = np.log(y)

    def objective(v):
        with np.errstate(all="ignore"):
            value = (np.sum(special.huber(1e-3, log_farseer(v, N, D) - y))
                     + lam * len(y) * 1e-3 * (v[2] ** 2 + v[5] ** 2 + v[8] ** 2))
        return value if np.isfinite(value) else 1e300

    best = min((minimize(objective, s, method="L-BFGS-B", options={"maxiter": 3000}) for s in starts),
               key=lambda o: o.fun)
    return best.x


def error(v, runs) -> float:
    """Mean absolute log error (%) of parameters ``v`` on ``runs``."""
    logp = log_farseer(np.asarray(v, float), runs["N"].to_numpy(float), runs["D"].to_numpy(float))
    return 100.0 * float(np.mean(np.abs(logp - np.log(runs["loss"].to_numpy(float)))))


def main(argv=None) -> int:
    import forecast as bench  # benchmarks/forecast.py: the families and their split

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", default="gadre,epoch,kyo,porian_rw_base_short_chinchilla",
                    help="comma-separated name prefixes of benchmarks/forecast.py's families")
    ap.add_argument("--origins", type=int, default=2)
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    fams = {k: v for k, v in bench.families().items() if any(k.startswith(p) for p in args.families.split(","))}
    print(f"device: {device_name()}; errors in % (mean |log error|): target, then origins 1..{args.origins}")
    t0 = time.perf_counter()
    for name, df in fams.items():
        train, test = bench.split(df)
        g = size_groups(train["N"].to_numpy(), 0.05)
        rows = {}
        for k in range(args.origins + 1):
            part, held = (train, test) if k == 0 else (train[g <= g.max() - k], train[g > g.max() - k])
            fits = {}
            for label, fixed in (("free", None), ("fixed", CURVATURES)):
                res = scalelab.fit(part, "farseer", fixed=fixed, **FARSEER_FIT)
                fits[label] = np.array([float(res.params[n]) for n in NAMES])
            for lam in LAMBDAS:
                fits[f"penalised {lam:g}"] = penalised(part, lam, [fits["free"], fits["fixed"]])
            for label, v in fits.items():
                rows.setdefault(label, []).append(error(v, held))
        for label, errs in rows.items():
            print(f"{name:48s} {label:14s} " + "  ".join(f"{e:8.2f}" for e in errs), flush=True)
    print(f"{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
