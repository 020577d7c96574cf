"""The pure pieces of `scalelab.forecast`: rolling origins, the laws weighed (`weights`), the calibrated scale.

Arrays in, arrays out (NumPy); distances in decades (log10), errors in log loss.
"""

from __future__ import annotations

import numpy as np

from scalelab.forecast.agreement import STRAY_FACTOR, consistent, settled, stable, stray_targets
from scalelab.forecast.student_t import t_quantile
from scalelab.forecast.weights import (MAX_STACKED, RULES, choose_weights, chosen_rule, honest_errors,  # noqa: F401
                                      origin_shares, pseudo_bma, stack_weights)
from scalelab.runs.sizes import GROUP_SPAN, size_groups  # noqa: F401 (the forecast's groups, re-exported)


# Runs whose tokens per parameter span at most this many decades are one ratio (`combine`'s ``one_ratio``)
ONE_RATIO = 0.05


def origin_weights(groups: np.ndarray, n_params: int, max_origins: int = 4, min_train_sizes: int = 3,
                   min_train_frac: float = 0.4) -> np.ndarray:
    """Run weights ``[K, n]`` of the rolling origins: origin k trains on all but the k largest size groups.

    An origin is kept while its training part has at least ``min_train_sizes`` sizes, at least
    ``n_params + 2`` runs (two degrees of freedom left) and at least ``min_train_frac`` of the runs.
    """
    n, top = len(groups), int(groups.max())
    rows = []
    for k in range(1, max_origins + 1):  # a handful of weight vectors; the fits are one vmapped program
        train = groups <= top - k
        n_sizes = top - k + 1
        if n_sizes < min_train_sizes or train.sum() < n_params + 2 or train.sum() < min_train_frac * n:
            break
        rows.append(train.astype(float))
    return np.array(rows).reshape(len(rows), n)


def position(x: dict) -> np.ndarray | None:
    """``log10(D / N)`` per row (decades of tokens per parameter), or None when ``x`` lacks N or D.

    Where a run sits between under-training (few tokens per parameter, losses read early in a run) and
    over-training: the laws' errors differ most along it, so the interval is calibrated locally in it.
    """
    if "N" not in x or "D" not in x:
        return None
    return np.log10(np.asarray(x["D"], float) / np.asarray(x["N"], float))


def viable(n_runs: int, n_params, per_param: float = 2.0) -> np.ndarray:
    """Which laws a table of ``n_runs`` runs can support: at least ``per_param`` runs per parameter.

    A law with more parameters than half the runs interpolates the table and extrapolates by
    accident (a 9-parameter law on 12 runs); it is no candidate for a forecast.
    """
    return np.asarray(n_params) * per_param <= n_runs


def extrapolation_distance(train: dict[str, np.ndarray], x: dict[str, np.ndarray], cols=("N", "D")) -> np.ndarray:
    """Decades outside the training runs, per row of ``x``: the largest over ``cols`` of how far each value lies
    beyond the runs' largest (``log10(x / max)``) or below their smallest (``log10(min / x)``), and, with N and D
    both, how far its tokens per parameter ``log10(D / N)`` lie outside the runs' (a 2e9-parameter target at 0.05
    tokens per parameter is no interpolation because 2e9 and 1e8 tokens each occur in a 5-80 tokens-per-parameter
    ladder). 0 inside. When ``x`` has none of ``cols`` (a law of compute alone), its columns shared with
    ``train`` are measured instead."""
    use = [c for c in cols if c in train and c in x] or [c for c in x if c in train]
    n = len(np.atleast_1d(np.asarray(x[use[0]]))) if use else len(next(iter(x.values()), []))
    d = np.zeros(n)

    def outside(v, ref):
        v, ref = np.log10(np.asarray(v, float)), np.log10(np.asarray(ref, float))
        return np.maximum(np.maximum(v - np.max(ref), np.min(ref) - v), 0.0)

    for c in use:
        d = np.maximum(d, outside(x[c], train[c]))
    if "N" in use and "D" in use:
        d = np.maximum(d, outside(np.asarray(x["D"], float) / np.asarray(x["N"], float),
                                  np.asarray(train["D"], float) / np.asarray(train["N"], float)))
    return d


