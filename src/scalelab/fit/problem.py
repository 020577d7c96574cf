"""The one preparation of (run table, law) -> arrays that every method uses (fit, fit_many, bayes, design).

A law predicts its ``target`` column (``loss`` for loss laws; ``batch_size`` or ``lr`` for the
hyper-parameter laws); every method fits the natural log of that column, ``y = log target``, at
the law's inputs ``x``, with per-run weights ``w``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from scalelab import runs as _runs
from scalelab.labels import as_text
from scalelab.laws.base import is_curve_law
from scalelab.runs.columns import LOSS_MAX


def table_for(table: _runs.RunTable, law) -> _runs.RunTable:
    """The rows ``law`` is fitted on: every row for a curve law (one with ``prepare``), each
    run's last checkpoint (`RunTable.final_points`, with a note; every checkpoint when the last ones cannot
    determine the law) for a final-loss law on a curve table."""
    return table if is_curve_law(law) else table.final_points()


def fitted_runs(table: _runs.RunTable, law, weights) -> np.ndarray:
    """Runs with a fitted row, per weight vector (``weights`` [V, n] over ``table``'s rows): rows of non-zero weight,
    or for a curve law (checkpoints of runs) the distinct ``run_id`` among them. [V] integers."""
    fitted = np.atleast_2d(np.asarray(weights)) > 0
    if not is_curve_law(law) or "run_id" not in table.df.columns:
        return fitted.sum(axis=1)
    codes = pd.factorize(as_text(table.df["run_id"]))[0]
    order = np.argsort(codes, kind="stable")
    first = np.flatnonzero(np.r_[True, np.diff(codes[order]) != 0])  # each run's first column once sorted
    return np.logical_or.reduceat(fitted[:, order], first, axis=1).sum(axis=1)


def curve_rows(table: _runs.RunTable) -> tuple:
    """``(table, fitted [n] bool, notes)``: the rows of a curve table that a curve law is fitted on.

    Every row stays in its run's schedule (the laws read each run's learning rates from all of its rows), but two
    kinds are not fitted: rows whose loss is missing or unusable (NaN, text, non-positive or above `LOSS_MAX`; their
    loss is filled with the median so that the column reads), and rows at step 0 (no learning rate summed yet: the
    laws' power of S is infinite there, and a loss at initialisation is not theirs to model). Dropping either kind
    instead would cut the schedule: a run's learning-rate drop logged on a row without a loss would become a slope.
    ``notes`` says what is not fitted. The table's index (its file lines) is kept.
    """
    df = table.df
    for c in ("run_id", "step", "lr", "loss"):
        if c not in df.columns:
            raise _runs.RunTableError(f"{table.source}: column {c!r} missing; a curve law needs run_id, step, lr and "
                                      f"loss per row (columns are {table.columns})")
    for c in ("run_id", "step", "lr"):  # run_id first: two columns naming the runs explain a bad step order
        if c in table.invalid:
            raise _runs.RunTableError(table.invalid[c])
    loss = pd.to_numeric(df["loss"], errors="coerce").to_numpy(float)
    ok = np.isfinite(loss) & (loss > 0) & (loss <= LOSS_MAX)
    notes = []
    if not ok.all():
        notes.append(f"{int((~ok).sum())} rows without a usable loss (NaN, non-positive or above {LOSS_MAX:g}) "
                     f"keep their lr in the schedule but are not fitted")
        fill = np.median(loss[ok]) if ok.any() else 1.0
        table = dataclasses.replace(table, df=df.assign(loss=np.where(ok, loss, fill)),
                                    invalid={k: v for k, v in table.invalid.items() if k != "loss"})
    at0 = pd.to_numeric(df["step"], errors="coerce").to_numpy(float) == 0
    if (ok & at0).any():
        notes.append(f"{int((ok & at0).sum())} rows at step 0 keep their lr in the schedule but are not fitted (no "
                     f"learning rate summed yet: the law's loss there is infinite)")
    return table, ok & ~at0, notes


def prepare_data(table: _runs.RunTable, law, weights=None, dtype=np.float64) -> dict:
    """``{"x": {input: [n]}, "y": log target [n], "w": [n]}`` as NumPy arrays of ``dtype``.

    ``weights``: one finite, non-negative weight per run (0 drops a run, integers repeat it);
    default all ones. An array is read in the table's row order; a `pandas.Series` is matched to
    the table's index by label (its labels must be the table's). Curve laws
    (`scalelab.laws.curves`) build their per-row schedule arrays.
    """
    if is_curve_law(law):  # curve laws build per-row schedule arrays
        x = {k: np.asarray(v, dtype) for k, v in law.prepare(table.df, dtype).items()}
    else:
        x = {k: np.asarray(v, dtype) for k, v in table.inputs(law.inputs).items()}
    y = np.log(table.column(law.target)).astype(dtype)
    if weights is None:
        w = np.ones(len(table), dtype)
    else:
        w = table.per_run(weights, "weights").astype(dtype)  # a Series by label, never silently by position
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError("weights must be finite and >= 0")
    return {"x": x, "y": y, "w": w}


def prepare(runs, law, weights=None, *, n_free: int | None = None, dtype=np.float64):
    """``(table, data)``: ``runs`` read (path, DataFrame or `RunTable`) and checked at the edge.

    The table must hold the law's inputs and its ``target`` column, and more runs than the
    ``n_free`` free parameters (default all of the law's); ``data`` is `prepare_data`'s. ``dtype``: float64 or
    float32 (the solver's arithmetic; anything else is refused).
    """
    if np.dtype(dtype) not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be float64 (the default, which reproduces published optima) or float32; got "
                         f"{np.dtype(dtype)}")
    table = table_for(_runs.read(runs), law)
    n_params = law.n_params if n_free is None else int(n_free)
    fitted = None
    if is_curve_law(law):  # a curve law: every row in the schedule, some not fitted
        table, fitted, notes = curve_rows(table)
        table = dataclasses.replace(table, notes=table.notes + tuple(notes))
    table.require((*law.inputs, law.target), n_params=n_params, law=law.name)
    data = prepare_data(table, law, weights, dtype)
    if fitted is not None and not fitted.all():  # the schedule read from every row, the arrays of the fitted ones
        data = {"x": {k: v[fitted] for k, v in data["x"].items()}, "y": data["y"][fitted], "w": data["w"][fitted]}
        table = table.select(fitted)
    # replicates (runs at the same inputs, e.g. other seeds) add no new point of the law's curve, nor do runs of weight 0
    used = data["w"] > 0
    points = len(table.df.loc[used, list(law.inputs)].drop_duplicates())
    if points <= n_params:
        runs = f"the {len(table)} runs sit" if used.all() else \
            f"{int(used.sum())} of the {len(table)} runs have a weight > 0, and sit"
        raise _runs.RunTableError(
            f"{runs} at only {points} distinct ({', '.join(law.inputs)}) point(s), which cannot determine the "
            f"{n_params} free parameters of law {law.name!r}; give runs{'' if used.all() else ' weight'} at "
            f"{n_params + 1} or more distinct points (or hold parameters fixed)")
    return table, data


__all__ = ["prepare", "prepare_data", "table_for", "curve_rows"]
