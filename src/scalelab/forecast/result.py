"""What a forecast returns: `Forecast` (plain values; ``to_json`` gives ``scalelab forecast --json``'s object).

Units: loss in nats/token; distances in decades (log10); scales as sd of log loss.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd


@dataclasses.dataclass(frozen=True)
class Forecast:
    """What `forecast` returns (plain values; `to_json` gives the CLI's object).

    Attributes:
      weights: law name -> weight (sums to 1).
      ci: central probability of the intervals.
      inputs: DataFrame of the target inputs (one row per target, in the given order).
      loss, lo, hi: point forecast and interval per target (nats/token).
      distance: decades beyond the training table per target.
      scale: predictive sd of log loss per target.
      laws: the fitted Laws' results on the full table (name -> FitResult-like dict of params).
      origins: per origin, the held-out sizes and per-law mean absolute relative error.
      s0, tau, sigma: the calibrated scale model per target (arrays [T]; see `scalelab.forecast`'s
        module doc): calibrated near each target in tokens per parameter when the laws read N and D.
      nu: degrees of freedom of the Student-t interval.
      form: per target, the form term ``f / sqrt(K)`` of the scale (sd of log loss).
      warnings: identifiability and extrapolation warnings.
      method: how the answer was computed.
      seconds: wall time.
      rhat_max: largest R-hat when a sampler answered (None: no sampler).
      notes: what was read or derived, and the table's columns no candidate law reads (left untouched).
      details: the raw material of the choice, for study: ``names``; ``errors`` [L, m] held-out log
        errors per law, with ``distance`` and ``origin`` [m]; ``log_targets`` [L, T] each law's log
        forecast, ``origin_log_targets`` [L, K, T] each origin's fit's (NaN where it forecast <= 0);
        ``residuals`` [L, n] each law's in-sample log residuals.
    """

    weights: dict
    ci: float
    inputs: pd.DataFrame
    loss: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    distance: np.ndarray
    scale: np.ndarray
    laws: dict
    origins: list
    s0: np.ndarray
    tau: np.ndarray
    nu: float
    warnings: list
    method: str
    seconds: float
    rhat_max: float | None = None
    sigma: np.ndarray | float = 0.0
    form: np.ndarray | None = None
    notes: tuple = ()
    details: dict = dataclasses.field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        """One line a notebook can read: the weights, the targets' forecasts and intervals, and how many warnings (the
        whole record is in the attributes and `to_json`)."""
        shown = lambda v: np.array2string(np.asarray(v, float), precision=4, threshold=6)  # noqa: E731
        weights = ", ".join(f"{k}: {v:.2f}" for k, v in sorted(self.weights.items(), key=lambda kv: -kv[1]) if v > 0)
        return (f"Forecast({{{weights}}}, loss={shown(self.loss)}, {100 * self.ci:g}% lo={shown(self.lo)}, "
                f"hi={shown(self.hi)}, method={self.method!r}, {len(self.warnings)} warning(s))")

    def target_inputs(self, i: int) -> dict:
        """The ``inputs`` object of target ``i`` in the JSON (its columns, as floats)."""
        return {c: float(self.inputs[c].iloc[i]) for c in self.inputs.columns}

    def to_json(self) -> dict:
        preds = [{"inputs": self.target_inputs(i), "loss": float(self.loss[i]), "lo": float(self.lo[i]),
                  "hi": float(self.hi[i])} for i in range(len(self.loss))]
        return {"laws": {k: float(v) for k, v in self.weights.items()}, "method": self.method, "ci": float(self.ci),
                "predictions": preds,
                "diagnostics": {"rhat_max": self.rhat_max, "warnings": list(self.warnings),
                                "s0": _floats(self.s0), "tau": _floats(self.tau), "sigma": _floats(self.sigma),
                                "nu": float(self.nu),
                                "form": None if self.form is None else [float(f) for f in self.form],
                                "origins": self.origins},
                "seconds": float(self.seconds)}


def _floats(v) -> list:
    """A per-target array (or one number) as a list of plain floats."""
    return [float(x) for x in np.atleast_1d(np.asarray(v, float))]


__all__ = ["Forecast"]