def scale_likelihood(e: np.ndarray, d: np.ndarray, origin: np.ndarray, s0: float, tau_prior: float = 0.01,
                     prior_weight: float = 1.0, weights: np.ndarray | None = None) -> tuple:
    """``(taus, sigmas, ll)``: the penalised log-likelihood ``ll[i, j]`` of `calibrate_scale`'s error model on a grid of
    ``taus[i]`` (0 and 160 log-spaced values 1e-4..1 per decade) and ``sigmas[j]`` (0 and 1e-4..0.3)."""
    ks = np.unique(origin)
    omega = origin_shares(origin) * len(ks) if len(e) else np.zeros(0)  # each origin's runs count as one origin
    if weights is not None and len(e):
        omega = omega * np.asarray(weights, float)
        omega *= len(ks) / max(omega.sum(), 1e-300)
    taus = np.concatenate([[0.0], np.geomspace(1e-4, 1.0, 160)])
    sigmas = np.concatenate([[0.0], np.geomspace(1e-4, 0.3, 160)])
    T, S = np.meshgrid(taus, sigmas, indexing="ij")
    base = s0 ** 2 + S ** 2
    ll = np.zeros_like(T)
    for j in range(len(e)):  # held-out runs (tens): accumulate instead of a [taus, sigmas, runs] block
        var = base + T ** 2 * d[j] ** 2
        ll -= 0.5 * omega[j] * (np.log(var) + e[j] ** 2 / var)
    var_p = base + T ** 2
    ll -= 0.5 * prior_weight * (np.log(var_p) + (s0 ** 2 + tau_prior ** 2) / var_p)
    return taus, sigmas, ll


def calibrate_scale(e: np.ndarray, d: np.ndarray, origin: np.ndarray, s0: float, tau_prior: float = 0.01,
                    prior_weight: float = 1.0, weights: np.ndarray | None = None) -> tuple[float, float]:
    """``(tau, sigma)``: the held-out error scale, by penalised maximum likelihood on a grid (`scale_likelihood`).

    ``e_j ~ Normal(0, s0^2 + sigma^2 + tau^2 d_j^2)``: ``sigma`` is a discrepancy that appears as soon
    as a size is held out (a law that bends away from the largest sizes, whatever the distance),
    ``tau`` the part that grows per decade of extrapolation. Each origin's runs count as one origin
    in total, and a prior worth ``prior_weight`` origins sits at ``tau_prior`` (one observation at
    distance 1 with squared error ``tau_prior^2``), so a table whose few origins happen to
    extrapolate perfectly still gets a non-zero scale. ``weights`` [m] (e.g. a kernel around one
    target, `local_weights`) reweigh the runs, rescaled so that the origins still count as many in total.
    """
    taus, sigmas, ll = scale_likelihood(e, d, origin, s0, tau_prior, prior_weight, weights)
    i, j = np.unravel_index(np.argmax(ll), ll.shape)
    return float(taus[i]), float(sigmas[j])


def local_weights(x: np.ndarray, at: float, bandwidth: float) -> np.ndarray:
    """Gaussian kernel weights ``exp(-((x - at) / bandwidth)^2 / 2)`` of rows at positions ``x`` around ``at``
    (decades of tokens per parameter, `position`), scaled so that the largest is 1."""
    k = -0.5 * ((np.asarray(x, float) - at) / bandwidth) ** 2
    return np.exp(k - np.max(k)) if len(k) else k


def size_weights(x: np.ndarray, at: float, bandwidth: float, min_runs: int = 10) -> np.ndarray:
    """Gaussian kernel weights (`local_weights`) of runs at log10 sizes ``x`` around ``at``, the bandwidth widened
    from ``bandwidth`` decades to the distance of the ``min_runs``-th nearest run: a target beyond the largest
    model is described by the largest models, and never by fewer than ``min_runs`` runs (a scale from two or
    three runs would be noise)."""
    x = np.asarray(x, float)
    if not len(x):
        return x
    reach = float(np.sort(np.abs(x - at))[min(int(min_runs), len(x)) - 1])
    return local_weights(x, at, max(float(bandwidth), reach))


def robust_scale(r: np.ndarray, weights: np.ndarray | None = None) -> float:
    """``1.4826 x`` the (weighted) median absolute deviation from the (weighted) median: the sd of normal noise,
    unmoved by a few wild runs."""
    r = np.asarray(r, float)
    if weights is None:
        return float(1.4826 * np.median(np.abs(r - np.median(r))))
    w = np.asarray(weights, float)

    def wmedian(v):  # the midpoint where the cumulative weight passes one half exactly (np.median's convention)
        o = np.argsort(v)
        v, c = v[o], np.cumsum(w[o])
        i = int(np.searchsorted(c, 0.5 * c[-1] * (1.0 - 1e-12)))
        tie = i + 1 < len(v) and abs(c[i] - 0.5 * c[-1]) <= 1e-12 * c[-1]
        return float(0.5 * (v[i] + v[i + 1]) if tie else v[i])

    return 1.4826 * wmedian(np.abs(r - wmedian(r)))


