"""`scalelab demo`: the main job on the project's own data.

1. Proxy runs (``scalelab/data/proxy_tiny.csv``, made by scalelab's own flax
   trainer with ``scalelab proxy sweep --plan tiny``): dense and MoE models.
   Fits chinchilla to the dense runs and wang2024_moe (Wang et al. 2024, N =
   total parameters) to all of them, compares dense and MoE at equal compute
   and forecasts both at 4x the largest size and tokens.
2. A run table simulated from a known Chinchilla law with 1% noise: fit,
   recovered vs true parameters, and compute-optimal allocations (C = 6ND).
"""

from __future__ import annotations

import json

import numpy as np

TRUTH = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}


def simulated_runs():
    from scalelab.simulate import isoflop_design, simulate

    design = isoflop_design(budgets=np.geomspace(1e18, 1e22, 9), n_per_budget=9)
    return simulate("chinchilla", TRUTH, design, sigma=0.01, seed=0)


def proxy_runs():
    import pandas as pd

    from scalelab.data import package_data

    path = package_data("proxy_tiny.csv")
    return pd.read_csv(path) if path.exists() else None


def proxy_section() -> dict | None:
    """Point fits on the proxy runs (12 runs: too few for bootstrap intervals of 5-6 parameters)."""
    import scalelab

    df = proxy_runs()
    if df is None:
        return None
    dense = df[df["E"] == 1].reset_index(drop=True)
    res_d = scalelab.fit(dense, "chinchilla", starts=256)
    res_m = scalelab.fit(df, "wang2024_moe", starts=256)
    # Forecast at 4x the largest model and 4x its tokens, dense (E=1) vs MoE (E=8), same N total.
    N, D = 4 * df["N"].max(), 4 * df["D"].max()
    forecast = {name: {"N": float(N), "D": float(D), "E": E, "loss": float(res_m.predict(N=N, D=D, E=E))}
                for name, E in (("dense", 1.0), ("moe", 8.0))}
    out = {"runs": len(df), "dense_runs": len(dense),
           "chinchilla_dense": {"params": res_d.params, "converged": res_d.converged, "objective": res_d.objective},
           "wang2024_moe": {"params": res_m.params, "converged": res_m.converged, "objective": res_m.objective},
           "forecast": forecast}
    # Observed: MoE vs dense at (nearly) equal compute, pairs of the same width and tokens.
    if "d_model" in df:
        moe = df[df["E"] > 1]
        pairs = dense.merge(moe, on=["D", "d_model"], suffixes=("_dense", "_moe"))
        out["pairs"] = [{"C_dense": float(r.C_dense), "C_moe": float(r.C_moe), "loss_dense": float(r.loss_dense),
                         "loss_moe": float(r.loss_moe)} for r in pairs.itertuples()]
    return out


def main(json_out: bool = False) -> int:
    import scalelab

    proxy = proxy_section()
    sim = simulated_runs()
    res = scalelab.fit(sim, "chinchilla")
    budgets = np.array([1e21, 1e22, 1e23, 1e24])
    alloc = scalelab.chinchilla_allocation(res.params, budgets)
    if json_out:
        print(json.dumps({"proxy": proxy, "simulated": {"truth": TRUTH, "fit": res.to_json(),
                          "allocation": {k: np.asarray(v).tolist() for k, v in alloc.items()}}}))
        return 0
    if proxy is not None:
        print(f"== Proxy runs: {proxy['runs']} flax runs from `scalelab proxy sweep --plan tiny` "
              f"({proxy['dense_runs']} dense, {proxy['runs'] - proxy['dense_runs']} MoE E=8 k=2) ==")
        if "pairs" in proxy:
            print("observed, same width and tokens (compute within ~2%):")
            for p in proxy["pairs"]:
                print(f"  C={p['C_dense']:.3g} FLOPs: dense loss {p['loss_dense']:.3f}   MoE loss {p['loss_moe']:.3f}")
        for key, title in (("chinchilla_dense", "chinchilla on the dense runs"),
                           ("wang2024_moe", "wang2024_moe on all runs (N total)")):
            block = proxy[key]
            print(f"{title}: converged={block['converged']}, objective {block['objective']:.3g}")
            print("  " + "  ".join(f"{k}={v:.4g}" for k, v in block["params"].items()))
        print("forecast at 4x the largest N and D (wang2024_moe):")
        for name, p in proxy["forecast"].items():
            print(f"  {name:<5} N={p['N']:.3g} D={p['D']:.3g} E={p['E']:g}: loss {p['loss']:.3f}")
        print("(12 runs: point fits only; intervals need more runs, e.g. `scalelab proxy sweep --plan small`)")
        print()
    print("== Simulated runs: chinchilla with 1% noise (81 runs on 9 isoFLOP budgets) ==")
    print(f"chinchilla fit ({res.n_starts} starts, {res.seconds:.2f} s, converged={res.converged}):")
    for k, v in res.params.items():
        print(f"  {k:<6} {v:10.4g}   (truth {TRUTH[k]})")
    print("compute-optimal allocation (C = 6ND):")
    for i, C in enumerate(budgets):
        print(f"  C={C:.0e} FLOPs: N_opt={alloc['N_opt'][i]:.3g} params, D_opt={alloc['D_opt'][i]:.3g} tokens, "
              f"{alloc['tokens_per_param'][i]:.1f} tokens/param, loss {alloc['loss'][i]:.3f}")
    return 0
