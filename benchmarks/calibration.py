"""Coverage of scalelab's credible intervals on data simulated from a known Chinchilla law.

The forecast's intervals on a *misspecified* form (the truth a kappa != 1 Skaling law or Farseer, fitted
with the whole candidate set) are measured by `benchmarks/forecast_calibration.py`; ``--truth`` here runs
it with the arguments that follow (``python benchmarks/calibration.py --truth farseer --sizes 8 --sets 100``).

Each data set: 8 model sizes (5e7-3e9 parameters) x 5 token budgets (5-200 tokens per
parameter), 40 runs (``--sizes``/``--ratios`` change the grid; 24 x 10 = 240 runs is the Epoch
table's size), losses from ``scalelab.simulate`` (log-normal noise, sigma 0.01),
optionally times a per-model-size offset ``exp(tau z_g)`` (``--tau``, the grouped
structure DESIGN.md measured on the Epoch data). For every data set we fit, draw the
posterior (NUTS, and the Laplace approximation) and record whether the 50/90/95%
intervals cover: the parameters E, alpha, beta; the law's loss at two extrapolated
points (N=1e10, D=2e11 and N=7e10, D=1.4e12: 3x and 23x the largest model); and a new
run's loss there (drawn with fresh noise and a fresh group offset). Coverage should be
near nominal; with K data sets its binomial standard error is sqrt(p(1-p)/K).

Misspecified noise, to test the sandwich adjustment (`bayes.sandwich`, ``--adjust sandwich``,
which adds "nuts+sandwich" and "laplace+sandwich" rows computed from the same draws):
``--hetero K`` makes the noise sd ``sigma (1 + (K - 1) z^2)``, ``z`` the run's log tokens per
parameter scaled to [-1, 1] (K times larger at both ends, as on the Epoch data), and
``--noise laplace|normal`` picks the noise shape; a likelihood that differs from it (e.g.
Huber on normal noise) is misspecified in shape.

    .venv/bin/python benchmarks/calibration.py [--datasets 200] [--tau 0.01 --groups N] [--json]
    .venv/bin/python benchmarks/calibration.py --hetero 3 --adjust sandwich
    .venv/bin/python benchmarks/calibration.py --likelihood huber --adjust sandwich

NUTS runs every data set's chains in one compiled program per batch (`bayes.sample_many`),
with the default run-on rounds while R-hat > 1.01 or ESS < 400 (``--extend``). The "default" row is what
``scalelab bayes`` answers with its defaults (``adjust="auto"``: the sandwich from
`bayes.sandwich.min_runs` runs, 120 for chinchilla, the plain posterior below), computed from the
same draws:

    .venv/bin/python benchmarks/calibration.py --sizes 4 --ratios 3 --likelihood huber --hetero 3

``--reparam ridge|centre|none`` picks the coordinates NUTS moves in (`bayes.reparam`; the default
"ridge" is `bayes.sample`'s), ``--no-retry`` drops the second pass for tables still at R-hat > 1.01,
``--first K`` starts at simulated set K (to split a long study over several processes).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")

import jax  # noqa: E402
import numpy as np  # noqa: E402

import scalelab  # noqa: E402
from scalelab import bayes  # noqa: E402

TRUE = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}
LEVELS = (0.5, 0.9, 0.95)
PARAMS = ("E", "alpha", "beta")
X_EXT = {"N": np.array([1e10, 7e10]), "D": np.array([2e11, 1.4e12])}


SIZES, RATIOS = 8, 5  # --sizes / --ratios


def design():
    sizes = np.geomspace(5e7, 3e9, SIZES)
    ratios = np.geomspace(5, 200, RATIOS)
    N = np.repeat(sizes, len(ratios))
    D = N * np.tile(ratios, len(sizes))
    return {"N": N, "D": D}


def noise_sd(x, sigma, hetero):
    """Per-run noise sd: ``sigma (1 + (hetero - 1) z^2)``, z = log(D/N) scaled to [-1, 1] on the design."""
    lr = np.log(design()["D"] / design()["N"])
    z = (np.log(x["D"] / x["N"]) - 0.5 * (lr.min() + lr.max())) / (0.5 * (lr.max() - lr.min()))
    return sigma * (1 + (hetero - 1) * z**2)


def dataset(seed, sigma, tau, hetero=1.0, noise="normal"):
    x = design()
    clean_runs = np.asarray(scalelab.laws.get("chinchilla")(TRUE, **x))
    rng = np.random.default_rng(10_000 + seed)

    def eps(shape):  # unit-variance noise of the chosen shape
        return rng.standard_normal(shape) if noise == "normal" else rng.laplace(0.0, 1 / np.sqrt(2), shape)
    g = np.unique(np.round(np.log10(x["N"]), 1), return_inverse=True)[1]
    if hetero == 1 and noise == "normal":  # the recorded i.i.d. runs (RESULTS.md) drew through simulate
        df = scalelab.simulate("chinchilla", TRUE, x, sigma=sigma, seed=seed)
    else:
        df = scalelab.simulate("chinchilla", TRUE, x, sigma=0.0, seed=seed)
        df["loss"] = clean_runs * np.exp(noise_sd(x, sigma, hetero) * eps(clean_runs.shape))
    df["loss"] = df["loss"] * np.exp(tau * rng.standard_normal(g.max() + 1)[g])
    clean = np.asarray(scalelab.laws.get("chinchilla")(TRUE, **X_EXT))
    new = clean * np.exp(noise_sd(X_EXT, sigma, hetero) * eps(clean.shape) + tau * rng.standard_normal(clean.shape))
    return df, clean, new


def covers(post, clean, new):
    out = {}
    for lvl in LEVELS:
        q = post.params(lvl)
        pred = post.predict(ci=lvl, seed=1, **X_EXT)
        out[lvl] = {**{k: bool(q[k]["lo"] < TRUE[k] < q[k]["hi"]) for k in PARAMS},
                    "loss_ext": [bool(v) for v in (pred["lo"] < clean) & (clean < pred["hi"])],
                    "new_run_ext": [bool(v) for v in (pred["new_lo"] < new) & (new < pred["new_hi"])]}
    return out


def summarise(records):
    res = {}
    for lvl in LEVELS:
        rows = [r[lvl] for r in records]
        res[str(lvl)] = {k: float(np.mean([r[k] for r in rows])) for k in PARAMS}
        res[str(lvl)]["loss_ext"] = float(np.mean([r["loss_ext"] for r in rows]))
        res[str(lvl)]["new_run_ext"] = float(np.mean([r["new_run_ext"] for r in rows]))
    return res


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if any(a == "--truth" or a.startswith("--truth=") for a in argv):  # the forecast on a misspecified form
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import forecast_calibration

        return forecast_calibration.main(argv)
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", type=int, default=200)
    ap.add_argument("--batch", type=int, default=50, help="data sets per sample_many call")
    ap.add_argument("--sigma", type=float, default=0.01)
    ap.add_argument("--tau", type=float, default=0.0)
    ap.add_argument("--sizes", type=int, default=8, help="model sizes in the design (5e7-3e9)")
    ap.add_argument("--ratios", type=int, default=5, help="tokens-per-parameter values per size (5-200)")
    ap.add_argument("--hetero", type=float, default=1.0, help="noise sd at both ends of log D/N over the middle")
    ap.add_argument("--noise", default="normal", choices=["normal", "laplace"])
    ap.add_argument("--adjust", default="none", choices=["none", "sandwich"])
    ap.add_argument("--extend", type=int, default=2, help="run-on rounds while R-hat > 1.01 or ESS < 400 (bayes.sample_many)")
    ap.add_argument("--reparam", default="ridge", choices=["ridge", "centre", "none"],
                    help="NUTS coordinates (bayes.reparam; none: the law's own)")
    ap.add_argument("--no-retry", action="store_true", help="no second pass for tables still at R-hat > 1.01")
    ap.add_argument("--first", type=int, default=0, help="index of the first simulated data set")
    ap.add_argument("--groups", default="none")
    ap.add_argument("--likelihood", default="normal")
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--no-nuts", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    global SIZES, RATIOS
    SIZES, RATIOS = args.sizes, args.ratios
    groups = None if args.groups == "none" else args.groups
    adjust = args.adjust != "none"
    rec = {"nuts": [], "laplace": [], "nuts+sandwich": [], "laplace+sandwich": [], "default": []}
    auto, _ = bayes.inference.resolve_adjust("auto", "chinchilla", args.likelihood, args.sizes * args.ratios, groups)
    rhat, retried, div = [], 0, []
    t0 = time.perf_counter()
    sets = [dataset(args.first + k, args.sigma, args.tau, args.hetero, args.noise) for k in range(args.datasets)]
    fits = [scalelab.fit(df, "chinchilla", objective="mse" if args.likelihood == "normal" else "huber",
                         starts=16, seed=args.first + k) for k, (df, _, _) in enumerate(sets)]
    t_fit = time.perf_counter() - t0
    for k, ((df, clean, new), fit) in enumerate(zip(sets, fits)):
        lap = bayes.laplace(df, "chinchilla", likelihood=args.likelihood, groups=groups, init=fit, seed=k, adjust=None)
        rec["laplace"].append(covers(lap, clean, new))
        if adjust:
            rec["laplace+sandwich"].append(covers(bayes.sandwich(lap, df), clean, new))
    t_lap = time.perf_counter() - t0 - t_fit
    if not args.no_nuts:
        # All data sets' chains in one compiled program (`bayes.sample_many`), in batches of --batch sets.
        for b in range(0, args.datasets, args.batch):
            idx = range(b, min(b + args.batch, args.datasets))
            posts = bayes.sample_many([sets[k][0] for k in idx], "chinchilla", likelihood=args.likelihood,
                                      groups=groups, inits=[fits[k] for k in idx], chains=args.chains,
                                      draws=args.draws, warmup=args.draws, seed=b, adjust=None, extend=args.extend,
                                      reparam=None if args.reparam == "none" else args.reparam,
                                      retry=not args.no_retry)
            for k, post in zip(idx, posts):
                d = post.diagnostics()
                rhat.append(d["rhat_max"])
                div.append(d["divergences"])
                retried += any("sampled again" in w for w in post.warnings)
                rec["nuts"].append(covers(post, sets[k][1], sets[k][2]))
                sw = bayes.sandwich(post, sets[k][0]) if adjust or auto else None
                if adjust:
                    rec["nuts+sandwich"].append(covers(sw, sets[k][1], sets[k][2]))
                rec["default"].append(covers(sw if auto else post, sets[k][1], sets[k][2]))
            print(f"data sets {idx.stop}/{args.datasets} ({time.perf_counter() - t0:.0f} s)", flush=True)
    t_nuts = time.perf_counter() - t0 - t_fit - t_lap
    out = {"datasets": args.datasets, "sigma": args.sigma, "tau": args.tau, "groups": groups,
           "hetero": args.hetero, "noise": args.noise, "adjust": args.adjust, "runs": args.sizes * args.ratios,
           "likelihood": args.likelihood, "seconds": time.perf_counter() - t0,
           "seconds_fit": t_fit, "seconds_laplace": t_lap, "seconds_nuts": t_nuts,
           "device": f"{jax.devices()[0].platform}:{getattr(jax.devices()[0], 'device_kind', '?')}",
           "se_at_90": float(np.sqrt(0.09 / args.datasets)),
           "rhat_max": float(max(rhat)) if rhat else None,
           "rhat_above_1.01": int(np.sum(np.asarray(rhat) > 1.01)),
           "rhat_quantiles_50_90_max": [float(q) for q in np.quantile(rhat, [0.5, 0.9, 1.0])] if rhat else None,
           "sampled_again": retried, "sets_with_divergences": int(np.sum(np.asarray(div) > 0)),
           "reparam": args.reparam, "retry": not args.no_retry, "draws": args.draws, "first": args.first,
           "default_adjust": auto,
           "coverage": {m: summarise(r) for m, r in rec.items() if r}}
    for m, cov in out["coverage"].items():
        print(f"{m}: " + "; ".join(f"{lvl}: " + ", ".join(f"{k} {v:.2f}" for k, v in c.items())
                                   for lvl, c in cov.items()))
    if rhat:
        print(f"R-hat max over sets {max(rhat):.3f}, median {np.median(rhat):.4f}, {out['rhat_above_1.01']} of "
              f"{len(rhat)} sets > 1.01; sampled again: {retried}; sets with divergences: {out['sets_with_divergences']}; "
              f"NUTS {t_nuts:.0f} s")
    if args.json:
        print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
