"""Default priors, derived from a law's declaration.

Every law declares ``start_ranges``: a (low, high) box per unconstrained
parameter (``log_A``, ``alpha``, ...) where fits are expected to land. The
default prior on each unconstrained parameter is weakly informative:
``Normal(loc=(low + high) / 2, scale=(high - low) / 2)``, so the declared box is
the prior's central 68% and values well outside it stay reachable. Users
override any entry with a ``(loc, scale)`` pair or any numpyro distribution.

Exponents (``alpha``, ``beta``, identity transform) whose declared box is wider than
(0, 1) get ``Normal(0.5, 0.5)`` instead (`EXPONENT_PRIOR`): weakly informative, 95% on
(-0.5, 1.5), against published LLM exponents of 0.05-0.8. Chinchilla declares (0, 2) for its
fit's starts, which made ``Normal(1, 1)``: on a 12-run table the posterior then runs far down
the alpha -> 0, E -> 0 ridge (95% interval of E 0.49-1.93) and NUTS cannot mix there (R-hat
1.04 after 2,000 warm-up; 1.02 with this prior, RESULTS.md "Small tables"). On the Epoch table
(posterior sd of alpha 0.01) the prior changes nothing visible.

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
EXPONENT_PRIOR = (0.5, 0.5)
EXPONENT_NAMES = ("alpha", "beta")


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
    """``{unconstrained name: (loc, scale)}`` from ``law.start_ranges`` (exponents: `EXPONENT_PRIOR` at most)."""
    out = {}
    for un in law.unconstrained_names:
        lo, hi = law.start_ranges[un]
        out[un] = (0.5 * (lo + hi), 0.5 * (hi - lo))
        if un in EXPONENT_NAMES and out[un][1] > EXPONENT_PRIOR[1]:
            out[un] = EXPONENT_PRIOR
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
