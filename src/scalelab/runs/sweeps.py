"""Hyper-parameter sweeps left in a run table: runs of one model size and data amount trained at several learning
rates (or batch sizes, warmups, weight decays), as exports of a tuning grid hold them.

A loss law of N and D describes the *tuned* run at each (N, D), as Hoffmann's and Porian's ladders were fitted, and a
forecast is asked for a tuned run. Fitted to every run of a sweep, the law describes the sweep's average instead (3%
above the tuned losses in a trial with 4 learning rates per point), and the spread of the sweep widens every interval.
`best_settings` keeps, at each swept point, the runs of the setting with the lowest mean loss (all its seeds).
"""

from __future__ import annotations

import re
from typing import Mapping

import numpy as np
import pandas as pd

from scalelab.labels import as_text

# A column that holds a training setting a sweep varies (canonical lr, batch_size, or an unread column named like
# one: peak_lr, max_learning_rate, warmup_steps, weight_decay, wd); never a seed
_SETTING = re.compile(r"(?:^|[^a-z])(?:lr|wd)(?:$|[^a-z])|learning.?rate|batch|warmup|weight.?decay", re.IGNORECASE)
# Settings equal to this many significant digits are one setting (seeds whose lr was logged as 3e-4 and 3.0000001e-4)
DIGITS = 4


def setting_columns(df: pd.DataFrame) -> list[str]:
    """The columns of ``df`` named as a training setting a sweep varies (`_SETTING`) that hold numbers (a cell of
    text or a missing one is a run whose setting is unknown)."""
    return [c for c in df.columns if _SETTING.search(str(c)) and "seed" not in str(c).lower()
            and pd.to_numeric(df[c], errors="coerce").notna().any()]


def _rounded(values: pd.DataFrame) -> pd.DataFrame:
    """Each setting to `DIGITS` significant digits (NaN stays NaN)."""
    v = values.to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = 10.0 ** np.floor(np.log10(np.abs(np.where(v == 0, 1.0, v))))
    return pd.DataFrame(np.round(v / mag, DIGITS - 1) * mag, columns=values.columns)


def best_settings(df: pd.DataFrame, invalid: Mapping = (), inputs=()) -> tuple[np.ndarray | None, str | None]:
    """``(keep, sweep)``: at every input point trained at two or more settings of the `setting_columns`, the runs of
    the setting with the lowest mean loss; every run of an unswept point; ``sweep`` says which points, settings and
    runs. ``(None, None)`` when no point was swept, or when a law reading ``inputs`` reads a setting (then the
    settings are its inputs, not a sweep).

    A point is the runs alike in every column but the loss, the step, the run's name, a seed and the settings,
    columns of one value per run aside (a name, a timestamp, a metric): runs that also differ in a dataset or a
    sequence length are two ladders, each with its own learning rate, not a sweep. At a swept point a run whose
    setting is unknown (a missing or text cell) is left out with the others: it cannot be told to be the tuned one."""
    hyper = setting_columns(df)
    if not hyper or set(hyper) & set(inputs) or "loss" in invalid or "loss" not in df.columns:
        return None, None
    flat = df.reset_index(drop=True)
    keys = [c for c in flat.columns if c not in ("loss", "step", "run_id", *hyper) and "seed" not in str(c).lower()
            and not (len(flat) > 1 and flat[c].nunique(dropna=False) == len(flat))]
    sized = any(c in keys for c in ("N", "N_total", "N_active")) and any(c in keys for c in ("D", "C"))
    if not sized:
        return None, None
    point = flat[keys].apply(as_text).groupby(keys, sort=False).ngroup().to_numpy()  # as text: mixed cells group
    values = _rounded(flat[hyper].apply(lambda s: pd.to_numeric(s, errors="coerce")))
    known = values.notna().all(axis=1).to_numpy()
    setting = pd.MultiIndex.from_frame(values.fillna(-np.inf)).factorize()[0]
    loss = pd.to_numeric(flat["loss"], errors="coerce").to_numpy(float)
    cells = pd.DataFrame({"point": point, "setting": setting, "loss": loss, "known": known})
    distinct = cells[cells.known].groupby("point")["setting"].nunique()
    swept = distinct.index[distinct.to_numpy() > 1].to_numpy()
    if not len(swept):
        return None, None
    mean = cells[cells.known].groupby(["point", "setting"])["loss"].mean().dropna().reset_index()
    best = mean.loc[mean.groupby("point")["loss"].idxmin(), ["point", "setting"]]
    best_of = dict(zip(best.point, best.setting))
    chosen = np.array([best_of.get(p, -1) for p in point])
    keep = ~np.isin(point, swept) | (chosen < 0) | ((setting == chosen) & known)
    counts = distinct.loc[swept]
    n_set = f"{counts.min()}" if counts.min() == counts.max() else f"{counts.min()}-{counts.max()}"
    unknown = int((np.isin(point, swept) & ~known).sum())
    return keep, (f"{len(swept)} input points (runs alike in {', '.join(map(str, keys))}) were trained at {n_set} "
                  f"settings of {', '.join(map(str, hyper))} (a sweep)"
                  + (f"; {unknown} of their runs have no readable setting" if unknown else ""))


__all__ = ["best_settings", "setting_columns", "DIGITS"]
