"""How `scalelab.forecast` weighs the candidate laws on their rolling origins' held-out errors.

* `stack_weights`: stacking, the simplex weights whose log-space mixture has the least mean squared held-out error
  (the default of `calibrate.combine`);
* `honest_errors`: the stacked held-out errors in which no origin's errors chose its own weights.

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


def honest_errors(errors: np.ndarray, origin: np.ndarray, shrink: float = 0.0, weigh=stack_weights) -> np.ndarray:
    """Stacked held-out errors in which no origin's errors chose its own weights.

    The errors of origin k are combined with the weights fitted on the *other* origins, so the scale
    calibrated on them includes the error of choosing the laws. With a single origin there is no
    other: its own weights are used (optimistic; the caller widens the interval's tails).
    ``weigh(errors, origin, shrink)`` -> weights replaces `stack_weights` (a study of another weighting rule).
    """
    out = np.empty(errors.shape[1])
    for k in np.unique(origin):  # a handful of origins; each is a small quadratic programme
        mine = origin == k
        w = weigh(errors[:, ~mine], origin[~mine], shrink) if (~mine).any() else weigh(errors, origin, shrink)
        out[mine] = w @ errors[:, mine]
    return out

__all__ = ["MAX_STACKED", "stack_weights", "honest_errors", "origin_shares"]
