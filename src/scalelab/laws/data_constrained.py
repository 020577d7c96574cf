"""Data-constrained (repeated data) law of Muennighoff et al. 2023 (NeurIPS, arXiv 2305.16264), Eq. 5.

``R_D = max(D / U_D - 1, 0)`` (repetitions beyond the first epoch),
``U_N = min(N, N_opt(U_D))`` with ``N_opt`` the compute-optimal size for ``U_D``
tokens under the law's own Chinchilla part (Muennighoff's convention),
``R_N = max(N / U_N - 1, 0)`` (excess parameters),
``D' = U_D + U_D R_D* (1 - exp(-R_D / R_D*))``, ``N' = U_N + U_N R_N* (1 - exp(-R_N / R_N*))``,
``L = E + A / N'^alpha + B / D'^beta``.

From Chinchilla's frontier (LAWS.md section 2) with ``G = (alpha A / (beta B))^(1/(alpha+beta))``:
``D_opt = (C/6)^(alpha/(alpha+beta)) / G``, hence ``N_opt(D) = G (G D)^(beta/alpha)``.
With no repetition (``D <= U_D``) and ``N <= N_opt(U_D)``, ``D' = D``, ``N' = N``: exactly Chinchilla.
"""

import jax.numpy as jnp

from scalelab.laws.base import Law, positive


def n_opt_for_tokens(p, D):
    """Compute-optimal N for D tokens under Chinchilla params p (E, A, B, alpha, beta)."""
    G = (p["alpha"] * p["A"] / (p["beta"] * p["B"])) ** (1.0 / (p["alpha"] + p["beta"]))
    return G * (G * D) ** (p["beta"] / p["alpha"])


def effective_sizes(p, x):
    """(N', D') of Muennighoff's Eq. 5."""
    U_D = x["U_D"]
    R_D = jnp.maximum(x["D"] / U_D - 1.0, 0.0)
    U_N = jnp.minimum(x["N"], n_opt_for_tokens(p, U_D))
    R_N = jnp.maximum(x["N"] / U_N - 1.0, 0.0)
    D_eff = jnp.where(R_D > 0, U_D + U_D * p["R_D_star"] * (-jnp.expm1(-R_D / p["R_D_star"])), x["D"])
    N_eff = jnp.where(R_N > 0, U_N + U_N * p["R_N_star"] * (-jnp.expm1(-R_N / p["R_N_star"])), x["N"])
    return N_eff, D_eff


def _predict(p, x):
    N_eff, D_eff = effective_sizes(p, x)
    return p["E"] + p["A"] / N_eff ** p["alpha"] + p["B"] / D_eff ** p["beta"]


MUENNIGHOFF2023_REPEAT = Law(
    name="muennighoff2023_repeat",
    aliases=("muennighoff2023", "data_constrained"),
    inputs=("N", "D", "U_D"),
    params=("E", "A", "B", "alpha", "beta", "R_N_star", "R_D_star"),
    predict=_predict,
    transforms={k: positive for k in ("E", "A", "B", "alpha", "beta", "R_N_star", "R_D_star")},
    start_ranges={
        "log_E": (-0.5, 1.0), "log_A": (2.0, 9.0), "log_B": (2.0, 10.0), "log_alpha": (-2.0, -0.4),
        "log_beta": (-2.0, -0.4), "log_R_N_star": (0.0, 4.0), "log_R_D_star": (0.0, 4.0),
    },
    reference={
        # Muennighoff et al. 2023, C4 fit ([review] in LAWS.md).
        "muennighoff2023_c4": {"E": 1.87, "A": 521.0, "B": 1488.0, "alpha": 0.353, "beta": 0.353,
                               "R_N_star": 5.31, "R_D_star": 15.39},
    },
    citation="Muennighoff et al. 2023, 'Scaling Data-Constrained Language Models', arXiv 2305.16264, Eq. 5",
    conventions=("N: total parameters; D: total training tokens (all epochs); U_D: unique tokens. "
                 "U_N = min(N, compute-optimal N for U_D under the law's own E,A,B,alpha,beta)."),
    description="Muennighoff repeated-data law E + A/N'^alpha + B/D'^beta with decaying value of repeats.",
)
"""Muennighoff et al. 2023 data-constrained law."""
