"""`forecast`: the loss of a new run beyond the table, with the law chosen by extrapolation.

The one question a team brings: *what loss will the big run reach, and how sure are we?*
`forecast` answers it without a hand-picked law:

1. **Candidates** (`candidate_laws`). Every loss law whose inputs the table has (or the laws named),
   among those the table can support: at least two runs per parameter (a 9-parameter law on 12 runs
   interpolates and extrapolates by accident), at most two parameters per model size of the first origin's
   fit, plus one (`candidate_laws.judged`), and none whose extra axis (experts, sparsity, ...) every
   run and target holds at one value. The targets are read and checked by `target_table`.
2. **Rolling origin.** Model sizes are grouped (log10 N within ``size_tol`` decades is one
   size, a group at most 0.2 decades wide: `calibrate.size_groups`). Origin k holds out the k
   largest sizes and fits every candidate on the rest; each held-out run gives a log-loss error
   ``e = log L_pred - log L`` at an extrapolation distance ``d`` (decades outside the training runs'
   N, D and tokens per parameter, `calibrate.extrapolation_distance`). All origins and the full table are one
   `fit_many` call per law (variants are run weights).
3. **Weights** (`weights`). Stacking: the simplex weights whose log-space mixture has the least mean squared
   held-out error (each origin counts equally), shrunk toward equal weights by ``shrink``; or pseudo-BMA, a
   soft choice of the law with the least held-out error, where that rule's honest errors (each origin's errors
   weighed by the rule fitted on the other origins) are smaller than stacking's (`weights.chosen_rule`; two
   origins at least). The weighting itself is chosen by extrapolation, and ``method`` names it.
   In-sample fit never decides: when no origin can be held out (fewer than 4 sizes), the reference
   form (Chinchilla) answers, with a warning. A law whose fit to the whole table forecasts the targets
   far from the other candidates (beyond 5x the largest held-out error of the laws that extrapolated
   stably, `agreement.consistent`) takes no weight, with a warning: the origins did not validate that fit.
   So does a law whose forecast moves, when the largest size joins its fit, far beyond the error its first
   origin made at that size (5x, at least 10%: `agreement.settled`): the fit went along a direction the runs
   do not determine.
4. **Interval.** The honest held-out errors of the chosen weighting (each origin's errors weighed by the rule
   fitted on the other origins) calibrate a predictive scale that grows with
   extrapolation distance, ``s(d)^2 = s0^2 + sigma^2 + tau^2 d^2``: ``s0`` is the in-sample residual
   scale (run-to-run noise and misfit at seen sizes; `calibrate.run_scatter`, counted for the parameters the fits
   spent), ``sigma`` a discrepancy that appears as soon as
   a size is held out, ``tau`` the error per decade beyond the table, fitted by maximum likelihood to the held-out errors with a weak prior (``tau_prior``
   decades^-1, worth ``prior_weight`` origins) so that one or two origins cannot make it zero.
   A fourth term carries the law's form where the origins are few: the weighted spread of the
   candidates' forecasts at the target, ``f^2 = sum_l w_l (log L_l - log L*)^2`` (at least its value under the
   stacking weights when pseudo-BMA answered: the laws the origins found complementary stay in it), enters with
   weight ``1/K`` (K origins; all of it when there is none), so ``s^2 = s0^2 + sigma^2 + tau^2 d^2
   + f^2 / K``; with one origin, or a ladder at one tokens per parameter, ``f^2`` is at least the whole
   disagreement of the laws that extrapolated stably and agree, each counted alike, as with no origin: one held-out
   size cannot tell the forms apart. The interval is ``exp(log L* +- t_q(nu) s(d*))`` with Student-t quantiles whose
   degrees of freedom are the number of origins plus the prior's: parameter uncertainty, noise
   and the law's form all enter, measured on the table itself.
5. **Locally.** When the laws read N and D, ``s0``, ``sigma`` and ``tau`` are calibrated per target on
   the runs and held-out errors near it in tokens per parameter (``log10 D/N``, a Gaussian kernel of
   0.35 decades; `calibrate.combine`'s ``bandwidth``): ladders that read losses early in long runs
   (a fraction of a token per parameter) miss those points by 5-15% and their final losses by ~1%,
   and one scale for both was too narrow for the first and too wide for the second. ``s0`` is also
   calibrated near the target in model size (a kernel of 0.3 decades of N, widened to hold at least 10
   runs; ``size_bandwidth``): the scatter of a ladder's largest models, not of its smallest, describes
   a run beyond them.

Units: loss in nats/token; N parameters, D tokens (the laws' own conventions); distances in
decades (log10).
"""

