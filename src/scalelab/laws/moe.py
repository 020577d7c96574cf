"""Mixture-of-experts loss laws: Wang 2024, Clark 2022, Krajewski 2024, Abnar 2025.

Conventions (LAWS.md): E experts, k experts active per token, S = 1 - active/total
(= (E-k)/E when every layer is an expert layer), G granularity. Each law says
whether its N is total or active parameters. Loss in nats/token.
"""

import jax.numpy as jnp
from scalelab.laws.base import Law, positive

# --- Wang et al. 2024 (EMNLP, arXiv 2410.05661), unified dense/MoE law, Eq. 5 -----------------


def _wang_predict_for(n_col):
    def predict(p, x):  # powers as exp(-a log x): the logs are data alone (see chinchilla's predict)
        return (p["A"] * jnp.exp(-p["alpha"] * jnp.log(x[n_col]) - p["gamma"] * jnp.log(x["E"]))
                + p["B"] * jnp.exp(-p["beta"] * jnp.log(x["D"])) + p["sigma"])
    return predict


def _wang_log_predict_for(n_col):
    def log_predict(u, x):
        # log L = LSE(a - alpha log N - gamma log E, b - beta log D, log sigma)
        t1 = u["log_A"] - u["alpha"] * jnp.log(x[n_col]) - u["gamma"] * jnp.log(x["E"])
        t2 = u["log_B"] - u["beta"] * jnp.log(x["D"])
        t1, t2, t3 = jnp.broadcast_arrays(t1, t2, u["log_sigma"])
        return jnp.logaddexp(jnp.logaddexp(t1, t2), t3)
    return log_predict


_WANG_KW = dict(
    params=("A", "B", "sigma", "alpha", "beta", "gamma"),
    transforms={"A": positive, "B": positive, "sigma": positive},
    start_grid={
        "log_A": (2.0, 6.0, 10.0), "log_B": (2.0, 6.0, 10.0), "log_sigma": (0.0, 0.5),
        "alpha": (0.2, 0.5), "beta": (0.2, 0.5), "gamma": (0.0, 0.2),
    },
    start_ranges={
        "log_A": (0.0, 12.0), "log_B": (0.0, 12.0), "log_sigma": (-1.0, 1.0),
        "alpha": (0.05, 1.0), "beta": (0.05, 1.0), "gamma": (-0.2, 0.5),
    },
    reference={},
    citation="Wang, Chen, Li, He, Zhang, Wang 2024 (EMNLP), arXiv 2410.05661, Eq. 5 (adapted from Clark et al. 2022)",
    linear=("A", "B", "sigma"),
)

WANG2024_MOE = Law(
    name="wang2024_moe",
    aliases=("wang2024", "wang2024_moe_total"),
    inputs=("N", "D", "E"),
    predict=_wang_predict_for("N"),
    log_predict=_wang_log_predict_for("N"),
    conventions=("N: TOTAL parameters (all experts; the RunTable's N column, which for MoE runs should hold "
                 "N_total); D: training tokens; E: number of experts (E = 1: dense). Whether the paper's N is "
                 "total or active is not stated in the paper: use wang2024_moe_active for the active-parameter convention. "
                 "No published coefficients ([weak] source only). At E = 1 exactly the dense law "
                 "A/N^alpha + B/D^beta + sigma."),
    description="Wang 2024 unified law A/(N^alpha E^gamma) + B/D^beta + sigma, N total.",
    **_WANG_KW,
)
"""Wang et al. 2024 unified law with N = total parameters."""

WANG2024_MOE_ACTIVE = Law(
    name="wang2024_moe_active",
    aliases=(),
    inputs=("N_active", "D", "E"),
    predict=_wang_predict_for("N_active"),
    log_predict=_wang_log_predict_for("N_active"),
    conventions=("N_active: parameters active per token (routed experts only); D tokens; E experts. "
                 "Same form as wang2024_moe, the other N convention (the paper does not say which)."),
    description="Wang 2024 unified law with N = active parameters.",
    **_WANG_KW,
)
"""Wang et al. 2024 unified law with N = active parameters."""


# --- Clark et al. 2022 (ICML, arXiv 2202.01169), routed language models ----------------------


def clark_effective_experts(E, E_start, E_max):
    """Clark's saturating expert count: ``1/Ê = 1/(E - 1 + (1/E_start - 1/E_max)^-1) + 1/E_max``."""
    return 1.0 / (1.0 / (E - 1.0 + 1.0 / (1.0 / E_start - 1.0 / E_max)) + 1.0 / E_max)


def _clark_log10_loss(p, x):
    lN = jnp.log10(x["N"])
    lE = jnp.log10(clark_effective_experts(x["E"], p["E_start"], p["E_max"]))
    return p["a"] * lN + p["b"] * lE + p["c"] * lN * lE + p["d"]


def _clark_predict(p, x):
    return 10.0 ** _clark_log10_loss(p, x)


def _clark_log_predict(u, x):
    p = CLARK2022_ROUTED.to_natural(u)
    return jnp.log(10.0) * _clark_log10_loss(p, x)


