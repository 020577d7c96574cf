"""Do the runs `scalelab suggest` picks narrow a forecast more than an isoFLOP grid or random runs?

Simulation from known chinchilla laws. For each of ``--truths`` truths (Hoffmann/Epoch-like
E=1.8, A=480, B=2100, alpha=0.35, beta=0.37, each perturbed: E x exp(0.1 z), A, B x exp(0.3 z),
alpha, beta + 0.03 z):

1. a starting table of 30 small runs (isoFLOP budgets 1e18, 3e18, 1e19, 3e19, 1e20 FLOPs, 6 sizes
   each at 2..200 tokens per parameter), losses with log-normal noise of sd ``--sigma`` (0.015);
2. fit it (chinchilla, Huber(1e-3), Hoffmann's grid of starts; one vmapped program over truths);
3. four designs of ``k`` new runs, each spending the same total ``--budget`` FLOPs (C = 6ND):
   * ``gradient``: `scalelab.design.suggest(method="gradient")` on that truth's fit;
   * ``greedy``: `suggest(method="greedy")` (isoFLOP candidate pool);
   * ``isoflop``: k runs on one isoFLOP curve at budget/k, log-spaced tokens per parameter
     over the box;
   * ``random``: k runs with Dirichlet(1) shares of the budget, log-uniform tokens per
     parameter in the box;
   all inside the same box of tokens per parameter (``--box``, default 2..200);
4. simulate the new runs' losses (same noise), refit each augmented table (warm start from the
   step-2 fit plus 8 jittered starts, all lanes one vmapped program), and measure the target
   (``loss@C=1e24`` by default, 4 orders of magnitude beyond the runs):
   * width of the 90% interval, 2 x 1.645 x the Laplace (Gauss-Newton) sd at the refit,
     sd = sqrt(g^T sigma^2 (J^T J)^-1 g) with sigma the Huber fit's own noise scale
     (`scalelab.fit.objectives.residual_scale`; ``--scale mad``: 1.4826 MAD of the residuals, before the thirtieth
     session),
     i.e. the same approximation `suggest` optimises, evaluated after refitting on new data;
   * absolute error |T(refit) - T(truth)| in nats/token, and the coverage of the interval.

"predicted" is the width `suggest`'s approximation gives each design from the step-2 fit, before
the new runs are trained. Ratios are isoflop / suggest and random / suggest (above 1: suggest's runs narrow more).

    python benchmarks/design.py --truths 100
"""

import argparse
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import device_name  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import pandas as pd  # noqa: E402

import scalelab  # noqa: E402
from scalelab import design, laws  # noqa: E402
from scalelab.fit.api import residual_fn_for  # noqa: E402
from scalelab.fit.multistart import multistart  # noqa: E402
from scalelab.fit.objectives import residual_scale  # noqa: E402

jax.config.update("jax_enable_x64", True)  # this script's own JAX reference code runs in float64

BASE = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}
DESIGNS = ("gradient", "greedy", "isoflop", "random")
Z90 = 1.6448536269514722


def truths(n, rng):
    z = rng.standard_normal((n, 5))
    return pd.DataFrame({"E": BASE["E"] * np.exp(0.1 * z[:, 0]), "A": BASE["A"] * np.exp(0.3 * z[:, 1]),
                         "B": BASE["B"] * np.exp(0.3 * z[:, 2]), "alpha": BASE["alpha"] + 0.03 * z[:, 3],
                         "beta": BASE["beta"] + 0.03 * z[:, 4]})


def batched_fit(law, starts, X, Y, keep, max_iter):
    """Fit lane l to inputs X[l] (dict of [L, n]) and log losses Y[l] from starts[l] ([L, S, P])."""
    residual = residual_fn_for(law)

    def one(st, x, y):
        data = {"x": x, "y": y, "w": jnp.ones_like(y)}
        return multistart(residual, st, data, kind="huber", delta=1e-3, keep=keep, max_iter=max_iter).theta

    return np.asarray(jax.jit(jax.vmap(one))(jnp.asarray(starts), jax.tree.map(jnp.asarray, X), jnp.asarray(Y)))


def as_fit(law, theta):
    """What `suggest` reads of a fit, for a lane of the vmapped fits: its law, unconstrained optimum, objective
    (Huber 1e-3, the fits here) and warnings (none: every starting table is a 30-run isoFLOP ladder)."""
    return SimpleNamespace(law=law, unconstrained=law.unflatten(theta), objective_kind="huber", delta=1e-3,
                           warnings=())


