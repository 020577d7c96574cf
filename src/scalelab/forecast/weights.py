"""How `scalelab.forecast` weighs the candidate laws on their rolling origins' held-out errors.

* `stack_weights`: stacking, the simplex weights whose log-space mixture has the least mean squared held-out error;
* `pseudo_bma`: pseudo-BMA (Yao et al. 2018), a soft choice of the law with the least held-out error;
* `honest_errors`: the stacked held-out errors in which no origin's errors chose its own weights;
* `chosen_rule` and `choose_weights`: the rule of the two whose honest errors are smaller, the weighting itself
  chosen by extrapolation (the default of `calibrate.combine`).

Every rule takes ``(errors [L, m], origin [m], shrink)`` (held-out log errors of L laws on m held-out runs, the
origin of each run) and returns weights ``[L]`` on the simplex. Each origin counts equally throughout.
"""

from __future__ import annotations

import numpy as np


# The most laws stacked exactly (every support solved): 2^12 - 1 = 4,095 small solves
MAX_STACKED = 12


def origin_shares(origin: np.ndarray) -> np.ndarray:
    """Per-run weights ``[m]`` that sum to 1 with each origin counting equally: ``1 / (K n_k)``."""
    ks, inv, counts = np.unique(origin, return_inverse=True, return_counts=True)
    return 1.0 / (len(ks) * counts[np.ravel(inv)])


def stack_weights(errors: np.ndarray, origin: np.ndarray, shrink: float = 0.0, ridge: float = 0.2) -> np.ndarray:
    """Simplex weights minimising the mean squared stacked error, each origin counting equally.

    The quadratic programme ``min w'Qw`` over ``w >= 0, sum w = 1`` is solved exactly: on every support
    (subset of laws) the equality-constrained optimum is one linear solve, all supports at once as a
    batched solve; the best feasible one is the optimum (at most `MAX_STACKED` = 12 laws: 4,095 small solves; of more
    laws, the 12 with the least mean squared held-out error compete and the others take no weight).
    A law whose errors are wild (a 9-parameter law off by 200%) gets weight 0 without slowing the others.

    Args:
      errors: ``[L, m]`` held-out log-loss errors of L laws on m held-out runs.
      origin: ``[m]`` origin index of each held-out run.
      shrink: the result is ``(1 - shrink) w + shrink / L`` (guards against a weight fitted to a few runs).
      ridge: ``ridge * median(diag Q)`` is added to the diagonal, so that with fewer held-out runs than laws
        (Q singular) the weights are the most even among the optima instead of arbitrary.
    """
    L = errors.shape[0]
    if L == 1:
        return np.ones(1)
    omega = origin_shares(origin)
    if L > MAX_STACKED:  # every support of L laws is 2^L - 1 solves: the laws with the least held-out error compete
        keep = np.sort(np.argsort(((errors ** 2) * omega).sum(axis=1), kind="stable")[:MAX_STACKED])
        w = np.zeros(L)
        w[keep] = stack_weights(errors[keep], origin, 0.0, ridge)
        return (1.0 - shrink) * w + shrink / L
    Q = (errors * omega) @ errors.T  # [L, L]: w' Q w is the weighted mean squared stacked error
    Q = Q / (np.median(np.diag(Q)) + 1e-300)
    Q = Q + (ridge + 1e-12) * np.eye(L)  # (a floor keeps collinear laws solvable)
    masks = ((np.arange(1, 2 ** L)[:, None] >> np.arange(L)[None, :]) & 1).astype(float)  # [2^L - 1, L]
    Qm = Q[None] * masks[:, :, None] * masks[:, None, :] + np.eye(L)[None] * (1.0 - masks)[:, :, None]
    v = np.linalg.solve(Qm, masks[:, :, None])[..., 0] * masks  # Q_S^-1 1 on the support, 0 elsewhere
    w = v / np.sum(v, axis=1, keepdims=True)
    feasible = np.all(w >= -1e-12, axis=1) & np.isfinite(w).all(axis=1)
    obj = np.where(feasible, np.einsum("si,ij,sj->s", w, Q, w), np.inf)
    w = np.clip(w[np.argmin(obj)], 0.0, None)
    w /= w.sum()
    return (1.0 - shrink) * w + shrink / L


