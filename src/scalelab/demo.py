"""`scalelab demo`: the main job on built-in data.

Fits a run table simulated from a known Chinchilla law with 1% noise (the
project's own data), compares the recovered law with the truth, and forecasts
compute-optimal allocations.
"""

from __future__ import annotations

import json
import sys

import numpy as np

TRUTH = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}


def default_runs():
    """(DataFrame, description) of the built-in run table."""
    from scalelab.simulate import isoflop_design, simulate

    design = isoflop_design(budgets=np.geomspace(1e18, 1e22, 9), n_per_budget=9)
    return simulate("chinchilla", TRUTH, design, sigma=0.01, seed=0), \
        f"simulated from chinchilla {TRUTH} with 1% noise"


def main(json_out: bool = False) -> int:
    import scalelab

    df, what = default_runs()
    print(f"scalelab demo: {len(df)} runs, {what}", file=sys.stderr)
    res = scalelab.fit(df, "chinchilla")
    budgets = np.array([1e21, 1e22, 1e23, 1e24])
    alloc = scalelab.chinchilla_allocation(res.params, budgets)
    if json_out:
        print(json.dumps({"data": what, "fit": res.to_json(),
                          "allocation": {k: np.asarray(v).tolist() for k, v in alloc.items()}}))
        return 0
    print(f"data: {what}")
    print(f"chinchilla fit ({res.n_starts} starts, {res.seconds:.2f} s, converged={res.converged}):")
    for k, v in res.params.items():
        truth = f"   (truth {TRUTH[k]})" if "simulated" in what else ""
        print(f"  {k:<6} {v:10.4g}{truth}")
    print("compute-optimal allocation (C = 6ND):")
    for i, C in enumerate(budgets):
        print(f"  C={C:.0e} FLOPs: N_opt={alloc['N_opt'][i]:.3g} params, D_opt={alloc['D_opt'][i]:.3g} tokens, "
              f"{alloc['tokens_per_param'][i]:.1f} tokens/param, loss {alloc['loss'][i]:.3f}")
    return 0