def laplace_sd(law, T, thetas, X, Y, scale="fit"):
    """Laplace sd of T at each refit (lanes), noise from the Huber(1e-3) fit's own scale of the refit's residuals, as
    `suggest` takes it (``scale="mad"``: 1.4826 MAD, as `suggest` took it before the thirtieth session)."""

    def one(theta, x, y):
        r = law.log_predict_theta(theta, x) - y
        sigma = (1.4826 * jnp.median(jnp.abs(r - jnp.median(r))) if scale == "mad"
                 else residual_scale("huber", r, 1e-3, len(theta)))
        J = jax.jacfwd(lambda th: law.log_predict_theta(th, x))(theta)
        value, g = jax.value_and_grad(T)(theta)
        return value, jnp.sqrt(g @ jnp.linalg.solve(J.T @ J / sigma**2, g))

    v, sd = jax.jit(jax.vmap(one))(jnp.asarray(thetas), jax.tree.map(jnp.asarray, X), jnp.asarray(Y))
    return np.asarray(v), np.asarray(sd)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--truths", type=int, default=100)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--budget", type=float, default=1e21, help="FLOPs for all k new runs together")
    ap.add_argument("--target", default="loss@C=1e24")
    ap.add_argument("--sigma", type=float, default=0.015, help="sd of the log-loss noise")
    ap.add_argument("--box", type=float, nargs=2, default=(2.0, 200.0), help="tokens per parameter of new runs")
    ap.add_argument("--steps", type=int, default=300, help="Adam steps of the gradient mode")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scale", choices=("fit", "mad"), default="fit",
                    help="noise scale of the Laplace sd: the fit's own (suggest's) or 1.4826 MAD (before)")
    args = ap.parse_args()
    law = laws.get("chinchilla")
    rng = np.random.default_rng(args.seed)
    n_t, k, budget, box = args.truths, args.k, args.budget, tuple(args.box)
    print(f"device: {device_name()}")
    print(f"{n_t} truths; 30 starting runs 1e18..1e20 FLOPs; k = {k} new runs, {budget:.3g} FLOPs in all; "
          f"target {args.target}; noise sd {args.sigma} in log loss; tokens/param box {box}")
    tru = truths(n_t, rng)
    T = design.target_fn(law, args.target)
    th_true = np.asarray(law.flatten(law.to_unconstrained({c: jnp.asarray(tru[c].to_numpy()) for c in law.params})))
    T_true = np.asarray(jax.jit(jax.vmap(T))(jnp.asarray(th_true)))

    # 1-2: starting tables and their fits
    init = scalelab.isoflop_design(budgets=[1e18, 3e18, 1e19, 3e19, 1e20], n_per_budget=6)
    n0 = len(init["N"])
    tables = [scalelab.simulate(law, tru.iloc[t].to_dict(), init, sigma=args.sigma, seed=args.seed * 100003 + t)
              for t in range(n_t)]
    X0 = {c: np.tile(init[c], (n_t, 1)) for c in ("N", "D")}
    Y0 = np.log(np.stack([tb["loss"].to_numpy() for tb in tables]))
    t0 = time.perf_counter()
    grid = law.grid_starts()
    th0 = batched_fit(law, np.broadcast_to(grid, (n_t, *grid.shape)), X0, Y0, keep=64, max_iter=200)
    t_fit0 = time.perf_counter() - t0

    # 3: designs
    new = {d: {"N": np.zeros((n_t, k)), "D": np.zeros((n_t, k))} for d in DESIGNS}
    t_sugg = {"greedy": 0.0, "gradient": 0.0}
    for t in range(n_t):
        fit = as_fit(law, th0[t])
        for m in ("greedy", "gradient"):
            s = time.perf_counter()
            sg = design.suggest(tables[t], law, args.target, budget=budget, k=k, method=m, fit=fit,
                                tokens_per_param=box, steps=args.steps)
            t_sugg[m] += time.perf_counter() - s
            new[m]["N"][t, : len(sg.runs)], new[m]["D"][t, : len(sg.runs)] = sg.runs["N"], sg.runs["D"]
            if len(sg.runs) < k:  # a pick can stop short of k only if the pool cannot fit more
                raise RuntimeError(f"truth {t}: {m} chose {len(sg.runs)} runs")
    r_iso = np.geomspace(*box, k)
    N_iso = np.sqrt(budget / k / (6 * r_iso))
    new["isoflop"]["N"][:], new["isoflop"]["D"][:] = N_iso, r_iso * N_iso
    share = rng.dirichlet(np.ones(k), n_t)
    r_rand = np.exp(rng.uniform(*np.log(box), (n_t, k)))
    N_rand = np.sqrt(share * budget / (6 * r_rand))
    new["random"]["N"][:], new["random"]["D"][:] = N_rand, r_rand * N_rand
    for d in DESIGNS:
        spent = 6 * new[d]["N"] * new[d]["D"]
        assert np.all(spent.sum(axis=1) <= budget * (1 + 1e-6)), d
    # what suggest's approximation predicts for each design before any new run is trained: score a
    # design by passing exactly its runs as the candidate pool
    pred_sd = np.zeros((len(DESIGNS), n_t))
    for t in range(n_t):
        fit = as_fit(law, th0[t])
        for i, d in enumerate(DESIGNS):
            pool = pd.DataFrame({"N": new[d]["N"][t], "D": new[d]["D"][t]})
            pred_sd[i, t] = design.suggest(tables[t], law, args.target, budget=budget * (1 + 1e-9), k=k, fit=fit,
                                           candidates=pool).sd_after

    # 4: simulate new runs, refit every (design, truth) lane at once
    noise = rng.standard_normal((n_t, k))  # the same noise draws for every design (paired comparison)
    lanes_x = {c: [] for c in ("N", "D")}
    lanes_y, lanes_start = [], []
    for d in DESIGNS:
        Nn, Dn = new[d]["N"], new[d]["D"]
        clean = np.stack([np.asarray(law(tru.iloc[t].to_dict(), N=Nn[t], D=Dn[t])) for t in range(n_t)])
        y_new = np.log(clean) + args.sigma * noise
        lanes_x["N"].append(np.c_[X0["N"], Nn])
        lanes_x["D"].append(np.c_[X0["D"], Dn])
        lanes_y.append(np.c_[Y0, y_new])
        width = np.array([law.start_ranges[u][1] - law.start_ranges[u][0] for u in law.unconstrained_names])
        jit = th0[:, None, :] + 0.05 * width * rng.standard_normal((n_t, 8, th0.shape[1]))
        lanes_start.append(np.concatenate([th0[:, None, :], jit], axis=1))
    X1 = {c: np.concatenate(v) for c, v in lanes_x.items()}
    Y1, S1 = np.concatenate(lanes_y), np.concatenate(lanes_start)
    t0 = time.perf_counter()
    th1 = batched_fit(law, S1, X1, Y1, keep=9, max_iter=200)
    t_refit = time.perf_counter() - t0
    t0 = time.perf_counter()
    val, sd = laplace_sd(law, T, th1, X1, Y1, args.scale)
    t_sd = time.perf_counter() - t0
    _, sd0 = laplace_sd(law, T, th0, X0, Y0, args.scale)

    rows, L = [], len(DESIGNS)
    val, sd = val.reshape(L, n_t), sd.reshape(L, n_t)
    err = np.abs(val - T_true[None])
    width = 2 * Z90 * sd
    cover = err <= Z90 * sd
    for i, d in enumerate(DESIGNS):
        rows.append({"design": d, "predicted median width": np.median(2 * Z90 * pred_sd[i]),
                     "median 90% width": np.median(width[i]), "mean 90% width": np.mean(width[i]),
                     "median |error|": np.median(err[i]), "mean |error|": np.mean(err[i]),
                     "RMSE": np.sqrt(np.mean(err[i] ** 2)), "coverage of 90%": np.mean(cover[i]),
                     "median spent / budget": np.median((6 * new[d]["N"] * new[d]["D"]).sum(1) / budget)})
    out = pd.DataFrame(rows)
    print(f"before the new runs: median 90% width {np.median(2 * Z90 * sd0):.4g} nats/token")
    print(out.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    for ref in ("gradient", "greedy"):
        i = DESIGNS.index(ref)
        for other in ("isoflop", "random"):
            j = DESIGNS.index(other)
            print(f"{other} / {ref}: predicted width median {np.median(pred_sd[j]) / np.median(pred_sd[i]):.2f}x; "
                  f"width median {np.median(width[j]) / np.median(width[i]):.2f}x "
                  f"(per-truth ratio, median {np.median(width[j] / width[i]):.2f}x); |error| median "
                  f"{np.median(err[j]) / np.median(err[i]):.2f}x, mean {np.mean(err[j]) / np.mean(err[i]):.2f}x, "
                  f"RMSE {np.sqrt(np.mean(err[j]**2) / np.mean(err[i]**2)):.2f}x")
    print("typical picks (truth 0):")
    for d in DESIGNS:
        N, D = new[d]["N"][0], new[d]["D"][0]
        print(f"  {d:9s} C = {', '.join(f'{c:.2g}' for c in 6 * N * D)}; D/N = {', '.join(f'{r:.3g}' for r in D / N)}")
    print(f"times: starting fits {t_fit0:.1f} s ({n_t} truths, grid starts, one program); suggest greedy "
          f"{t_sugg['greedy']:.1f} s, gradient {t_sugg['gradient']:.1f} s ({n_t} calls each, compile included); "
          f"refits {t_refit:.1f} s ({L * n_t} lanes); Laplace sd {t_sd:.1f} s")


if __name__ == "__main__":
    main()