def pseudo_bma(errors: np.ndarray, origin: np.ndarray, shrink: float = 0.0, draws: int = 0,
               seed: int = 0) -> np.ndarray:
    """Pseudo-BMA weights ``[L]`` (Yao et al. 2018, "Using stacking to average Bayesian predictive distributions").

    Each origin's mean log predictive density of a law's held-out log errors under ``Normal(0, s_l^2)`` (``s_l^2`` the
    law's mean over the origins of their mean squared error) is one pointwise term of ``elpd_l``, and
    ``w_l ~ exp(elpd_l)``: without draws the closed form ``w_l ~ s_l^-K`` (K origins), inverse mean squared error to
    the power K / 2. ``draws`` > 0: pseudo-BMA+, the weights averaged over Bayesian-bootstrap draws of the origins
    (the pointwise terms weighted by ``K`` x Dirichlet(1)). ``shrink`` as `stack_weights`'s.
    """
    L = errors.shape[0]
    if L == 1:
        return np.ones(1)
    ks = np.unique(origin)
    mse = np.stack([np.mean(errors[:, origin == k] ** 2, axis=1) for k in ks], axis=1)  # [L, K]
    s2 = np.maximum(mse.mean(axis=1, keepdims=True), 1e-300)
    lpd = -0.5 * (np.log(2.0 * np.pi * s2) + mse / s2)  # [L, K]: each origin's mean log density per run
    a = (np.random.default_rng(seed).dirichlet(np.ones(len(ks)), size=draws) * len(ks) if draws
         else np.ones((1, len(ks))))
    elpd = a @ lpd.T  # [draws, L]
    w = np.exp(elpd - elpd.max(axis=1, keepdims=True))
    w = (w / w.sum(axis=1, keepdims=True)).mean(axis=0)
    return (1.0 - shrink) * w + shrink / L


def honest_errors(errors: np.ndarray, origin: np.ndarray, shrink: float = 0.0, weigh=stack_weights) -> np.ndarray:
    """Stacked held-out errors in which no origin's errors chose its own weights.

    The errors of origin k are combined with the weights fitted on the *other* origins, so the scale
    calibrated on them includes the error of choosing the laws. With a single origin there is no
    other: its own weights are used (optimistic; the caller widens the interval's tails).
    ``weigh(errors, origin, shrink)`` -> weights is the rule (`stack_weights`, `pseudo_bma`, `choose_weights`).
    """
    out = np.empty(errors.shape[1])
    for k in np.unique(origin):  # a handful of origins; each is a small quadratic programme
        mine = origin == k
        w = weigh(errors[:, ~mine], origin[~mine], shrink) if (~mine).any() else weigh(errors, origin, shrink)
        out[mine] = w @ errors[:, mine]
    return out


def balanced_mse(e: np.ndarray, origin: np.ndarray) -> float:
    """Mean squared error of ``e`` [m], each origin counting equally."""
    return float(np.sum(origin_shares(origin) * np.asarray(e, float) ** 2))


# The weighting rules `chosen_rule` chooses between, by name, and how a forecast's ``method`` names each
RULES = {"stacking": stack_weights, "pseudo-BMA": pseudo_bma}
SAID = {"stacking": "stacking", "pseudo-BMA": "pseudo-BMA (chosen over stacking by the origins' honest errors)"}


def chosen_rule(errors: np.ndarray, origin: np.ndarray, shrink: float = 0.0) -> str:
    """``"stacking"`` or ``"pseudo-BMA"``: the rule whose honest errors (`honest_errors`: each origin's errors
    weighted by the rule fitted on the other origins) have the smaller mean square, each origin counting equally;
    stacking on a tie, with fewer than two origins (nothing to score a rule on) and with one law.

    Where the truth is close to one candidate, pseudo-BMA's soft choice of the best law extrapolates better;
    where every law misses in its own way, stacking's mixture, whose errors cancel (benchmarks/RESULTS.md,
    thirteenth and thirty-first sessions). The origins are asked which case a table is.
    """
    if len(np.unique(origin)) < 2 or errors.shape[0] < 2:
        return "stacking"
    score = {name: balanced_mse(honest_errors(errors, origin, shrink, rule), origin) for name, rule in RULES.items()}
    return "pseudo-BMA" if score["pseudo-BMA"] < score["stacking"] else "stacking"


def choose_weights(errors: np.ndarray, origin: np.ndarray, shrink: float = 0.0) -> np.ndarray:
    """The weights of the rule `chosen_rule` picks: stacking or pseudo-BMA, by their honest held-out errors."""
    return RULES[chosen_rule(errors, origin, shrink)](errors, origin, shrink)


__all__ = ["MAX_STACKED", "RULES", "SAID", "stack_weights", "pseudo_bma", "honest_errors", "balanced_mse", "chosen_rule",
           "choose_weights", "origin_shares"]
