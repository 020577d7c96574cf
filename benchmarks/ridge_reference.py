"""Which NUTS chart samples the right posterior: an independent float64 reference on a 40-run table.

`scalelab.bayes.sample` moves NUTS in the ridge chart (`reparam="ridge"`, the default) or in the law's own
unconstrained coordinates (`reparam=None`). A change of coordinates with its Jacobian leaves the posterior
alone, yet on the simulated 40-run Chinchilla table of `tests/test_bayes_reparam.py` (8 sizes x 5 token
ratios, 1% noise, seed 3) the two disagree on the lower tail of log_E and alpha. This script settles it
against a reference that shares no code with the package's sampler:

- the log posterior written here in NumPy (Epoch's Huber density with delta 1e-3 on the log-loss residuals,
  scale ``s delta``; the law as log-sum-exp; the package's default priors, taken from
  `scalelab.bayes.priors` as numbers: Normal on log_E, log_A, log_B, alpha, beta and log_s);
- a vectorised adaptive random-walk Metropolis (``--chains`` chains) in a chart that straightens the ridge,
  ``y = (E, T_N, T_D, 1/alpha, 1/beta, log s)`` with ``T_N = A exp(-alpha mean log N)`` (and ``T_D`` alike),
  whose log Jacobian ``-log E - log T_N - log T_D - 2 log(1/alpha) - 2 log(1/beta)`` is checked against a
  finite-difference determinant before sampling;
- its Monte-Carlo error from the spread over 16 groups of chains.

Then NUTS in both charts (4 chains x ``--draws``) on the same table. Prints log_E, alpha, beta: 5% and 95%
quantiles and the mean.

    .venv/bin/python benchmarks/ridge_reference.py [--iters 40000] [--chains 128] [--draws 3000]
"""

from __future__ import annotations

import argparse
import time
import warnings

warnings.filterwarnings("ignore", category=FutureWarning)

import numpy as np  # noqa: E402
from scipy.special import logsumexp, ndtr  # noqa: E402
from scipy.stats import norm  # noqa: E402

import scalelab  # noqa: E402
from scalelab import bayes  # noqa: E402
from scalelab.bayes.priors import NOISE_PRIORS, default_priors  # noqa: E402

from _common import device_name  # noqa: E402

TRUE = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}
DELTA = 1e-3
NAMES = ("log_E", "alpha", "beta")


def table40():
    """The 40-run table of tests/test_bayes_reparam.py (`_grid(8, 5, seed=3)`)."""
    sizes, ratios = np.geomspace(5e7, 1e9, 8), np.geomspace(10, 100, 5)
    N = np.repeat(sizes, 5)
    return scalelab.simulate("chinchilla", TRUE, {"N": N, "D": N * np.tile(ratios, 8)}, sigma=0.01, seed=3)


def log_post_fn(df):
    logN, logD, y = (np.log(df[c].to_numpy(float)) for c in ("N", "D", "loss"))
    pri = default_priors(scalelab.laws.get("chinchilla"))
    loc = np.array([*(pri[k][0] for k in ("log_E", "log_A", "log_B", "alpha", "beta")), NOISE_PRIORS["log_s"][0]])
    sd = np.array([*(pri[k][1] for k in ("log_E", "log_A", "log_B", "alpha", "beta")), NOISE_PRIORS["log_s"][1]])
    logz = np.log(np.sqrt(2 * np.pi) * (1 - 2 * ndtr(-DELTA)) + 2 * np.exp(-0.5 * DELTA**2) / DELTA)

    def log_post(q):  # q [M, 6] = (log_E, log_A, log_B, alpha, beta, log_s)
        le, la, lb, a, b, ls = (q[:, k:k + 1] for k in range(6))
        mu = logsumexp(np.stack(np.broadcast_arrays(la - a * logN, lb - b * logD, le)), axis=0)
        z = np.abs(y - mu) / (np.exp(ls) * DELTA)
        rho = np.where(z <= DELTA, 0.5 * z * z, DELTA * (z - 0.5 * DELTA))
        return norm.logpdf(q, loc, sd).sum(-1) + (-rho - logz - np.log(np.exp(ls) * DELTA)).sum(-1)

    return log_post, logN.mean(), logD.mean()


