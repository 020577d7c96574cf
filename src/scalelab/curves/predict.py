"""Predictions of a fitted curve law on new schedules, and the error measure of the multi-power paper."""

from __future__ import annotations

import os
from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from scalelab import laws as _laws
from scalelab.labels import as_text
from scalelab.laws import schedule as _schedule
from scalelab.laws.base import is_curve_law
from scalelab.laws.given import natural_params
from scalelab.programs import float64, per_law

ROW_CHUNK = 4096  # rows per compiled evaluation (memory: ROW_CHUNK x knots per array)


def law_and_params(fit) -> tuple:
    """``(Law, natural params)`` from a `FitResult`, a `Posterior`-like object with ``law`` and
    ``params``, or a dict ``{"law": name, "params": {...}}`` (a saved ``scalelab fit --json``)."""
    if isinstance(fit, Mapping) and {"law", "params"} <= set(fit):
        law, params = fit["law"], fit["params"]
    elif hasattr(fit, "law") and hasattr(fit, "params"):
        law, params = fit.law, fit.params
    else:  # e.g. ("multipower", params): say what to pass, not a bare AttributeError
        got = type(fit).__name__ + (f" with keys {sorted(map(str, fit))}" if isinstance(fit, Mapping) else "")
        raise TypeError(f"fit: expected a FitResult of a curve law (scalelab.fit(CURVES, 'multipower')) or a dict "
                        f"{{'law': NAME, 'params': {{...}}}} (a saved `scalelab fit --json`); got a {got}: for a law "
                        f"and its parameters write {{'law': 'multipower', 'params': params}}")
    law = _laws.get(law)
    return law, natural_params(params, law, "fit")


def curve_inputs(table, source: str = "<DataFrame>") -> pd.DataFrame:
    """A DataFrame of ``run_id, step, lr`` rows (path, DataFrame or `RunTable`), checked.

    ``loss`` is not needed. Errors name the run and rows (see `schedule.check_curve_table`).
    """
    if isinstance(table, (str, os.PathLike)):
        source = str(table)
        table = pd.read_parquet(table) if str(table).endswith((".parquet", ".pq")) else pd.read_csv(table)
    df = getattr(table, "df", table)
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"expected a path, DataFrame or RunTable, got {type(table).__name__}")
    missing = [c for c in ("run_id", "step", "lr") if c not in df.columns]
    if missing:
        raise ValueError(f"{source}: columns {missing} missing; a schedule table has run_id, step, lr per row")
    if len(df) == 0:
        raise ValueError(f"{source}: no rows")
    step = pd.to_numeric(df["step"], errors="coerce")
    lr = pd.to_numeric(df["lr"], errors="coerce")
    if step.isna().any() or (step < 0).any():
        raise ValueError(f"{source}: column 'step' must be a number >= 0 on every row")
    if lr.isna().any() or (lr < 0).any() or not np.all(np.isfinite(lr)):
        raise ValueError(f"{source}: column 'lr' must be a finite number >= 0 on every row")
    if _schedule.is_curve_table(df):
        _schedule.check_curve_table(df, source, need_lr=True)
    return df.assign(step=step.astype(float), lr=lr.astype(float))


@per_law
def _predict_program(law):
    return jax.jit(law.predict)


@float64
def predict_table(fit, table, max_segment: float | None = None) -> np.ndarray:
    """One predicted loss (nats/token) per row of a ``run_id, step, lr`` table.

    Args:
      fit: a `FitResult` of a curve law (``multipower``, ``lr_annealing``), or a dict with
        ``law`` and ``params`` (e.g. a saved ``scalelab fit --json``).
      table: path, DataFrame or `RunTable` with ``run_id``, ``step``, ``lr`` per row; the
        schedules need not be those fitted. Each run's schedule is its rows' lr, piecewise
        linear between rows, warming up linearly from 0 at step 0 to a first row above step 0.
      max_segment: longest quadrature piece in steps (default: each run's last step / 256).

    Returns:
      float64 array, one prediction per row, in the table's row order.
    """
    law, params = law_and_params(fit)
    if not is_curve_law(law):
        raise ValueError(f"law {law.name!r} is not a curve law; predict_table needs one of "
                         f"{[lw.name for lw in _laws.all_laws() if is_curve_law(lw)]}")
    df = curve_inputs(table)
    x = _schedule.encode(df, max_segment=max_segment)
    program = _predict_program(law)
    p = {k: jnp.asarray(v, jnp.float64) for k, v in params.items()}
    with jax.enable_x64(True):
        out = [np.asarray(program(p, {k: jnp.asarray(v[i:i + ROW_CHUNK]) for k, v in x.items()}))
               for i in range(0, len(df), ROW_CHUNK)]
    return np.concatenate(out).astype(float)


def relative_errors(fit, table) -> pd.DataFrame:
    """Per run: mean and worst ``|pred - loss| / loss`` over its rows (the paper's PredE, WorstE).

    The multi-power paper's headline PredE is the mean over runs of the per-run mean.
    """
    df = curve_inputs(table)
    pred = predict_table(fit, df)
    rel = np.abs(pred - df["loss"].to_numpy(float)) / df["loss"].to_numpy(float)
    g = pd.Series(rel, index=df.index).groupby(as_text(df["run_id"]).to_numpy(), sort=False)
    return pd.DataFrame({"mean_rel_error": g.mean(), "worst_rel_error": g.max(), "rows": g.size()})


def thin(table, every: int, keep_kinks: float | None = 0.01) -> pd.DataFrame:
    """Every ``every``-th row of each run, its first and last, and (``keep_kinks``) the rows where
    the schedule bends: a shorter curve table for quick fits.

    The schedule is read from the kept rows (piecewise linear between them), so a row where the
    lr departs from the straight line through its neighbours by more than ``keep_kinks`` (relative)
    is kept, with its neighbours: a step change stays a step change instead of being smeared.
    """
    df = getattr(table, "df", table)
    key = as_text(df["run_id"]).to_numpy()
    pos = df.groupby(key, sort=False).cumcount().to_numpy()
    size = df.groupby(key, sort=False)["step"].transform("size").to_numpy()
    keep = (pos % every == 0) | (pos == size - 1)
    if keep_kinks is not None and "lr" in df.columns:
        s, lr = df["step"].to_numpy(float), df["lr"].to_numpy(float)
        same_prev = np.r_[False, key[1:] == key[:-1]]
        same_next = np.r_[key[:-1] == key[1:], False]
        inner = same_prev & same_next
        i = np.flatnonzero(inner)
        w = (s[i] - s[i - 1]) / (s[i + 1] - s[i - 1])
        line = lr[i - 1] + w * (lr[i + 1] - lr[i - 1])
        kink = np.zeros(len(df), bool)
        kink[i] = np.abs(lr[i] - line) > keep_kinks * np.maximum(np.abs(lr[i]), 1e-300)
        keep |= kink | (np.r_[kink[1:], False] & same_next) | (np.r_[False, kink[:-1]] & same_prev)
    return df[keep]