from __future__ import annotations

import dataclasses
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from scalelab.callable_module import make_callable
from scalelab import laws as _laws
from scalelab import runs as _runs
from scalelab.forecast import curves as _curves
from scalelab.forecast.candidate_laws import (NOT_CANDIDATES, answerable, automatic, candidates, dropped_notes,
                                              readable, size_column, supported, supported_note)
from scalelab.forecast.agreement import consistent, stable, strayed_warning, unusable
from scalelab.forecast.calibrate import (GROUP_SPAN, calibrate_scale, combine, extrapolation_distance,
                                         local_weights, origin_weights, position, robust_scale, run_scatter,
                                         size_groups, size_weights, stack_weights, t_quantile, viable)
from scalelab.forecast.weights import SAID, chosen_rule, choose_weights, honest_errors, pseudo_bma
from scalelab.forecast.held_out import forecast_details
from scalelab.forecast.result import Forecast
from scalelab.forecast.target_table import axis_warnings, check_spread, target_frame, target_inputs
from scalelab.programs import call_timed, float64, per_law
from scalelab.runs.status import without_unfinished
from scalelab.runs.sweeps import best_settings, setting_columns
from scalelab.levels import check_ci
from scalelab.progress import bar

METHOD = "rolling-origin stacking; Student-t interval calibrated on held-out extrapolation errors and the laws' disagreement"
# how `method` names pseudo-BMA when the origins' honest errors chose it over stacking (`weights.chosen_rule`)
PSEUDO_BMA = f"rolling-origin {SAID['pseudo-BMA']}"

# What the dense laws' inputs are, for a table that has neither under a name scalelab reads
_NAMED = {"N": "parameters: N, params, num_params, model_size, or a count named with its unit, params_M",
          "D": "training tokens: D, tokens, num_tokens, train_tokens, tokens_B, or C with N, as D = C / (6 N); a table "
               "that holds them only as a product (steps x tokens per step) needs that column written (unique tokens x "
               "epochs, or tokens_per_param with N, are read)"}

# The public families' worst runs lie at most 1.8x off the weighted fit (SLDBench's; Gadre's and Porian's up to 1.4x):
# a run twice or half the fit of the others is no ladder's scatter (`forecast`'s ``off_fit``). Such runs are left out
# when they are at most this share of the table
OFF_FIT_SHARE = 0.1
# The form that answers when no rolling origin can be held out (Hoffmann et al.'s, the field's default).
REFERENCE = "chinchilla"


@per_law
def _predict_program(law):
    """A cached jit of ``(params {name: [V, 1]}, inputs {column: [1, m]}) -> loss [V, m]`` (natural parameters)."""
    import jax

    return jax.jit(lambda P, x: law(P, **x))


def _predict(law, P, x):
    """``law`` at the variants' parameters ``P`` and inputs ``x``: one compiled call, kept traced and compiled
    on disk for scalelab's own laws (`scalelab.cache`)."""
    return call_timed(_predict_program(law), P, x, name=_laws.program_name("forecast.predict", law))[0]