def run_scatter(r: np.ndarray, weights: np.ndarray | None = None, n_params: float = 0.0, clip: float = 3.0,
                rounds: int = 5) -> float:
    """The runs' scatter about a fit, counted for the parameters it spent: the (weighted) mean square of the log
    residuals ``r``, each clipped at ``clip`` times the scale found so far (a few wild runs move it little), times
    ``n / (n - n_params)``, over ``rounds`` passes from the plain root mean square. Unbiased for normal noise about
    a law that holds (simulated tables of 18-24 runs at 0.5% noise: 0.49%), where `robust_scale` is not: a
    Huber(1e-3) fit pins about ``n_params`` residuals at 0, so 1.4826 MAD read 0.32-0.38% there and fell to the
    interval's 1e-4 floor on a 7-run ladder (benchmarks/RESULTS.md, thirtieth session)."""
    r = np.asarray(r, float)
    w = np.ones_like(r) if weights is None else np.asarray(weights, float)
    if not len(r) or not np.sum(w) > 0:
        return 0.0
    dof = len(r) / max(len(r) - float(n_params), 1.0)
    s = float(np.sqrt(np.sum(w * r ** 2) / np.sum(w)))
    for _ in range(rounds):
        s = float(np.sqrt(dof * np.sum(w * np.minimum(r ** 2, (clip * s) ** 2)) / np.sum(w)))
    return s


