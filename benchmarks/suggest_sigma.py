"""Which standard deviation should `scalelab suggest` print for its forecast? Measured against references.

`suggest` prints the target's sd now (``sd_before``) from a Gauss-Newton covariance ``sigma^2 (J^T J)^-1``; ``sigma``
was 1.4826 x MAD of the fit's log-loss residuals, and is now the fit's own M-estimator scale (``huber_s`` below;
`scalelab.design.next_runs.laplace_state`). On subsets
of Epoch's table (5 highest losses dropped; chinchilla; Huber(1e-3) fit, the default of `suggest`), this script
puts beside it the sd of the same target (default ``loss@C=1e24``, nats/token) from:

* ``suggest``: `scalelab.suggest`'s ``sd_before`` (its own formula, at the fit);
* ``laplace``: `scalelab.bayes.laplace` as it is called by ``scalelab bayes --method laplace`` (``adjust="auto"``:
  sandwich-adjusted from 120 runs, shrunk below), and the same with ``adjust=None``;
* ``nuts``: `scalelab.bayes.sample` with its defaults (4 x 1,000 after 1,000 warm-up; ``--nuts`` to run it);
* ``bootstrap``: ``--resamples`` case resamples refitted by `fit_many` (sd, and a robust sd: half the central 68%
  range, as a resample of a 16-run table may leave a parameter undetermined);
* float64 NumPy textbook covariances of the fit at its optimum, in natural parameters with an analytic Jacobian of
  ``log(E + A N^-alpha + B D^-beta)`` and the target's gradient in closed form (the envelope theorem: at the
  compute-optimal split the gradient is the loss's partial derivative at fixed N, D), independent of scalelab's code:
  ``mad`` suggest's formula before this study (``1.4826 MAD`` as the scale; equal to its sd then); ``huber_s`` the
  Huber M-estimator's ``[sum psi^2 / (n - p)] / mean(psi')^2 (J^T J)^-1`` (Huber & Ronchetti 2009, sec. 7.6) with
  ``psi'`` smoothed by a Gaussian kernel of Silverman's width ``1.06 rms(r) n^-1/5`` (what suggest now prints);
  ``huber_k`` the same at Silverman's robust width ``0.9 min(sd, IQR/1.349) n^-1/5``; ``huber_m`` the same with the
  raw ``psi'`` (the box ``|r| <= delta``) and Huber's small-sample factor ``K``; ``ls`` ``s^2 (J^T J)^-1`` with
  ``s^2 = RSS / (n - p)``; ``ls_sandwich`` (HC1); ``lad`` ``(J^T J)^-1 / (4 f(0)^2)`` (least absolute deviations;
  ``f(0)`` the residuals' density at 0, Gaussian kernel at Silverman's width), and ``lad_sandwich`` (Powell 1991:
  ``H^-1 J^T J H^-1``, ``H = 2 sum_i K_h(r_i) j_i j_i^T``). A Huber fit with delta = 1e-3 on log-loss residuals of
  ~5e-3 is a least-absolute-deviations fit, so ``huber_s`` ~ ``lad`` here.
* ``--replicates``: the law made exact (`monte_carlo`): the sd of the forecast over simulated tables, the sampling sd
  a printed sd should match, and each formula's median over them as a multiple of it.

    PYTHONPATH=src python benchmarks/suggest_sigma.py [--sizes 16 40 240] [--subsets 3] [--resamples 200] \
        [--replicates 200] [--nuts]

Prints a table (one row per table, sd in nats/token) and the device name.
"""

from __future__ import annotations

import argparse
import time
import warnings

warnings.filterwarnings("ignore", category=FutureWarning)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import special  # noqa: E402

import scalelab  # noqa: E402
from scalelab import bayes, design  # noqa: E402
from scalelab.data import epoch_chinchilla  # noqa: E402
from scalelab.fit import variants  # noqa: E402
from scalelab.fit.many import fit_many  # noqa: E402

from _common import device_name  # noqa: E402

NAMES = ("E", "A", "B", "alpha", "beta")


