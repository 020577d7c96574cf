"""`fit_many`: thousands of variants of a fit as one compiled, sharded program.

Variants (bootstrap resamples, leave-one-out, rollouts, deltas, fixed
parameters; see `scalelab.fit.variants`) are array axes. The variant axis is
laid over a 1-D `jax.sharding.Mesh` of every visible device with `shard_map`;
on each device the local variants run through `lax.map` in batches of
``batch_size`` (each batch one LM loop whose lanes are its variants x starts,
`scalelab.fit.multistart.multistart_variants`), so memory stays bounded however many variants there are. The same call runs on one CPU, one
GPU, or many devices; with several hosts, call `jax.distributed.initialize()`
first and the mesh spans all of them.

Starts:

* ``"auto"`` (default): fit all runs once on the law's full start grid, then
  start every variant from that optimum plus ``n_jitter`` perturbed copies
  (Epoch started each bootstrap refit from one point; the jitter guards
  against a resample whose optimum moved to another basin).
* ``"grid"``, an int, or an array: every variant screens all those starts and
  polishes the best ``keep`` (`scalelab.fit.multistart`).

Cost (the 4,000-resample bootstrap of a 240-run table, benchmarks/RESULTS.md): lanes finish after
anywhere from 9 to 69 LM iterations. On a CPU the lanes still running are gathered into small rounds
(``compaction``, `scalelab.fit.compaction.lm_lanes_compact`) so that finished lanes cost nothing, and each
variant is fitted on only the runs it weighs (``drop_unweighted``). Neither changes a variant's
optimum.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from jax.sharding import Mesh, PartitionSpec as P

from scalelab import laws as _laws
from scalelab import cache as _cache
from scalelab import runs as _runs
from scalelab.fit import buckets as _buckets
from scalelab.fit import objectives
from scalelab.fit.api import fit, fixed_vectors, resolve_starts, residual_fn_for
from scalelab.fit.multistart import CHUNKED_SCREEN, multistart_variants
from scalelab.fit.problem import fitted_runs, prepare
from scalelab.fit.compaction import Compaction
from scalelab.fit.variants import Variants
from scalelab.programs import call_timed, float64, per_law
from scalelab.levels import check_ci


# Lanes x runs x parameters held at once per device batch (Jacobian entries):
# ~0.2 GB of float64 Jacobians on a CPU, ~2 GB of float32 on an accelerator.
LANE_BUDGET = {"cpu": 2.5e7}
LANE_BUDGET_ACCELERATOR = 5e8

# Default lane compaction per platform (see `fit_many`'s ``compaction``); platforms not named run
# one loop per batch.
COMPACTION = {"cpu": Compaction(first=0, width=256, sweeps=4)}
# ... used by default from this many variants: the compacted program takes 2-5x longer to compile, which
# a few variants' fit does not win back (a 4,000-resample bootstrap: 21.3 -> 3.3 s of fitting)
COMPACTION_MIN_VARIANTS = 256


@float64  # the fixed values' transforms, in float64 wherever it is called from (the CLI checks before fitting)
def variant_vectors(law, variants: Variants, dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    """Every variant's free-parameter mask and fixed values ``[V, P]`` (`scalelab.fit.api.fixed_vectors`), checked:
    a parameter the law lacks, a value outside its range, or fewer kept runs than free parameters is refused, naming
    the variant (its row of a variants file and its name: `scalelab.fit.variants.from_table`), before any fit."""
    info = variants.info.reset_index(drop=True)

    def named(i):
        where = f"variant row {info['row'][i]}" if "row" in info else f"variant {i}"
        return where + (f" ({info['variant'][i]!r})" if "variant" in info else "")

    seen = {}  # thousands of variants share a few settings (bootstrap resamples: none fixed); each is read once
    for i, f in enumerate(variants.fixed):
        key = tuple(sorted(f.items()))
        if key not in seen:
            try:
                seen[key] = fixed_vectors(law, f, dtype)
            except ValueError as err:
                raise ValueError(f"{named(i)}: {err}") from None
    free, fixed = (np.stack(v) for v in zip(*(seen[tuple(sorted(f.items()))] for f in variants.fixed)))
    n_free, n_eff = free.sum(axis=1), (variants.weights > 0).sum(axis=1)
    too_few = np.flatnonzero(n_eff <= n_free)
    if too_few.size:
        i = int(too_few[0])
        filt = info["filter"][i] if "filter" in info else ""
        kept = f"its filter {filt!r} keeps" if filt else "keeps"
        more = f" (and {too_few.size - 1} more variants)" if too_few.size > 1 else ""
        raise _runs.RunTableError(f"{named(i)}: {kept} {int(n_eff[i])} runs, too few for the {int(n_free[i])} free "
                                  f"parameters of {law.name!r}{more}")
    return free, fixed


@per_law
def _program(law, kind, screen_iter, keep, max_iter, batch_size, devices: tuple, compaction=None,
             rows_per_variant=False, chunked=False):
    residual = residual_fn_for(law)
    mesh = Mesh(np.array(devices), ("v",))
    # rows_per_variant: x and y carry a leading variant axis (each variant's own runs, see `_variant_rows`)
    axes = {"x": 0, "y": 0, "w": 0} if rows_per_variant else {"x": None, "y": None, "w": 0}

    def batch(starts, x, y, per_variant):
        w, delta, free, fixed = per_variant  # [B, ...]: every variant x start of the batch is one LM lane
        return multistart_variants(residual, starts, {"x": x, "y": y, "w": w}, axes,
                                   kind=kind, delta=delta, free=free, fixed=fixed,
                                   screen_iter=screen_iter, keep=keep, max_iter=max_iter, compaction=compaction,
                                   chunked=chunked)

    def local(starts, x, y, w, delta, free, fixed):
        # batches of batch_size variants one after another (memory); the caller pads the
        # local variants to a multiple of batch_size, so the batch program is traced once
        nb = w.shape[0] // batch_size
        split = lambda a: a.reshape((nb, batch_size) + a.shape[1:])
        if rows_per_variant:
            res = jax.lax.map(lambda b: batch(starts, b[0], b[1], b[2:]),
                              jax.tree.map(split, (x, y, w, delta, free, fixed)))
        else:
            res = jax.lax.map(lambda pv: batch(starts, x, y, pv), jax.tree.map(split, (w, delta, free, fixed)))
        return jax.tree.map(lambda a: a.reshape((nb * batch_size,) + a.shape[2:]), res)

    v = P("v") if rows_per_variant else P()
    sharded = jax.shard_map(local, mesh=mesh,
                            in_specs=(P(), v, v, P("v"), P("v"), P("v"), P("v")),
                            out_specs=P("v"), check_vma=False)
    return jax.jit(sharded)


# Per-variant run counts are padded to a multiple of this (finer than the table buckets: the count
# is the busiest resample's, ~170 of 240 runs for any bootstrap of a 240-run table).
ROW_STEP = 8


def _variant_rows(weights, n_rows: int):
    """Each variant's own runs: indices ``[V, m]`` of the runs it weighs (> 0), in table order, then
    runs of weight 0 up to ``m`` (a multiple of `ROW_STEP`); None when ``m`` would not be below ``n_rows``.

    A bootstrap resample weighs ~63% of the runs; a run of weight 0 adds nothing to the objective,
    gradient or curvature, so fitting each variant on its own ``m`` runs gives its optimum (the
    sums differ only in order) at ``m / n_rows`` of the work per iteration.
    """
    nz = weights > 0
    m = ROW_STEP * -(-int(nz.sum(axis=1).max()) // ROW_STEP)
    if m >= n_rows:
        return None
    return np.argsort(~nz, axis=1, kind="stable")[:, :m]


def _auto_starts(table, law, kind, n_jitter, seed, dtype, delta=1e-3, fixed=None, base=None):
    if base is None:
        base = fit(table, law, objective=kind, starts="auto", seed=seed,
                   dtype=dtype, delta=delta, fixed=fixed)
    elif base.law.name != law.name or base.objective_kind != kind or base.n_rows != len(table) or (
            not np.isclose(base.delta, delta, rtol=1e-12) and kind == "huber") or dict(base.fixed or {}) != dict(fixed or {}):
        raise ValueError(f"start_fit is a fit of {base.law.name!r} ({base.objective_kind}, delta={base.delta}, "
                         f"{base.n_rows} rows, fixed {dict(base.fixed or {})}), not of {law.name!r} ({kind}, "
                         f"delta={delta}, {len(table)} rows, fixed {dict(fixed or {})}) on these runs; pass the "
                         f"fit of this table with the same settings, or none")
    theta = law.flatten({k: jnp.asarray(v) for k, v in base.unconstrained.items()})
    theta = np.asarray(theta, float)
    rng = np.random.default_rng(seed)
    width = np.array([law.start_ranges[u][1] - law.start_ranges[u][0] for u in law.unconstrained_names])
    jitter = theta + 0.05 * width * rng.standard_normal((n_jitter, theta.size))
    return np.vstack([theta[None], jitter]), base


@float64
def fit_many(runs, law="chinchilla", variants: Variants | None = None, *, objective: str = "huber",
             delta: float | None = None, fixed: Mapping[str, float] | None = None,
             starts="auto", n_jitter: int = 1, seed: int = 0, keep: int | None = None,
             screen_iter: int | None = None, max_iter: int | None = None, dtype=None,
             batch_size: int | None = None, chunk: int | None = None,
             devices=None, progress: bool | None = None, compaction=None,
             drop_unweighted: bool = True, start_fit=None) -> pd.DataFrame:
    """Fit every variant of ``law`` (or of each law in a list) to ``runs`` at once.

    Args:
      runs: path, DataFrame or `RunTable`.
      law: a law name/`Law`, or a list of them (one compiled program per law,
        results concatenated).
      variants: a `Variants` (default: one variant with all runs).
      objective: ``"huber"`` or ``"mse"``.
      delta: Huber threshold of every variant, replacing the variants' own (None keeps them).
      fixed: natural parameter values held fixed in every variant (as in `fit`), under each
        variant's own fixed values (a variant's own value wins).
      starts: ``"auto"``, ``"grid"``, an int (random starts) or an array (see module doc).
      n_jitter: extra perturbed starts around the full-data optimum with ``"auto"``.
      keep, screen_iter, max_iter: multi-start settings: after ``screen_iter`` LM sweeps only the
        best ``keep`` starts of each variant go on. With ``"auto"`` keep defaults to 1 where lanes are
        compacted (the jittered starts continue only when they are ahead of the optimum's after
        screening), else to every start.
      dtype: float64 on CPU, float32 on accelerators by default.
      batch_size: variants per `vmap` batch on a device (default from a memory budget).
      chunk: variants per compiled call (a progress-bar step); default all at once
        unless more than 8 batches per device.
      devices: devices of the mesh (default ``jax.devices()``).
      progress: show a tqdm bar on stderr (default: when there is more than one chunk).
      compaction: how the LM loop treats lanes (variants x starts) that finish early. None: the
        device's default (`COMPACTION`: on a CPU, after a few sweeps only the lanes still running
        are gathered and stepped, `scalelab.fit.compaction.lm_lanes_compact`) when every variant runs a
        few unpruned starts (``"auto"``: a bootstrap) and there are `COMPACTION_MIN_VARIANTS` or more
        variants, else one loop; False: one loop in which
        every lane waits for the slowest of its batch; or a `scalelab.fit.compaction.Compaction`.
        With a start grid (a forecast's origins) compaction measured no gain (2.5 vs 3.0 s warm on
        a 30-run forecast, 2-core CPU) and a program twice as slow to compile and to load.
        The optimum of every variant is the same either way (to round-off).
      drop_unweighted: fit each variant on only the runs it weighs (> 0), gathered per variant and
        padded to a bucket size, when that is fewer than all runs (a bootstrap resample weighs ~63%
        of them). Runs of weight 0 add nothing to a variant's objective, so its optimum is the same
        (the sums differ only in order); False keeps every run in every lane.
      start_fit: with ``starts="auto"``, the `scalelab.fit.FitResult` of ``law`` on all of ``runs``
        with the same objective, delta and fixed parameters (e.g. the fit the caller has just made,
        as ``scalelab fit --bootstrap`` does) to start from, instead of fitting it again here.

    Returns:
      DataFrame, one row per variant: the variant's ``info`` columns, ``law``,
      each natural parameter, ``objective``, ``converged``, ``n_iter``,
      ``best_start``, ``n_runs`` (runs with a fitted row; for a curve law, runs whose checkpoints were fitted),
      ``n_rows`` (rows of non-zero weight).
    """
    if isinstance(law, (list, tuple)):
        if start_fit is not None:
            raise ValueError("start_fit is the fit of one law; fit_many over a list of laws fits each itself")
        frames = [fit_many(runs, lw, variants, objective=objective, delta=delta, fixed=fixed, starts=starts, n_jitter=n_jitter, seed=seed,
                           keep=keep, screen_iter=screen_iter, max_iter=max_iter, dtype=dtype,
                           batch_size=batch_size, chunk=chunk, devices=devices, progress=progress,
                           compaction=compaction, drop_unweighted=drop_unweighted) for lw in law]
        return pd.concat(frames, ignore_index=True)
    law = _laws.get(law)
    keep_given = keep
    keep, screen_iter, max_iter = law.solver_settings(keep, screen_iter, max_iter)
    if objective not in objectives.OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; choose one of {objectives.OBJECTIVES}")
    _cache.enable()
    devices = list(devices or jax.devices())
    if dtype is None:
        dtype = jnp.float64 if devices[0].platform == "cpu" else jnp.float32
    np_dtype = np.dtype(dtype)
    table, data = prepare(runs, law, None, dtype=np_dtype)
    if variants is None:
        from scalelab.fit.variants import full

        variants = full(len(table))
    if not isinstance(variants, Variants):
        raise TypeError(f"variants must be a scalelab.fit.variants.Variants (e.g. variants.bootstrap(runs, 1000), "
                        f"leave_one_out, rollouts, deltas, fixed_grid), or None for one fit on all runs; got a "
                        f"{type(variants).__name__}")
    if len(variants) == 0:
        raise ValueError("variants holds no variant: nothing to fit; build at least one (e.g. "
                         "variants.bootstrap(runs, 1000))")
    if variants.n_runs != len(table):
        read = _runs.read(runs)
        hint = (f" (a curve table: {law.name!r} is fitted on each run's last checkpoint; build the variants "
                f"on table.final())" if len(read) == variants.n_runs and read.is_curve else "")
        raise ValueError(f"variants are over {variants.n_runs} runs but the table has {len(table)}{hint}")
    if delta is not None:
        if not (np.isfinite(delta) and delta > 0):
            raise ValueError(f"delta must be a positive number, got {delta}")
        variants = dataclasses.replace(variants, delta=np.full(len(variants), float(delta)))
    if fixed:
        variants = dataclasses.replace(variants, fixed=tuple({**fixed, **f} for f in variants.fixed))

    auto = isinstance(starts, str) and starts == "auto"
    if auto:
        start_arr, _ = _auto_starts(table, law, objective, n_jitter, seed, dtype,
                                    1e-3 if delta is None else delta, fixed, base=start_fit)
    else:
        start_arr = resolve_starts(law, starts, seed)

    V, S = len(variants), start_arr.shape[0]
    n = _buckets.bucket_size(len(table))  # shape buckets: 200 and 240 runs, or 3,900 and 4,000 variants, share a program
    free, fixed = variant_vectors(law, variants, np_dtype)

    rows = _variant_rows(variants.weights, n) if drop_unweighted else None
    m = n if rows is None else rows.shape[1]  # runs per lane
    n_dev = len(devices)
    if batch_size is None:
        budget = LANE_BUDGET.get(devices[0].platform, LANE_BUDGET_ACCELERATOR)
        width = max(1, max(np.size(v) for v in data["x"].values()) // max(len(table), 1))  # curve laws: knots per row
        batch_size = max(1, int(budget // max(1, S * m * law.n_params * width)))
    Vb = _buckets.variant_bucket(V)
    per_dev = math.ceil(Vb / n_dev)
    batch_size = min(batch_size, per_dev)
    if chunk is None:
        chunk = Vb if per_dev <= 8 * batch_size else n_dev * 8 * batch_size
    chunk = n_dev * math.ceil(min(chunk, Vb) / n_dev)  # a multiple of the device count
    local = chunk // n_dev  # variants per device per call, in equal batches (the last padded)
    n_batches = math.ceil(local / batch_size)
    batch_size = math.ceil(local / n_batches)
    chunk = n_dev * n_batches * batch_size
    n_chunks = math.ceil(V / chunk)
    if compaction is None:  # the device's default, for many variants of a few unpruned starts (a bootstrap)
        compaction = COMPACTION.get(devices[0].platform) if auto and S <= 8 and V >= COMPACTION_MIN_VARIANTS else None
    # "auto" with many resamples (compaction on): the jittered starts are screened `screen_iter` sweeps
    # beside the optimum's and go on only if they are then ahead, a guard against a resample whose optimum
    # moved basin at 4 sweeps a lane instead of the ~33 it took to converge (Epoch bootstrap: it never won
    # by more than 1e-12). Few variants: every start runs, in one loop (half the program to compile).
    if not auto:
        keep_eff = min(keep, S)
    else:
        keep_eff = min(keep_given, S) if keep_given is not None else (1 if compaction else S)
    # on a CPU the starts are screened keep at a time in the polish's loop: one LM step to compile, not two
    # (`scalelab.fit.multistart._chunked_search`); an accelerator screens them all at once
    chunked = devices[0].platform in CHUNKED_SCREEN
    program = _program(law, objective, screen_iter, keep_eff, max_iter, batch_size, tuple(devices),
                       compaction=compaction or None, rows_per_variant=rows is not None, chunked=chunked)
    # scalelab's own law: its traced program is kept on disk (`scalelab.cache`)
    name = _laws.program_name("fit_many", law, objective, screen_iter, keep_eff, max_iter, batch_size,
                              compaction or None, rows is not None, chunked)

    # device_put, not jnp.asarray: on a NumPy array the latter compiles a small program per shape
    put = lambda a: jax.device_put(np.asarray(a, np_dtype))  # noqa: E731
    starts_dev = put(start_arr)
    if rows is None:
        data = _buckets.pad_rows(data, n)
        shared = (starts_dev, jax.tree.map(put, data["x"]), put(data["y"]))
        per = (_buckets.pad_weights(variants.weights.astype(np_dtype), n), variants.delta.astype(np_dtype), free, fixed)
        call = lambda block: call_timed(program, *shared, *map(put, block), name=name)  # noqa: E731
    else:  # every variant on its own runs: x, y and w gathered per variant
        x_v = {k: np.asarray(v)[rows] for k, v in data["x"].items()}
        per = (x_v, np.asarray(data["y"])[rows], np.take_along_axis(variants.weights, rows, axis=1).astype(np_dtype),
               variants.delta.astype(np_dtype), free, fixed)
        call = lambda block: call_timed(program, starts_dev, *jax.tree.map(put, block), name=name)  # noqa: E731
    show = progress if progress is not None else n_chunks > 1
    bar = None
    if show:
        from tqdm.auto import tqdm

        bar = tqdm(total=V, desc=f"fit_many {law.name}", unit="variant", file=sys.stderr)
    outs = []
    compile_seconds = 0.0
    t0 = time.perf_counter()
    for c in range(n_chunks):  # chunks of variants, for memory and progress; each is one compiled call
        lo, hi = c * chunk, min((c + 1) * chunk, V)
        pad = chunk - (hi - lo)
        block = jax.tree.map(lambda a: np.concatenate([a[lo:hi], np.repeat(a[hi - 1:hi], pad, axis=0)]), per)
        res, seconds_c = call(block)
        compile_seconds += seconds_c
        if jax.process_count() > 1:  # multi-host: gather the variant shards of every process
            from jax.experimental import multihost_utils

            res = multihost_utils.process_allgather(res, tiled=True)
        res = jax.device_get(res)
        outs.append(jax.tree.map(lambda a: np.asarray(a)[: hi - lo], res))
        if bar is not None:
            bar.update(hi - lo)
    if bar is not None:
        bar.close()
    seconds = time.perf_counter() - t0
    theta = np.concatenate([o.theta for o in outs]).astype(float)
    natural = law.to_natural(law.unflatten(theta))  # NumPy slices: no per-slice programs
    df = variants.info.reset_index(drop=True).copy()
    df.insert(0, "law", law.name)
    for k in law.params:
        df[k] = np.asarray(natural[k], float)
    df["objective"] = np.concatenate([o.f for o in outs]).astype(float)
    df["converged"] = np.concatenate([o.converged for o in outs]).astype(bool) & np.isfinite(df["objective"])
    df["n_iter"] = np.concatenate([o.n_iter for o in outs]).astype(int)
    df["best_start"] = np.concatenate([o.best_start for o in outs]).astype(int)
    df["n_runs"] = fitted_runs(table, law, variants.weights)
    df["n_rows"] = (variants.weights > 0).sum(axis=1)  # rows each variant fits
    df["delta"] = variants.delta
    df.attrs.update({"law": law.name, "seconds": seconds, "compile_seconds": compile_seconds, "n_starts": S, "devices": [str(d) for d in devices]})
    return df


def percentile_intervals(df: pd.DataFrame, params, ci: float = 0.95) -> dict:
    """Percentile intervals ``{name: [lo, hi]}`` of ``params`` over the rows of ``df`` (e.g. bootstrap)."""
    ci = check_ci(ci)
    params = [params] if isinstance(params, str) else list(params)
    if len(df) == 0:
        raise ValueError("percentile_intervals: the fits hold no row (no variant was fitted)")
    missing = [k for k in params if k not in df.columns]
    if missing:
        raise ValueError(f"percentile_intervals: no column {missing} in the fits; columns are {list(df.columns)}: "
                         f"name parameters of the law fitted")
    lo, hi = 50 * (1 - ci), 100 - 50 * (1 - ci)
    return {k: [float(np.percentile(df[k], lo)), float(np.percentile(df[k], hi))] for k in params}
