"""Over-training law of Gadre et al. 2024 (arXiv 2403.08540), Eq. 4.

``L(C, M) = E + (a M^eta + b M^-eta) C^-eta`` with ``M = D / N`` (tokens per
parameter) and ``C = 6 N D``. Substituting gives Chinchilla with tied exponents:
``E + a 6^-eta / N^(2 eta) + b 6^-eta / D^(2 eta)`` (tested exactly).
"""

import jax.numpy as jnp

from scalelab.laws.base import Law, positive


def _predict(p, x):
    M = x["D"] / x["N"]
    C = 6.0 * x["N"] * x["D"]
    return p["E"] + (p["a"] * M ** p["eta"] + p["b"] * M ** (-p["eta"])) * C ** (-p["eta"])


def _log_predict(u, x):
    eta = jnp.exp(u["log_eta"])
    lM = jnp.log(x["D"]) - jnp.log(x["N"])
    lC = jnp.log(6.0) + jnp.log(x["N"]) + jnp.log(x["D"])
    t1, t2, t3 = jnp.broadcast_arrays(u["log_a"] + eta * lM - eta * lC, u["log_b"] - eta * lM - eta * lC, u["log_E"])
    return jnp.logaddexp(jnp.logaddexp(t1, t2), t3)


GADRE2024_OVERTRAIN = Law(
    name="gadre2024_overtrain",
    aliases=("gadre2024",),
    inputs=("N", "D"),
    params=("E", "a", "b", "eta"),
    predict=_predict,
    log_predict=_log_predict,
    transforms={k: positive for k in ("E", "a", "b", "eta")},
    start_grid={"log_E": (-0.5, 0.5), "log_a": (2.0, 6.0, 10.0), "log_b": (2.0, 6.0, 10.0),
                "log_eta": (-2.5, -1.8, -1.2)},
    start_ranges={"log_E": (-1.0, 1.0), "log_a": (0.0, 12.0), "log_b": (0.0, 12.0), "log_eta": (-3.0, -0.7)},
    reference={},
    citation="Gadre et al. 2024, 'Language models scale reliably with over-training', arXiv 2403.08540, Eq. 4",
    conventions=("N: total parameters; D: training tokens; M = D/N; C = 6 N D computed from N and D (the "
                 "RunTable's C column is not read). No coefficients carried (the paper quotes none)."),
    description="Gadre over-training law E + (a M^eta + b M^-eta) C^-eta, M = D/N.",
)
"""Gadre et al. 2024 over-training law."""