def reference(df, fit, iters, chains, seed):
    log_post, cN, cD = log_post_fn(df)

    def theta_of(v):
        E, TN, TD, uN, uD, ls = v.T
        with np.errstate(all="ignore"):
            return np.stack([np.log(E), np.log(TN) + cN / uN, np.log(TD) + cD / uD, 1 / uN, 1 / uD, ls], -1)

    def y_of(th):
        le, la, lb, a, b, ls = th.T
        return np.stack([np.exp(le), np.exp(la - a * cN), np.exp(lb - b * cD), 1 / a, 1 / b, ls], -1)

    def target(v):
        ok = np.all(v[:, :5] > 0, axis=1)
        out = np.full(len(v), -np.inf)
        if ok.any():
            E, TN, TD, uN, uD, _ = v[ok].T
            out[ok] = log_post(theta_of(v[ok])) - np.log(E * TN * TD) - 2 * np.log(uN * uD)
        return out

    rng = np.random.default_rng(seed)
    u = fit.unconstrained
    th0 = np.array([u["log_E"], u["log_A"], u["log_B"], u["alpha"], u["beta"], np.log(np.mean(np.abs(fit.log_residuals)))])
    v0 = y_of(th0[None])[0]
    h = 1e-7
    J = np.stack([(theta_of((v0 + h * e)[None])[0] - theta_of((v0 - h * e)[None])[0]) / (2 * h) for e in np.eye(6)], 1)
    E, TN, TD, uN, uD, _ = v0
    assert abs(np.linalg.slogdet(J)[1] - (-np.log(E * TN * TD) - 2 * np.log(uN * uD))) < 1e-6, "chart Jacobian"
    x = v0 * (1 + 0.02 * rng.standard_normal((chains, 6)))  # dispersed starts around the fit
    x[:, 5] = v0[5] + 0.1 * rng.standard_normal(chains)
    lp = target(x)
    cov, scale = np.cov(x.T) + 1e-12 * np.eye(6), 2.38**2 / 6
    for _ in range(6):  # adaptation rounds: the proposal's covariance and scale
        L = np.linalg.cholesky(scale * cov + 1e-14 * np.eye(6))
        keep, acc = [], 0.0
        for it in range(3000):
            prop = x + rng.standard_normal((chains, 6)) @ L.T
            lq = target(prop)
            a = np.log(rng.random(chains)) < lq - lp
            x[a], lp[a], acc = prop[a], lq[a], acc + a.mean()
            if it % 5 == 0:
                keep.append(x.copy())
        cov = np.cov(np.concatenate(keep[len(keep) // 2:]).T)
        scale *= np.exp(2 * (acc / 3000 - 0.23))
    L = np.linalg.cholesky(scale * cov)
    draws = np.empty((iters // 5, chains, 6))
    for it in range(iters):
        prop = x + rng.standard_normal((chains, 6)) @ L.T
        lq = target(prop)
        a = np.log(rng.random(chains)) < lq - lp
        x[a], lp[a] = prop[a], lq[a]
        if it % 5 == 4:
            draws[it // 5] = theta_of(x)
    th = draws.transpose(1, 0, 2)  # [chains, draws, 6]
    cols = {"log_E": 0, "alpha": 3, "beta": 4}
    out = {}
    for k, j in cols.items():
        stat = lambda v: np.array([np.quantile(v, 0.05), np.quantile(v, 0.95), v.mean()])  # noqa: E731
        groups = np.array([stat(g[..., j]) for g in np.array_split(th, 16)])
        out[k] = (stat(th[..., j]), groups.std(0, ddof=1) / np.sqrt(16))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=40000, help="random-walk iterations per chain after adaptation")
    ap.add_argument("--chains", type=int, default=128)
    ap.add_argument("--draws", type=int, default=3000, help="NUTS draws per chain (4 chains, 1,000 warm-up)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    df = table40()
    fit = scalelab.fit(df, "chinchilla", objective="huber", starts=16)
    t0 = time.perf_counter()
    ref = reference(df, fit, args.iters, args.chains, args.seed)
    print(f"device: {device_name()}; reference: {args.chains} chains x {args.iters} random-walk steps "
          f"({time.perf_counter() - t0:.0f} s)")
    print(f"{'':32s}" + "".join(f"{k + ' q05 / q95 / mean':>34s}" for k in NAMES))
    print(f"{'reference (MC error)':32s}" + "".join(
        f"{v[0][0]:.3f}({v[1][0]:.3f}) {v[0][1]:.3f} {v[0][2]:.3f}({v[1][2]:.3f})".rjust(34) for v in ref.values()))
    kw = dict(chains=4, draws=args.draws, warmup=1000, init=fit, adjust=None, extend=0, retry=False, progress=False)
    for label, reparam in (("NUTS, ridge chart (default)", "ridge"), ("NUTS, the law's own coordinates", None)):
        post = bayes.sample(df, "chinchilla", reparam=reparam, seed=args.seed, **kw)
        p = post.idata.posterior
        row = "".join(f"{np.quantile(p[k].values, 0.05):.3f} {np.quantile(p[k].values, 0.95):.3f} "
                      f"{p[k].values.mean():.3f}".rjust(34) for k in NAMES)
        print(f"{label:32s}{row}   R-hat {post.diagnostics()['rhat_max']:.4f}")


if __name__ == "__main__":
    main()
