"""NUTS posterior vs Epoch's SciPy bootstrap on the 240-run Epoch data, in one process.

scalelab: `scalelab.fit` (the init; Hoffmann grid) + `scalelab.bayes.sample` (NUTS,
4 vectorised chains x 1,000 draws after 1,000 warm-up), compilation included.
Anchor: Epoch's bootstrap (Besiroglu et al. 2024): 4,000 resamples of the runs, each
refitted with SciPy L-BFGS-B on the summed Huber(1e-3) objective in the
log-sum-exp form. We time ``--resamples`` of them (each from the 4 best grid
starts of the full-data fit, as DESIGN.md's probe did) and extrapolate linearly to 4,000,
stating so. Prints the device and the times.

    .venv/bin/python benchmarks/bayes_speed.py [--likelihood huber] [--groups N] [--resamples 40]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings

warnings.filterwarnings("ignore", category=FutureWarning)

import jax  # noqa: E402
import numpy as np  # noqa: E402
from scipy.optimize import minimize  # noqa: E402
from scipy.special import huber, logsumexp  # noqa: E402

import scalelab  # noqa: E402
from scalelab import bayes  # noqa: E402
from scalelab.data import epoch_chinchilla  # noqa: E402

jax.config.update("jax_enable_x64", True)  # this script's own JAX reference code runs in float64


def scipy_objective(u, logN, logD, y):
    e, a, b, alpha, beta = u
    pred = logsumexp(np.stack([a - alpha * logN, b - beta * logD, np.full_like(logN, e)]), axis=0)
    return huber(1e-3, pred - y).sum()


def bootstrap_time(table, starts, n_resamples, seed=0):
    logN, logD, y = np.log(table.column("N")), np.log(table.column("D")), np.log(table.column("loss"))
    rng = np.random.default_rng(seed)
    n = len(y)
    out = []
    t0 = time.perf_counter()
    for _ in range(n_resamples):
        idx = rng.integers(0, n, n)
        best = min((minimize(scipy_objective, s, args=(logN[idx], logD[idx], y[idx]), method="L-BFGS-B")
                    for s in starts), key=lambda r: r.fun)
        out.append(best.x)
    return time.perf_counter() - t0, np.array(out)


def laplace_variants(table, law, fit, groups, likelihood, V, seed=0):
    import jax.numpy as jnp

    from scalelab.bayes.inference import _prior_precision
    from scalelab.bayes.laplace import laplace_core, onehot_groups
    from scalelab.bayes.model import group_index

    x = {k: jnp.asarray(v) for k, v in table.inputs(law.inputs).items()}
    y = jnp.asarray(np.log(table.column("loss")))
    idx, labels = group_index(table, groups)
    onehot = onehot_groups(idx, len(labels))
    theta = jnp.asarray([fit.unconstrained[u] for u in law.unconstrained_names])
    W = jnp.asarray(np.random.default_rng(seed).multinomial(len(y), np.full(len(y), 1 / len(y)), size=V), float)
    prec = _prior_precision(law, None)
    fn = jax.jit(jax.vmap(lambda w: laplace_core(law, theta, x, y, w, onehot, likelihood, prec)["cov"]))
    t0 = time.perf_counter()
    cov = jax.block_until_ready(fn(W))
    t1 = time.perf_counter() - t0
    t0 = time.perf_counter()
    cov = jax.block_until_ready(fn(W))
    t2 = time.perf_counter() - t0
    return {"variants": V, "first_call_s": t1, "second_call_s": t2}, float(np.median(np.sqrt(np.asarray(cov)[:, 4, 4])))


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--likelihood", default="huber")
    ap.add_argument("--groups", default="N")
    ap.add_argument("--resamples", type=int, default=40)
    ap.add_argument("--laplace-variants", type=int, default=1000,
                    help="variants (bootstrap weight vectors) for the vmapped Laplace timing")
    ap.add_argument("--skip-bootstrap", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    dev = jax.devices()[0]
    device = f"{dev.platform}:{getattr(dev, 'device_kind', '?')} ({platform.processor() or platform.machine()})"
    table = epoch_chinchilla(drop_highest=5)
    law = scalelab.laws.get("chinchilla")

    t0 = time.perf_counter()
    fit = scalelab.fit(table, law)
    t_fit = time.perf_counter() - t0
    groups = None if args.groups == "none" else args.groups
    t0 = time.perf_counter()
    post = bayes.sample(table, law, likelihood=args.likelihood, groups=groups, chains=4, draws=1000,
                        warmup=1000, seed=0, init=fit)
    t_nuts = time.perf_counter() - t0
    diag = post.diagnostics()

    # Anchor: SciPy bootstrap from the 4 best Hoffmann grid starts (unconstrained: log_E, log_A, log_B, alpha, beta).
    grid = law.grid_starts()
    logN, logD, y = np.log(table.column("N")), np.log(table.column("D")), np.log(table.column("loss"))
    order = ["log_E", "log_A", "log_B", "alpha", "beta"]
    perm = [law.unconstrained_names.index(k) for k in order]
    vals = np.array([scipy_objective(g[perm], logN, logD, y) for g in grid])
    starts = grid[np.argsort(vals)[:4]][:, perm]
    if args.skip_bootstrap:
        t_boot, t_boot_4000 = float("nan"), float("nan")
    else:
        t_boot, _ = bootstrap_time(table, starts, args.resamples)
        t_boot_4000 = t_boot / args.resamples * 4000

    # The fast mode for many variants: Laplace covariances for V bootstrap-weight variants, one vmapped program
    # (each at the full-data fit: the approximation for screening thousands of variants, not a refit).
    t_lap, lap_width = laplace_variants(table, law, fit, groups, args.likelihood, args.laplace_variants)

    res = {"device": device, "likelihood": args.likelihood, "groups": groups,
           "fit_seconds": t_fit, "nuts_seconds": t_nuts, "total_seconds": t_fit + t_nuts,
           "rhat_max": diag["rhat_max"], "ess_min": diag["ess_min"], "divergences": diag["divergences"],
           "bootstrap_resamples_timed": args.resamples, "bootstrap_seconds_timed": t_boot,
           "bootstrap_seconds_4000_extrapolated": t_boot_4000,
           "speedup": t_boot_4000 / (t_fit + t_nuts), "laplace_variants": t_lap}
    print(f"device: {device}")
    print(f"scalelab fit (grid, init)            {t_fit:7.2f} s")
    print(f"scalelab NUTS 4 x 1000 (+1000 warm-up) {t_nuts:7.2f} s  (R-hat max {diag['rhat_max']:.4f}, "
          f"ESS min {diag['ess_min']:.0f}, {args.likelihood}, groups={groups})")
    print(f"scalelab total                         {t_fit + t_nuts:7.2f} s")
    print(f"SciPy bootstrap: {args.resamples} resamples x 4 starts in {t_boot:.2f} s -> 4,000 resamples "
          f"~{t_boot_4000:.0f} s (extrapolated)")
    print(f"ratio bootstrap / scalelab: {res['speedup']:.1f}x")
    print(f"Laplace, {t_lap['variants']} bootstrap-weight variants in one vmapped program: "
          f"{t_lap['first_call_s']:.2f} s with compile, {t_lap['second_call_s']:.3f} s after "
          f"(median sd of beta {lap_width:.4f})")
    if args.json:
        print(json.dumps(res))
    return res


if __name__ == "__main__":
    main()
