"""`scalelab demo`: the main job on the project's own data.

1. Proxy runs (``scalelab/data/proxy_tiny_demo.csv``, made by scalelab's own
   flax trainer with ``scalelab proxy sweep --plan tiny-demo``): dense and MoE
   models. Fits chinchilla to the dense runs and wang2024_moe (Wang et al.
   2024, N = total parameters) to all of them, compares dense and MoE at equal
   compute and forecasts both, with 95% credible intervals from the Laplace
   approximation of `scalelab.bayes` (a Gaussian around the fit; fast enough
   for a demo, NUTS via ``scalelab bayes`` for the full posterior), at the
   largest fitted run and at 4x its size and tokens.
2. A run table simulated from a known Chinchilla law with 1% noise: fit,
   recovered vs true parameters, and compute-optimal allocations (C = 6ND).
"""

from __future__ import annotations

from scalelab.cli.options import add_json, dumps
from scalelab.programs import float64

PROXY_TABLE = "proxy_tiny_demo.csv"
PROXY_PLAN = "tiny-demo"
CI = 0.95
TRUTH = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}
REPORT_DIR = "scalelab-demo-report"


def simulated_runs():
    import numpy as np

    from scalelab.runs.simulate import isoflop_design, simulate

    design = isoflop_design(budgets=np.geomspace(1e18, 1e22, 9), n_per_budget=9)
    return simulate("chinchilla", TRUTH, design, sigma=0.01, seed=0)


def proxy_runs():
    import pandas as pd

    from scalelab.runs.data import package_data

    path = package_data(PROXY_TABLE)
    return pd.read_csv(path) if path.exists() else None


def _forecast(res, post, ci=CI, **x) -> dict:
    """Point forecast of a fit and the posterior's credible interval at inputs ``x`` (scalars)."""
    pi = post.predict(ci=ci, **x)
    return {**{k: float(v) for k, v in x.items()}, "loss": float(res.predict(**x)),
            **{k: float(pi[k]) for k in ("median", "lo", "hi", "new_lo", "new_hi")}}


