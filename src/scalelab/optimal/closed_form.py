"""Compute-optimal allocation in closed form.

Convention: training compute ``C = 6 N D`` FLOPs (N the law's parameter count,
D tokens; Kaplan/Hoffmann's 6ND, attention FLOPs ignored).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

CHINCHILLA_PARAMS = ("E", "A", "B", "alpha", "beta")


def chinchilla_allocation(params: Mapping[str, float], C) -> dict:
    """Closed-form compute-optimal split for ``E + A/N^alpha + B/D^beta`` under ``C = 6ND``.

    Hoffmann et al. 2022, Eq. 4: ``G = (alpha A / (beta B))^(1/(alpha+beta))``,
    ``N_opt = G (C/6)^(beta/(alpha+beta))``, ``D_opt = (C/6)^(alpha/(alpha+beta)) / G``.

    Parameters may be arrays (e.g. bootstrap or posterior draws): they broadcast against ``C``
    (draws ``[S, 1]`` and budgets ``[K]`` give ``[S, K]``).

    Returns a dict of arrays: ``C``, ``N_opt`` (parameters), ``D_opt`` (tokens),
    ``tokens_per_param`` (``D_opt / N_opt``) and ``loss`` at the optimum.
    """
    missing = [k for k in CHINCHILLA_PARAMS if k not in params]
    if missing:
        raise ValueError(f"closed-form allocation needs Chinchilla parameters {CHINCHILLA_PARAMS}; missing {missing}")
    E, A, B, a, b = (np.asarray(params[k], float) for k in CHINCHILLA_PARAMS)  # scalars or arrays (draws)
    C = np.asarray(C, float)
    if np.any(~np.isfinite(C)) or np.any(C <= 0):
        raise ValueError("compute C must be positive and finite (FLOPs)")
    G = (a * A / (b * B)) ** (1.0 / (a + b))
    N = G * (C / 6.0) ** (b / (a + b))
    D = (C / 6.0) ** (a / (a + b)) / G
    return {"C": C, "N_opt": N, "D_opt": D, "tokens_per_param": D / N,
            "loss": E + A / N ** a + B / D ** b}


__all__ = ["chinchilla_allocation", "CHINCHILLA_PARAMS"]
