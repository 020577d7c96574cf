"""The curve forecast's rows: training rows (missing losses, thinning), target schedules, origins.

Plain pandas/NumPy at the edge of `scalelab.forecast.curves` (see its module doc); errors name the
cause and the fix. Steps in optimizer steps, losses in nats/token.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from scalelab import runs as _runs
from scalelab.laws.curves import CURVE_INPUTS
from scalelab.fit.problem import curve_rows
from scalelab.labels import as_text
from scalelab.laws.schedule import after_peak
from scalelab.runs.columns import canonical_names


def training_table(table: _runs.RunTable) -> tuple:
    """``(table, weight [n], warnings)``: `scalelab.fit.problem.curve_rows` (rows without a usable loss and rows at
    step 0 keep their schedule, weight 0), the index reset to positions."""
    table, fitted, warnings = curve_rows(table)
    table = dataclasses.replace(table, df=table.df.reset_index(drop=True), lines=None)  # positions from here on
    return table, fitted.astype(float), warnings


def shared_trunks(df: pd.DataFrame, w: np.ndarray, rtol: float = 1e-6) -> list:
    """Groups of runs that are branches of one run: at every step both logged with a usable loss and the same
    learning rate (at least 2 such steps), their losses agree to ``rtol``, as a run's checkpoints do when other
    schedules continue from them (WSD and step-down branches of one warm-up and stable phase). Independent
    runs of one schedule differ by their seeds' noise (0.1-0.3% in loss). Returns lists of run ids, each of 2 or
    more runs, in table order."""
    rows = df.loc[np.asarray(w) > 0, ["run_id", "step", "lr", "loss"]]
    runs = list(dict.fromkeys(rows["run_id"]))
    by = {r: g.drop_duplicates("step").set_index("step") for r, g in rows.groupby("run_id", sort=False)}
    parent = {r: r for r in runs}

    def root(r):
        while parent[r] != r:
            r = parent[r]
        return r

    for i, a in enumerate(runs):
        for b in runs[i + 1:]:
            j = by[a].merge(by[b], how="inner", left_index=True, right_index=True, suffixes=("_a", "_b"))
            j = j[np.isclose(j["lr_a"], j["lr_b"], rtol=1e-9, atol=0.0)]
            if len(j) >= 2 and np.allclose(j["loss_a"], j["loss_b"], rtol=rtol, atol=0.0):
                parent[root(b)] = root(a)
    groups = {}
    for r in runs:
        groups.setdefault(root(r), []).append(r)
    return [g for g in groups.values() if len(g) > 1]


def trunk_warnings(df: pd.DataFrame, w: np.ndarray) -> list:
    """A warning per group of training runs that are branches of one run (`shared_trunks`): leaving one of them out
    keeps its trunk in the fit, so the held-out schedules do not measure how independent runs differ."""
    out = []
    for g in shared_trunks(df, w):
        shown = ", ".join(repr(str(r)) for r in g[:6]) + (", ..." if len(g) > 6 else "")
        out.append(f"training runs {shown} log the same losses where their learning rates agree (branches of one run): "
                   f"leaving one of them out does not measure how independent runs of a schedule differ (their seeds' "
                   f"noise, often 0.1-0.3% in loss), and the interval leaves that out for targets trained as runs of "
                   f"their own")
    return out


def _frame(at) -> pd.DataFrame:
    if isinstance(at, _runs.RunTable):
        return at.df
    if isinstance(at, pd.DataFrame):
        return at
    if isinstance(at, dict):
        return pd.DataFrame({k: np.atleast_1d(np.asarray(v)) for k, v in at.items()})
    return _runs.read_frame(at)


def target_is_schedule(at) -> bool:
    """Whether the targets name schedule rows (``step`` and ``lr``, aliases understood)."""
    cols = canonical_names(_frame(at).head(0).copy(), "targets")[0].columns
    return "step" in cols and "lr" in cols


def targets(at) -> pd.DataFrame:
    """The target rows ``run_id, step, lr`` in the given order (a ``loss`` column is never read); a model size N
    they give is kept in ``attrs["N"]``."""
    df = _frame(at)
    df = canonical_names(df.drop(columns=[c for c in df.columns if str(c).strip().lower() == "loss"]).copy(),
                         "targets")[0]
    missing = [c for c in CURVE_INPUTS if c not in df.columns]
    if missing:
        raise _runs.RunTableError(f"targets lack column(s) {missing}; a curve forecast's targets are whole schedules: "
                                  f"rows of run_id, step, lr (every row of each target run up to the steps asked); "
                                  f"columns are {list(df.columns)}")
    if len(df) == 0:
        raise _runs.RunTableError("targets: no rows")
    step = pd.to_numeric(df["step"], errors="coerce").to_numpy(float)
    lr = pd.to_numeric(df["lr"], errors="coerce").to_numpy(float)
    bad = ~np.isfinite(step) | (step < 0) | ~np.isfinite(lr) | (lr < 0) | df["run_id"].isna().to_numpy()
    if bad.any():
        raise _runs.RunTableError(f"targets: rows {np.flatnonzero(bad)[:10].tolist()} have a missing run_id, or a "
                                  f"step or lr that is missing, not finite or negative")
    out = pd.DataFrame({"run_id": df["run_id"].to_numpy(), "step": step, "lr": lr})
    if "N" in df.columns:  # a size the targets give, which no curve law reads (`unseen_sizes`)
        out.attrs["N"] = pd.to_numeric(df["N"], errors="coerce").to_numpy(float)
    return out


def unseen_sizes(tg: pd.DataFrame, table) -> str | None:
    """Why the curve laws cannot answer targets ``tg`` (`targets`) that give a model size N no run of ``table`` has
    (the curve laws have no N: they forecast a schedule at the size of the runs they were fitted on), or None."""
    asked = tg.attrs.get("N")
    if asked is None or "N" not in table.columns or "N" in table.invalid:
        return None
    have = np.unique(np.log10(table.column("N")))
    far = [v for v in np.unique(asked[np.isfinite(asked) & (asked > 0)])
           if np.min(np.abs(have - np.log10(v))) > 0.01]  # within 2.3% of a run's size is that size
    if not far:
        return None
    return (f"the targets ask for model sizes N = {', '.join(f'{v:.3g}' for v in far[:5])}, which no run has, but the "
            f"curve laws have no N: they forecast a schedule at the size of the runs they were fitted on. Forecast the "
            f"final loss of a larger model from final losses (targets of N and D, no step or lr: the final-loss "
            f"laws), or give the targets a size the runs have")


def schedules(tg: pd.DataFrame) -> tuple:
    """``(rows sorted by run and step with one row per (run, step), index of each target row in them)``."""
    key = as_text(tg["run_id"])
    sched = tg.assign(run_id=key).sort_values(["run_id", "step"], kind="stable")
    dup = sched.duplicated(["run_id", "step"], keep=False)
    clash = sched[dup].groupby(["run_id", "step"])["lr"].nunique()
    if (clash > 1).any():
        run, step = clash[clash > 1].index[0]
        raise _runs.RunTableError(f"targets: run {run!r} gives two learning rates at step {step:g}; one lr per step")
    sched = sched.drop_duplicates(["run_id", "step"])
    # a run given by one row at step s warms up linearly from 0 to it; a row halfway on that line
    # writes the same schedule with two rows, as a curve table needs
    size = sched.groupby("run_id")["step"].transform("size").to_numpy()
    one = sched[(size == 1) & (sched["step"].to_numpy() >= 1)]
    half = np.floor(one["step"].to_numpy() / 2)
    extra = pd.DataFrame({"run_id": one["run_id"].to_numpy(), "step": half,
                          "lr": one["lr"].to_numpy() * half / one["step"].to_numpy()})
    sched = pd.concat([sched, extra]).sort_values(["run_id", "step"], kind="stable").reset_index(drop=True)
    where = pd.MultiIndex.from_frame(sched[["run_id", "step"]]).get_indexer(
        pd.MultiIndex.from_arrays([key.to_numpy(), tg["step"].to_numpy()]))
    return sched, where


def start_warnings(tg: pd.DataFrame, df: pd.DataFrame, far: float = 2.0) -> list:
    """Warnings for target runs (``tg``, `targets`) whose schedule the targets do not give from its start: a run of one
    row, or one whose first row lies past ``far`` x the last step at which any training run (``df``) reaches its peak
    lr. The convention reads the steps before a run's first row as a linear warm-up from lr 0, so a run given by its
    last row (a constant 3e-4 at step 72,000) is forecast as a 72,000-step warm-up: a confident, wrong forecast."""
    warm = float(after_peak(df).groupby("run")["step"].min().max())  # where the slowest training warm-up ends
    first = tg.assign(run=as_text(tg["run_id"])).sort_values("step").groupby("run", sort=False)
    size, head = first["step"].size(), first[["step", "lr"]].first()
    out = []

    def named(runs) -> str:
        return f"target run(s) {', '.join(repr(x) for x in runs[:5])}{', ...' if len(runs) > 5 else ''}"

    one = size.index[size == 1]
    if len(one):
        r = one[0]
        out.append(f"{named(one)} have one row: each is read as a linear warm-up from lr 0 at step 0 to that row "
                   f"(run {r!r}: to lr {head.loc[r, 'lr']:.3g} over {head.loc[r, 'step']:g} steps), not the schedule "
                   f"it was trained on; give the whole schedule (every row of the run, as the training table has)")
    late = head.index[(size > 1) & (head["step"] > far * max(warm, 1.0))]
    if len(late):
        r = late[0]
        out.append(f"{named(late)} begin far past every training run's warm-up (those reach their peak lr by step "
                   f"{warm:g}; run {r!r} begins at step {head.loc[r, 'step']:g}): the steps before a run's first row "
                   f"are read as a linear warm-up from lr 0; give the whole schedule from its start")
    return out


def curve_origins(run: np.ndarray, step: np.ndarray, w: np.ndarray, n_params: int, max_runs: int = 12,
                  truncate=(0.5,)) -> tuple:
    """``(weights [K, n], info)``: the origins' row weights and, per origin, its kind, what it holds out,
    the held-out rows ``held`` [n] and the longest training step ``horizon``.

    Leave-one-schedule-out origins need 3 runs or more (at most ``max_runs``, spread over the runs);
    a truncated origin needs more than ``n_params + 1`` fitted rows before its cut.
    """
    valid = w > 0
    runs = list(dict.fromkeys(run[valid]))
    rows, info = [], []
    if len(runs) >= 3:
        pick = [runs[i] for i in np.unique(np.round(np.linspace(0, len(runs) - 1, min(max_runs, len(runs)))).astype(int))]
        for r in pick:  # a handful of weight vectors; their fits are one vmapped program
            wk = w * (run != r)
            if (wk > 0).sum() > n_params + 1:
                rows.append(wk)
                info.append({"kind": "leave schedule out", "held_out": str(r), "held": valid & (run == r),
                             "horizon": float(step[wk > 0].max())})
    top = step[valid].max() if valid.any() else 0.0
    for f in truncate:
        cut = f * top
        wk = w * (step <= cut)
        held = valid & (step > cut)
        if (wk > 0).sum() > n_params + 1 and held.any():
            rows.append(wk)
            info.append({"kind": "truncated curves", "held_out": f"steps > {cut:g}", "held": held, "horizon": float(cut)})
    return np.array(rows).reshape(len(rows), len(w)), info


def fit_rows(df: pd.DataFrame, w: np.ndarray, max_rows: int) -> np.ndarray:
    """Mask of the rows the laws are fitted on: all, or every m-th row of each run (with its first,
    last and schedule kinks, `scalelab.curves.thin`) so that about ``max_rows`` fitted rows remain.

    The fit's cost grows with rows x schedule knots; neighbouring checkpoints of a smooth curve add
    little. Every row still counts in the held-out errors.
    """
    from scalelab.curves.predict import thin

    every = int(np.ceil((w > 0).sum() / max(max_rows, 1)))
    if every <= 1:
        return np.ones(len(df), bool)
    return np.isin(np.arange(len(df)), thin(df.assign(_pos=np.arange(len(df))), every)["_pos"].to_numpy())


__all__ = ["training_table", "targets", "target_is_schedule", "schedules", "curve_origins", "fit_rows"]