@float64
def forecast(runs, at, laws="auto", ci: float = 0.9, *, size_tol: float = 0.05, max_origins: int = 4,
             min_train_sizes: int = 3, shrink: float = 0.0, tau_prior: float = 0.01, prior_weight: float = 1.0,
             seed: int = 0, progress: bool | None = None, off_fit: float | None = 2.0,
             sweeps: str = "best") -> Forecast:
    """Forecast the loss of new runs at ``at`` from the run table ``runs``.

    Args:
      runs: path, DataFrame or `RunTable` of training runs (final losses). A curve table with the
        curve laws (or ``"auto"`` and an ``lr`` column) is forecast row by row instead, on the target
        schedules ``at`` (``run_id, step, lr`` rows): `scalelab.forecast.curves`.
      at: the targets: path, DataFrame or dict of input columns (``N``, ``D``, ... as the laws need);
        a ``loss`` column is ignored. The targets are forecast together: the checks that leave a law out of the
        weights (`agreement.consistent`, `agreement.settled`) read every target, so a far target (70B beside 7B,
        or 10M below the runs) can change the weights, and with them the forecast at the others (a warning names
        the laws left out, and the target rows that did it); forecast such targets in separate calls.
      laws: ``"auto"`` (every loss law whose inputs the table has, weighted by extrapolation), a name,
        or a list/comma-separated names.
      ci: central probability of the intervals (e.g. 0.9).
      size_tol: log10-N gap (decades) below which two model sizes count as one (a group of such sizes spans at
        most 0.2 decades: `size_groups`).
      max_origins: at most this many rolling origins (largest 1, 2, ... sizes held out).
      min_train_sizes: an origin is kept while its training runs span at least this many model sizes.
      shrink: the weights (stacking's or pseudo-BMA's, and those that choose between them) are shrunk this much
        toward equal weights.
      tau_prior, prior_weight: the weak prior on the per-decade extrapolation scale (see module doc).
      seed: seed for the random starts of laws without a start grid.
      progress: a bar on stderr as the candidate laws' fits finish: True always, None on a terminal only
        (a first call compiles for tens of seconds), False never.
      off_fit: runs whose loss lies more than this factor off the weighted fit of the table (a run that diverged
        below 20 nats, a row of another ladder) are left out and the forecast made again without them, with a
        warning, when they are at most a tenth of the runs (more: only warned). None keeps every run.
      sweeps: ``"best"``: where runs of one input point were trained at several learning rates (batch sizes, ...:
        `scalelab.runs.sweeps`), the runs of the setting with the lowest mean loss are kept there and the others left
        out, with a warning (a law describes the tuned run); ``"all"`` fits every run.

    Returns:
      `Forecast`; ``Forecast.to_json()`` is the object ``scalelab forecast --json`` prints.
    """
    from scalelab.fit import variants as _variants
    from scalelab.fit.api import default_starts
    from scalelab.fit.many import fit_many

    t0 = time.perf_counter()
    ci = check_ci(ci)
    if off_fit is not None and not (isinstance(off_fit, (int, float)) and 1.0 < off_fit < np.inf):
        raise ValueError(f"off_fit is a factor above 1 (e.g. 2) or None (keep every run); got {off_fit!r}")
    if sweeps not in ("best", "all"):
        raise ValueError(f"sweeps is 'best' (each input point's best setting of a sweep) or 'all'; got {sweeps!r}")
    laws = "auto" if laws is None or (isinstance(laws, str) and laws.strip() == "auto") else _laws.listed(laws)
    table = _runs.read(runs)
    if _curves.is_curve_request(table, laws, at):  # whole learning curves: `scalelab.forecast.curves`
        return _curves.forecast_curves(table, at, laws=laws, ci=ci, shrink=shrink, tau_prior=tau_prior,
                                       prior_weight=prior_weight, seed=seed, progress=progress)
    table = table.final_points()  # a curve table asked for final losses: each run's last checkpoint (or all, warned)
    table, stopped = without_unfinished(table)  # runs a status column marks crashed or running: said, not fitted
    # unfinished runs, and runs of no known size or data (an empty cell, a summary row, a step-0 evaluation): said in
    # the warnings, not fitted
    table, missing = table.without_missing("loss", "N", "D")
    cands = candidates(table, laws)
    keep, swept = (best_settings(table.df, table.invalid, {c for l in cands for c in l.inputs}) if sweeps == "best"
                   else (None, None))
    if keep is not None:  # a tuning grid left in the table: each point's tuned runs
        swept += (f": a loss law describes the tuned run, so at each the setting with the lowest loss is kept and the "
                  f"other {int((~keep).sum())} runs are left out ({table.rows(table.df.index[~keep])}); --sweeps all "
                  f"(sweeps='all') fits every run")
        table = table.select(keep)
    left_out = [swept] if keep is not None else []  # runs not fitted, said in the warnings
    left_out += [said for said in (stopped, missing) if said]
    if not cands:
        named = [n for n in NOT_CANDIDATES if all(c in table.columns for c in _laws.get(n).inputs)]
        lacks = [c for c in ("N", "D") if c not in table.columns]
        raise _runs.RunTableError(f"no loss law has all its inputs among the columns {table.columns}; "
                                  + (f"{named} read them but are never chosen automatically: name one "
                                     f"(laws='{named[0]}', --law {named[0]}); " if named else "")
                                  + (f"the dense laws read {' and '.join(lacks)} ({', '.join(_NAMED[c] for c in lacks)}): "
                                     f"name the column that holds {'them' if len(lacks) > 1 else 'it'} with "
                                     f"{' '.join(f'--map {c}=COLUMN' for c in lacks)} (read(..., columns=...)), in counts; "
                                     if lacks else "")
                                  + "see `scalelab laws`")
    screened_out, idle, axes = {}, {}, ()
    asked = target_frame(at, like=table)
    if laws == "auto":  # the laws the runs can feed, the targets ask, the table supports and its first origin judges
        cands, screened_out, idle, axes, size_col = automatic(table, asked, cands, size_tol, min_train_sizes,
                                                              GROUP_SPAN)
    else:
        size_col = size_column(table, cands)
    groups = size_groups(table.column(size_col), size_tol, GROUP_SPAN)  # model sizes; origin k holds out the k largest
    first = int(groups.max())
    needed = sorted({c for l in cands for c in l.inputs})
    # the runs' inputs, read (and a column the laws cannot read refused) before the targets' (units: both wrong)
    x_all = {c: table.column(c) for c in needed}
    targets = target_inputs(asked, needed)
    as_given = targets  # the inputs as asked, echoed in the answer (a value within 1% of the runs' one is read as it)
    targets, shared_notes = check_spread(table, targets, at.attrs.get("asker", "the target table")
                                         if isinstance(at, pd.DataFrame) else "the target table")
    y = table.column("loss")
    n = len(table)
    warnings: list[str] = []

    fits, preds_runs, preds_tgt = {}, {}, {}
    # the same origins for every candidate: enough training runs for the largest law
    origin_w = origin_weights(groups, max(l.n_params for l in cands), max_origins, min_train_sizes)
    K = len(origin_w)
    if K == 0:
        sizes = int(groups.max()) + 1
        need = max(l.n_params for l in cands) + 2
        warnings.append(f"no rolling origin can be held out: the runs' model sizes form {sizes} "
                        f"group{'s' if sizes > 1 else ''} (sizes within {size_tol:g} decades of the next count as one, "
                        f"a group spans at most {GROUP_SPAN:g} decades), which leave fewer than "
                        f"{min_train_sizes} sizes, or too few runs (at least {need}, and 40% of them), to fit on once "
                        f"the largest is held out, so no law is chosen by extrapolation ({REFERENCE} answers when it "
                        "is a candidate, else equal weights) and the interval rests on the prior extrapolation scale "
                        "alone")
    W = np.vstack([np.ones((1, n)), origin_w])
    info = {"kind": ["full"] + ["origin"] * K, "variant": ["all runs"] + [f"origin {k + 1}" for k in range(K)]}
    variants = _variants._make(W, info)
    fit_names = ["the whole table's fit"] + [f"origin {k + 1}'s fit (the " + (f"{k + 1} largest sizes" if k else
                                             "largest size") + " held out)" for k in range(K)]
    def fit_law(law):
        """One candidate's fits (full table and origins, one `fit_many`) and predictions, or why it dropped."""
        t_law = time.perf_counter()
        try:
            df = fit_many(table, law, variants, starts=default_starts(law), seed=seed, progress=False)
        except Exception as err:  # a law that cannot be fitted here drops out, with the reason
            return f"law {law.name!r} dropped: {err}"
        P = {p: df[p].to_numpy()[:, None] for p in law.params}
        x = {c: np.concatenate([x_all[c], targets[c].to_numpy()])[None, :] for c in law.inputs}
        both = np.asarray(_predict(law, P, x), float)  # [variants, runs + targets], one compiled call
        pr, pt = both[:, :n], both[:, n:]
        why = unusable(law.name, pr, pt[0], fit_names)
        if why:
            return why
        return ({"law": law, "params": {p: float(df[p].iloc[0]) for p in law.params},
                 "objective": float(df["objective"].iloc[0]), "converged": bool(df["converged"].iloc[0]),
                 "seconds": time.perf_counter() - t_law}, pr, pt)

    # the candidates' programs run side by side (JAX releases the GIL while a program runs): on a 2-core
    # CPU six laws took 1.4 s instead of 2.3 s, the same fits; results are taken in the candidates' order
    with ThreadPoolExecutor(max_workers=max(1, min(len(cands), os.cpu_count() or 1))) as pool:
        futures = [pool.submit(float64(fit_law), law) for law in cands]
        _progress(futures, progress, f"forecast: fitting {len(cands)} laws x {1 + K} fits")
        outcomes = [f.result() for f in futures]
    dropped = []
    for law, out in zip(cands, outcomes):
        if isinstance(out, str):
            dropped.append(out)
            continue
        fits[law.name], preds_runs[law.name], preds_tgt[law.name] = out
    if not fits:
        raise RuntimeError("every candidate law failed to fit: " + "; ".join(dropped + warnings))
    warnings += dropped
    names = list(fits)
    target_x = {c: targets[c].to_numpy() for c in needed}
    details, origins = forecast_details(names, preds_runs, preds_tgt, origin_w, x_all, target_x, y,
                                        table.column(size_col))
    details["n_params"] = np.array([len(fits[nm]["law"].params) for nm in names], float)  # what each fit spent
    d_star = details["target_distance"]
    c = combine(details, ci, reference=REFERENCE, shrink=shrink, tau_prior=tau_prior, prior_weight=prior_weight)
    weights = dict(zip(names, c["weights"]))

    from scalelab.fit.identify import CARRIES, design_warnings, weighted_parameter_warnings

    told = [c for c in setting_columns(asked) if c not in needed]
    left_out += ([f"the targets give {', '.join(map(str, told))}, which no candidate law reads: ignored; a forecast is "
                  f"of the run a law describes (where the runs hold a sweep, the tuned one)"] if told else [])
    weighed = [fits[n]["law"] for n, w in weights.items() if w >= CARRIES]
    warnings = (design_warnings(table, needed, weighed) + left_out + asked.attrs["warnings"]
                + axis_warnings(table, asked, needed) + warnings
                + strayed_warning(c["strayed"], c["unsettled"], c["strayed_at"], len(d_star))
                + weighted_parameter_warnings(fits, weights))
    r_fit = c["weights"] @ details["residuals"]  # log prediction - log loss of every run, weighted
    off = np.abs(r_fit) > np.log(off_fit) if off_fit is not None else np.zeros(n, bool)
    if off.any() and off.sum() <= OFF_FIT_SHARE * n:  # gross outliers: the forecast again without them
        again = forecast(table.select(~off), at, laws, ci, size_tol=size_tol, max_origins=max_origins,
                         min_train_sizes=min_train_sizes, shrink=shrink, tau_prior=tau_prior, prior_weight=prior_weight,
                         seed=seed, progress=progress, off_fit=off_fit, sweeps=sweeps)
        said = left_out + off_fit_warning(table, off, r_fit, left=True)
        return dataclasses.replace(again, warnings=said + again.warnings, seconds=time.perf_counter() - t0)
    warnings += off_fit_warning(table, off, r_fit, left=False)
    far = np.flatnonzero(d_star > 1.0)
    if len(far):
        shown = ", ".join(map(str, far[:10])) + (", ..." if len(far) > 10 else "")
        warnings.append(f"targets [{shown}] ({len(far)} of {len(d_star)}) lie up to {d_star.max():.2f} decades outside "
                        f"the runs (beyond the largest or below the smallest N or D, or off their tokens per "
                        f"parameter; more than 1 decade): the interval's growth with distance is an extrapolation")
    reach = float(np.max(details["distance"])) if K else 0.0  # the farthest held-out run's distance (decades)
    if K == 1 and d_star.max() > reach + 0.1:
        warnings.append(f"the interval rests on one rolling origin, whose held-out runs lie up to {reach:.2f} decades "
                        f"outside its training runs, and the targets lie up to {d_star.max():.2f} decades out: one held-out "
                        f"size measured the error, and such intervals have been several times too narrow "
                        f"(benchmarks/RESULTS.md, twelfth session); add a model size to hold out")
    ignored = table.ignored(set(needed) | {"loss"})
    notes = (table.notes + ((f"columns not read by the candidate laws (left untouched): {ignored}",) if ignored else ())
             + tuple(shared_notes))
    notes += dropped_notes(table, asked, screened_out, idle, axes, cands, first)
    return Forecast(weights=weights, ci=float(ci), inputs=as_given, loss=c["loss"], lo=c["lo"], hi=c["hi"],
                    distance=d_star, scale=c["scale"], laws=fits, origins=origins, s0=c["s0"], tau=c["tau"], nu=c["nu"],
                    sigma=c["sigma"], form=c["form"], warnings=warnings,
                    method=method_text(c["rule"], names, c["weights"])
                    + (", near each target in tokens per parameter" if c["local"] else "")
                    + (" (run-to-run scatter: near it in model size)" if c["sized"] else ""),
                    seconds=time.perf_counter() - t0, notes=notes, details=details)


