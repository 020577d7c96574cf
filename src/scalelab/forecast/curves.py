"""Curve forecasts: the loss at every step of runs under schedules not seen in training.

`scalelab.forecast` sends a curve table (several ``run_id, step, lr, loss`` rows per run) with the
curve laws (``multipower``, ``lr_annealing``; ``"auto"`` = both) here. The principle is the
final-loss forecast's: weights and the interval come from held-out extrapolation, never from the
in-sample fit alone.

1. **Origins** (each one variant of a single `fit_many` call per law; run weights are 0 on the
   held-out rows):
   * *leave one schedule out* (3 or more training runs): fit on the other runs, predict the
     held-out run's whole curve. Its errors measure the transfer to an unseen schedule.
   * *truncated curves*: fit every run's rows up to ``f x`` the longest training step (``f`` in
     ``truncate``), predict the later rows. Their errors measure extrapolation in steps.
   Each held-out row gives a log-loss error ``e = log L_pred - log L`` at a distance ``d``: the
   decades of its step beyond the longest step of that origin's training rows (0 inside).
2. **Weights and interval**: the final-loss forecast's pure step `calibrate.combine` on those
   errors: stacking weights, or pseudo-BMA's where the origins' honest errors favour it (`weights.chosen_rule`;
   each origin counting equally; a law that extrapolated wildly takes none), and a Student-t interval on log loss
   with ``s(d)^2 = s0^2 + sigma^2 + tau^2 d^2 + f^2``:
   ``s0`` the weighted in-sample residual scale (the noise of one logged loss; `calibrate.run_scatter`), ``sigma``
   the error of an unseen schedule at seen steps, ``tau`` the error per decade of steps beyond the training
   curves (both fitted to the honest held-out errors, with the weak prior of the final-loss
   forecast), ``f`` the laws' disagreement at the target over the square root of the number of
   origins. With fewer than 3 training runs no schedule can be left out: a warning says so and
   ``sigma`` is floored at ``sigma_prior``. Training runs that are branches of one run (the same losses
   where their learning rates agree, `curve_data.shared_trunks`) are warned about: leaving one out keeps
   its trunk in the fit, so ``sigma`` misses the seed-to-seed spread of independent runs (on the
   authors' 400M split, 0.33% between two runs of one schedule: RESULTS.md, sixteenth session).

Rows whose loss is missing (NaN, non-positive or implausible) keep their ``lr`` in the schedule
and get weight 0 in every fit. A target table (``at``) holds whole schedules: ``run_id, step,
lr`` rows, each run's schedule read from its rows as in training (piecewise linear between rows,
linear warm-up from 0); its ``loss`` column is never read. A target run of one row, or whose first row lies far
past every training run's warm-up, is warned about (`curve_data.start_warnings`): the convention reads it as a
warm-up from 0 up to that row, which a run given by its last row is not. Units: loss in nats/token, steps in
optimizer steps, distances in decades (log10) of steps. The rows at the edge (missing losses,
thinning, target schedules, origins) are prepared in `scalelab.forecast.curve_data`.
"""

from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np

from scalelab import laws as _laws
from scalelab import runs as _runs
from scalelab.forecast.agreement import strayed_warning
from scalelab.forecast.calibrate import combine, t_quantile
from scalelab.forecast.result import Forecast
from scalelab.forecast.weights import SAID
from scalelab.forecast.curve_data import (curve_origins, fit_rows, schedules, start_warnings, target_is_schedule,
                                          targets, training_table, trunk_warnings, unseen_sizes)
from scalelab.laws.base import is_curve_law
from scalelab.labels import as_text
from scalelab.laws.curves import CURVE_INPUTS
from scalelab.laws.schedule import below_runs, decayed_to
from scalelab.programs import float64, per_law
from scalelab.levels import check_ci

METHOD = ("leave-one-schedule-out and truncated-curve origins, stacking; Student-t interval calibrated on "
          "held-out curve errors")  # (the weighting named as `weights.SAID` names the rule that answered)
ROW_BUDGET = 5e6  # variants x rows x knots evaluated at once when predicting rows (memory: ~40 MB per temporary)


@dataclasses.dataclass(frozen=True)
class CurveForecast(Forecast):
    """What a curve forecast returns: a `Forecast` whose ``inputs`` hold the targets' ``run_id, step, lr``
    in the given row order and whose ``distance`` is the decades of each target's step beyond the
    longest training step."""

    def target_inputs(self, i: int) -> dict:
        run_id = self.inputs["run_id"].iloc[i]  # by column: a row of mixed types would turn run_id 2 into 2.0
        run_id = run_id.item() if hasattr(run_id, "item") else run_id  # text or a number
        step = float(self.inputs["step"].iloc[i])
        return {"run_id": run_id, "step": int(step) if step.is_integer() else step, "lr": float(self.inputs["lr"].iloc[i])}


