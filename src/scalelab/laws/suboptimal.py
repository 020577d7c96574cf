"""Sub-optimal ("sub-scaling") law of Chen, Wang, Xiao et al. (ACL 2025, arXiv 2507.10613).

``OTR = D / N``; ``R_D = 1 + sigmoid(k_D OTR)``; ``R_N = 1 + sigmoid(k_N OTR)``;
``L = B R_D / D^beta + A R_N / N^alpha + E``.

A Chinchilla law whose reducible terms carry logistic penalties of the
over-training ratio; for OTR >= 0 the factors lie in [1.5, 2). With ``k_D =
k_N = 0`` both factors are exactly 1.5 and the law is Chinchilla with
``A' = 1.5 A`` and ``B' = 1.5 B``.

The density extension (``chen2025_suboptimal_density``) is our documented
convention, the paper's functional use of density being a [gap]: the data
exponent shrinks linearly with density, ``beta_eff = beta (1 - kappa rho)``,
``kappa`` in (0, 1), so denser (more redundant) data gives diminishing returns
in D and ``rho = 0`` recovers the base law. ``rho`` is the normalised density of
`scalelab.runs.density` (in [0, 1]).
"""

import jax

from scalelab.laws.base import Law, positive, unit


def _factors(p, x):
    otr = x["D"] / x["N"]
    return 1.0 + jax.nn.sigmoid(p["k_D"] * otr), 1.0 + jax.nn.sigmoid(p["k_N"] * otr)


def _predict(p, x):
    r_d, r_n = _factors(p, x)
    return p["B"] * r_d / x["D"] ** p["beta"] + p["A"] * r_n / x["N"] ** p["alpha"] + p["E"]


def _predict_density(p, x):
    r_d, r_n = _factors(p, x)
    beta = p["beta"] * (1.0 - p["kappa"] * x["density"])
    return p["B"] * r_d / x["D"] ** beta + p["A"] * r_n / x["N"] ** p["alpha"] + p["E"]


_REF = {"chen2025": {"B": 455.345, "beta": 0.289, "A": 61.929, "alpha": 0.272, "E": 1.372,
                     "k_D": 0.00810, "k_N": 0.00114}}
_RANGES = {"log_A": (0.0, 8.0), "log_B": (0.0, 9.0), "log_E": (-1.0, 1.0), "alpha": (0.1, 0.6),
           "beta": (0.1, 0.6), "k_D": (-0.02, 0.05), "k_N": (-0.02, 0.05)}

CHEN2025_SUBOPTIMAL = Law(
    name="chen2025_suboptimal",
    aliases=("chen2025", "subscaling"),
    inputs=("N", "D"),
    params=("E", "A", "B", "alpha", "beta", "k_D", "k_N"),
    predict=_predict,
    transforms={"E": positive, "A": positive, "B": positive},
    start_ranges=_RANGES,
    reference=_REF,  # LAWS.md 1.2 ([weak], one detailed source)
    citation="Chen, Wang, Xiao et al. 2025 (ACL), arXiv 2507.10613, sub-optimal scaling law",
    conventions=("N: total parameters (dense models); D: training tokens; OTR = D/N tokens per parameter. "
                 "k_D, k_N free in sign (published positive)."),
    description="Chen sub-scaling law B R_D/D^beta + A R_N/N^alpha + E with logistic OTR factors.",
)
"""Chen et al. 2025 sub-optimal law in N and D."""

CHEN2025_SUBOPTIMAL_DENSITY = Law(
    name="chen2025_suboptimal_density",
    inputs=("N", "D", "density"),
    params=("E", "A", "B", "alpha", "beta", "k_D", "k_N", "kappa"),
    predict=_predict_density,
    transforms={"E": positive, "A": positive, "B": positive, "kappa": unit},
    start_ranges={**_RANGES, "logit_kappa": (-3.0, 3.0)},
    reference={},
    citation="Chen et al. 2025, arXiv 2507.10613 (density enters the law by our convention, see module docstring)",
    conventions=("As chen2025_suboptimal, plus density: normalised data density rho in [0, 1] "
                 "(scalelab.runs.density); data exponent beta (1 - kappa rho). rho = 0 gives chen2025_suboptimal."),
    description="Chen sub-scaling law with the data exponent lowered by data density.",
)
"""Chen et al. 2025 sub-optimal law extended with a data-density input (our convention)."""