@float64
def _gap(res, post, ci, moe: dict, dense: dict) -> dict:
    """MoE minus dense loss under one law, point and credible interval (paired draws, so the
    parameters' shared uncertainty cancels)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    law = post.law
    theta = jnp.asarray(post.theta)

    def curve(x):
        x = {k: jnp.asarray(float(v)) for k, v in x.items()}
        return np.exp(np.asarray(jax.vmap(lambda t: law.log_predict_theta(t, x))(theta)))

    draws = [curve(moe), curve(dense)]
    q = (1 - ci) / 2
    lo, hi = np.quantile(draws[0] - draws[1], [q, 1 - q])
    return {"loss": float(res.predict(**moe) - res.predict(**dense)), "lo": float(lo), "hi": float(hi)}


def proxy_section(ci: float = CI) -> dict | None:
    """Fits, observed dense/MoE pairs and forecasts with credible intervals on the proxy runs.

    The irreducible loss is known for the synthetic language: its entropy floor (column
    ``entropy_floor``, 1.861 nats/token averaged over the 64-token context). The fits hold
    chinchilla's E and wang2024_moe's sigma at it (with 2-4x ranges of N and D and free E the
    fits drift to E far below the floor and do not converge), and the Laplace approximation
    puts a tight prior on it (log E ~ Normal(log floor, 0.01)) so its Gaussian is centred on
    the fit.
    """
    import numpy as np

    import scalelab
    from scalelab import bayes

    df = proxy_runs()
    if df is None:
        return None
    floor = float(df["entropy_floor"].iloc[0])
    dense = df[df["E"] == 1].reset_index(drop=True)
    moe = df[df["E"] > 1]
    res_d = scalelab.fit(dense, "chinchilla", starts=256, fixed={"E": floor})
    res_m = scalelab.fit(df, "wang2024_moe", starts=256, fixed={"sigma": floor})
    tight = 0.01
    post_d = bayes.laplace(dense, "chinchilla", init=res_d, priors={"log_E": (np.log(floor), tight)}, seed=0)
    post_m = bayes.laplace(df, "wang2024_moe", init=res_m, priors={"log_sigma": (np.log(floor), tight)}, seed=0)
    # Inside the data (the largest dense run and its MoE twin) and outside it (4x their total N and
    # 4x the tokens). A dense model and its MoE twin have the same active width, so they train with
    # the same compute (up to the router) while the MoE's total N is ~2.9x larger.
    Nd, Nm, D = float(dense["N"].max()), float(moe["N"].max()), float(df["D"].max())
    forecast, gaps = [], []
    for where, s in (("largest run", 1.0), ("4x N and D", 4.0)):
        forecast.append({"where": where, "law": "chinchilla", "family": "dense", **_forecast(res_d, post_d, ci, N=s * Nd, D=s * D)})
        xd, xm = {"N": s * Nd, "D": s * D, "E": 1.0}, {"N": s * Nm, "D": s * D, "E": 8.0}
        forecast.append({"where": where, "law": "wang2024_moe", "family": "dense", **_forecast(res_m, post_m, ci, **xd)})
        forecast.append({"where": where, "law": "wang2024_moe", "family": "moe", **_forecast(res_m, post_m, ci, **xm)})
        gaps.append({"where": where, **_gap(res_m, post_m, ci, xm, xd)})
    out = {"table": PROXY_TABLE, "plan": PROXY_PLAN, "runs": len(df), "dense_runs": len(dense),
           "entropy_floor": floor,
           "chinchilla_dense": {"params": res_d.params, "converged": res_d.converged, "objective": res_d.objective,
                                "fixed": {"E": floor}},
           "wang2024_moe": {"params": res_m.params, "converged": res_m.converged, "objective": res_m.objective,
                            "fixed": {"sigma": floor}},
           "intervals": {"method": post_m.method, "likelihood": post_m.likelihood, "ci": ci,
                         "draws": post_m.n_draws, "seconds": post_d.seconds + post_m.seconds,
                         "floor_prior_sd_log": tight},
           "forecast": forecast, "moe_minus_dense": gaps}
    # Observed: MoE vs dense at (nearly) equal compute, pairs of the same width and tokens.
    if "d_model" in df:
        pairs = dense.merge(moe, on=["D", "d_model"], suffixes=("_dense", "_moe"))
        out["pairs"] = [{"C_dense": float(r.C_dense), "C_moe": float(r.C_moe), "loss_dense": float(r.loss_dense),
                         "loss_moe": float(r.loss_moe)} for r in pairs.itertuples()]
    return out


def _print_proxy(proxy: dict) -> None:
    print(f"== Proxy runs: {proxy['runs']} flax runs from `scalelab proxy sweep --plan {proxy['plan']}` "
          f"({proxy['dense_runs']} dense, {proxy['runs'] - proxy['dense_runs']} MoE E=8 k=2) ==")
    if "pairs" in proxy:
        wins = sum(p["loss_moe"] < p["loss_dense"] for p in proxy["pairs"])
        print(f"observed, same width and tokens (compute within ~2%): MoE lower in {wins} of {len(proxy['pairs'])} pairs")
        for p in proxy["pairs"]:
            print(f"  C={p['C_dense']:.3g} FLOPs: dense loss {p['loss_dense']:.3f}   MoE loss {p['loss_moe']:.3f}")
    for key, title in (("chinchilla_dense", "chinchilla on the dense runs"),
                       ("wang2024_moe", "wang2024_moe on all runs (N total)")):
        block = proxy[key]
        fixed = ", ".join(f"{k} fixed at the entropy floor {v:.3f}" for k, v in block["fixed"].items())
        print(f"{title} ({fixed}): converged={block['converged']}, objective {block['objective']:.3g}")
        print("  " + "  ".join(f"{k}={v:.4g}" for k, v in block["params"].items()))
    iv = proxy["intervals"]
    pct = f"{100 * iv['ci']:g}%"
    print(f"forecasts (nats/token): point fit, and {pct} credible intervals from the {iv['method'].capitalize()} "
          f"approximation of scalelab.bayes ({iv['likelihood']} likelihood, {iv['draws']} draws, {iv['seconds']:.1f} s) "
          f"for the law's curve and for one new run; dense and MoE twin at the same tokens and compute:")
    for f in proxy["forecast"]:
        print(f"  {f['where']:<11} {f['law']:<12} {f['family']:<5} N={f['N']:.3g} D={f['D']:.3g}: "
              f"loss {f['loss']:.3f}  curve [{f['lo']:.3f}, {f['hi']:.3f}]  new run [{f['new_lo']:.3f}, {f['new_hi']:.3f}]")
    for g in proxy["moe_minus_dense"]:
        print(f"  {g['where']:<11} wang2024_moe MoE - dense: {g['loss']:+.3f}  [{g['lo']:+.3f}, {g['hi']:+.3f}]")
    # the installed file's own path, so that the hint runs from any directory (not only a clone's root)
    from scalelab.runs.data import package_data

    print("(Laplace: a Gaussian around the fit, fast. NUTS: `scalelab bayes "
          f"{package_data(proxy['table'])} --law wang2024_moe`, ~1 min; with sigma free it mixes poorly on these runs)")
    print()


def main(json_out: bool = False) -> int:
    import numpy as np

    import scalelab

    proxy = proxy_section()
    sim = simulated_runs()
    res = scalelab.fit(sim, "chinchilla")
    budgets = np.array([1e21, 1e22, 1e23, 1e24])
    alloc = scalelab.chinchilla_allocation(res.params, budgets)
    if json_out:
        print(dumps({"proxy": proxy, "simulated": {"truth": TRUTH, "fit": res.to_json(),
                          "allocation": {k: np.asarray(v).tolist() for k, v in alloc.items()}}}))
        return 0
    if proxy is not None:
        _print_proxy(proxy)
    print("== Simulated runs: chinchilla with 1% noise (81 runs on 9 isoFLOP budgets) ==")
    print(f"chinchilla fit ({res.n_starts} starts, {res.seconds:.2f} s, converged={res.converged}):")
    for k, v in res.params.items():
        print(f"  {k:<6} {v:10.4g}   (truth {TRUTH[k]})")
    print("compute-optimal allocation (C = 6ND):")
    for i, C in enumerate(budgets):
        print(f"  C={C:.0e} FLOPs: N_opt={alloc['N_opt'][i]:.3g} params, D_opt={alloc['D_opt'][i]:.3g} tokens, "
              f"{alloc['tokens_per_param'][i]:.1f} tokens/param, loss {alloc['loss'][i]:.3f}")
    if proxy is not None:  # the report with figures on the proxy runs (wang2024_moe, sigma at the entropy floor)
        path = scalelab.report(proxy_runs(), "wang2024_moe", REPORT_DIR, fixed={"sigma": proxy["entropy_floor"]},
                               compare_laws=["chinchilla", "kaplan", "wang2024_moe"], n_boot=100, starts=256,
                               title=f"scalelab demo: proxy runs ({PROXY_TABLE}, dense and MoE)")
        print(f"\nreport with figures: {path.resolve()}")
    return 0


def cmd_demo(args) -> int:
    if not args.json:  # the report goes to ./scalelab-demo-report/: never over someone else's files there
        from pathlib import Path

        from scalelab.report.files import check_report_dir

        check_report_dir(Path(REPORT_DIR), "the demo's report directory")
    return main(json_out=args.json)


def add_commands(sub) -> None:
    p = sub.add_parser("demo", help="fit and forecast on the built-in run table",
                       description=f"Fit and forecast on the built-in run table, and write an HTML report to "
                                   f"./{REPORT_DIR}/ in the current directory (not with --json). A directory of that "
                                   f"name holding anything but an earlier demo report is left untouched.")
    add_json(p)
    p.set_defaults(func=cmd_demo)