# -- which path ----------------------------------------------------------------------------------

def _names(laws) -> list:
    if isinstance(laws, str):
        return [s.strip() for s in laws.split(",") if s.strip()]
    return list(laws)


def is_curve_request(table: _runs.RunTable, laws="auto", at=None) -> bool:
    """True when ``laws`` are all curve laws, or ``"auto"`` on a curve table with an ``lr`` column
    (and, when the targets ``at`` are given, targets that are schedules: ``step`` and ``lr`` rows;
    targets of N, D ask for final losses, which the final-loss laws forecast from ``table.final()``).

    Mixing curve and final-loss laws in one forecast is refused (they answer different questions).
    """
    if laws == "auto" or laws is None:
        return table.is_curve and "lr" in table.columns and (at is None or target_is_schedule(at))
    kinds = {is_curve_law(_laws.get(n)) for n in _names(laws)}
    if kinds == {True, False}:
        raise ValueError(f"laws {laws!r} mix curve laws with final-loss laws; forecast whole curves with the curve "
                         f"laws alone, or final losses (table.final()) with the others")
    return kinds == {True}


def curve_candidates(laws="auto") -> list:
    """The curve Laws: ``"auto"`` = every registered curve law, else the named ones."""
    if laws == "auto" or laws is None:
        return [lw for lw in _laws.all_laws() if is_curve_law(lw)]
    return [_laws.get(n) for n in _names(laws)]


def _starts(fit_table, law, w, seed: int, n_jitter: int = 1) -> np.ndarray:
    """The law's start grid fitted once to every fitted row, plus ``n_jitter`` perturbed copies:
    the starts of every origin's refit (as `fit_many`'s ``"auto"``, with the rows' weights)."""
    from scalelab.fit.api import fit

    base = fit(fit_table, law, weights=w, starts="grid", seed=seed)
    theta = np.asarray(law.flatten({k: jnp.asarray(v) for k, v in base.unconstrained.items()}), float)
    width = np.array([law.start_ranges[u][1] - law.start_ranges[u][0] for u in law.unconstrained_names])
    jitter = theta + 0.05 * width * np.random.default_rng(seed).standard_normal((n_jitter, theta.size))
    return np.vstack([theta[None], jitter])


@per_law
def _variants_program(law):
    return jax.jit(jax.vmap(law.predict, in_axes=(0, None)))


