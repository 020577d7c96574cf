"""Compute-optimal allocation in closed form, for laws that declare one (`Law.allocation`).

Convention: training compute ``C = 6 N D`` FLOPs (N the law's parameter count,
D tokens; Kaplan/Hoffmann's 6ND, attention FLOPs ignored).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from scalelab import laws as _laws
from scalelab.laws.given import point_params

CHINCHILLA_PARAMS = ("E", "A", "B", "alpha", "beta")


def compute_budgets(C) -> np.ndarray:
    """``C`` as a float64 array, checked: positive and finite (FLOPs)."""
    C = np.asarray(C, float)
    if np.any(~np.isfinite(C)) or np.any(C <= 0):
        raise ValueError("compute C must be positive and finite (FLOPs)")
    return C


def closed_form(law, params: Mapping[str, float], C) -> dict:
    """The law's declared closed-form compute-optimal split at natural ``params`` and compute ``C``.

    Parameters may be arrays (e.g. bootstrap or posterior draws): they broadcast against ``C``
    (draws ``[S, 1]`` and budgets ``[K]`` give ``[S, K]``).

    Returns a dict of arrays: ``C``, ``N_opt`` (parameters), ``D_opt`` (tokens),
    ``tokens_per_param`` (``D_opt / N_opt``) and ``loss`` at the optimum.
    """
    law = _laws.get(law)
    if law.allocation is None:
        raise ValueError(f"law {law.name!r} declares no closed-form allocation; use scalelab.optimal.frontier")
    missing = [k for k in law.params if k not in params]
    if missing:
        raise ValueError(f"closed-form allocation needs {law.name} parameters {law.params}; missing {missing}")
    C = compute_budgets(C)
    out = law.allocation({k: np.asarray(params[k], float) for k in law.params}, C)  # scalars or arrays (draws)
    return {"C": C, **{k: np.asarray(v, float) for k, v in out.items()}}


def split_error(law, params: Mapping[str, float]) -> ValueError:
    """The error for parameters that give no finite compute-optimal split (an exponent <= 0)."""
    shown = ", ".join(f"{k}={float(params[k]):.4g}" for k in law.params if k in params and np.size(params[k]) == 1)
    return ValueError(f"no compute-optimal split for {law.name} at these parameters ({shown}): N_opt and D_opt are "
                      f"not finite, as when the loss does not fall with both N and D (an exponent <= 0). A table "
                      f"whose D is a function of N, or that has one N or one D, cannot pin the exponents down: see "
                      f"the fit's warnings")


def chinchilla_allocation(params: Mapping[str, float], C) -> dict:
    """Closed-form compute-optimal split for ``E + A/N^alpha + B/D^beta`` under ``C = 6ND``
    (Hoffmann et al. 2022, Eq. 4; the ``chinchilla`` law's declared allocation). See `closed_form`.

    ``params``: the five values, or a chinchilla `FitResult`. Raises ValueError where the split is not finite (an
    exponent <= 0), as `scalelab.allocate` does."""
    law = _laws.get("chinchilla")
    params = point_params(params, law)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        out = closed_form(law, params, C)
    if not all(np.isfinite(out[k]).all() for k in ("N_opt", "D_opt")):
        raise split_error(law, params)
    return out


__all__ = ["closed_form", "chinchilla_allocation", "split_error", "compute_budgets", "CHINCHILLA_PARAMS"]
