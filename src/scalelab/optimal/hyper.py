"""Hyper-parameter sweeps: each cell's optimum, then the B_opt and lr_opt laws (issue 4).

A sweep is a run table with ``lr`` and ``batch_size`` columns and a grid of both per *cell*
(one model size and token budget, or one compute budget). Two steps:

1. `cell_optima`: in each cell fit a quadratic in ``(log lr, log batch_size)`` to the losses by
   least squares (a 1-D quadratic when only one of them varies) and take its minimum over the
   swept box, not the raw argmin of the grid, so the optimum can fall between grid points and
   noise in a single run moves it less. When the stationary point lies outside the box the
   minimum on the box's edge is taken (e.g. the best lr at the smallest batch) and ``note`` says
   which range it sits on the edge of: the true optimum lies beyond the sweep. A cell whose
   quadratic is not convex keeps the grid argmin and says so.
2. `fit_hyper_laws`: fit the hyper-parameter laws (``batch_size_loss``, ``lr_loss`` against the
   cell's optimal loss; ``deepseek_batch_size``, ``deepseek_lr`` against compute C) to the
   optima, separately per group (e.g. ``family`` = dense / moe), with the same multi-start
   Levenberg-Marquardt fitter as the loss laws, on log residuals ``log predict - log target``.
   `compare_groups` then states, at equal loss, the MoE/dense ratio of B_opt and lr_opt
   (Wang et al. 2024 report a smaller B_opt and a larger lr_opt for MoE).

Units: ``batch_size`` as in the table (sequences for proxy runs; multiply by sequence length for
tokens), ``lr`` peak learning rate, ``loss`` nats/token, ``C`` FLOPs.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from scalelab import laws as _laws
from scalelab import runs as _runs


def _quad_features(x: np.ndarray, y: np.ndarray | None):
    if y is None:
        return np.stack([np.ones_like(x), x, x * x], axis=1)
    return np.stack([np.ones_like(x), x, y, x * x, y * y, x * y], axis=1)


def _box_minimum(c, H, xr, yr):
    """Minimum of the convex quadratic ``c`` (features 1, x, y, x^2, y^2, xy) over the swept box.

    The stationary point when it lies inside; else the best point on the box's edges (the other
    variable's conditional optimum, clipped), flagged in the returned note.
    """
    opt = np.linalg.solve(H, -c[1:3])
    if xr[0] <= opt[0] <= xr[1] and yr[0] <= opt[1] <= yr[1]:
        return opt, ""
    f = lambda x, y: c[0] + c[1] * x + c[2] * y + c[3] * x * x + c[4] * y * y + c[5] * x * y
    cands = []
    for y0 in yr:  # batch size at a bound: best lr
        x0 = np.clip(-(c[1] + c[5] * y0) / (2 * c[3]), *xr)
        cands.append((f(x0, y0), x0, y0, "batch_size"))
    for x0 in xr:  # lr at a bound: best batch size
        y0 = np.clip(-(c[2] + c[5] * x0) / (2 * c[4]), *yr)
        cands.append((f(x0, y0), x0, y0, "lr"))
    _, x0, y0, var = min(cands, key=lambda t: t[0])
    at = [v for v, val, rng in (("lr", x0, xr), ("batch_size", y0, yr)) if val in rng]
    return np.array([x0, y0]), f"; optimum on the edge of the swept {' and '.join(at) or var} range"


def cell_optimum(lr: np.ndarray, bs: np.ndarray, loss: np.ndarray) -> dict:
    """Optimum of one cell from a quadratic in (log lr, log bs). See the module docstring."""
    x, y = np.log(lr), np.log(bs)
    vary_x, vary_y = np.ptp(x) > 0, np.ptp(y) > 0
    i_min = int(np.argmin(loss))
    out = {"lr_opt": float(lr[i_min]), "batch_size_opt": float(bs[i_min]), "loss_opt": float(loss[i_min]),
           "n_runs": int(len(loss)), "note": "grid argmin"}
    if not (vary_x or vary_y):
        out["note"] = "one setting only: grid value"
        return out
    if vary_x and vary_y:
        if len(np.unique(np.stack([x, y], 1), axis=0)) < 6:
            out["note"] = "fewer than 6 distinct settings: grid argmin"
            return out
        F = _quad_features(x, y)
        c, *_ = np.linalg.lstsq(F, loss, rcond=None)
        H = np.array([[2 * c[3], c[5]], [c[5], 2 * c[4]]])
        if np.any(np.linalg.eigvalsh(H) <= 0):
            out["note"] = "quadratic not convex: grid argmin"
            return out
        opt, where = _box_minimum(c, H, (x.min(), x.max()), (y.min(), y.max()))
        pred = _quad_features(opt[:1], opt[1:2]) @ c
        out.update(lr_opt=float(np.exp(opt[0])), batch_size_opt=float(np.exp(opt[1])), loss_opt=float(pred[0]),
                   note="quadratic in (log lr, log batch_size)" + where)
        return out
    v = x if vary_x else y
    if len(np.unique(v)) < 3:
        out["note"] = "fewer than 3 distinct settings: grid argmin"
        return out
    c, *_ = np.linalg.lstsq(_quad_features(v, None), loss, rcond=None)
    if c[2] <= 0:
        out["note"] = "quadratic not convex: grid argmin"
        return out
    opt = -c[1] / (2 * c[2])
    if not (v.min() <= opt <= v.max()):
        out["note"] = "quadratic optimum outside the swept range: grid argmin"
        return out
    key = "lr_opt" if vary_x else "batch_size_opt"
    out[key] = float(np.exp(opt))
    out["loss_opt"] = float(c[0] + c[1] * opt + c[2] * opt * opt)
    out["note"] = f"quadratic in log {'lr' if vary_x else 'batch_size'}"
    return out


def cell_optima(runs, cell: Sequence[str] | None = None, by: Sequence[str] = ("family",)) -> pd.DataFrame:
    """One row per cell: its optimal lr, batch size and loss (see `cell_optimum`).

    Args:
      runs: run table (path, DataFrame, RunTable) with ``lr``, ``batch_size``, ``loss``.
      cell: columns that define a cell (default ``N`` and ``D`` when present, else ``C``).
      by: grouping columns kept in the output (default ``family``, if present).

    The output carries the cell's mean ``C`` (and ``N``, ``D`` when present).
    """
    table = _runs.read(runs)
    df = table.df
    for col in ("lr", "batch_size"):
        if col not in df.columns:
            raise _runs.RunTableError(f"column {col!r} missing: a sweep needs lr and batch_size per run; "
                                      f"columns are {list(df.columns)}")
    if cell is None:
        cell = [c for c in ("N", "D") if c in df.columns] or ["C"]
    keys = [c for c in by if c in df.columns] + list(cell)
    rows = []
    for key, g in df.groupby(keys, sort=True, dropna=False):  # runs of no family are a cell of their own
        key = key if isinstance(key, tuple) else (key,)
        r = dict(zip(keys, key))
        r.update(cell_optimum(g["lr"].to_numpy(float), g["batch_size"].to_numpy(float), g["loss"].to_numpy(float)))
        for c in ("C", "N", "D"):
            if c in g.columns and c not in r:
                r[c] = float(g[c].mean())
        rows.append(r)
    return pd.DataFrame(rows)


def fit_target(df: pd.DataFrame, law, *, starts="grid", seed: int = 0, objective: str = "mse",
               delta: float = 1e-3) -> dict:
    """Fit a law to ``df[law.target]`` (log residuals) with scalelab's multi-start LM fitter.

    Returns natural params, objective (sum of r^2/2 for mse), n and convergence.
    """
    from scalelab.fit import fit

    law = _laws.get(law)
    missing = [c for c in (*law.inputs, law.target) if c not in df.columns]
    if missing:
        raise _runs.RunTableError(f"law {law.name!r} needs column(s) {missing}; columns are {list(df.columns)}")
    if len(df) <= law.n_params:
        raise _runs.RunTableError(f"{len(df)} cells cannot determine the {law.n_params} parameters of {law.name!r}")
    res = fit(df, law, objective=objective, delta=delta, starts=starts, seed=seed)
    return {"law": law.name, "target": law.target, "params": res.params, "objective": res.objective,
            "n": res.n_runs, "converged": res.converged}


HYPER_LAWS = ("batch_size_loss", "lr_loss", "deepseek_batch_size", "deepseek_lr")


def fit_hyper_laws(optima: pd.DataFrame, law_names: Sequence[str] = HYPER_LAWS, by: str | None = "family") -> dict:
    """Fit each hyper-parameter law to the cell optima, per group of ``by`` (all together if absent).

    The optima's ``lr_opt``/``batch_size_opt``/``loss_opt`` are read as the laws' ``lr``,
    ``batch_size`` and ``loss``. Returns ``{group: {law: fit dict}}``; a law whose columns are
    missing, or a group with too few cells, gets ``{"skipped": reason}``.
    """
    df = optima.rename(columns={"lr_opt": "lr", "batch_size_opt": "batch_size", "loss_opt": "loss"})
    groups = df.groupby(by, dropna=False) if (by and by in df.columns) else [("all", df)]
    out = {}
    for g, part in groups:
        out[str(g)] = {}
        for name in law_names:
            law = _laws.get(name)
            try:
                out[str(g)][name] = fit_target(part, law)
            except _runs.RunTableError as err:
                out[str(g)][name] = {"skipped": str(err)}
    return out


def compare_groups(fits: dict, losses, a: str = "moe", b: str = "dense") -> dict:
    """Ratios ``a / b`` of B_opt and lr_opt at equal loss (from the loss-based laws)."""
    losses = np.asarray(losses, float)
    out = {"loss": losses.tolist()}
    for name, key in (("batch_size_loss", "batch_size_ratio"), ("lr_loss", "lr_ratio")):
        fa, fb = fits.get(a, {}).get(name, {}), fits.get(b, {}).get(name, {})
        if "params" not in fa or "params" not in fb:
            out[key] = None
            continue
        law = _laws.get(name)
        out[key] = (np.asarray(law(fa["params"], loss=losses)) / np.asarray(law(fb["params"], loss=losses))).tolist()
    return out


__all__ = ["cell_optimum", "cell_optima", "fit_target", "fit_hyper_laws", "compare_groups", "HYPER_LAWS"]
