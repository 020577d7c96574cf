"""Which candidate laws take part in a forecast: the checks on each law's extrapolation that `combine` applies before
it weighs them.

* `stable`: a law that missed a held-out size wildly (a many-parameter law on a short ladder) takes no weight;
* `consistent`: a law whose whole-table forecast lies far from the other candidates' takes none (`stray_targets`:
  at which targets);
* `settled`: a law whose forecast jumps when the largest size joins its fit takes none;
* `strayed_warning`: what the forecast says about the laws the last two left out;
* `unusable`: why a law whose fits predict a non-finite or non-positive loss drops out before any of these.

Pure functions of the laws' held-out log errors and log forecasts (NumPy arrays in, boolean masks out).
"""

from __future__ import annotations

import numpy as np


# A held-out error or a forecast's distance of this much (2% in log loss) is never held against a law
FLOOR = 0.02


def stable(errors: np.ndarray, factor: float = 5.0, floor: float = FLOOR) -> np.ndarray:
    """Which laws extrapolated stably on every origin: worst held-out log error at most ``factor`` times
    the median law's worst (and at least ``floor``, 2%, is always allowed).

    A law that misses one held-out size by 400% (a many-parameter law on a short ladder) would, at even a
    few percent of weight, dominate a log-space mixture and its interval; it gets none.
    """
    worst = np.max(np.abs(errors), axis=1) if errors.size else np.zeros(errors.shape[0])
    return worst <= max(factor * float(np.median(worst)), floor)


# A law whose forecast lies farther from the candidates' than this many times the largest held-out error of the
# stable laws takes no weight (`consistent`).
STRAY_FACTOR = 5.0


def consistent(log_targets: np.ndarray, errors: np.ndarray | None = None, factor: float = STRAY_FACTOR,
               floor: float = FLOOR) -> np.ndarray:
    """Which laws' forecasts at the targets agree with the other candidates': the largest log distance from the
    candidates' median forecast at most ``factor`` times the largest held-out error of the laws that extrapolated
    stably (`stable`; with no held-out errors, ``factor`` times the median law's distance), and ``floor`` (2%)
    always allowed. All laws when none, or a single one, would be kept (with two laws, neither can be blamed).

    The weights rest on the origins' fits, the forecast on the fit to the whole table: a many-parameter law
    whose whole-table fit lands elsewhere than its origins' (a 9-parameter law on 18 runs forecasting a loss
    of 680 where the others say 1.9) would carry its origin weight to a forecast nothing validated.

    Args:
      log_targets: ``[L, T]`` each law's log forecast at the targets.
      errors: ``[L, m]`` held-out log errors of the same laws, or None (or ``m = 0``) when no origin was held out.
    """
    logs = np.asarray(log_targets, float)
    logs = logs[:, np.all(np.isfinite(logs), axis=0)]  # targets every law forecasts (a curve's step 0 may not)
    L = logs.shape[0]
    if L < 3 or logs.shape[1] == 0:
        return np.ones(L, bool)
    dist, limit = _distances(logs, errors, factor, floor)
    ok = dist.max(axis=1) <= limit
    return ok if ok.sum() > 1 else np.ones(L, bool)


def _distances(logs: np.ndarray, errors, factor: float, floor: float) -> tuple[np.ndarray, float]:
    """``(dist [L, T], limit)``: each law's log distance from the candidates' median forecast at each (finite) target,
    and the largest distance `consistent` allows."""
    dist = np.abs(logs - np.median(logs, axis=0))
    if errors is not None and np.size(errors):
        E = np.asarray(errors, float)
        reach = float(np.max(np.abs(E[stable(E)])))
    else:
        reach = float(np.median(dist.max(axis=1)))
    return dist, max(factor * reach, floor)


def stray_targets(log_targets: np.ndarray, errors: np.ndarray | None, left: np.ndarray, factor: float = STRAY_FACTOR,
                  floor: float = FLOOR) -> np.ndarray:
    """The targets (indices into ``log_targets``' columns) at which a law `consistent` left out (``left`` [L]) lies
    beyond its limit: the targets that decided it. The laws take one set of weights for every target, so a target
    far below the runs (where a law's form breaks down) can take a law's weight away at the others too."""
    logs = np.asarray(log_targets, float)
    cols = np.flatnonzero(np.all(np.isfinite(logs), axis=0))
    if logs.shape[0] < 3 or not len(cols) or not np.any(left):
        return np.zeros(0, int)
    dist, limit = _distances(logs[:, cols], errors, factor, floor)
    return cols[np.any(dist[np.asarray(left, bool)] > limit, axis=0)]


