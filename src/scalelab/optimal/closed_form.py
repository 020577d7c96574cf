"""Compute-optimal allocation in closed form, for laws that declare one (`Law.allocation`).

Convention: training compute ``C = 6 N D`` FLOPs (N the law's parameter count,
D tokens; Kaplan/Hoffmann's 6ND, attention FLOPs ignored).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from scalelab import laws as _laws

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


def chinchilla_allocation(params: Mapping[str, float], C) -> dict:
    """Closed-form compute-optimal split for ``E + A/N^alpha + B/D^beta`` under ``C = 6ND``
    (Hoffmann et al. 2022, Eq. 4; the ``chinchilla`` law's declared allocation). See `closed_form`."""
    return closed_form("chinchilla", params, C)


__all__ = ["closed_form", "chinchilla_allocation", "compute_budgets", "CHINCHILLA_PARAMS"]
