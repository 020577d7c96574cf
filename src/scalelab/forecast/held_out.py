"""What the rolling origins measured: each candidate's errors at the runs its origin held out, and the forecast's
``details`` built from them (the one input of `scalelab.forecast.combine`).

Arrays in, arrays out (NumPy). Errors are log prediction - log loss; distances in decades (log10,
`calibrate.extrapolation_distance`); positions in decades of tokens per parameter (`calibrate.position`).
"""

from __future__ import annotations

import numpy as np

from scalelab.forecast.calibrate import extrapolation_distance, position


def held_out_errors(names: list, preds_runs: dict, origin_w: np.ndarray, x: dict, loss: np.ndarray,
                    sizes: np.ndarray) -> dict:
    """The errors of every origin's fit at the runs it held out.

    Args:
      names: the candidate laws [L].
      preds_runs: ``{name: [1 + K, n]}`` each law's prediction at every run, from the whole table's fit (row 0) and
        each origin's (row k + 1).
      origin_w: ``[K, n]`` the origins' run weights (`calibrate.origin_weights`): 0 where a run is held out.
      x: ``{column: [n]}`` the runs' inputs; loss: ``[n]`` their losses (nats/token); sizes: ``[n]`` their model sizes.

    Returns:
      dict: ``errors`` [L, m] (every origin's held-out runs in turn), ``distance`` [m] of each held-out run from its
      origin's training runs, ``origin`` [m], ``rows`` [m] (the table's row of each), and ``origins``: per origin, its
      number of held-out runs, their smallest size and each law's mean absolute relative error there.
    """
    logy = np.log(loss)
    errors, distance, origin, rows, origins = [], [], [], [], []
    for k, w in enumerate(origin_w):  # a handful of origins
        held = w == 0
        e = np.stack([np.log(preds_runs[nm][k + 1][held]) - logy[held] for nm in names])
        errors.append(e)
        distance.append(extrapolation_distance({c: v[~held] for c, v in x.items()}, {c: v[held] for c, v in x.items()}))
        origin.append(np.full(held.sum(), k))
        rows.append(np.flatnonzero(held))
        origins.append({"held_out_runs": int(held.sum()), "held_out_min_N": float(np.min(sizes[held])),
                        "are": {nm: float(np.mean(np.abs(np.expm1(e[i])))) for i, nm in enumerate(names)}})
    K = len(origin_w)
    return {"errors": np.concatenate(errors, axis=1) if K else np.zeros((len(names), 0)),
            "distance": np.concatenate(distance) if K else np.zeros(0),
            "origin": np.concatenate(origin) if K else np.zeros(0, int),
            "rows": np.concatenate(rows) if K else np.zeros(0, int), "origins": origins}


def forecast_details(names: list, preds_runs: dict, preds_tgt: dict, origin_w: np.ndarray, x: dict,
                     targets: dict, loss: np.ndarray, sizes: np.ndarray) -> tuple[dict, list]:
    """``(details, origins)``: `combine`'s input from the candidates' predictions, and per origin what it measured.

    ``preds_tgt``: ``{name: [1 + K, T]}`` each fit's prediction at the targets, whose inputs are ``targets``
    ``{column: [T]}``; the other arguments as `held_out_errors`. ``details`` holds ``names``, ``errors``,
    ``distance``, ``origin``, ``log_targets`` [L, T] (the whole-table fits'), ``residuals`` [L, n] (their log
    residuals), ``target_distance`` [T], ``origin_log_targets`` [L, K, T] (NaN where an origin's fit forecast a loss
    <= 0), and, when the laws read N and D, the positions (tokens per parameter) of the runs, held-out runs and
    targets, and the log10 sizes of the runs and targets.
    """
    held = held_out_errors(names, preds_runs, origin_w, x, loss, sizes)
    K, T = len(origin_w), len(next(iter(targets.values())))
    details = {"names": names, "errors": held["errors"], "distance": held["distance"], "origin": held["origin"],
               "log_targets": np.stack([np.log(preds_tgt[nm][0]) for nm in names]),
               "residuals": np.stack([np.log(preds_runs[nm][0]) - np.log(loss) for nm in names]),
               "target_distance": extrapolation_distance(x, targets)}
    with np.errstate(divide="ignore", invalid="ignore"):  # an origin's fit may forecast a target <= 0: NaN there
        details["origin_log_targets"] = np.stack([np.log(np.where(preds_tgt[nm][1:] > 0, preds_tgt[nm][1:], np.nan))
                                                  for nm in names]).reshape(len(names), K, T)
    pos = position(x)
    if pos is not None:  # tokens per parameter of every run, held-out run and target: the interval's locality
        details.update(run_position=pos, position=pos[held["rows"]], target_position=position(targets))
    if "N" in x:  # the model size of every run and target: s0 is calibrated on the runs nearest in size too
        details.update(run_size=np.log10(x["N"]), target_size=np.log10(targets["N"]))
    return details, held["origins"]


__all__ = ["held_out_errors", "forecast_details"]
