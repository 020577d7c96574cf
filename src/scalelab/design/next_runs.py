"""Which runs to train next (`suggest`): the runs, within a FLOP budget, that most narrow a forecast.

A Laplace/Fisher approximation of the target's predictive variance after adding ``k`` runs
within a FLOP budget, minimised greedily over a candidate pool or by gradient in the runs'
sizes and tokens per parameter. Targets as in `scalelab.design.targets`.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from scalelab import laws as _laws
from scalelab.bayes.laplace import laplace_core
from scalelab.design.select import (MIN_SEPARATION, _greedy, gradient_design,
                                    separation, sequential_variance)
from scalelab.design.targets import Target, parse_target, reach_warnings, target_fn
from scalelab.fit.api import fit as _fit, fixed_vectors
from scalelab.fit.identify import design_warnings
from scalelab.fit.objectives import residual_scale
from scalelab.fit.problem import prepare
from scalelab.forecast.target_table import target_frame, target_inputs
from scalelab.programs import float64, per_law
from scalelab.runs.columns import RANGES, RunTableError

SPEND_FLOOR = 0.9  # below this fraction of the budget (or with fewer than k runs), `suggest` says why in its warnings


def flops(N, D):
    """Training FLOPs of a dense run, ``C = 6 N D`` (N total parameters, D tokens; Kaplan et al. 2020)."""
    return 6.0 * N * D


@dataclasses.dataclass(frozen=True)
class Suggestion:
    """What `suggest` returns.

    Units: FLOPs ``C`` (``6 N D`` unless a ``cost`` was given), ``N`` total
    parameters, ``D`` tokens, the target in its own unit (``loss``: nats/token).

    Attributes:
      law: the `Law` the forecast comes from (``str(law)`` is its name; an unregistered Law works too).
      target, value: the target and its value at the fit.
      sd_before: Laplace (Gauss-Newton) standard deviation of the target now.
      sd_after: the same after adding all the chosen runs.
      sigma: log-loss noise scale of the fit's own objective (`laplace_state`; Huber: LAD's ``1 / (2 f(0))``).
      budget, spent: FLOPs allowed and used by the chosen runs.
      runs: DataFrame, one row per chosen run, largest first: ``N``, ``D``, ``C``,
        ``tokens_per_param``, ``sd_after`` (target sd once this and the rows above are
        added), ``reduction`` (target variance removed by this run given the rows
        above) and ``reduction_per_flop`` (``reduction / C``).
      method: ``"greedy"`` or ``"gradient"``.
      sd_greedy: ``sd_after`` of the greedy pick (the gradient mode's start).
      seconds: wall time of the choice (the fit excluded).
      warnings: the fit's (`scalelab.fit.identify`; the design's alone with a ``posterior``), and chosen runs
        more than a decade outside the runs' model sizes (their variance there is an extrapolation of the law).
    """

    law: _laws.Law
    target: str
    value: float
    sd_before: float
    sd_after: float
    sigma: float
    budget: float
    spent: float
    runs: pd.DataFrame
    method: str = "greedy"
    sd_greedy: float | None = None
    seconds: float = 0.0
    warnings: tuple = ()

    def to_json(self) -> dict:
        """The stable object of ``scalelab suggest --json`` (fields are only ever added)."""
        return {"law": self.law.name, "target": self.target, "value": float(self.value),
                "sd_before": float(self.sd_before), "sd_after": float(self.sd_after), "sigma": float(self.sigma),
                "budget": float(self.budget), "spent": float(self.spent),
                "runs": [{k: float(v) for k, v in row.items()} for row in self.runs.to_dict("records")],
                "method": self.method,
                "sd_greedy": None if self.sd_greedy is None else float(self.sd_greedy),
                "warnings": list(self.warnings)}


def candidate_pool(budget: float, n_compute: int = 13, n_ratio: int = 13, min_fraction: float = 1e-4,
                   tokens_per_param=(1.0, 1000.0)) -> pd.DataFrame:
    """Log-spaced isoFLOP candidates: ``n_compute`` budgets from ``min_fraction * budget`` to ``budget``
    FLOPs, each at ``n_ratio`` log-spaced tokens per parameter (``N = sqrt(C / 6r)``, ``D = C / 6N``)."""
    if not (np.isfinite(budget) and budget > 0):
        raise ValueError(f"budget must be a positive number of FLOPs, got {budget}")
    C = np.repeat(np.geomspace(min_fraction * budget, budget, n_compute), n_ratio)
    r = np.tile(np.geomspace(*tokens_per_param, n_ratio), n_compute)
    N = np.sqrt(C / (6.0 * r))
    return pd.DataFrame({"N": N, "D": C / (6.0 * N), "C": C, "tokens_per_param": r})


def plausible(N, D):
    """Which runs lie in the plausible ranges of a language-model run (`scalelab.runs.columns.RANGES`: N and D in
    [1e3, 1e16]), the ranges `read` and `predict` hold runs to: `suggest` proposes no run they would refuse."""
    (n_lo, n_hi), (d_lo, d_hi) = RANGES["N"], RANGES["D"]
    N, D = np.asarray(N, float), np.asarray(D, float)
    return (N >= n_lo) & (N <= n_hi) & (D >= d_lo) & (D <= d_hi)


def read_candidates(candidates) -> pd.DataFrame:
    """``candidates`` (DataFrame, dict of columns, list of dicts or path) as `forecast` reads its targets
    (`target_frame`: run-table aliases such as ``params``/``tokens``, ``D = C / 6N``, ``C = 6 N D``), with N and D
    numbers > 0 in the plausible ranges (`target_inputs`). Returns columns ``N``, ``D``, ``C`` (``C`` as given, else
    ``6 N D``); ``attrs["warnings"]``: a given ``C`` far from ``6 N D``. Raises `RunTableError` naming the fix."""
    frame = target_frame(candidates, "candidates")
    if not {"N", "D"} <= set(frame.columns):
        raise RunTableError(f"candidates need columns N (parameters) and D (tokens), or N and C (D = C / 6N); "
                            f"got columns {list(frame.columns)}")
    out = target_inputs(frame, ("N", "D"), "candidates").reset_index(drop=True)
    out["C"] = frame["C"].to_numpy(float) if "C" in frame.columns else 6.0 * out["N"] * out["D"]
    out.attrs["warnings"] = list(frame.attrs.get("warnings", []))
    return out


def _law_of(law, fit, posterior):
    """The law `suggest` forecasts with: ``law`` when given, else that of ``fit`` or ``posterior``, else
    chinchilla; a fit or posterior of another law than the one given is refused."""
    for name, given in (("fit", fit), ("posterior", posterior)):
        if given is None:
            continue
        own = getattr(given, "law", None)
        if not isinstance(own, _laws.Law):
            raise TypeError(f"{name} must be a scalelab {'FitResult' if name == 'fit' else 'Posterior'} (from "
                            f"scalelab.{name if name == 'fit' else 'bayes.sample'}), got a {type(given).__name__}")
        if law is None:
            law = own
        elif _laws.get(law).name != own.name:
            raise ValueError(f"{name} is of law {own.name!r}, not of the law given, {_laws.get(law).name!r}: pass "
                             f"law={own.name!r} (or leave law out: suggest takes the {name}'s), or a {name} of "
                             f"{_laws.get(law).name!r}")
    return _laws.get("chinchilla" if law is None else law)


def check_covariance(Sigma: np.ndarray, g: np.ndarray, law, fit=None) -> None:
    """A ValueError when ``g' Sigma g`` cannot be read from the parameters' covariance: not positive semi-definite,
    not positive, or ``g`` along a direction of variance over 1e13 times the best determined one's (a singular
    information's inverse is round-off there, its sign set by the noise scale), as when every run shares one N; not
    for a parameter at its bound (E -> 0) that the target does not depend on (its direction is orthogonal to g)."""
    S = np.asarray(Sigma, float)
    finite = bool(np.all(np.isfinite(S)))
    free = np.diag(S) != 0 if finite else np.zeros(len(S), bool)  # fixed parameters: zero rows and columns
    ev, V = np.linalg.eigh(0.5 * (S + S.T)[np.ix_(free, free)]) if free.any() else (np.zeros(1), np.eye(1))
    var, gf = (float(g @ S @ g) if finite else np.nan), (np.asarray(g, float)[free] if free.any() else np.zeros(1))
    weak = ev > 1e13 * max(ev[0], 1e-300)  # numerically infinite variance: no digit of it right
    along = np.abs(gf @ V[:, weak]) > 1e-8 * np.linalg.norm(gf) if weak.any() else np.zeros(0, bool)
    if finite and ev[0] >= -1e-9 * max(ev[-1], 0.0) and var > 0 and not along.any():
        return
    said = "; ".join(fit.warnings) if fit is not None and fit.warnings else ""
    raise ValueError(f"the {law.name} fit's Laplace covariance is singular (the target's variance is {var:.3g}): the "
                     f"runs do not determine the parameters the target depends on, so no new run can be ranked by how "
                     f"much it narrows it" + (f". The fit says: {said}" if said else "") + ". Add runs that vary what "
                     f"the warnings name, or hold the undetermined parameters fixed (fixed=..., --fix NAME=VALUE)")


@float64
def laplace_state(law, theta, x, y, w, free=None, prior_cov=None, objective: str = "huber", delta: float = 1e-3):
    """Gauss-Newton posterior of the unconstrained parameters at ``theta`` from runs ``x, y, w``.

    ``Sigma = sigma^2 (J^T J)^-1`` over the runs with ``w > 0`` (``J`` the Jacobian of the predicted log loss,
    ``sigma`` the noise scale of the fit's ``objective`` and ``delta``, `scalelab.fit.objectives.residual_scale`; for a
    Huber(1e-3) fit least absolute deviations' ``1 / (2 f(0))``, so ``Sigma`` is the fit's asymptotic covariance and a
    new run adds ``j j^T / sigma^2``): bayes' `laplace_core` with normal noise at that scale, or, with ``prior_cov``
    (e.g. a posterior's covariance), ``prior_cov`` itself. Fixed parameters (``free == 0``) get zero variance.
    Returns ``(Sigma [P, P], sigma)`` as NumPy float64.
    """
    theta = jnp.asarray(theta)
    P = theta.shape[0]
    free = np.ones(P) if free is None else np.asarray(free, float)
    keep = np.asarray(w) > 0
    r = np.asarray(law.log_predict_theta(theta, x) - y)[keep]
    sigma = float(residual_scale(objective, r, delta, int(free.sum())))
    if not (np.isfinite(sigma) and sigma > 0):
        raise ValueError(f"the fit's residuals give no noise scale ({len(r)} runs for {int(free.sum())} free "
                         f"parameters, residual spread {np.ptp(r) if len(r) else 0:.3g}): cannot estimate the noise "
                         f"of new runs; give more runs than free parameters, or hold some fixed (fixed=..., --fix)")
    if prior_cov is not None:
        Sigma = np.asarray(prior_cov, float)
    else:
        a = _laplace_program(law)(theta, x, jnp.asarray(y), jnp.asarray(keep, float), jnp.asarray(1.0 - free),
                                  jnp.asarray(sigma), jnp.asarray(free))
        Sigma = np.asarray(a["cov"], float)
    return Sigma * np.outer(free, free), sigma


@per_law
def _laplace_program(law):
    """A cached jit of bayes' `laplace_core` with normal noise of a given scale and fixed parameters masked."""
    return jax.jit(lambda theta, x, y, w, prior_prec, s, free: laplace_core(
        law, theta, x, y, w, None, "normal", prior_prec, scale=s, free=free))


@per_law
def _jacobian_program(law):
    """A cached jit of ``(theta, x) -> d log L(x) / d theta`` ``[n, P]``."""
    return jax.jit(lambda theta, x: jax.jacfwd(lambda th: law.log_predict_theta(th, x))(theta))


@per_law
def _target_program(law, target: str):
    """A cached jit of ``theta -> (T, grad T)``."""
    return jax.jit(jax.value_and_grad(target_fn(law, target)))


@float64
def suggest(runs, law=None, target: str | Target = "loss@C=1e24", *, budget: float = 1e21, k: int = 4,
            method: str = "greedy", min_fraction: float = 0.01, tokens_per_param=(1.0, 1000.0),
            cost=None, objective: str = "huber", delta: float = 1e-3, starts="auto",
            fixed: Mapping[str, float] | None = None, candidates: pd.DataFrame | None = None,
            fit=None, posterior=None, steps: int = 300, min_separation: float | None = None) -> Suggestion:
    """Choose ``k`` new runs, together within ``budget`` FLOPs, that most shrink the target's variance.

    Units: ``budget`` and costs in FLOPs (``cost(N, D)``, default `flops` = ``6 N D``), ``N``
    total parameters, ``D`` tokens; the target in its own unit (``loss``: nats/token).

    Laplace/Fisher approximation: the posterior covariance of the unconstrained
    parameters is ``Sigma = sigma^2 (J^T J)^-1`` (Gauss-Newton information of the
    log-loss residuals of the current runs, ``sigma`` the noise scale of the fit's own objective,
    `laplace_state`; the fit's asymptotic covariance, with the law taken as exact; or the
    covariance of ``posterior``'s draws); a new run ``c`` adds ``j_c j_c^T / sigma^2``
    (``j_c`` the gradient of its predicted log loss), so it removes
    ``(g^T Sigma j_c)^2 / (sigma^2 + j_c^T Sigma j_c)`` of the variance of ``T``
    (``g = grad T``; Sherman-Morrison). The objective is the variance after all
    ``k`` runs at a fixed total budget. (Variance removed *per FLOP* is not a sound
    criterion: it favours the smallest runs, each of which barely helps.)

    Methods:
      ``"greedy"``: from a candidate pool (`candidate_pool` from ``min_fraction * budget``
        to ``budget`` FLOPs, or ``candidates``), repeatedly add the run that removes the most
        variance among those that fit in the remaining budget (keeping the cheapest
        candidate's cost for each later pick), then update ``Sigma``.
      ``"gradient"``: start from the greedy pick and optimise all ``k`` runs' sizes and
        tokens per parameter jointly by gradient (`gradient_design`; each run gets at least
        ``min_fraction * budget`` FLOPs, the total is the budget, and ``tokens_per_param``
        bounds D/N). Never worse than greedy in the Laplace variance (greedy's pick is kept
        when the gradient finds nothing better).

    Both methods keep the new runs at least ``min_separation`` decades apart in
    (log10 N, log10 D) (`separation`): by the Laplace variance alone, which takes the law as
    exact, the best design often repeats one or two points (e.g. k runs at the
    tokens-per-parameter bound), which bets the budget on the law's form and tells nothing about
    where it fails. The greedy mode may then return fewer than ``k`` runs, or spend less than
    the budget, when the pool has too few candidates far enough apart; ``spent`` says how much.

    Args:
      runs: path, DataFrame or `RunTable` of the runs so far.
      law: law name or `Law`; default the law of ``fit`` or ``posterior`` when one is given, else
        ``"chinchilla"``. A ``fit`` or ``posterior`` of another law than the one given is refused.
      target: as `influence` (inputs other than N and D are taken from the target,
        e.g. ``loss@C=1e24,E=8``).
      budget: FLOPs for all ``k`` new runs together.
      k: number of new runs.
      min_fraction: smallest new run, as a fraction of ``budget`` (floor of the pool and
        lower bound of the gradient mode; ``min_fraction * k <= 1``).
      tokens_per_param: ``(lo, hi)`` box for ``D / N`` of a new run.
      cost: ``cost(N, D) -> FLOPs`` (jax-traceable, increasing in N at fixed D/N); default `flops`.
      candidates: DataFrame (or dict of columns, list of dicts, path) with ``N`` and ``D``, or ``N`` and ``C``
        (optionally all three), replacing the pool; read as `forecast` reads its targets (`read_candidates`: run
        table aliases such as ``params`` and ``tokens``; N and D in the plausible ranges). Pass exactly a design's
        runs with the greedy mode to score that design.
      fit: a `FitResult` of ``law`` on ``runs`` to reuse (otherwise fitted here with
        ``objective, delta, starts, fixed``).
      posterior: a `scalelab.bayes` `Posterior`: linearise at its mean and use its covariance.
      steps: Adam steps of the gradient mode.
      min_separation: least distance between two new runs in (log10 N, log10 D), decades;
        default `MIN_SEPARATION` (0.25) for the pool and 0 with ``candidates`` (a given design
        is scored as it is).

    The pool keeps only runs in the plausible ranges of a language-model run (`plausible`: N and D in
    [1e3, 1e16]), which `read` and `predict` require; a budget that buys none is refused.

    Returns:
      `Suggestion`.
    """
    law = _law_of(law, fit, posterior)
    target = parse_target(target) if isinstance(target, str) else target
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if method not in ("greedy", "gradient"):
        raise ValueError(f"method must be 'greedy' or 'gradient', got {method!r}")
    if not (np.isfinite(budget) and budget > 0):
        raise ValueError(f"budget must be a positive number of FLOPs, got {budget}")
    if not 0 < min_fraction * k <= 1:
        raise ValueError(f"min_fraction must be in (0, 1/k] so that k runs of at least min_fraction * budget fit; "
                         f"got {min_fraction} with k = {k}")
    lo_r, hi_r = (float(v) for v in tokens_per_param)
    if not (np.isfinite(lo_r) and np.isfinite(hi_r) and 0 < lo_r <= hi_r):
        raise ValueError(f"tokens_per_param must be (lo, hi) with 0 < lo <= hi, got {tuple(tokens_per_param)}")
    if min_separation is None:
        min_separation = MIN_SEPARATION if candidates is None else 0.0
    if not (np.isfinite(min_separation) and min_separation >= 0):
        raise ValueError(f"min_separation must be a non-negative number of decades, got {min_separation}")
    if not {"N", "D"} <= set(law.inputs):
        raise ValueError(f"law {law.name!r} does not take N and D; candidates are (N, D) runs")
    T_and_grad = _target_program(law, target.text)
    table, data = prepare(runs, law)
    data = jax.tree.map(jnp.asarray, data)
    free = np.asarray(fixed_vectors(law, fixed)[0])
    prior_cov = None
    if posterior is not None:
        draws = np.asarray(posterior.theta, float)
        theta = jnp.asarray(draws.mean(axis=0))
        prior_cov = np.cov(draws, rowvar=False)
    else:
        if fit is None:
            fit = _fit(table, law, objective=objective, delta=delta, starts=starts, fixed=fixed)
        theta = law.flatten({k_: jnp.asarray(v) for k_, v in fit.unconstrained.items()})
    t0 = time.perf_counter()
    kind, dl = (objective, delta) if fit is None else (fit.objective_kind, fit.delta)  # the fit's own objective
    Sigma, sigma = laplace_state(law, theta, data["x"], data["y"], data["w"], free, prior_cov, kind, dl)
    value, g = T_and_grad(theta)
    g = np.asarray(g, float) * free
    check_covariance(Sigma, g, law, None if posterior is not None else fit)
    cost_fn = flops if cost is None else cost
    if candidates is None:
        cand = candidate_pool(budget, min_fraction=min_fraction, tokens_per_param=tokens_per_param)
        ok = plausible(cand["N"], cand["D"])
        if not ok.any():  # all too small (N or D < 1e3), all too large (> 1e16), or a tokens_per_param box off both
            small = ((cand["N"] < RANGES["N"][0]) | (cand["D"] < RANGES["D"][0])).all()
            large = ((cand["N"] > RANGES["N"][1]) | (cand["D"] > RANGES["D"][1])).all()
            fix = ("raise the budget (one run of N = D = 1e3 costs 6e6 FLOPs)" if small else
                   "lower the budget" if large else "bring tokens_per_param nearer 20")
            raise ValueError(f"budget {budget:.3g} FLOPs buys no plausible run: its pool (runs of "
                             f"{min_fraction * budget:.3g} to {budget:.3g} FLOPs at {lo_r:g} to {hi_r:g} tokens per "
                             f"parameter) has none with N and D in [{RANGES['N'][0]:.0e}, {RANGES['N'][1]:.0e}], the "
                             f"ranges `read` and `predict` hold runs to; {fix}")
        cand, dropped = cand[ok].reset_index(drop=True), int((~ok).sum())
    else:
        cand, dropped = read_candidates(candidates), 0
    held = {n: float(v) for n, v in target.at.items() if n in law.inputs and n not in ("N", "D")}

    def jac(N, D):
        x = {"N": jnp.asarray(N, float), "D": jnp.asarray(D, float),
             **{n: jnp.full(len(N), v) for n, v in held.items()}}
        return np.asarray(_jacobian_program(law)(theta, x), float) * free

    cN, cD = cand["N"].to_numpy(float), cand["D"].to_numpy(float)
    cc = cand["C"].to_numpy(float) if ("C" in cand and cost is None) else np.asarray(cost_fn(cN, cD), float)
    Jc = jac(cN, cD)
    pick = _greedy(Sigma, g, sigma, Jc, cc, k, float(budget), np.c_[np.log10(cN), np.log10(cD)], min_separation)
    N, D, C = cN[pick], cD[pick], cc[pick]
    var_greedy = sequential_variance(Sigma, g, sigma, Jc[pick])[0][-1]
    if method == "gradient" and pick:
        # the greedy pick may have fewer than k runs (a small pool): pad with the smallest allowed runs
        C0 = np.r_[C, np.full(k - len(pick), min_fraction * budget)]
        r0 = np.r_[D / N, np.geomspace(*tokens_per_param, k - len(pick) + 2)[1:-1]]  # padding spread apart
        N2, D2, C2, var2 = gradient_design(law, theta, Sigma, g, sigma, float(budget), k, init_C=C0, init_r=r0,
                                           min_fraction=min_fraction, tokens_per_param=tokens_per_param, held=held,
                                           free=free, cost=cost, steps=steps, min_separation=min_separation)
        # else keep the greedy pick: never worse than greedy, and no run `read` and `predict` would refuse
        if var2 <= var_greedy and plausible(N2, D2).all():
            N, D, C = N2, D2, C2
    order = np.argsort(-C, kind="stable")
    N, D, C = N[order], D[order], C[order]
    var, _ = sequential_variance(Sigma, g, sigma, jac(N, D)) if len(N) else (np.array([g @ Sigma @ g]), None)
    red = -np.diff(var)
    rows = pd.DataFrame({"N": N, "D": D, "C": C, "tokens_per_param": D / N,
                         "sd_after": np.sqrt(np.maximum(var[1:], 0.0)), "reduction": red,
                         "reduction_per_flop": red / C})
    said = list(fit.warnings) if posterior is None else design_warnings(table, law.inputs, (law,))
    said += [] if candidates is None else cand.attrs["warnings"]
    said += reach_warnings(target, table)  # a target far beyond the runs: its sd is the law's, not the runs'
    lo, hi = table.column("N").min(), table.column("N").max()
    below, above = N < lo / 10, N > hi * 10
    if (below | above).any():
        advice = ("runs below the ladder need a larger budget, runs above it a smaller one"
                  if below.any() and above.any() else "a larger budget buys runs nearer the ladder" if below.any() else
                  "a smaller budget (or min_fraction) buys runs nearer the ladder")
        said.append(f"{int((below | above).sum())} of {len(N)} suggested runs lie more than a decade outside the runs' "
                    f"model sizes ({lo:.3g} to {hi:.3g} parameters; e.g. N = {N[below | above][0]:.3g}): the "
                    f"forecast's variance there, and its reduction, are extrapolations of the law; {advice}")
    if (len(N) < k or C.sum() < SPEND_FLOOR * budget) and candidates is not None:
        said.append(f"{len(N)} of {k} runs chosen, {C.sum():.3g} of {budget:.3g} FLOPs spent "
                    f"({100 * C.sum() / budget:.0f}%): the candidates given hold too few runs that fit the rest of the "
                    f"budget and lie min_separation apart; give more candidates, or a smaller k")
    elif len(N) < k or C.sum() < SPEND_FLOOR * budget:
        said.append(f"{len(N)} of {k} runs chosen, {C.sum():.3g} of {budget:.3g} FLOPs spent "
                    f"({100 * C.sum() / budget:.0f}%): the isoFLOP pool has too few candidates that fit the rest of "
                    f"the budget and lie min_separation apart; lower min_separation or min_fraction (--min-separation, "
                    f"--min-fraction), widen tokens_per_param (--min-ratio/--max-ratio), or use method='gradient' "
                    f"(--method gradient), which splits the whole budget" + (
                        f" ({dropped} of the pool's runs were left out: N or D outside [1e3, 1e16], the plausible "
                        f"ranges of a language-model run)" if dropped else ""))
    return Suggestion(law, target.text, float(value), float(np.sqrt(var[0])),
                      float(np.sqrt(max(var[-1], 0.0))), sigma, float(budget), float(C.sum()), rows,
                      method, float(np.sqrt(max(var_greedy, 0.0))), time.perf_counter() - t0, tuple(said))


__all__ = ["Suggestion", "suggest", "candidate_pool", "flops", "laplace_state", "check_covariance",
           "sequential_variance", "gradient_design", "separation", "MIN_SEPARATION"]