def off_fit_warning(table: _runs.RunTable, off: np.ndarray, residuals: np.ndarray, *, left: bool) -> list[str]:
    """The warning naming the runs ``off`` the weighted fit (``residuals``: log prediction - log loss per run), left out
    (``left``) or kept, or none: a run that diverged below 20 nats or a row of another ladder. The fits are robust to
    it, but held out with its size it counts as an extrapolation error and widens every interval."""
    if not off.any():
        return []
    worst = int(np.argmax(np.abs(residuals)))
    lo, hi = np.exp(np.min(np.abs(residuals[off]))), np.exp(abs(residuals[worst]))
    one = off.sum() == 1
    what = (f"the loss of {table.rows(table.df.index[off])} lies {hi:.3g}x" if one else
            f"the losses of {table.rows(table.df.index[off])} lie {lo:.3g}x to {hi:.3g}x")
    then = (f"{int(off.sum())} of {len(off)} runs left out, and the forecast made without "
            f"{'it' if one else 'them'} (--off-fit none, forecast(..., off_fit=None), keeps every run)" if left else
            "Held out with their size, such runs count as extrapolation errors and widen every interval; leave them "
            "out (--drop-highest-loss K drops the K highest losses)")
    return [f"{table.source}: {what} off the fit of the other runs ({'' if one else 'the farthest: '}loss "
            f"{table.column('loss')[worst]:.4g}): a run that diverged, or a row of another ladder? {then}"]