def optimum(p, C):
    """Compute-optimal ``(N, D)`` of chinchilla at ``C = 6 N D`` FLOPs (Hoffmann et al. 2022, eq. 4)."""
    E, A, B, a, b = p
    G = (a * A / (b * B)) ** (1.0 / (a + b))
    N = G * (C / 6.0) ** (b / (a + b))
    return N, C / (6.0 * N)


def loss_at(p, C):
    """Loss (nats/token) at the compute-optimal split of ``C`` FLOPs."""
    E, A, B, a, b = p
    N, D = optimum(p, C)
    return E + A * N ** -a + B * D ** -b


def loss_at_nd(p, N, D):
    E, A, B, a, b = p
    return E + A * N ** -a + B * D ** -b


def target_grad(p, C):
    """d loss_at / d (E, A, B, alpha, beta): the partial derivatives at the optimal (N, D) (envelope theorem)."""
    E, A, B, a, b = p
    N, D = optimum(p, C)
    return np.array([1.0, N ** -a, D ** -b, -A * N ** -a * np.log(N), -B * D ** -b * np.log(D)])


def jacobian(p, N, D):
    """``[n, 5]`` Jacobian of the log prediction ``log(E + A N^-alpha + B D^-beta)`` in natural parameters."""
    E, A, B, a, b = p
    tn, td = A * N ** -a, B * D ** -b
    L = E + tn + td
    return np.stack([1 / L, N ** -a / L, D ** -b / L, -tn * np.log(N) / L, -td * np.log(D) / L], axis=1)


def textbook(p, N, D, logL, C, delta=1e-3):
    """The target's sd from float64 textbook covariances at the fit ``p`` (module docstring)."""
    J = jacobian(p, N, D)
    E, A, B, a, b = p
    r = logL - np.log(E + A * N ** -a + B * D ** -b)
    n, q = J.shape
    g = target_grad(p, C)
    JtJi = np.linalg.inv(J.T @ J)
    h = 1.06 * np.sqrt(np.mean(r ** 2)) * n ** -0.2  # Silverman's width
    k = np.exp(-0.5 * (r / h) ** 2) / (np.sqrt(2 * np.pi) * h)
    f0 = k.mean()
    H = 2 * (J * k[:, None]).T @ J
    Hi = np.linalg.inv(H)
    # Huber's M-estimator covariance (Huber & Ronchetti 2009, sec. 7.6): K^2 [sum psi^2 / (n - p)] / [mean psi']^2
    # (J^T J)^-1 with psi the fit's own Huber psi (delta 1e-3 on the log residual), K = 1 + p/n var(psi') / mean(psi')^2
    psi, dpsi = np.clip(r, -delta, delta), (np.abs(r) <= delta).astype(float)
    m = max(dpsi.mean(), 1.0 / n)
    K = 1 + q / n * dpsi.var() / m ** 2
    mad = 1.4826 * np.median(np.abs(r - np.median(r)))
    # psi' smoothed by a Gaussian kernel of Silverman's robust width (huber_k) or plain width (huber_s, suggest's)
    hs = 0.9 * min(np.std(r), np.subtract(*np.percentile(r, [75, 25])) / 1.349) * n ** -0.2
    smooth = special.ndtr((delta - r) / hs) - special.ndtr((-delta - r) / hs)
    covs_k = (psi @ psi / (n - q)) / smooth.mean() ** 2 * JtJi
    smooth_h = special.ndtr((delta - r) / h) - special.ndtr((-delta - r) / h)  # Silverman's plain width, as `lad`
    covs_s = (psi @ psi / (n - q)) / smooth_h.mean() ** 2 * JtJi
    covs = {"mad": mad ** 2 * JtJi,
            "huber_k": covs_k,
            "huber_s": covs_s,
            "huber_m": K ** 2 * (psi @ psi / (n - q)) / m ** 2 * JtJi,
            "ls": r @ r / (n - q) * JtJi,
            "ls_sandwich": n / (n - q) * JtJi @ (J * r[:, None] ** 2).T @ J @ JtJi,
            "lad": JtJi / (4 * f0 ** 2),
            "lad_sandwich": Hi @ J.T @ J @ Hi}
    return {k_: float(np.sqrt(g @ c @ g)) for k_, c in covs.items()}


