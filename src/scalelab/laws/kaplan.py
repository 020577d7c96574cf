"""Kaplan et al. 2020 (arXiv 2001.08361, Eq. 1.5) joint law in N and D.

``L(N, D) = ((Nc / N)**(aN / aD) + Dc / D)**aD``

N is the *non-embedding* parameter count and D tokens, as in Kaplan; loss in
nats/token. Published: aN 0.076, aD 0.103, Nc 6.4e13, Dc 1.8e13.
"""

import math

import jax.numpy as jnp

from scalelab.laws.base import Law, positive


def _predict(p, x):
    return ((p["Nc"] / x["N"]) ** (p["aN"] / p["aD"]) + p["Dc"] / x["D"]) ** p["aD"]


def _log_predict(u, x):
    # log L = aD * LSE((aN/aD) (log Nc - log N), log Dc - log D)
    aN, aD = jnp.exp(u["log_aN"]), jnp.exp(u["log_aD"])
    return aD * jnp.logaddexp((aN / aD) * (u["log_Nc"] - jnp.log(x["N"])), u["log_Dc"] - jnp.log(x["D"]))


KAPLAN = Law(
    name="kaplan",
    aliases=("kaplan2020",),
    inputs=("N", "D"),
    params=("Nc", "Dc", "aN", "aD"),
    predict=_predict,
    log_predict=_log_predict,
    transforms={"Nc": positive, "Dc": positive, "aN": positive, "aD": positive},
    start_grid={
        "log_Nc": (20.0, 30.0, 40.0),
        "log_Dc": (20.0, 30.0, 40.0),
        "log_aN": tuple(math.log(v) for v in (0.03, 0.1, 0.3)),  # plain floats: no program run at import
        "log_aD": tuple(math.log(v) for v in (0.03, 0.1, 0.3)),
    },
    start_ranges={
        "log_Nc": (15.0, 45.0),
        "log_Dc": (15.0, 45.0),
        "log_aN": (-4.0, 0.0),
        "log_aD": (-4.0, 0.0),
    },
    reference={"kaplan2020": {"Nc": 6.4e13, "Dc": 1.8e13, "aN": 0.076, "aD": 0.103}},
    citation="Kaplan et al. 2020, arXiv 2001.08361, Eq. 1.5",
    conventions="N: non-embedding parameters; D: training tokens; loss in nats/token.",
    description="Kaplan joint law ((Nc/N)^(aN/aD) + Dc/D)^aD.",
)
