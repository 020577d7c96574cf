"""The one preparation of (run table, law) -> arrays that every method uses (fit, fit_many, bayes, design).

A law predicts its ``target`` column (``loss`` for loss laws; ``batch_size`` or ``lr`` for the
hyper-parameter laws); every method fits the natural log of that column, ``y = log target``, at
the law's inputs ``x``, with per-run weights ``w``.
"""

from __future__ import annotations

import numpy as np

from scalelab import runs as _runs


def table_for(table: _runs.RunTable, law) -> _runs.RunTable:
    """The rows ``law`` is fitted on: every row for a curve law (one with ``prepare``), each
    run's last checkpoint (`RunTable.final_points`, with a note; every checkpoint when the last ones cannot
    determine the law) for a final-loss law on a curve table."""
    return table if getattr(law, "prepare", None) is not None else table.final_points()


def prepare_data(table: _runs.RunTable, law, weights=None, dtype=np.float64) -> dict:
    """``{"x": {input: [n]}, "y": log target [n], "w": [n]}`` as NumPy arrays of ``dtype``.

    ``weights``: one finite, non-negative weight per run (0 drops a run, integers repeat it);
    default all ones. An array is read in the table's row order; a `pandas.Series` is matched to
    the table's index by label (its labels must be the table's). Curve laws
    (`scalelab.laws.curves`) build their per-row schedule arrays.
    """
    if getattr(law, "prepare", None) is not None:  # curve laws build per-row schedule arrays
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
    ``n_free`` free parameters (default all of the law's); ``data`` is `prepare_data`'s.
    """
    table = table_for(_runs.read(runs), law)
    n_params = law.n_params if n_free is None else int(n_free)
    table.require((*law.inputs, law.target), n_params=n_params, law=law.name)
    data = prepare_data(table, law, weights, dtype)
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


__all__ = ["prepare", "prepare_data", "table_for"]