def posterior_sd(post, C):
    """sd of the target over a `Posterior`'s draws (natural parameters, closed form)."""
    d = post.draws()
    return float(np.std(loss_at(tuple(np.asarray(d[k], float) for k in NAMES), C)))


def robust_sd(v):
    lo, hi = np.percentile(v, [15.865, 84.135])
    return 0.5 * (hi - lo)


def one_table(df, C, target, resamples, nuts, seed):
    law = scalelab.laws.get("chinchilla")
    row = {"n": len(df)}
    fit = scalelab.fit(df, law)
    p = tuple(float(fit.params[k]) for k in NAMES)
    row["value"] = loss_at(p, C)
    with jax.enable_x64(True):  # a check that the closed-form target is suggest's
        theta = law.flatten({k: jnp.asarray(v, jnp.float64) for k, v in fit.unconstrained.items()})
        own = float(design.target_fn(law, target)(theta))
    assert abs(own - row["value"]) < 1e-6 * row["value"], (own, row["value"])
    s = design.suggest(df, law, target, budget=1e21, k=1, fit=fit)
    N, D, logL = (df[c].to_numpy(float) for c in ("N", "D", "loss"))
    logL = np.log(logL)
    r = logL - np.log(loss_at_nd(p, N, D))
    row["suggest"], row["sigma_suggest"] = s.sd_before, s.sigma
    row["sigma_mad"] = 1.4826 * np.median(np.abs(r - np.median(r)))
    row.update(textbook(p, N, D, logL, C))
    lap = bayes.laplace(df, law, likelihood="huber", init=fit, draws=8000, seed=seed)
    row["laplace"] = posterior_sd(lap, C)
    row["laplace_iid"] = posterior_sd(bayes.laplace(df, law, likelihood="huber", init=fit, draws=8000, seed=seed,
                                                    adjust=None), C)
    if nuts:
        t0 = time.perf_counter()
        post = bayes.sample(df, law, likelihood="huber", init=fit, seed=seed, progress=False)
        row["nuts"], row["nuts_s"] = posterior_sd(post, C), time.perf_counter() - t0
    boot = fit_many(df, law, variants.bootstrap(df, resamples, seed=seed), progress=False)
    v = loss_at(tuple(boot[k].to_numpy(float) for k in NAMES), C)
    v = v[np.isfinite(v)]
    row["bootstrap"], row["bootstrap_robust"] = float(np.std(v)), robust_sd(v)
    return row


