"""Whole learning curves: curve tables, schedule integrals, forecasts and schedule optimisation.

* `schedule` (declared beside the curve laws, `scalelab.laws.schedule`, and re-exported here):
  curve-table checks, the schedule convention (piecewise linear between rows, linear warm-up from
  0), per-row encodings for the curve laws, and schedule builders (cosine, WSD, constant). Pure
  NumPy, nothing else of scalelab's: the run table and the laws call it, so it sits on their floor.
* `predict_table(fit, table)`: one predicted loss per row of ``run_id, step, lr`` rows.
* `optimize_schedule(fit, steps, peak_lr, warmup)`: a non-increasing schedule after warm-up that
  minimises the fitted law's final loss, by gradient (optax) through the law.

The curve laws themselves (``multipower``, ``lr_annealing``) are declared in
`scalelab.laws.curves`. The heavier functions load on first use.
"""

from __future__ import annotations

import importlib

from scalelab.laws import schedule
from scalelab.laws.schedule import constant, cosine, wsd

_LAZY = {
    "predict_table": "scalelab.curves.predict",
    "curve_inputs": "scalelab.curves.predict",
    "relative_errors": "scalelab.curves.predict",
    "thin": "scalelab.curves.predict",
    "optimize_schedule": "scalelab.curves.optimize",
    "ScheduleResult": "scalelab.curves.optimize",
    "final_loss": "scalelab.curves.optimize",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'scalelab.curves' has no attribute {name!r}")


def __dir__():  # the lazy functions are listed too (dir() showed neither predict_table nor optimize_schedule)
    return sorted(set(globals()) | set(_LAZY))


__all__ = ["schedule", "constant", "cosine", "wsd", *_LAZY]
