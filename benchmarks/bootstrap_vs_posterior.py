"""Why Epoch's bootstrap interval for beta is wider than the posterior's: a controlled comparison.

On the 240-run Epoch data (5 highest-loss rows dropped) the NUTS posterior's 95% interval for
beta is about half as wide as the case-resampling bootstrap's. This script separates the two
explanations, on the same 240 (N, D) points:

1. **real**: the Epoch losses.
2. **i.i.d. residuals**: losses = the Huber fit's curve times exp(residuals resampled from the
   fit's own residuals, with replacement): the same noise size and shape, but exchangeable,
   so the law is exactly right and nothing is tied to the design.

For each we report the bootstrap sd (``--resamples`` case resamples, refitted in one program by
`fit_many`) and the NUTS posterior sd (Huber likelihood, i.i.d., 4 chains x ``--draws``), of
log E, alpha and beta, and their ratio. If the ratio is ~1 on the i.i.d. data and ~2 on the real
data, the gap is misspecification (structure in the residuals that the bootstrap sees and an
exchangeable likelihood cannot), not a defect of either method. The sandwich-adjusted posterior
(`bayes.sandwich`, same draws) is reported beside them: it should track the bootstrap in both
cases; so should the Laplace approximation's sandwich (`bayes.laplace`, 8,000 draws, its own
columns: since the ninth session each run's curvature is its own local density, see
`scalelab.bayes.laplace`). Last, the median |residual| and
the mean residual by sextile of tokens per parameter (log10 D/N) show where that structure is.

    .venv/bin/python benchmarks/bootstrap_vs_posterior.py [--resamples 1000] [--draws 1000]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

warnings.filterwarnings("ignore", category=FutureWarning)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import scalelab  # noqa: E402
from scalelab import bayes  # noqa: E402
from scalelab.data import epoch_chinchilla  # noqa: E402
from scalelab.fit import variants  # noqa: E402
from scalelab.fit.many import fit_many  # noqa: E402

from _common import device_name  # noqa: E402

PARAMS = ("log_E", "alpha", "beta")
EPOCH = {"E": (1.769, 1.871), "alpha": (0.317, 0.373), "beta": (0.331, 0.415)}  # Epoch's published 95% bootstrap


def spreads(df, resamples, draws, seed):
    fit = scalelab.fit(df, "chinchilla")
    boot = fit_many(df, "chinchilla", variants.bootstrap(df, resamples, seed=seed), progress=False)
    b = {"log_E": np.log(boot["E"]).std(), "alpha": boot["alpha"].std(), "beta": boot["beta"].std()}
    post = bayes.sample(df, "chinchilla", likelihood="huber", draws=draws, warmup=draws, seed=seed, init=fit,
                        adjust=None)  # the posterior as sampled; its sandwich below
    sds = lambda d: {"log_E": np.log(d["E"]).std(), "alpha": d["alpha"].std(), "beta": d["beta"].std()}  # noqa: E731
    p, sw = sds(post.draws()), sds(bayes.sandwich(post, df).draws())
    lap = bayes.laplace(df, "chinchilla", likelihood="huber", init=fit, draws=8000, seed=seed, adjust=None)
    lap_sw = bayes.sandwich(lap, df)
    lp, lsw = sds(lap.draws()), sds(lap_sw.draws())
    grouped = bayes.laplace(df, "chinchilla", likelihood="huber", groups="N", init=fit, draws=8000, seed=seed)
    intervals = {name: p.params(0.95) for name, p in (("NUTS", post), ("NUTS + sandwich", bayes.sandwich(post, df)),
                                                       ("Laplace", lap), ("Laplace + sandwich", lap_sw),
                                                       ("Laplace, per-size offsets", grouped))}
    return fit, {k: {"bootstrap_sd": float(b[k]), "posterior_sd": float(p[k]), "ratio": float(b[k] / p[k]),
                     "sandwich_sd": float(sw[k]), "ratio_to_sandwich": float(b[k] / sw[k]),
                     "laplace_sd": float(lp[k]), "laplace_sandwich_sd": float(lsw[k]),
                     "ratio_to_laplace_sandwich": float(b[k] / lsw[k])}
                 for k in PARAMS}, post.diagnostics()["rhat_max"], intervals


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    real = epoch_chinchilla().df.reset_index(drop=True)
    fit, res_real, rhat_real, intervals = spreads(real, args.resamples, args.draws, args.seed)
    law = scalelab.laws.get("chinchilla")
    x = {"N": real["N"].to_numpy(float), "D": real["D"].to_numpy(float)}
    mu = np.log(np.asarray(law.predict({k: np.asarray(v) for k, v in fit.params.items()}, x)))
    r = np.log(real["loss"].to_numpy(float)) - mu
    iid = real.copy()
    iid["loss"] = np.exp(mu + np.random.default_rng(args.seed + 1).choice(r, len(r)))
    _, res_iid, rhat_iid, _ = spreads(iid, args.resamples, args.draws, args.seed)
    otr = pd.qcut(np.log10(x["D"] / x["N"]), 6)
    by_otr = pd.DataFrame({"r": r, "otr": otr}).groupby("otr", observed=True)["r"]
    table = pd.DataFrame({"median_abs_resid": by_otr.apply(lambda v: np.median(np.abs(v))),
                          "mean_resid": by_otr.mean(), "runs": by_otr.size()})
    out = {"device": device_name(), "resamples": args.resamples, "draws": args.draws,
           "real": res_real, "iid_residuals": res_iid, "rhat_max": max(rhat_real, rhat_iid),
           "residuals_by_log10_tokens_per_param": {str(k): v for k, v in table.round(5).T.to_dict().items()},
           "seconds": time.perf_counter() - t0}
    print(f"device: {out['device']}  ({out['seconds']:.0f} s; bootstrap {args.resamples} resamples, "
          f"NUTS 4 x {args.draws}, R-hat max {out['rhat_max']:.4f})")
    print(f"{'data':<16} {'param':<6} {'bootstrap sd':>12} {'posterior sd':>12} {'ratio':>6} "
          f"{'sandwich sd':>12} {'ratio':>6} {'Laplace sd':>11} {'Lap.+sandw.':>11} {'ratio':>6}")
    for name, res in (("real (Epoch)", res_real), ("i.i.d. resid.", res_iid)):
        for k, v in res.items():
            print(f"{name:<16} {k:<6} {v['bootstrap_sd']:12.4f} {v['posterior_sd']:12.4f} {v['ratio']:6.2f} "
                  f"{v['sandwich_sd']:12.4f} {v['ratio_to_sandwich']:6.2f} {v['laplace_sd']:11.4f} "
                  f"{v['laplace_sandwich_sd']:11.4f} {v['ratio_to_laplace_sandwich']:6.2f}")
    print("95% intervals on the real data (in brackets: width / Epoch's published bootstrap width):")
    for name, q in intervals.items():
        print(f"  {name:<26} " + "  ".join(
            f"{k} {q[k]['lo']:.3f}-{q[k]['hi']:.3f} ({(q[k]['hi'] - q[k]['lo']) / (hi - lo):.2f}x)"
            for k, (lo, hi) in EPOCH.items()))
    out["intervals_95"] = {n: {k: [q[k]["lo"], q[k]["hi"]] for k in EPOCH} for n, q in intervals.items()}
    print("Huber-fit residuals (log loss) by sextile of log10 tokens per parameter:")
    print(table.to_string(float_format=lambda v: f"{v:.4f}"))
    if args.json:
        print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
