"""Learning-rate schedules optimised by gradient through a fitted curve law (Luo et al. 2025, section 5).

The schedule after warm-up is parameterised so that every constraint holds by construction:
with knots ``k = 0..M`` evenly spaced from the end of warm-up to the last step,

    eta_k = min_lr + (peak_lr - min_lr) * exp(-sum_{j<=k} softplus(z_j)),   z_0 = -inf

so ``eta_0 = peak_lr``, the schedule never increases, and it stays above ``min_lr``. The warm-up
is linear from 0 at step 0 to ``peak_lr`` at step ``warmup`` (the curve-table convention). Adam
(optax) minimises the law's predicted loss at the last step over ``z`` from three starts (the
cosine baseline, the WSD baseline, and WSD with a 50 % decay), vmapped in one compiled
``lax.scan``; the best iterate of the best start is kept.

The baselines obey the same constraints (warm-up, peak, ``min_lr``): cosine and WSD decay to
``max(min_lr, baseline_final * peak_lr)``. Every baseline is a feasible schedule, so the result is
never predicted worse than the best of them: where the optimised schedule is predicted worse (the
parameterisation cannot be exactly constant, and Adam may stop short), the best baseline is
returned instead, with a note.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pandas as pd

from scalelab.laws import schedule as _schedule
from scalelab.laws.base import is_curve_law
from scalelab.curves.predict import law_and_params
from scalelab.programs import float64


@dataclasses.dataclass(frozen=True)
class ScheduleResult:
    """An optimised schedule and what the fitted law predicts for it and its baselines.

    Attributes:
      law: the `Law` used; params: its natural parameters.
      steps, warmup, peak_lr, min_lr: the problem (steps = updates; lr per update).
      lrs: float64 ``[steps + 1]``, the learning rate at steps 0..steps (``lrs[0] = 0`` with warm-up).
      predicted: predicted final loss (nats/token) of ``optimised`` (the returned ``lrs``),
        ``cosine`` and ``wsd`` (both from ``peak_lr`` to ``baseline_final_lr``, WSD decaying
        linearly over the last ``wsd_decay`` of steps), and ``constant``.
      gain_vs_cosine, gain_vs_wsd: predicted loss reduction (baseline - optimised), nats/token.
      iterations: Adam iterations run.
      baseline_final_lr: where cosine and WSD end, ``max(min_lr, baseline_final * peak_lr)``.
      baselines: per-step lrs ``[steps + 1]`` of ``cosine``, ``wsd`` and ``constant``.
      source: ``"optimised"``, or the baseline returned because the optimised schedule was worse.
      notes: sentences for the user (a raised baseline end, a baseline returned, a schedule beyond the fitted
        runs' steps or peak lr).
      warnings: what the fit cannot vouch for: the schedule decays below the lowest lr any fitted run reached
        after its peak (``span["lowest_lr"]``), where the law's annealing term is extrapolated.
    """

    law: object
    params: dict
    steps: int
    warmup: int
    peak_lr: float
    min_lr: float
    lrs: np.ndarray
    predicted: dict
    gain_vs_cosine: float
    gain_vs_wsd: float
    iterations: int
    baseline_final_lr: float = 0.0
    baselines: dict = dataclasses.field(default_factory=dict)
    source: str = "optimised"
    notes: tuple = ()
    warnings: tuple = ()

    def table(self, every: int = 1, tol: float = 1e-4) -> pd.DataFrame:
        """The schedule as ``step, lr`` rows (every ``every`` steps and the last; step 0 omitted
        when its lr is 0): a schedule CSV for ``scalelab proxy`` and `predict_table`.

        The rows where the schedule bends (the end of warm-up, the start and end of the decay) are
        kept too, so the table read back (piecewise linear between rows) is within ``tol *
        peak_lr`` of ``lrs`` at every step: it is the schedule whose loss was predicted.
        """
        return _schedule.schedule_table(self.lrs, every, tol=tol)[["step", "lr"]]

    def to_json(self) -> dict:
        return {"law": self.law.name, "params": dict(self.params), "steps": self.steps, "warmup": self.warmup,
                "peak_lr": self.peak_lr, "min_lr": self.min_lr, "predicted": dict(self.predicted),
                "gain_vs_cosine": self.gain_vs_cosine, "gain_vs_wsd": self.gain_vs_wsd,
                "iterations": self.iterations, "baseline_final_lr": self.baseline_final_lr,
                "source": self.source, "notes": list(self.notes), "warnings": list(self.warnings)}


def _knot_inputs(steps: int, warmup: int, knot_steps: np.ndarray, knot_lrs):
    """Law inputs for the final step of one schedule given by knots after warm-up."""
    head_s = np.array([0.0, float(warmup)]) if warmup > 0 else np.zeros(0)
    ks = jnp.concatenate([jnp.asarray(head_s), jnp.asarray(knot_steps, jnp.float64)])
    head_l = jnp.zeros(2).at[1].set(knot_lrs[0]) if warmup > 0 else jnp.zeros(0)
    kl = jnp.concatenate([head_l, knot_lrs])
    return {"t": jnp.asarray([float(steps)]), "knot_step": ks[None, :], "knot_lr": kl[None, :]}


def final_loss(fit, lrs, max_knots: int = 8192) -> float:
    """The fitted law's predicted loss at the last step of a per-step schedule ``lrs[0..T]``.

    The schedule's knots are its steps (at most ``max_knots``, evenly spaced, linear between).
    """
    law, params = law_and_params(fit)
    lrs = np.asarray(lrs, float)
    T = len(lrs) - 1
    ks = np.unique(np.round(np.linspace(0, T, min(T + 1, max_knots)))).astype(float)
    x = {"t": jnp.asarray([float(T)]), "knot_step": jnp.asarray(ks)[None], "knot_lr": jnp.asarray(lrs[ks.astype(int)])[None]}
    with jax.enable_x64(True):
        return float(law.predict({k: jnp.asarray(v, jnp.float64) for k, v in params.items()}, x)[0])


def _span(fit) -> dict | None:
    return fit.get("span") if isinstance(fit, Mapping) else getattr(fit, "span", None)


def below_fitted(fit, lrs: np.ndarray) -> list[str]:
    """The warning for a per-step schedule ``lrs`` that decays below half the lowest learning rate any fitted run
    reached after its peak (``span["lowest_lr"]`` of the fit; `scalelab.laws.schedule.below_runs`, the wording of
    the forecast's), or none (none either for a fit saved before it recorded that)."""
    floor = (_span(fit) or {}).get("lowest_lr")
    lrs = np.asarray(lrs, float)
    lowest = float(lrs[int(np.argmax(lrs)):].min())  # `decayed_to` of this one schedule: its lowest lr from its peak on
    return [f"{w}; its predicted losses rest on that (give --min-lr {floor:.3g}, or min_lr={floor:.3g} in "
            f"Python, to keep the schedule where the fit was measured)"
            for w in _schedule.below_runs("the schedule decays", lowest, floor)]


def beyond_span(fit, steps: int, peak_lr: float) -> list[str]:
    """Notes for a schedule outside the fitted runs' reach (``span`` of the fit, `scalelab.fit.api.curve_span`):
    longer or shorter than every fitted run, or a peak learning rate above theirs. The predictions there extrapolate the
    law. None said when the fit does not record its reach (a fit saved before it did)."""
    span = _span(fit)
    if not span:
        return []
    (shortest, longest), lr = span["steps"], span["peak_lr"]
    out = []
    if steps > longest or steps < shortest:
        out.append(f"{steps} steps lie outside the fitted runs' {shortest:.0f}-{longest:.0f}: the predicted losses "
                   f"extrapolate the law ({steps / (longest if steps > longest else shortest):.3g}x)")
    if peak_lr > lr * (1.0 + 1e-9):
        out.append(f"peak_lr {peak_lr:g} is above every fitted run's learning rate (at most {lr:g}; {peak_lr / lr:.3g}x): "
                   f"the predicted losses extrapolate the law")
    return out


@float64
def optimize_schedule(fit, steps: int, peak_lr: float, warmup: int = 0, *, min_lr: float = 0.0,
                      knots: int = 512, iterations: int = 3000, learning_rate: float = 0.05,
                      baseline_final: float = 0.1, wsd_decay: float = 0.2) -> ScheduleResult:
    """Schedule minimising the fitted law's predicted final loss, non-increasing after warm-up.

    Args:
      fit: a fitted curve law (`FitResult`, or ``{"law", "params"}``), e.g. ``multipower``.
      steps: total updates T; the loss is predicted at step T.
      peak_lr: the learning rate at the end of warm-up (the schedule's maximum).
      warmup: linear warm-up steps from lr 0 at step 0 (0: start at ``peak_lr``).
      min_lr: the schedule stays above this learning rate (default 0: the law's own optimum, which often decays
        further than any fitted run did; `ScheduleResult.warnings` says so, naming the fitted runs' lowest lr
        after their peak, the value to give here to stay where the law was fitted).
      knots: schedule knots after warm-up (at most one per step; linear in between).
      iterations, learning_rate: Adam on the decrement parameters ``z``.
      baseline_final, wsd_decay: the cosine and WSD baselines end at ``max(min_lr,
        baseline_final * peak_lr)``; WSD decays linearly over the last ``wsd_decay`` of the steps.

    Returns:
      `ScheduleResult` (per-step ``lrs``, predicted final losses, gains over cosine and WSD). Its
      ``lrs`` are the optimised schedule, or the best baseline where that is predicted lower.
    """
    law, params = law_and_params(fit)
    if not is_curve_law(law):
        raise ValueError(f"law {law.name!r} is not a curve law (the schedule does not enter it)")
    steps, warmup = int(steps), int(warmup)
    if not (0 <= warmup < steps):
        raise ValueError(f"need 0 <= warmup < steps; got warmup={warmup}, steps={steps}")
    if not (peak_lr > 0 and 0 <= min_lr < peak_lr):
        raise ValueError(f"need peak_lr > 0 and 0 <= min_lr < peak_lr; got peak_lr={peak_lr}, min_lr={min_lr}")
    M = int(min(knots, steps - warmup))
    knot_steps = np.linspace(warmup, steps, M + 1)
    span = peak_lr - min_lr

    # Baselines under the optimised schedule's constraints: a baseline ending below min_lr is another
    # problem, and made the optimiser look worse than WSD (trial 5, --min-lr 1e-4: gain -0.02).
    end = max(float(min_lr), baseline_final * peak_lr)
    cos = _schedule.cosine(steps, peak_lr, warmup, final_lr=end)
    wsd = _schedule.wsd(steps, peak_lr, warmup, decay_frac=wsd_decay, final_lr=end)
    wsd_long = _schedule.wsd(steps, peak_lr, warmup, decay_frac=0.5, final_lr=max(float(min_lr), 0.5 * end))

    def z_from(lrs):  # softplus^-1 of a schedule's log-decrements between knots
        frac = np.clip((np.interp(knot_steps, np.arange(steps + 1), lrs) - min_lr) / span, 1e-4, 1.0)
        return np.log(np.expm1(np.maximum(np.diff(-np.log(frac)), 1e-3)))

    z0 = np.stack([z_from(cos), z_from(wsd), z_from(wsd_long)])  # three starts, one vmapped program

    def lrs_of(z):
        logf = -jnp.concatenate([jnp.zeros(1), jnp.cumsum(jax.nn.softplus(z))])
        return min_lr + span * jnp.exp(logf)

    p = {k: jnp.asarray(v, jnp.float64) for k, v in params.items()}

    def objective(z):
        return law.predict(p, _knot_inputs(steps, warmup, knot_steps, lrs_of(z)))[0]

    tx = optax.adam(learning_rate)

    @jax.jit
    @jax.vmap
    def run(z):
        def body(carry, _):
            z, state, best_z, best_f = carry
            f, g = jax.value_and_grad(objective)(z)
            better = f < best_f
            best_z = jnp.where(better, z, best_z)
            best_f = jnp.where(better, f, best_f)
            upd, state = tx.update(g, state, z)
            return (optax.apply_updates(z, upd), state, best_z, best_f), f

        init = (z, tx.init(z), z, jnp.asarray(jnp.inf, z.dtype))
        (z, _, best_z, best_f), _ = jax.lax.scan(body, init, None, length=iterations)
        f = objective(z)
        better = f < best_f
        return jnp.where(better, z, best_z), jnp.where(better, f, best_f)

    with jax.enable_x64(True):
        zs, fs = run(jnp.asarray(z0, jnp.float64))
        knot_lrs = np.asarray(lrs_of(zs[int(jnp.argmin(fs))]), float)
    head_s, head_l = ([0.0], [0.0]) if warmup > 0 else ([], [])
    lrs = np.interp(np.arange(steps + 1, dtype=float), np.concatenate([head_s, knot_steps]),
                    np.concatenate([head_l, knot_lrs]))
    baselines = {"cosine": cos, "wsd": wsd, "constant": _schedule.constant(steps, peak_lr, warmup)}
    fitted = {"law": law, "params": params}
    predicted = {name: final_loss(fitted, s) for name, s in (("optimised", lrs), *baselines.items())}
    notes = []
    if end > baseline_final * peak_lr * (1.0 + 1e-9):  # the same rate up to rounding: nothing to say
        notes.append(f"the cosine and WSD baselines decay to min_lr={end:g} (not {baseline_final:g} x peak_lr = "
                     f"{baseline_final * peak_lr:g}), the bound the optimised schedule obeys")
    notes += beyond_span(fit, steps, peak_lr)
    best = min(baselines, key=lambda k: predicted[k])
    source = "optimised"
    if predicted[best] < predicted["optimised"]:
        notes.append(f"the optimised schedule (predicted {predicted['optimised']:.6f}) was worse than the "
                     f"{best} baseline ({predicted[best]:.6f}); the {best} schedule is returned")
        source, lrs, predicted["optimised"] = best, baselines[best], predicted[best]
    return ScheduleResult(law, params, steps, warmup, float(peak_lr), float(min_lr), lrs, predicted,
                          predicted["cosine"] - predicted["optimised"], predicted["wsd"] - predicted["optimised"],
                          int(iterations), end, baselines, source, tuple(notes), tuple(below_fitted(fit, lrs)))