def method_text(rule: str, names: list, weights: np.ndarray) -> str:
    """How the forecast was weighed and its interval made (`Forecast.method`'s head): ``rule`` as `combine` returns
    it, the candidate ``names`` and their ``weights``."""
    tail = METHOD.split("; ")[1]
    if len(names) == 1:
        return f"single law ({names[0]}); {tail}"
    if rule == "none":  # no size could be held out: the reference law, else the agreeing candidates alike
        used = [nm for nm, w in zip(names, weights) if w > 0]
        who = used[0] if len(used) == 1 else f"equal weights over {', '.join(used)}"
        return (f"no size held out, so no choice by extrapolation: {who}; Student-t interval from the runs' scatter, "
                f"a prior on the error per decade and the laws' disagreement")
    return f"rolling-origin {SAID[rule]}; {tail}"


def _progress(futures, progress: bool | None, desc: str) -> None:
    """A bar over the candidate laws as their fits finish (`scalelab.progress`' convention: a cold first call
    compiles for tens of seconds)."""
    from concurrent.futures import as_completed

    if progress is False:
        return
    with bar(len(futures), desc, "law", progress) as shown:
        for _ in as_completed(futures):
            shown.update(1)


__all__ = ["forecast", "Forecast", "candidates", "answerable", "readable", "supported", "supported_note", "check_spread", "combine", "size_groups", "origin_weights", "stack_weights", "method_text",
           "pseudo_bma", "chosen_rule", "choose_weights", "honest_errors",
           "calibrate_scale", "extrapolation_distance", "t_quantile", "viable", "stable", "local_weights", "robust_scale",
           "run_scatter",
           "position", "consistent", "size_weights"]


make_callable(__name__)  # scalelab.forecast(...) calls forecast(...)