def monte_carlo(full, df, C, replicates, seed):
    """The law made exact: ``replicates`` tables at ``df``'s (N, D), log loss = the whole table's fit plus residuals
    drawn from that fit's own (Epoch's noise, exchangeable), all refitted in one `fit_many` program (one variant per
    replicate, weighing its own rows). Returns the forecasts' sd over replicates (the sampling sd a printed sd should
    match) and each formula's median sd (`textbook`, at each replicate's own fit)."""
    law = scalelab.laws.get("chinchilla")
    fit = scalelab.fit(full, law)
    p = np.array([float(fit.params[k]) for k in NAMES])
    E, A, B, a, b = p
    pred = lambda N, D: np.log(E + A * N ** -a + B * D ** -b)  # noqa: E731
    r_full = np.log(full["loss"].to_numpy(float)) - pred(full["N"].to_numpy(float), full["D"].to_numpy(float))
    N, D = df["N"].to_numpy(float), df["D"].to_numpy(float)
    n, rng = len(df), np.random.default_rng(seed)
    logL = pred(N, D)[None] + rng.choice(r_full, size=(replicates, n))
    table = pd.DataFrame({"N": np.tile(N, replicates), "D": np.tile(D, replicates), "loss": np.exp(logL).ravel()})
    weights = np.kron(np.eye(replicates), np.ones(n))
    V = variants.Variants(weights, np.full(replicates, 1e-3), tuple({} for _ in range(replicates)),
                          pd.DataFrame({"kind": "replicate", "variant": np.arange(replicates)}))
    out = fit_many(table, law, V, progress=False)
    P = out[list(NAMES)].to_numpy(float)
    fc = loss_at(tuple(P.T), C)
    ok = np.isfinite(fc) & out["converged"].to_numpy(bool)
    est = [textbook(tuple(P[i]), N, D, logL[i], C) for i in np.flatnonzero(ok)]
    return {"true_sd": float(np.std(fc[ok])), "true_robust": robust_sd(fc[ok]), "kept": int(ok.sum()),
            **{k: float(np.median([e[k] for e in est])) for k in est[0]}}


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[16, 40, 240])
    ap.add_argument("--subsets", type=int, default=3, help="random subsets per size below the whole table")
    ap.add_argument("--resamples", type=int, default=200)
    ap.add_argument("--C", type=float, default=1e24, help="the target's compute (suggest's default loss@C=1e24)")
    ap.add_argument("--nuts", action="store_true", help="also the default NUTS posterior (tens of seconds a table)")
    ap.add_argument("--replicates", type=int, default=0,
                    help="also the law made exact: this many simulated tables per subset (`monte_carlo`)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    target = f"loss@C={args.C:g}"
    t0 = time.perf_counter()
    full = epoch_chinchilla().df.reset_index(drop=True)
    rows = []
    for size in args.sizes:
        for i in range(1 if size >= len(full) else args.subsets):
            df = full if size >= len(full) else full.sample(size, random_state=args.seed + i).reset_index(drop=True)
            r = one_table(df, args.C, target, args.resamples, args.nuts, args.seed)
            if args.replicates:
                r["mc"] = monte_carlo(full, df, args.C, args.replicates, args.seed)
            r["subset"] = "all" if size >= len(full) else f"seed {args.seed + i}"
            rows.append(r)
            print(f"  done n={r['n']} {r['subset']} ({time.perf_counter() - t0:.0f} s)", flush=True)
    cols = ["suggest", "mad", "huber_s", "huber_k", "huber_m", "lad", "lad_sandwich", "ls", "ls_sandwich",
            "laplace_iid", "laplace"] + (["nuts"] if args.nuts else []) + ["bootstrap", "bootstrap_robust"]
    print(f"\ntarget {target} (nats/token); sd of the forecast; {args.resamples} bootstrap resamples; "
          f"device {device_name()}")
    print("| n | subset | value | sigma (MAD) | sigma (suggest) | " + " | ".join(cols)
          + " | mad / boot_robust | suggest / boot_robust |")
    print("|" + " --- |" * (len(cols) + 7))
    for r in rows:
        b = r["bootstrap_robust"]
        print(f"| {r['n']} | {r['subset']} | {r['value']:.4f} | {r['sigma_mad']:.4f} | {r['sigma_suggest']:.4f} | "
              + " | ".join(f"{r[c]:.4f}" for c in cols) + f" | {r['mad'] / b:.2f} | {r['suggest'] / b:.2f} |")
    if args.replicates:
        mc_cols = ["mad", "huber_s", "huber_k", "huber_m", "lad", "lad_sandwich", "ls", "ls_sandwich"]
        print(f"\nthe law made exact ({args.replicates} simulated tables per row, Epoch's residuals resampled): sd of "
              f"the forecasts over the tables, and each formula's median sd over them as a multiple of it")
        print("| n | subset | refits kept | sd over tables | robust sd | " + " | ".join(mc_cols) + " |")
        print("|" + " --- |" * (len(mc_cols) + 5))
        for r in rows:
            m = r["mc"]
            print(f"| {r['n']} | {r['subset']} | {m['kept']} | {m['true_sd']:.4f} | {m['true_robust']:.4f} | "
                  + " | ".join(f"{m[c] / m['true_sd']:.2f}" for c in mc_cols) + " |")
    if args.nuts:
        print("NUTS seconds: " + ", ".join(f"{r['nuts_s']:.0f}" for r in rows))
    print(f"total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
