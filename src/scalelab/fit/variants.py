"""Variants: many fits of one law as array axes (weights, delta, fixed parameters).

A `Variants` holds, for ``V`` variants of a fit on the same ``n`` runs:

* ``weights[V, n]``: per-run weights (0 masks a run out; bootstrap counts),
* ``delta[V]``: Huber threshold,
* ``fixed``: a list of ``V`` dicts of natural parameter values held fixed,
* ``info``: a DataFrame with one row describing each variant.

Generators build the common families (bootstrap, leave-one-out, size rollouts,
delta grids, fixed-exponent grids); ``+`` concatenates, ``*`` crosses two sets.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Sequence

import numpy as np
import pandas as pd

from scalelab import runs as _runs
from scalelab.fit.problem import table_for
from scalelab.levels import is_count
from scalelab.runs.sizes import size_groups


@dataclasses.dataclass(frozen=True)
class Variants:
    weights: np.ndarray
    delta: np.ndarray
    fixed: tuple
    info: pd.DataFrame

    def __post_init__(self):
        V = self.weights.shape[0]
        if self.delta.shape != (V,) or len(self.fixed) != V or len(self.info) != V:
            raise ValueError("Variants: weights, delta, fixed and info must all have one entry per variant")
        if not np.all(np.isfinite(self.weights)) or np.any(self.weights < 0):
            raise ValueError("Variants: weights must be finite and >= 0")
        if not np.all(np.isfinite(self.delta) & (self.delta > 0)):
            raise ValueError(f"Variants: every Huber delta must be a number > 0 (a threshold on |log residual|); got "
                             f"{self.delta[~(np.isfinite(self.delta) & (self.delta > 0))][:5].tolist()}")

    def __len__(self) -> int:
        return self.weights.shape[0]

    def __repr__(self) -> str:  # one line: the weight matrix is ``.weights`` (it printed whole)
        kinds = ", ".join(str(k) for k in dict.fromkeys(self.info["kind"])) if "kind" in self.info else "?"
        return f"Variants({len(self)} variants of {self.n_runs} runs, kind {kinds})"

    @property
    def n_runs(self) -> int:
        return self.weights.shape[1]

    def __add__(self, other: "Variants") -> "Variants":
        if other.n_runs != self.n_runs:
            raise ValueError("cannot concatenate variants over different run tables")
        return Variants(np.concatenate([self.weights, other.weights]), np.concatenate([self.delta, other.delta]),
                        self.fixed + other.fixed, pd.concat([self.info, other.info], ignore_index=True))

    def __mul__(self, other: "Variants") -> "Variants":
        """Every variant of ``self`` crossed with every one of ``other`` (weights multiply)."""
        i, j = np.meshgrid(np.arange(len(self)), np.arange(len(other)), indexing="ij")
        i, j = i.ravel(), j.ravel()
        info = pd.concat([self.info.iloc[i].reset_index(drop=True),
                          other.info.iloc[j].reset_index(drop=True).add_suffix("_2")], axis=1)
        fixed = tuple({**self.fixed[a], **other.fixed[b]} for a, b in zip(i, j))
        delta = np.where(other.info["kind"].iloc[j].to_numpy() == "delta", other.delta[j], self.delta[i])
        return Variants(self.weights[i] * other.weights[j], delta, fixed, info)


def _make(weights, info: dict, delta=1e-3, fixed=None) -> Variants:
    weights = np.asarray(weights, float)
    V = weights.shape[0]
    delta = np.broadcast_to(np.asarray(delta, float), (V,)).copy()
    fixed = tuple(dict(f) for f in fixed) if fixed is not None else tuple({} for _ in range(V))
    return Variants(weights, delta, fixed, pd.DataFrame(info))


def _n(runs) -> int:
    return runs if isinstance(runs, (int, np.integer)) else len(_runs.read(runs))


def full(runs, delta: float = 1e-3) -> Variants:
    """One variant: all runs."""
    n = _n(runs)
    return _make(np.ones((1, n)), {"kind": ["full"], "variant": ["all runs"]}, delta)


def bootstrap(runs, n_resamples: int, seed: int = 0, by: str | None = None, min_runs: int = 0) -> Variants:
    """``n_resamples`` resamples with replacement of the runs (weights = counts).

    With ``by`` (e.g. ``"family"``), whole groups of runs are resampled (a
    cluster bootstrap), keeping runs of one family together. A curve table's rows are checkpoints: resample
    them with ``by="run_id"`` (whole runs, as ``scalelab fit --bootstrap`` does for a curve law); without it each
    checkpoint is drawn as if independent, and the intervals come out too narrow.

    ``min_runs``: a resample that keeps fewer distinct runs is drawn again (until none does), so that every
    resample can determine a law's parameters: pass the law's free parameters + 1. A 12-run table resampled
    for 5 parameters has about 1 such resample in 100; the result is then the bootstrap conditional on
    resamples that identify the law. ``info["redrawn"]`` says which were drawn again. The other resamples
    are the ones drawn without ``min_runs`` (the same random stream).
    """
    if not is_count(n_resamples, 1):
        raise ValueError(f"n_resamples must be a whole number >= 1 (e.g. 1000), got {n_resamples!r}")
    rng = np.random.default_rng(seed)
    if by is None:
        g = _n(runs)
        codes = np.arange(g)
    else:
        table = _runs.read(runs)
        if by not in table.columns:
            raise _runs.RunTableError(f"cannot bootstrap by {by!r}: no such column; columns are {table.columns}")
        codes, uniques = pd.factorize(table.df[by])
        if (codes < 0).any():  # factorize's -1 would take the last group's count
            raise _runs.RunTableError(f"cannot bootstrap by {by!r}: {table.rows(table.df.index[codes < 0])} have no "
                                      f"{by!r}; give every run one (or leave those runs out)")
        g = len(uniques)
    if min_runs > len(codes):
        raise _runs.RunTableError(f"no resample of {len(codes)} runs keeps {min_runs}: the table is too small")

    def draw(m):  # [m, n] run weights: counts of g groups (or runs) drawn with replacement, spread to their runs
        counts = np.zeros((m, g))
        np.add.at(counts, (np.arange(m)[:, None], rng.integers(0, g, size=(m, g))), 1.0)
        return counts[:, codes]

    weights = draw(n_resamples)
    redrawn = np.zeros(n_resamples, bool)
    for _ in range(10_000):  # redraw rounds, each redrawing every short resample at once (a round or two)
        short = (weights > 0).sum(axis=1) < min_runs
        if not short.any():
            break
        redrawn |= short
        weights[short] = draw(int(short.sum()))
    else:
        raise _runs.RunTableError(f"resamples of these {len(codes)} runs rarely keep {min_runs} of them; "
                                  f"use fewer free parameters or more runs")
    return _make(weights, {"kind": "bootstrap", "variant": [f"resample {i}" for i in range(n_resamples)],
                           "resample": np.arange(n_resamples), "redrawn": redrawn})


def leave_one_out(runs) -> Variants:
    """``n`` variants, each without one run (row ``i`` of the table, 0-based)."""
    n = _n(runs)
    return _make(1.0 - np.eye(n), {"kind": "leave_one_out", "variant": [f"without row {i}" for i in range(n)],
                                   "left_out_row": np.arange(n)})


def rollouts(runs, by: str = "N", n_rungs: int | None = None, min_runs: int = 8, tol: float = 0.05) -> Variants:
    """Leave-largest-out rollouts: fit on every run below a rung of ``by``, predict the next rung.

    Rungs are the nominal values of ``by`` (``N`` for a model-size ladder, ``C`` for compute), as in OLMo's ladder
    and the Hitchhiker's guide: values within ``tol`` decades of each other are one rung (`scalelab.runs.sizes.
    size_groups`, the groups `scalelab.forecast` holds out, at most 0.2 decades wide), so that one size written
    several ways (1.0581184e8 and 1.0581199e8, digitised) is not a rung of its own. Variant ``i`` fits on runs below
    rung ``i`` and its target rung is that rung's smallest value (``info.target_rung``: the fit holds the runs with
    ``by < target_rung``). Rungs whose training set has fewer than ``min_runs`` runs are skipped. ``n_rungs`` keeps
    only the largest that many. ``tol=0``: every distinct value is a rung.
    """
    if n_rungs is not None and not is_count(n_rungs, 1):
        raise ValueError(f"n_rungs must be a whole number >= 1 (the largest rungs kept), or None for all; got {n_rungs!r}")
    if not (isinstance(tol, (int, float)) and tol >= 0):
        raise ValueError(f"tol must be a number of decades >= 0 (0.05: values within 12% are one rung); got {tol!r}")
    table = _runs.read(runs)
    values = table.column(by)
    groups = size_groups(values, tol=tol)
    rungs = [float(values[groups == g].min()) for g in range(int(groups.max()) + 1)]  # each rung's smallest value
    rows, targets = [], []
    for r in rungs:  # rungs are data values, not fits: the fits stay one vmapped program
        train = values < r
        if train.sum() >= min_runs:
            rows.append(train.astype(float))
            targets.append(r)
    if n_rungs is not None:
        rows, targets = rows[-n_rungs:], targets[-n_rungs:]
    if not rows:
        raise ValueError(f"no rung of {by!r} has at least {min_runs} smaller runs to fit on")
    return _make(np.array(rows), {"kind": "rollout", "variant": [f"{by} < {t}" for t in _distinct_labels(targets)],
                                  "by": by, "target_rung": targets})


def _distinct_labels(values, least: int = 4) -> list[str]:
    """``values`` written with the fewest significant figures (at least ``least``) that tell the distinct ones
    apart: two close rungs (6.322240e8 and 6.322243e8) would share a 4-figure label. Up to 17 (exact)."""
    values = [float(v) for v in values]
    for digits in range(least, 18):  # a handful of formats of a few labels, not a loop over fits
        text = [f"{v:.{digits}g}" for v in values]
        if len(set(text)) == len(set(values)):
            return text
    return [repr(v) for v in values]


def deltas(runs, values: Sequence[float]) -> Variants:
    """One variant per Huber delta."""
    n = _n(runs)
    values = np.asarray(values, float)
    return _make(np.ones((len(values), n)), {"kind": "delta", "variant": [f"delta={d:g}" for d in values],
                                             "delta": values}, values)


def fixed_grid(runs, grid: dict[str, Sequence[float]]) -> Variants:
    """One variant per combination of fixed parameter values (e.g. exponents)."""
    n = _n(runs)
    names = list(grid)
    combos = list(itertools.product(*(grid[k] for k in names)))
    fixed = [dict(zip(names, map(float, c))) for c in combos]
    info = {"kind": "fixed", "variant": [", ".join(f"{k}={v:g}" for k, v in f.items()) for f in fixed]}
    for k in names:
        info[f"fixed_{k}"] = [f[k] for f in fixed]
    return _make(np.ones((len(combos), n)), info, fixed=fixed)


def _read_as(filt: str, table) -> str:
    """What a filter's names that are no column of the run table were read as (``params`` is the table's ``N``),
    or the table's columns: a filter is evaluated on the columns under their canonical names."""
    import re

    from scalelab.runs.columns import alias

    unknown = [w for w in dict.fromkeys(re.findall(r"[A-Za-z_]\w*", filt))
               if w not in table.df.columns and w not in ("and", "or", "not", "in", "True", "False")]
    read = {w: c for w in unknown if (c := alias(w)) in table.df.columns}
    if read:
        return ("; the run table's columns are read under their canonical names: write "
                + ", ".join(f"{c} for {w}" for w, c in read.items()))
    return f"; the run table's columns are {list(table.df.columns)}" if unknown else ""


def from_table(runs, spec: pd.DataFrame) -> dict[str, Variants]:
    """Variants from a table (one row per variant), grouped by law.

    Columns: ``law`` (default chinchilla), ``filter`` (a pandas query on the run
    table, e.g. ``N < 1e9``; empty: all runs), ``delta`` (default 1e-3),
    ``fixed`` (``"alpha=0.34;beta=0.28"``), optional ``name``. Each variant's info (the result's columns) keeps
    its ``row`` in ``spec``, its ``filter`` and its ``fixed`` settings as read (``""``: every parameter free), so a
    fixed value in the result is told apart from a fitted one.
    """
    from scalelab import laws as _laws  # here: importing the laws imports JAX, which the generators above need not

    read = _runs.read(runs)
    tables: dict[str, _runs.RunTable] = {}  # per law, the rows it is fitted on (a curve table's last checkpoints)
    out: dict[str, list] = {}
    for i, row in spec.reset_index(drop=True).iterrows():
        law = str(row.get("law", "chinchilla") or "chinchilla")
        table = tables.setdefault(law, table_for(read, _laws.get(law)))
        filt = row.get("filter", "")
        if isinstance(filt, str) and filt.strip():
            try:
                keep = table.df.eval(filt)
            except Exception as err:
                raise ValueError(f"variant row {i}: cannot evaluate filter {filt!r}: {err}{_read_as(filt, table)}") from err
            keep = np.asarray(keep)
            if keep.shape != (len(table),) or keep.dtype != bool:  # "N" or "D / N" would become the weights
                raise ValueError(f"variant row {i}: filter {filt!r} is not a condition on each run (it gives "
                                 f"{keep.dtype} values of shape {keep.shape}); write one such as 'N < 1e9' or "
                                 f"'D / N > 20'")
            w = keep.astype(float)
        else:
            w = np.ones(len(table))
        try:
            delta = float(row["delta"]) if "delta" in row and pd.notna(row["delta"]) else 1e-3
        except ValueError:
            delta = float("nan")
        if not (np.isfinite(delta) and delta > 0):
            raise ValueError(f"variant row {i}: delta {row['delta']!r}: the Huber threshold must be a number > 0 "
                             f"(e.g. 1e-3)")
        fixed = {}
        if "fixed" in row and isinstance(row["fixed"], str) and row["fixed"].strip():
            for item in row["fixed"].split(";"):
                k, _, v = item.partition("=")
                try:
                    fixed[k.strip()] = float(v)
                except ValueError:
                    raise ValueError(f"variant row {i}: fixed {row['fixed']!r}: write NAME=VALUE;NAME=VALUE "
                                     f"(e.g. alpha=0.34;beta=0.28)") from None
        name = row["name"] if "name" in row and pd.notna(row.get("name")) else f"row {i}"
        out.setdefault(law, []).append((w, delta, fixed, {"kind": "table", "variant": name, "row": i,
                                                           "filter": filt if isinstance(filt, str) else "",
                                                           "fixed": ";".join(f"{k}={v:g}" for k, v in fixed.items())}))
    result = {}
    for law, items in out.items():
        result[law] = Variants(np.array([it[0] for it in items]), np.array([it[1] for it in items]),
                               tuple(it[2] for it in items), pd.DataFrame([it[3] for it in items]))
    return result