def predict_rows(law, params: dict, x: dict) -> np.ndarray:
    """``[V, n]`` predictions of ``V`` parameter sets (natural, arrays ``[V]``) at ``n`` prepared rows."""
    program = _variants_program(law)
    V = len(next(iter(params.values())))
    n, K = x["knot_step"].shape
    chunk = max(64, int(ROW_BUDGET // max(1, V * K)))
    p = {k: jnp.asarray(np.asarray(v, float)) for k, v in params.items()}
    out = [np.asarray(program(p, {k: jnp.asarray(v[i:i + chunk]) for k, v in x.items()}))
           for i in range(0, n, chunk)]  # row chunks bound memory
    return np.concatenate(out, axis=1).astype(float)


def _distance(step, horizon) -> np.ndarray:
    return np.maximum(0.0, np.log10(np.maximum(np.asarray(step, float), 1.0) / max(horizon, 1.0)))


# -- the forecast ------------------------------------------------------------------------------------

@float64
def forecast_curves(runs, at, laws="auto", ci: float = 0.9, *, truncate=(0.5,), max_runs: int = 12,
                    max_rows: int = 160, shrink: float = 0.0, tau_prior: float = 0.01, prior_weight: float = 1.0,
                    sigma_prior: float = 0.01, seed: int = 0, progress: bool | None = None) -> CurveForecast:
    """Forecast the loss at every row of unseen schedules ``at`` from the curve table ``runs``.

    Args:
      runs: path, DataFrame or `RunTable`: a curve table of ``run_id, step, lr, loss`` rows (other
        columns are carried untouched; rows with a missing loss keep their schedule, unfitted).
      at: path, DataFrame or dict of ``run_id, step, lr`` rows: whole target schedules (every row
        of each target run up to the steps asked). A ``loss`` column is never read.
      laws: ``"auto"`` (every curve law, weighted by held-out error), a curve law's name, or a list.
      ci: central probability of the intervals.
      truncate: fractions of the longest training step at which the truncated origins cut the curves.
      max_runs: at most this many leave-one-schedule-out origins.
      max_rows: the laws are fitted on about this many rows (`fit_rows`); errors use every row.
      shrink, tau_prior, prior_weight: as in `scalelab.forecast.forecast`.
      sigma_prior: floor of the schedule-transfer scale when no schedule can be left out (< 3 runs).

    Returns:
      `CurveForecast`, one prediction per row of ``at`` in its order.
    """
    from scalelab.fit import variants as _variants
    from scalelab.fit.identify import curve_warnings
    from scalelab.fit.many import fit_many

    t0 = time.perf_counter()
    ci = check_ci(ci)
    table = _runs.read(runs)
    cands = curve_candidates(laws)
    bad = [lw.name for lw in cands if not is_curve_law(lw)]
    if bad:
        raise ValueError(f"laws {bad} are not curve laws; a curve forecast uses "
                         f"{[lw.name for lw in curve_candidates()]}")
    tg = targets(at)
    unseen = unseen_sizes(tg, table)
    if unseen:
        raise _runs.RunTableError(unseen)
    sched, where = schedules(tg)
    table, w, warnings = training_table(table)
    df = table.df
    notes = ()
    run = as_text(df["run_id"]).to_numpy()
    step = df["step"].to_numpy(float)
    logy = np.log(df["loss"].to_numpy(float))
    valid = w > 0
    n_runs = len(set(run[valid]))
    W, info = curve_origins(run, step, w, max(lw.n_params for lw in cands), max_runs, truncate)
    K = len(W)
    if n_runs < 3:
        warnings.append(f"{n_runs} training run(s): no schedule can be left out, so the error of an unseen schedule "
                        f"is not measured; its scale is floored at {sigma_prior:g} (log loss)")
    if K == 0:
        warnings.append("no origin could be held out: the law weights are equal and the interval rests on the priors")
    keep = fit_rows(df, w, max_rows)
    fit_table = dataclasses.replace(table, df=df[keep])
    if not keep.all():
        notes = (f"laws fitted on {int(keep.sum())} of {len(df)} rows (every run's rows thinned, schedule kinks "
                 f"kept); every row counts in the held-out errors",)
    variants = _variants._make(np.vstack([w[None], W])[:, keep],
                               {"kind": ["full"] + [o["kind"] for o in info],
                                "variant": ["all rows"] + [o["held_out"] for o in info]})

    fits, pred_rows, pred_tgt = {}, {}, {}
    for law in cands:  # two laws at most: one compiled fit_many each (all origins are variants)
        t_law = time.perf_counter()
        try:
            starts = _starts(fit_table, law, w[keep], seed)
            out = fit_many(fit_table, law, variants, starts=starts, seed=seed, progress=progress)
        except Exception as err:  # a law that cannot be fitted here drops out, with the reason
            warnings.append(f"law {law.name!r} dropped: {err}")
            continue
        P = {p: out[p].to_numpy() for p in law.params}
        with np.errstate(all="ignore"):
            pr = predict_rows(law, P, law.prepare(df, np.float64))
            pt = predict_rows(law, {k: v[:1] for k, v in P.items()}, law.prepare(sched, np.float64))[0]
        if not (np.all(np.isfinite(pr[:, valid])) and np.all(pr[:, valid] > 0)):
            warnings.append(f"law {law.name!r} dropped: non-finite or non-positive predictions on the training rows")
            continue
        fits[law.name] = {"law": law, "params": {p: float(out[p].iloc[0]) for p in law.params},
                          "objective": float(out["objective"].iloc[0]), "converged": bool(out["converged"].iloc[0]),
                          "seconds": time.perf_counter() - t_law}
        pred_rows[law.name], pred_tgt[law.name] = pr, pt
    if not fits:
        raise RuntimeError("every curve law failed to fit: " + "; ".join(warnings))
    bad_at = {nm: ~(np.isfinite(pt) & (pt > 0)) for nm, pt in pred_tgt.items()}
    nowhere = np.logical_and.reduce(list(bad_at.values()))  # rows no law can forecast (step 0 with lr 0)
    for nm in [nm for nm in fits if (bad_at[nm] & ~nowhere).any()][: len(fits) - 1]:
        warnings.append(f"law {nm!r} dropped: non-finite or non-positive forecasts at targets another law forecasts")
        del fits[nm]
    names = list(fits)

    e_list, d_list, o_list, origins = [], [], [], []
    for k, o in enumerate(info):
        held = o["held"]
        e = np.stack([np.log(pred_rows[nm][k + 1][held]) - logy[held] for nm in names])
        ok = np.all(np.isfinite(e), axis=0)
        e_list.append(e[:, ok])
        d_list.append(_distance(step[held][ok], o["horizon"]))
        o_list.append(np.full(ok.sum(), k))
        origins.append({"kind": o["kind"], "held_out": o["held_out"], "rows": int(held.sum()),
                        "are": {nm: float(np.mean(np.abs(np.expm1(e[i, ok])))) for i, nm in enumerate(names)}})
    E = np.concatenate(e_list, axis=1) if K else np.zeros((len(names), 0))
    dist = np.concatenate(d_list) if K else np.zeros(0)
    orig = np.concatenate(o_list) if K else np.zeros(0, int)
    horizon = float(step[valid].max())
    d_star = _distance(tg["step"].to_numpy(), horizon)
    with np.errstate(all="ignore"):
        log_t = np.stack([np.log(np.where(pred_tgt[nm] > 0, pred_tgt[nm], np.nan))[where] for nm in names])
    details = {"names": names, "errors": E, "distance": dist, "origin": orig, "log_targets": log_t,
               "residuals": np.stack([np.log(pred_rows[nm][0][valid]) for nm in names]) - logy[valid],
               "target_distance": d_star, "n_params": np.array([len(fits[nm]["law"].params) for nm in names], float)}
    # the final-loss forecast's pure step from held-out errors to weights and interval (equal weights
    # when nothing could be held out)
    c = combine(details, ci, reference=None, shrink=shrink, tau_prior=tau_prior, prior_weight=prior_weight)
    scale, sigma = c["scale"], c["sigma"]
    if n_runs < 3:  # no schedule left out: the transfer scale is at least the prior's
        up = np.maximum(sigma, sigma_prior)
        scale, sigma = np.sqrt(scale ** 2 + up ** 2 - sigma ** 2), up
    q = t_quantile(0.5 + ci / 2.0, c["nu"])
    log_pt = np.log(c["loss"])
    weights = dict(zip(names, c["weights"]))
    from scalelab.fit.identify import weighted_parameter_warnings

    warnings += (strayed_warning(c["strayed"], (), c["strayed_at"], len(d_star))
                 + weighted_parameter_warnings(fits, weights))
    if not np.all(np.isfinite(log_pt)):
        warnings.append(f"target rows {np.flatnonzero(~np.isfinite(log_pt))[:10].tolist()} have no finite forecast "
                        f"(no summed learning rate yet, e.g. step 0 with lr 0)")
    if d_star.max() > 1.0:
        warnings.append(f"targets reach {d_star.max():.2f} decades of steps beyond the longest training curve "
                        f"(more than 1 decade): the interval's growth with distance is an extrapolation")
    lr_top = float(df["lr"].to_numpy(float).max())
    if tg["lr"].max() > 1.05 * lr_top:
        warnings.append(f"target learning rates reach {tg['lr'].max():.3g}, above the training runs' largest "
                        f"({lr_top:.3g}): the laws were not fitted there")
    warnings += start_warnings(tg, df)  # a target given by its last row is a warm-up over the whole run
    warnings += [f"{w}, and the held-out schedules did not measure that error"
                 for w in below_runs("target schedules decay", decayed_to(tg), decayed_to(df))]
    warnings += curve_warnings(table)  # several sizes pooled; no run whose lr decays
    if n_runs >= 3:  # schedules were left out: say when some of them are branches of one run
        warnings += trunk_warnings(df, w)
    ignored = table.ignored(set(CURVE_INPUTS) | {"loss"})
    notes = table.notes + notes + ((f"columns not read by the curve laws (left untouched): {ignored}",) if ignored else ())
    head, tail = METHOD.split(", stacking; ")
    method = (f"{head}, {SAID.get(c['rule'], 'stacking')}; {tail}" if len(names) > 1 else
              f"single law ({names[0]}); {tail}")
    return CurveForecast(weights=weights, ci=float(ci), inputs=tg, loss=c["loss"], lo=np.exp(log_pt - q * scale),
                         hi=np.exp(log_pt + q * scale), distance=d_star, scale=scale, laws=fits, origins=origins,
                         s0=c["s0"], tau=c["tau"], nu=c["nu"], sigma=sigma, form=c["form"], warnings=warnings,
                         method=method,
                         seconds=time.perf_counter() - t0, notes=notes, details=details)


__all__ = ["forecast_curves", "CurveForecast", "is_curve_request", "curve_candidates", "curve_origins",
           "training_table", "targets", "predict_rows"]