def settled(log_targets: np.ndarray, origin_log_targets: np.ndarray | None, errors: np.ndarray | None,
            origin: np.ndarray | None, factor: float = STRAY_FACTOR, floor: float = FLOOR) -> np.ndarray:
    """Which laws' forecasts at the targets stay where their first origin put them: the whole-table fit's log forecast
    within ``factor`` times the law's own held-out error on the first origin (root mean square, at least ``floor``)
    of the first origin's fit's forecast (the fit to every run but the largest size's).

    Adding the largest size moves a law's forecast by about the error it made there. A law whose forecast jumps
    far more (a 9-parameter law on 30 runs: 0.3% off the held-out size, then 14% lower at the target once that size
    is in the fit) has a whole-table fit along a direction the runs do not determine, which no origin validated.
    All laws when there is no origin (``origin_log_targets`` None or ``[L, 0, T]``) or fewer than two would stay.

    Args:
      log_targets: ``[L, T]`` each law's log forecast at the targets (the fit to the whole table).
      origin_log_targets: ``[L, K, T]`` the same from each origin's fit (NaN where an origin's fit forecast <= 0).
      errors, origin: ``[L, m]`` held-out log errors and ``[m]`` their origin (0 = the largest size held out).
    """
    logs = np.asarray(log_targets, float)
    L = logs.shape[0]
    if origin_log_targets is None or errors is None or not np.size(errors):
        return np.ones(L, bool)
    first = np.asarray(origin_log_targets, float)[:, 0, :]
    cols = np.all(np.isfinite(logs), axis=0)  # targets every law forecasts (a curve's step 0 may not)
    shift = np.max(np.abs(logs[:, cols] - first[:, cols]), axis=1, initial=0.0)
    shift = np.where(np.isfinite(shift), shift, np.inf)  # an origin fit with no forecast there validated nothing
    E = np.asarray(errors, float)[:, np.asarray(origin) == np.min(origin)]
    own = np.sqrt(np.mean(E ** 2, axis=1))
    ok = shift <= factor * np.maximum(own, floor)
    return ok if ok.sum() > 1 else np.ones(L, bool)


def strayed_warning(strayed: list, unsettled: list = (), decided=None, n_targets: int | None = None) -> list[str]:
    """The warnings for the laws `consistent` and `settled` left out (none: no warning); ``decided``: the targets at
    which the strayed laws lay beyond the limit (`stray_targets`), named when they are not all ``n_targets``."""
    out = [] if not unsettled else [
        f"{list(unsettled)} forecast the targets far from where their first rolling origin's fit did (by more than "
        f"{STRAY_FACTOR:g}x their own held-out error there, and over {100 * FLOOR * STRAY_FACTOR:g}%): adding the largest size moved their fit along a "
        f"direction the runs do not determine, which no origin validated, so they take no weight"]
    if not strayed:
        return out
    return out + [f"{strayed} forecast the targets far from the other candidate laws (more than {STRAY_FACTOR:g}x the largest "
            f"held-out error of the laws that extrapolated stably; with nothing held out, {STRAY_FACTOR:g}x the median "
            f"law's distance): their fit to the whole table is not what the rolling origins validated, so they take "
            f"no weight" + _decided_by(decided, n_targets)]


def _decided_by(decided, n_targets: int | None) -> str:
    """The clause naming the targets that left the strayed laws out, when only some of them did."""
    if decided is None or n_targets is None or not 0 < len(decided) < n_targets:
        return ""
    rows = ", ".join(map(str, list(decided)[:10])) + (", ..." if len(decided) > 10 else "")
    return (f". Only target rows [{rows}] ({len(decided)} of {n_targets}) put them there: the laws take one set of "
            f"weights for all targets, so a target far from the runs (below them as well as beyond) changes the "
            f"forecasts at the others too; forecast those rows in a call of their own to keep the others' weights")


def unusable(name: str, runs_pred: np.ndarray, target_pred: np.ndarray, fits: list[str]) -> str | None:
    """Why law ``name`` drops out of a forecast, or None: one of its fits predicts a non-finite or non-positive loss.

    ``runs_pred`` [F, n]: each fit's predictions at every run (``fits[f]`` says which fit: the whole table's, or a
    rolling origin's, whose held-out runs are among the n); ``target_pred`` [T]: the whole table's fit at the targets.
    The message names each fit that broke down and at how many rows, so that a user can tell a law whose form fails
    on a short origin (a 9-parameter law on a dozen runs) from one that fails at the targets themselves.
    """
    bad_r = ~(np.isfinite(runs_pred) & (runs_pred > 0))
    bad_t = ~(np.isfinite(target_pred) & (target_pred > 0))
    if not (bad_r.any() or bad_t.any()):
        return None
    where = [f"{fits[f]} at {int(bad_r[f].sum())} of the {bad_r.shape[1]} runs" for f in range(len(bad_r))
             if bad_r[f].any()]
    if bad_t.any():
        where.append(f"{fits[0]} at {int(bad_t.sum())} of the {len(bad_t)} targets")
    return (f"law {name!r} dropped: it predicts a non-finite or non-positive loss, by {'; by '.join(where)}. Its "
            "form breaks down there; the other candidates answer")


__all__ = ["stable", "consistent", "stray_targets", "settled", "strayed_warning", "unusable", "STRAY_FACTOR",
           "FLOOR"]