def combine(details: dict, ci: float = 0.9, *, reference: str | None = "chinchilla", shrink: float = 0.0,
            tau_prior: float = 0.01, prior_weight: float = 1.0, bandwidth: float | None = 0.35,
            size_bandwidth: float | None = 0.3, min_runs: int = 10,
            stray_factor: float | None = STRAY_FACTOR, shift_factor: float | None = STRAY_FACTOR,
            weigh=None, scale=calibrate_scale, one_ratio: float | None = ONE_RATIO, one_origin: bool = True) -> dict:
    """The forecast from the candidates' held-out errors and forecasts: weights, point, scale, interval.

    Pure: `scalelab.forecast` calls it on the fits it made, and a study can call it again on saved
    ``Forecast.details`` to weigh another rule without refitting anything.

    Args:
      details: ``names`` [L]; ``errors`` [L, m] held-out log errors with ``distance`` [m] (decades) and
        ``origin`` [m]; ``log_targets`` [L, T] each law's log forecast at the targets; ``residuals``
        [L, n] in-sample log residuals on the full table; ``target_distance`` [T] (decades). Optional
        positions (`position`, decades of tokens per parameter): ``run_position`` [n], ``position`` [m]
        of the held-out runs, ``target_position`` [T]; ``origin_log_targets`` [L, K, T] each origin's fit's log
        forecast at the targets (`settled`); ``n_params`` [L], the parameters each law's fit spent: with it ``s0`` is
        `run_scatter`, counted for the stacked laws' parameters (``weights @ n_params``), without it (details saved
        before the thirtieth session) `robust_scale`.
      ci: central probability of the interval.
      reference: the law that answers alone when no origin was held out (equal weights if absent).
      bandwidth: with positions, each target's ``s0``, ``sigma`` and ``tau`` are calibrated on the runs and
        held-out errors near it in tokens per parameter (a Gaussian kernel of this many decades,
        `local_weights`): the laws miss runs read early in training (a fraction of a token per parameter)
        by 5-15% and the final losses of the same ladder by ~1%, and one scale for both is too wide for
        the one and too narrow for the other. None: one scale for every target.
      size_bandwidth, min_runs: with ``run_size`` [n] and ``target_size`` [T] (log10 N) in ``details``, each
        target's ``s0`` is also calibrated on the runs near it in model size (`size_weights`: a Gaussian kernel of
        this many decades, widened until ``min_runs`` runs lie within it): the run-to-run scatter of a ladder's
        largest models, not of its smallest, describes a run beyond them. None: every size counts alike.
      stray_factor: a law whose forecast at the targets lies farther from the candidates' median than this many
        times the largest held-out error of the stable laws takes no weight (`consistent`). None: none is left out.
      shift_factor: a law whose whole-table forecast at the targets lies farther from its first origin's than this
        many times its own held-out error there takes no weight (`settled`; needs ``origin_log_targets`` [L, K, T] in
        ``details``). None: none is left out.
      weigh: None (default, or `weights.choose_weights`): stacking or pseudo-BMA, whichever the origins' honest
        errors favour (`weights.chosen_rule`; `weights.choose_weights` for the honest errors, so each origin's errors
        are weighted by the rule chosen without it); when pseudo-BMA is chosen, the form term is at least the
        candidates' spread about its point under the stacking weights: a soft choice of one law leaves the laws
        that the origins found complementary in the interval. Or ``weigh(errors [L, m], origin [m], shrink) ->
        weights [L]``, one rule for the weights and the honest errors alike (a study, e.g. `weights.stack_weights`),
        with no floor on the form term; ``rule`` then reads ``"given: <name>"``.
      scale: ``scale(e, d, origin, s0, tau_prior, prior_weight, weights) -> (tau, sigma)`` in place of
        `calibrate_scale` (a study of another reading of `scale_likelihood`, e.g. its posterior mean).
      one_ratio: when every run's tokens per parameter lies within this many decades (a ladder at one ratio, D
        proportional to N; needs ``run_position``), the form term is at least the candidates' whole disagreement at
        the target, the stable laws that agree weighted alike (not the stacked weights over K origins). None: never.
      one_origin: with a single origin, the form term is at least the same whole disagreement: one held-out size
        cannot tell the candidates' forms apart either (on 12-run tables of four sizes a law that won it, often
        Kaplan's, took 0.8-0.9 of the weight and missed by 11-15%). With none, all of it counts already.

    Returns:
      dict: ``weights`` [L], ``rule`` (the weighting that answered: ``"stacking"`` or ``"pseudo-BMA"`` by default,
      ``"given: <name>"`` for a ``weigh`` given, ``"none"`` when no origin was held out), ``honest`` [m] (the
      held-out log errors the scale was calibrated on: each origin's weighted by the rule fitted without it),
      ``strayed`` and ``unsettled`` (names of the stable laws left out by `consistent` and by `settled`),
      ``strayed_at`` (the targets at which the strayed laws lay beyond the limit: `stray_targets`),
      ``loss``/``lo``/``hi``
      [T] (nats/token), ``scale``, ``form``, ``s0``, ``sigma``
      and ``tau`` [T] (sd of log loss; tau per decade), ``nu``, ``local`` (whether the scale was calibrated
      near each target in tokens per parameter), ``sized`` (whether ``s0`` was, in model size).
    """
    names = list(details["names"])
    E, dist = np.asarray(details["errors"], float), np.asarray(details["distance"], float)
    orig = np.asarray(details["origin"], int)
    logs = np.asarray(details["log_targets"], float)
    res = np.asarray(details["residuals"], float)
    d_star = np.asarray(details["target_distance"], float)
    K = len(np.unique(orig))
    # laws whose whole-table forecast strays from the others' far beyond any held-out error take no part
    cons = (consistent(logs, E if K else None, factor=stray_factor) if stray_factor is not None
            else np.ones(len(names), bool))
    # and laws whose forecast jumped when the largest size joined their fit, far beyond their own error there
    unmoved = (settled(logs, details.get("origin_log_targets"), E, orig, factor=shift_factor)
               if shift_factor is not None and K else np.ones(len(names), bool))
    agree = cons & unmoved
    left = ~agree  # the laws these rules leave out (not those already out as unstable)
    if K:
        steady = stable(E)
        ok = steady & agree  # unstable laws take no weight and no part in the honest errors or the spread
        if not ok.any():  # the laws that agree all extrapolated unstably: the stable ones answer
            ok = steady
        left = steady & ~ok
        chosen = weigh is None or weigh is choose_weights  # the default: the rule the origins choose
        rule = (chosen_rule(E[ok], orig, shrink) if chosen else "given: " + next(
            (nm for nm, f in RULES.items() if f is weigh), getattr(weigh, "__name__", "rule")))
        w, w_stack = np.zeros(len(names)), np.zeros(len(names))
        w[ok] = (RULES[rule] if chosen else weigh)(E[ok], orig, shrink)
        w_stack[ok] = stack_weights(E[ok], orig, shrink) if chosen and rule != "stacking" else w[ok]
        e_stack = honest_errors(E[ok], orig, shrink, choose_weights if chosen else weigh)
    else:  # nothing held out: the reference form when it is a candidate, else equal weights
        w = (np.array([nm == reference for nm in names], float) if reference in names and agree[names.index(reference)]
             else agree.astype(float))
        w /= w.sum()
        w_stack, rule, e_stack = w, "none", np.zeros(0)
    r = w @ res  # stacked in-sample residuals: their scatter, counted for the parameters spent, is s0
    n_par = details.get("n_params")
    p_fit = float(w @ np.asarray(n_par, float)) if n_par is not None else None
    T = logs.shape[1]
    local = bandwidth is not None and all(k in details for k in ("run_position", "position", "target_position"))
    sized = size_bandwidth is not None and all(k in details for k in ("run_size", "target_size"))
    # one scale per target: s0 from the runs near it in tokens per parameter and in model size, sigma and tau from
    # the held-out errors near it in tokens per parameter. Each target is calibrated at its position and size
    # rounded to 0.01 decades (the kernels' weights move < 3% at two bandwidths), shared with its neighbours: a
    # thousand targets over four decades cost at most a few hundred small grid searches
    pos_r = np.asarray(details["run_position"], float) if local else None
    pos_h = np.asarray(details["position"], float) if local else None
    size_r = np.asarray(details["run_size"], float) if sized else None
    keys = np.stack([np.round(np.asarray(details["target_position"], float), 2) if local else np.zeros(T),
                     np.round(np.asarray(details["target_size"], float), 2) if sized else np.zeros(T)], axis=1)
    at, which = np.unique(keys, axis=0, return_inverse=True)
    parts = []
    for p, z in at:  # a few distinct (position, size) pairs; each is one small grid search
        near = np.ones(len(r))
        if local:
            near = near * local_weights(pos_r, p, bandwidth)
        if sized:
            near = near * size_weights(size_r, z, size_bandwidth, min_runs)
        near = near if (local or sized) else None
        s0_p = max(robust_scale(r, near) if p_fit is None else run_scatter(r, near, p_fit), 1e-4)
        tau_p, sigma_p = (scale(e_stack, dist, orig, s0_p, tau_prior, prior_weight,
                                          local_weights(pos_h, p, bandwidth) if local else None)
                          if K else (tau_prior, 0.0))
        parts.append((s0_p, tau_p, sigma_p))
    s0, tau, sigma = np.asarray(parts, float)[np.ravel(which)].T
    nu = float(K + prior_weight + 1.0)
    log_pt = w @ logs
    # the law's form: the weighted disagreement of the candidates at each target, trusted less as more
    # origins have measured the extrapolation error directly (1 / K of its variance; all of it with none)
    w_spread = w if K else agree / agree.sum()  # no origin: every agreeing candidate's view counts
    # and at least the spread under the stacking weights, about the point whatever rule made it
    form = np.sqrt(np.maximum(w_spread @ (logs - log_pt) ** 2, w_stack @ (logs - log_pt) ** 2)) / np.sqrt(max(K, 1))
    one_line = K and one_ratio is not None and local and np.ptp(pos_r) <= one_ratio  # every run at one ratio
    if one_line or (K == 1 and one_origin):
        # the origins, all along one ratio, or a single origin, cannot tell the candidates' forms apart; their whole
        # disagreement, each stable law that agrees counted alike, is the floor of the form term (a law that won the
        # short origins, e.g. Kaplan's with no irreducible loss, had taken the weight and the interval with it)
        form = np.maximum(form, np.sqrt((ok / ok.sum()) @ (logs - log_pt) ** 2))
    scale = np.sqrt(s0 ** 2 + sigma ** 2 + tau ** 2 * d_star ** 2 + form ** 2)
    q = t_quantile(0.5 + ci / 2.0, nu)
    return {"weights": w, "rule": rule, "honest": e_stack,
            "strayed": [nm for nm, out in zip(names, left & ~cons) if out],
            "strayed_at": (stray_targets(logs, E if K else None, left & ~cons, factor=stray_factor)
                           if stray_factor is not None else np.zeros(0, int)),
            "unsettled": [nm for nm, out in zip(names, left & cons & ~unmoved) if out], "loss": np.exp(log_pt),
            "lo": np.exp(log_pt - q * scale), "hi": np.exp(log_pt + q * scale),
            "scale": scale, "form": form, "s0": s0, "sigma": sigma, "tau": tau, "nu": nu, "local": local,
            "sized": sized}


__all__ = ["combine", "position", "MAX_STACKED", "GROUP_SPAN", "ONE_RATIO", "size_groups", "origin_weights", "viable", "extrapolation_distance", "stack_weights", "honest_errors",
           "pseudo_bma", "choose_weights", "chosen_rule",
           "calibrate_scale", "scale_likelihood", "t_quantile", "local_weights", "size_weights", "robust_scale",
           "run_scatter"]