CLARK2022_ROUTED = Law(
    name="clark2022_routed",
    aliases=("clark2022",),
    inputs=("N", "E"),
    params=("a", "b", "c", "d", "E_start", "E_max"),
    predict=_clark_predict,
    log_predict=_clark_log_predict,
    transforms={"E_start": positive, "E_max": positive},
    start_ranges={
        "a": (-0.2, 0.0), "b": (-0.2, 0.0), "c": (-0.02, 0.03), "d": (0.5, 2.0),
        "log_E_start": (0.0, 2.0), "log_E_max": (4.0, 7.0),
    },
    reference={
        # Clark et al. 2022, Table 3 (S-BASE row), LAWS.md section 2 ([review]).
        "clark2022_sbase": {"a": -0.082, "b": -0.108, "c": 0.009, "d": 1.104, "E_start": 1.847, "E_max": 314.478},
    },
    citation="Clark et al. 2022, 'Unified Scaling Laws for Routed Language Models', arXiv 2202.01169, Eq. 1/Table 3",
    active_n=True,
    conventions=("N: dense parameters seen per token (Clark's dense_parameter_count, i.e. active); E: number of "
                 "experts (1 = dense); D fixed at 130B tokens (final step). Logarithms are base 10 for L, N and Ê "
                 "(the paper does not state the base; base 10 is the one under which the published d = 1.104 gives "
                 "losses near 3 nats at N ~ 1e8; our refit on Clark's data agrees, see RESULTS.md). "
                 "Ê = 1/(1/(E-1+(1/E_start-1/E_max)^-1) + 1/E_max) saturates at E_max; Ê(E=1) = E_start."),
    description="Clark routed-MoE law log L = a log N + b log Ê + c log N log Ê + d (log10).",
)
"""Clark et al. 2022 routed law: ``log10 L = a log10 N + b log10 Ê + c log10 N log10 Ê + d``."""


# --- Krajewski et al. 2024 (arXiv 2402.07871), fine-grained MoE -------------------------------


def _krajewski_predict(p, x):
    return p["c"] + (p["g"] / x["G"] ** p["gamma"] + p["a"]) / x["N"] ** p["alpha"] + p["b"] / x["D"] ** p["beta"]


KRAJEWSKI2024_GRANULARITY = Law(
    name="krajewski2024_granularity",
    aliases=("krajewski2024",),
    inputs=("N", "D", "G"),
    params=("a", "b", "g", "c", "alpha", "beta", "gamma"),
    predict=_krajewski_predict,
    transforms={k: positive for k in ("a", "b", "g", "c", "alpha", "beta", "gamma")},
    start_ranges={
        "log_a": (0.0, 6.0), "log_b": (0.0, 8.0), "log_g": (-2.0, 4.0), "log_c": (-2.0, 1.0),
        "log_alpha": (-3.0, -0.5), "log_beta": (-3.0, -0.5), "log_gamma": (-2.0, 0.5),
    },
    reference={
        # Krajewski et al. 2024, Table 1 / Eq. 8, MoE fit ([paper] in LAWS.md).
        "krajewski2024": {"a": 18.1, "alpha": 0.115, "b": 30.8, "beta": 0.147, "g": 2.1, "gamma": 0.58, "c": 0.47},
    },
    citation="Krajewski et al. 2024, 'Scaling Laws for Fine-Grained Mixture of Experts', arXiv 2402.07871, Eq. 8",
    conventions="N: TOTAL non-embedding parameters; D: training tokens; G: granularity (expert size = d_ff/G).",
    description="Krajewski granularity law c + (g/G^gamma + a)/N^alpha + b/D^beta.",
)
"""Krajewski et al. 2024: ``L = c + (g / G^gamma + a) / N^alpha + b / D^beta``."""


# --- Abnar et al. 2025 (arXiv 2501.12370), MoE sparsity --------------------------------------


def _abnar_predict(p, x):
    keep = 1.0 - x["S"]
    return (p["e"] + p["a"] / x["N"] ** p["alpha"] + p["b"] / x["D"] ** p["beta"] + p["c"] / keep ** p["lam"]
            + p["d"] / (keep ** p["delta"] * x["N"] ** p["gamma"]))


ABNAR2025_MOE = Law(
    name="abnar2025_moe",
    aliases=("abnar2025",),
    inputs=("N", "D", "S"),
    params=("e", "a", "b", "c", "d", "alpha", "beta", "lam", "delta", "gamma"),
    predict=_abnar_predict,
    transforms={k: positive for k in ("e", "a", "b", "c", "d", "alpha", "beta", "gamma")},
    start_ranges={
        "log_e": (-2.0, 1.0), "log_a": (2.0, 12.0), "log_b": (2.0, 12.0), "log_c": (-3.0, 1.0),
        "log_d": (0.0, 5.0), "log_alpha": (-2.0, 0.0), "log_beta": (-2.0, 0.0), "lam": (-0.5, 0.5),
        "delta": (-0.5, 0.5), "log_gamma": (-3.0, -0.5),
    },
    reference={
        # Abnar et al. 2025 ([review] in LAWS.md).
        "abnar2025": {"alpha": 0.5962, "beta": 0.3954, "lam": -0.1666, "delta": 0.1603, "gamma": 0.1595,
                      "a": 16612.50, "b": 5455.67, "c": 0.4598, "d": 17.26, "e": 0.94},
    },
    citation="Abnar et al. 2025, 'Parameters vs FLOPs: Scaling Laws for Optimal Sparsity for MoE', arXiv 2501.12370",
    conventions=("N: TOTAL parameters (all experts); D: training tokens; S: MoE sparsity 1 - active/total "
                 "= (E-k)/E. lam and delta are free in sign (published lam < 0)."),
    description="Abnar MoE sparsity law e + a/N^alpha + b/D^beta + c/(1-S)^lam + d/((1-S)^delta N^gamma).",
)
"""Abnar et al. 2025: ``L = e + a/N^alpha + b/D^beta + c/(1-S)^lam + d/((1-S)^delta N^gamma)``."""
