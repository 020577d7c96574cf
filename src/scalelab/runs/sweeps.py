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
from scalelab.runs.columns import NUMERIC

# A column that holds a training setting a sweep varies (canonical lr, batch_size, or an unread column named like
# one: peak_lr, max_learning_rate, warmup_steps, weight_decay); never a seed
_SETTING = re.compile(r"(?:^|[^a-z])lr(?:$|[^a-z])|learning.?rate|batch|warmup|weight.?decay", re.IGNORECASE)


def setting_columns(df: pd.DataFrame, invalid: Mapping = ()) -> list[str]:
    """The columns of ``df`` named as a training setting a sweep varies (`_SETTING`), holding numbers."""
    out = []
    for c in df.columns:
        if c in invalid or not _SETTING.search(str(c)) or "seed" in str(c).lower():
            continue
        if pd.to_numeric(df[c], errors="coerce").notna().any():
            out.append(c)
    return out


def best_settings(df: pd.DataFrame, invalid: Mapping = ()) -> tuple[np.ndarray | None, str | None]:
    """``(keep, sweep)``: at every input point (runs alike in each numeric column but the loss, the step and the settings,
    and in ``family``) trained at two or more settings of the `setting_columns` (missing values aside), the runs of the
    setting with the lowest mean loss, and every run of an unswept point; ``sweep`` says which points and settings.
    ``(None, None)`` when no point was swept."""
    hyper = setting_columns(df, invalid)
    keys = [c for c in (*NUMERIC, "family") if c in df.columns and c not in ("loss", "step", *hyper) and c not in invalid]
    sized = any(c in keys for c in ("N", "N_total", "N_active")) and any(c in keys for c in ("D", "C"))
    if not hyper or not sized or "loss" in invalid or "loss" not in df.columns:
        return None, None
    flat = df.reset_index(drop=True)
    point = flat.groupby(keys, dropna=False, sort=False).ngroup().to_numpy()
    values = flat[hyper].apply(lambda s: pd.to_numeric(s, errors="coerce"))
    setting = pd.MultiIndex.from_frame(values.fillna(-np.inf)).factorize()[0]  # missing: a setting of its own
    known = values.notna().any(axis=1).to_numpy()
    loss = flat["loss"].to_numpy(float)
    cells = pd.DataFrame({"point": point, "setting": setting, "loss": loss, "known": known})
    distinct = cells[cells.known].groupby("point")["setting"].nunique()
    swept = distinct.index[distinct.to_numpy() > 1].to_numpy()
    if not len(swept):
        return None, None
    mean = cells.groupby(["point", "setting"])["loss"].mean().dropna().reset_index()  # a point of no loss keeps all
    best = mean.loc[mean.groupby("point")["loss"].idxmin(), ["point", "setting"]]
    best_of = dict(zip(best.point, best.setting))
    chosen = np.array([best_of.get(p, -1) for p in point])
    keep = ~np.isin(point, swept) | (setting == chosen) | (chosen < 0)
    counts = distinct.loc[swept]
    n_set = f"{counts.min()}" if counts.min() == counts.max() else f"{counts.min()}-{counts.max()}"
    return keep, (f"{len(swept)} input points (runs alike in {', '.join(keys)}) were trained at {n_set} settings of "
                  f"{', '.join(map(str, hyper))} (a sweep)")


__all__ = ["best_settings", "setting_columns"]
