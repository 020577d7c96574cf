"""Curve tables and learning-rate schedules as plain NumPy data (no JAX, nothing else of scalelab's).

A *curve table* has several rows per run: ``run_id`` plus ``step`` (optimizer steps), with
``loss`` at that step and ``lr``, the learning rate applied at that step.

Schedule convention
-------------------
A run's schedule is given by its rows' ``(step, lr)`` pairs and is **piecewise linear between
rows, per step**: the learning rate at an integer step between two rows is the straight line
between them. When a run's first row is above step 0, the schedule **warms up linearly from
lr 0 at step 0** to that first row (the usual linear warm-up; the multi-power law's authors
warm up this way and do not log the warm-up steps). Before the first row nothing else is
assumed. A step change of the learning rate is written as two rows one step apart.

Schedule integrals use the per-step sums of the multi-power law's code (Luo et al. 2025):
``S(t) = sum_{tau=0..t} eta_tau`` (learning rate x steps, warm-up included), which for a
piecewise-linear schedule is the trapezoid area plus ``(eta_0 + eta_t) / 2``.

Encoding for the curve laws
---------------------------
`encode` turns a table into per-row arrays that the laws in `scalelab.laws.curves` integrate
in JAX: for each row, the row's step ``t`` and its run's schedule as knots ``(knot_step,
knot_lr)`` [n_rows, K], padded to the longest run by repeating the last knot (zero-length
segments add nothing). Knots are the run's rows (plus the warm-up start), with long gaps cut
into pieces of at most ``max_segment`` steps so that a midpoint rule per piece is accurate;
a run with more than ``max_knots`` knots is thinned (every m-th knot kept: the schedule is
then resampled piecewise-linearly, which bounds memory at ``n_rows x max_knots``). The laws
need only the knots before each row's step; a row may lie between knots.

This module imports nothing of scalelab's, so the run table (lowest floor) can call its checks.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from scalelab.labels import as_text

__all__ = ["is_curve_table", "check_curve_table", "final_rows", "encode", "knots_of",
           "constant", "cosine", "wsd", "per_step", "after_peak", "schedule_table", "DEFAULT_SEGMENTS", "DEFAULT_MAX_KNOTS"]

DEFAULT_SEGMENTS = 256    # each run is cut into at least this many pieces (quadrature accuracy)
DEFAULT_MAX_KNOTS = 2048  # knots per run at most (memory: n_rows x knots per array)


class CurveTableError(ValueError):
    """Bad curve data; the message names the run, the rows and a fix."""


def is_curve_table(df: pd.DataFrame) -> bool:
    """True when ``df`` has ``run_id`` and ``step`` and some run has more than one row."""
    return ("run_id" in df.columns and "step" in df.columns
            and bool(df["run_id"].duplicated().any()))


def _rows(idx, limit: int = 8) -> str:
    """``rows 3, 7``: DataFrame labels (`check_curve_table`'s default ``rows``)."""
    idx = list(idx)
    shown = ", ".join(str(i) for i in idx[:limit])
    return f"rows {shown}" + (f", ... ({len(idx)} rows)" if len(idx) > limit else "")


def check_curve_table(df: pd.DataFrame, source: str = "<DataFrame>", need_lr: bool = False,
                      error=CurveTableError, rows=_rows) -> None:
    """Raise ``error`` for a malformed curve table (one naming the run, rows and fix).

    Checks: every row names its run (``run_id`` not empty), steps sorted within each run (rows in increasing
    ``step``), no duplicate step in a run, every run with at least two rows, steps >= 0, and (``need_lr`` or an
    ``lr`` column present) ``lr`` present, finite and >= 0 on every row. ``rows``: how errors name the offending
    index labels (the run table passes its own, which names a file's lines).
    """
    if "run_id" not in df.columns or "step" not in df.columns:
        raise error(f"{source}: a curve table needs columns 'run_id' and 'step'; columns are {list(df.columns)}")
    blank = df["run_id"].isna().to_numpy()
    if blank.any():  # a checkpoint of no named run: pooled under one made-up run, its schedule pieced from others'
        raise error(f"{source}: column 'run_id' is empty in {rows(df.index[blank])}: each checkpoint must name its "
                    f"run; fill those cells, or drop the rows")
    step = pd.to_numeric(df["step"], errors="coerce")
    if step.isna().any():
        raise error(f"{source}: column 'step' is missing or non-numeric in {rows(df.index[step.isna()])}")
    if (step < 0).any():
        raise error(f"{source}: column 'step' must be >= 0; {rows(df.index[step < 0])} are negative")
    runs = as_text(df["run_id"])
    steps = step.to_numpy()
    for run, pos in runs.groupby(runs, sort=False).indices.items():  # positions: a DataFrame's labels may repeat
        s, idx = steps[pos], df.index[pos]
        if len(s) < 2:
            raise error(f"{source}: run {run!r} has a single row ({rows(idx)}); a curve needs at least two "
                        f"checkpoints: drop that run, or fit a final-loss law on table.final()")
        d = np.diff(s)
        if (d == 0).any():
            dup = np.asarray(idx)[1:][d == 0]
            raise error(f"{source}: run {run!r} has duplicate steps in {rows(dup)}; keep one row per step "
                        f"(e.g. df.drop_duplicates(['run_id', 'step'], keep='last')), or, if they are seeds of one "
                        f"configuration, give each seed its own run_id")
        if (d < 0).any():
            bad = np.asarray(idx)[1:][d < 0]
            if len(np.unique(s)) < len(s):  # steps that go back and repeat: a run resumed from a checkpoint
                raise error(f"{source}: run {run!r} goes back to earlier steps at {rows(bad)} and repeats them: a run "
                            f"resumed from an earlier checkpoint? Keep, for each step, the resumed run's row (e.g. "
                            f"df.drop_duplicates(['run_id', 'step'], keep='last').sort_values(['run_id', 'step'])), "
                            f"or give the two parts their own run_id")
            raise error(f"{source}: run {run!r} has steps out of order at {rows(bad)}; sort the table "
                        f"(df.sort_values(['run_id', 'step']))")
    if need_lr or "lr" in df.columns:
        if "lr" not in df.columns:
            raise error(f"{source}: column 'lr' (learning rate at each row's step) is missing; curve laws need the "
                        f"schedule: give lr per row (piecewise linear between rows, linear warm-up from 0)")
        lr = pd.to_numeric(df["lr"], errors="coerce")
        missing = lr.isna() | ~np.isfinite(lr.to_numpy(dtype=float, na_value=np.nan))
        if missing.any():
            raise error(f"{source}: column 'lr' is missing or not finite in {rows(df.index[missing])}; "
                        f"give the learning rate at every row")
        if (lr < 0).any():
            raise error(f"{source}: column 'lr' must be >= 0; {rows(df.index[lr < 0])} are negative")


def final_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Each run's last checkpoint (largest ``step``), in the order runs first appear."""
    step = pd.to_numeric(df["step"], errors="coerce").to_numpy(float)
    codes = pd.factorize(as_text(df["run_id"]))[0]  # runs numbered in the order they first appear
    order = np.lexsort((np.arange(len(step)), -step, codes))  # per run: largest step first, then the earlier row
    first = order[np.r_[True, np.diff(codes[order]) != 0]]
    return df.iloc[first]  # by position: a DataFrame's index labels may repeat (pd.concat)


def knots_of(step: np.ndarray, lr: np.ndarray, max_segment: float, max_knots: int = DEFAULT_MAX_KNOTS):
    """One run's schedule knots ``(steps, lrs)``: warm-up start, its rows, long gaps cut.

    ``step``/``lr`` are the run's rows (sorted). A first row above step 0 gets a knot (0, 0).
    Gaps longer than ``max_segment`` steps are cut into equal pieces (lr interpolated).
    More than ``max_knots`` knots: every m-th is kept, always with the first and last.
    """
    step = np.asarray(step, float)
    lr = np.asarray(lr, float)
    if step[0] > 0:
        step = np.concatenate([[0.0], step])
        lr = np.concatenate([[0.0], lr])
    gaps = np.diff(step)
    pieces = np.maximum(1, np.ceil(gaps / max(max_segment, 1e-9)).astype(int))
    if np.any(pieces > 1):
        frac = np.concatenate([np.arange(1, p + 1) / p for p in pieces])
        left = np.repeat(np.arange(len(gaps)), pieces)
        new_s = step[left] + frac * gaps[left]
        new_l = lr[left] + frac * (lr[left + 1] - lr[left])
        step = np.concatenate([step[:1], new_s])
        lr = np.concatenate([lr[:1], new_l])
    if len(step) > max_knots:
        m = math.ceil((len(step) - 1) / (max_knots - 1))
        keep = np.unique(np.concatenate([np.arange(0, len(step), m), [len(step) - 1]]))
        step, lr = step[keep], lr[keep]
    return step, lr


def encode(df: pd.DataFrame, max_segment: float | None = None, max_knots: int = DEFAULT_MAX_KNOTS,
           dtype=np.float64) -> dict:
    """Per-row schedule arrays for the curve laws.

    Args:
      df: a curve table (``run_id``, ``step``, ``lr``; checked by `check_curve_table`).
      max_segment: longest piece between knots, in steps (default: each run's own last step
        / ``DEFAULT_SEGMENTS``, so that a run's encoding, and the prediction at its rows, does not depend
        on the other runs of the table).
      max_knots: knots per run at most (see the module doc).

    Returns:
      ``{"t": [n], "knot_step": [n, K], "knot_lr": [n, K]}``; row ``i`` carries its run's knots.
    """
    if is_curve_table(df):
        check_curve_table(df, need_lr=True)
    step = df["step"].to_numpy(dtype=float)
    lr = df["lr"].to_numpy(dtype=float)
    runs = as_text(df["run_id"]).to_numpy()
    codes, uniq = pd.factorize(runs, sort=False)
    knots = []
    for r in range(len(uniq)):  # data preparation at the edge, once per table
        rows = np.flatnonzero(codes == r)
        seg = max(1.0, float(np.max(step[rows])) / DEFAULT_SEGMENTS) if max_segment is None else max_segment
        knots.append(knots_of(step[rows], lr[rows], seg, max_knots))
    K = max(len(k[0]) for k in knots)
    ks = np.empty((len(uniq), K), dtype)
    kl = np.empty((len(uniq), K), dtype)
    for r, (s, l) in enumerate(knots):
        ks[r, : len(s)], ks[r, len(s):] = s, s[-1]
        kl[r, : len(l)], kl[r, len(l):] = l, l[-1]
    return {"t": step.astype(dtype), "knot_step": ks[codes], "knot_lr": kl[codes]}


# -- schedule builders (per-step learning rates, float64 [steps + 1] for steps 0..steps) --------

def _warm(steps: int, warmup: int, peak: float) -> np.ndarray:
    s = np.arange(steps + 1, dtype=float)
    return peak * np.minimum(1.0, s / max(warmup, 1)) if warmup > 0 else np.full(steps + 1, peak)


def constant(steps: int, peak_lr: float, warmup: int = 0) -> np.ndarray:
    """Linear warm-up from 0 over ``warmup`` steps, then ``peak_lr`` to step ``steps``."""
    return _warm(steps, warmup, peak_lr)


def cosine(steps: int, peak_lr: float, warmup: int = 0, final_lr: float = 0.0) -> np.ndarray:
    """Linear warm-up, then cosine from ``peak_lr`` at ``warmup`` to ``final_lr`` at ``steps``."""
    s = np.arange(steps + 1, dtype=float)
    frac = np.clip((s - warmup) / max(steps - warmup, 1), 0.0, 1.0)
    out = final_lr + 0.5 * (peak_lr - final_lr) * (1 + np.cos(np.pi * frac))
    return np.where(s < warmup, _warm(steps, warmup, peak_lr), out)


def wsd(steps: int, peak_lr: float, warmup: int = 0, decay_frac: float = 0.2, final_lr: float = 0.0) -> np.ndarray:
    """Warm-up, stable at ``peak_lr``, then linear decay to ``final_lr`` over the last ``decay_frac`` of steps."""
    s = np.arange(steps + 1, dtype=float)
    start = steps - max(1, int(round(decay_frac * steps)))
    frac = np.clip((s - start) / max(steps - start, 1), 0.0, 1.0)
    out = peak_lr + frac * (final_lr - peak_lr)
    return np.where(s < warmup, _warm(steps, warmup, peak_lr), out)


def after_peak(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of a curve table (``run_id, step, lr``) at or after their run's largest learning rate, as
    ``run, step, lr, peak`` (the warm-up's rows left out): where a run decays, and to what."""
    out = pd.DataFrame({"run": as_text(df["run_id"]).to_numpy(),
                        "step": pd.to_numeric(df["step"], errors="coerce").to_numpy(),
                        "lr": pd.to_numeric(df["lr"], errors="coerce").to_numpy()}).sort_values(["run", "step"])
    out["peak"] = out.groupby("run")["lr"].transform("max")
    return out[out.groupby("run")["lr"].cummax() >= out["peak"]]


def decayed_to(df: pd.DataFrame) -> float:
    """The lowest learning rate any run of ``df`` (``run_id, step, lr`` rows) reaches at or after its peak
    (`after_peak`): how far the runs show the annealing a curve law fits."""
    return float(after_peak(df)["lr"].min())


def below_runs(what: str, lowest: float, floor: float | None) -> list[str]:
    """The warning that ``what`` (subject and verb, e.g. "target schedules decay") goes down to ``lowest``, under
    half ``floor``, the lowest lr the fitted runs reach after their peak (`decayed_to`): the fitted annealing term is
    extrapolated there. ``[]`` when it does not, or when ``floor`` is unknown (None). Said by `scalelab.forecast` and
    `scalelab.curves.optimize_schedule`, each adding what it means for its numbers."""
    if floor is None or not lowest < 0.5 * floor:
        return []
    return [f"{what} to lr {lowest:.3g}, below the lowest the training runs reach after their peak ({floor:.3g}): "
            f"the fitted annealing term is extrapolated there"]


def per_step(step, lr, steps: int | None = None) -> np.ndarray:
    """A run's per-step learning rates for steps 0..``steps`` under the module's convention."""
    step = np.asarray(step, float)
    lr = np.asarray(lr, float)
    if step[0] > 0:
        step, lr = np.concatenate([[0.0], step]), np.concatenate([[0.0], lr])
    steps = int(step[-1]) if steps is None else int(steps)
    return np.interp(np.arange(steps + 1, dtype=float), step, lr)


def schedule_table(lrs: np.ndarray, every: int = 1, run_id: str = "schedule", tol: float | None = None) -> pd.DataFrame:
    """A per-step schedule ``lrs[0..T]`` as rows ``run_id, step, lr`` every ``every`` steps (and at T).

    Step 0 is dropped when its lr is 0 (the warm-up convention restores it). ``tol`` (a fraction of
    the largest lr): also keep the rows where the schedule bends (the end of warm-up, the start and
    end of a decay, the knots of a curved decay), so that the table read back under the module's
    convention (piecewise linear between rows) is within ``tol * max(lrs)`` of ``lrs`` at every
    step; ``None`` keeps only the every-``every`` rows and the last.
    """
    lrs = np.asarray(lrs, float)
    T = len(lrs) - 1
    keep = np.zeros(T + 1, bool)
    keep[::every] = True
    keep[T] = True
    if tol is not None:
        keep = _keep_bends(lrs, keep, tol * float(np.max(np.abs(lrs))))
    steps = np.flatnonzero(keep)
    if lrs[0] == 0 and len(steps) > 1:
        steps = steps[1:]
    return pd.DataFrame({"run_id": run_id, "step": steps.astype(int), "lr": lrs[steps]})


def _keep_bends(lrs: np.ndarray, keep: np.ndarray, atol: float) -> np.ndarray:
    """``keep`` (bool, steps 0..T, first and last True) plus the steps that bring the piecewise-linear
    line through the kept steps within ``atol`` of ``lrs`` everywhere (Douglas-Peucker: each round
    adds, in every segment still off by more than ``atol``, the step farthest from its chord)."""
    s = np.arange(len(lrs))
    keep = keep.copy()
    keep[0] = keep[-1] = True
    if len(lrs) < 3:
        return keep
    while True:  # rounds of refinement (about log2 of the longest segment), not a loop over steps
        kept = np.flatnonzero(keep)
        dev = np.abs(lrs - np.interp(s, kept, lrs[kept]))
        seg = np.minimum(np.searchsorted(kept, s, side="right") - 1, len(kept) - 2)  # step -> its segment
        worst = np.maximum.reduceat(dev, kept[:-1])
        hit = np.flatnonzero((dev > atol) & (dev == worst[seg]))
        if len(hit) == 0:
            return keep
        keep[hit[np.unique(seg[hit], return_index=True)[1]]] = True
