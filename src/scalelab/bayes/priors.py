"""Default priors, derived from a law's declaration.

Every law declares ``start_ranges``: a (low, high) box per unconstrained
parameter (``log_A``, ``alpha``, ...) where fits are expected to land. The
default prior on each unconstrained parameter is weakly informative:
``Normal(loc=(low + high) / 2, scale=(high - low) / 2)``, so the declared box is
the prior's central 68% and values well outside it stay reachable. Users
override any entry with a ``(loc, scale)`` pair or any numpyro distribution.

Noise priors (same for every law; residuals are on natural-log loss):

* ``log_s``: log of the residual scale ``s`` (the Normal's sigma, the
  Student-t's scale, the Huber density's tail scale), ``Normal(log 0.03, 1.5)``:
  from 0.1% to 50% noise within 2 sd.
* ``log_nu``: log degrees of freedom of the Student-t, ``Normal(log 10, 1)``.
* ``tau``: sd of the per-group offsets, ``HalfNormal(0.05)``.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpyro.distributions as dist

NOISE_PRIORS = {
    "log_s": (math.log(0.03), 1.5),
    "log_nu": (math.log(10.0), 1.0),
}
TAU_SCALE = 0.05


def _as_dist(name, value):
    if isinstance(value, dist.Distribution):
        return value
    try:
        loc, scale = (float(v) for v in value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"prior for {name!r} must be a (loc, scale) pair or a numpyro distribution, "
                         f"got {value!r}") from err
    if not scale > 0:
        raise ValueError(f"prior for {name!r}: scale must be > 0, got {scale}")
    return dist.Normal(loc, scale)


def default_priors(law) -> dict:
    """``{unconstrained name: (loc, scale)}`` from ``law.start_ranges``."""
    out = {}
    for un in law.unconstrained_names:
        lo, hi = law.start_ranges[un]
        out[un] = (0.5 * (lo + hi), 0.5 * (hi - lo))
    return out


def resolve_priors(law, overrides: Mapping | None = None) -> dict:
    """Default priors with ``overrides`` applied, as numpyro distributions.

    Keys: the law's unconstrained names (natural names are accepted for
    parameters whose transform is the identity), ``log_s``, ``log_nu``, ``tau``.
    """
    spec: dict = {**default_priors(law), **NOISE_PRIORS, "tau": dist.HalfNormal(TAU_SCALE)}
    for key in overrides or {}:
        if key not in spec:
            raise ValueError(f"no prior named {key!r}; priors are on {sorted(spec)} "
                             f"(a positive parameter A is given as log_A)")
    for key, value in (overrides or {}).items():
        spec[key] = value
    return {k: _as_dist(k, v) for k, v in spec.items()}
