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


def point_params(params, law) -> Mapping[str, float]:
    """A fit's parameter values: a mapping as it is, or the ``.params`` of a result that holds them (a `FitResult`),
    whose law must be ``law``.

    Raises:
      ValueError: the result is of another law. TypeError: ``params`` is neither.
    """
    if isinstance(params, Mapping):
        return params
    held, of = getattr(params, "params", None), getattr(params, "law", None)
    if isinstance(held, Mapping):
        if isinstance(of, _laws.Law) and of.name != law.name:
            raise ValueError(f"the parameters given are a fit of {of.name!r}, not of {law.name!r}")
        return held
    raise TypeError(f"params: expected a dict of {law.name}'s parameter values {law.params} (or a FitResult); got "
                    f"a {type(params).__name__}")


def held_fit(value) -> bool:
    """True for a result that holds its `Law` (``.law``) and a mapping of its natural parameters (``.params``): a
    `FitResult`. A `Posterior` holds draws (its ``.params`` is a method), so it is not one."""
    return isinstance(getattr(value, "law", None), _laws.Law) and isinstance(getattr(value, "params", None), Mapping)


def law_and_params(law, params=None):
    """``(Law, natural params)`` from a law (name or `Law`) and its parameters (a dict, or a `FitResult` of that
    law: `point_params`), or from a `FitResult` given as the law (``params`` None: its own; given: those, checked
    against its law).

    Raises:
      TypeError: no parameters given for a law named; ValueError: a fit of another law (`point_params`).
    """
    if held_fit(law):
        return law.law, (law.params if params is None else point_params(params, law.law))
    law = _laws.get(law)
    if params is None:
        raise TypeError(f"no parameters given for law {law.name!r}: give a dict of {list(law.params)}, or a FitResult")
    return law, point_params(params, law)


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


__all__ = ["closed_form", "chinchilla_allocation", "point_params", "held_fit", "law_and_params", "split_error",
           "compute_budgets", "CHINCHILLA_PARAMS"]
