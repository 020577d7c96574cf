"""Coupled loss laws: the N and D terms do not simply add.

* ``skaling`` (Videau et al. 2026, arXiv 2608.07222; LAWS.md §2b): kappa-coupled Chinchilla
  ``L = E + (A / N**alpha + B / D**beta)**kappa``. kappa = 1 is Chinchilla exactly. Fitted in the
  log-sum-exp form ``log L = LSE(log E, kappa * LSE(a - alpha log N, b - beta log D))`` with
  ``a, b = log A, log B``. Because ``t -> t**kappa`` is increasing for kappa > 0, the compute-optimal
  split at ``C = 6 N D`` is Chinchilla's closed form (`skaling_allocation`).
* ``farseer`` (Li et al. 2025, "Farseer: a refined scaling law", arXiv 2506.10972, Eq. 3), as
  coded in the active-sl benchmark (PlanarG/active-sl, farseer_scaling_law): 9 parameters,
  ``L = exp(s n**q + S) + exp(B n**b + Q) * D**(-exp(A n**a + E))``; the irreducible part, the
  coefficient and the D-exponent all depend on model size. Here ``n = N / 1e9``: an exact
  reparameterisation of the raw-N form (``s_raw = s * 1e9**-q``, ``B_raw = B * 1e9**-b``,
  ``A_raw = A * 1e9**-a``; see `farseer_from_raw_n`) that centres ``log n`` on the data and
  decorrelates each coefficient from its exponent. ``D`` stays in raw tokens: rescaling ``D``
  would change the family (the D-exponent depends on N), so it is not done. Fitted in the log form
  ``log L = LSE(s n**q + S, B n**b + Q - exp(A n**a + E) log D)``, with ``q, a > 0`` and ``b < 0``
  as the authors constrain them. Its compute-optimal split is numeric (`scalelab.frontier`).
"""

import jax.numpy as jnp
import numpy as np

from scalelab.laws.base import Law, Transform, positive

# -- skaling ------------------------------------------------------------------------------------


def _skaling_predict(p, x):
    return p["E"] + (p["A"] / x["N"] ** p["alpha"] + p["B"] / x["D"] ** p["beta"]) ** p["kappa"]


def _skaling_log_predict(u, x):
    reducible = jnp.logaddexp(u["log_A"] - u["alpha"] * jnp.log(x["N"]), u["log_B"] - u["beta"] * jnp.log(x["D"]))
    t1, t2 = jnp.broadcast_arrays(jnp.exp(u["log_kappa"]) * reducible, u["log_E"])
    return jnp.logaddexp(t1, t2)


def skaling_allocation(params, C):
    """Closed-form compute-optimal ``(N_opt, D_opt)`` of `SKALING` at compute ``C`` (FLOPs, ``C = 6 N D``).

    At fixed ``C`` the loss is ``E + g(N)**kappa`` with ``g`` Chinchilla's reducible part, and
    ``t -> t**kappa`` is increasing for kappa > 0, so the minimiser is Chinchilla's (Hoffmann et al.
    2022, Eq. 4): ``G = (alpha A / (beta B))**(1/(alpha+beta))``, ``N_opt = G (C/6)**(beta/(alpha+beta))``,
    ``D_opt = (C/6)**(alpha/(alpha+beta)) / G``. kappa and E do not enter.

    Args:
      params: natural parameters (``A, B, alpha, beta``; others ignored); scalars or arrays that
        broadcast with ``C`` (e.g. posterior draws).
      C: compute in FLOPs.

    Returns:
      ``(N_opt, D_opt)`` as NumPy float64 arrays (parameters, tokens).
    """
    A, B, a, b = (np.asarray(params[k], float) for k in ("A", "B", "alpha", "beta"))
    C = np.asarray(C, float)
    G = (a * A / (b * B)) ** (1.0 / (a + b))
    N = G * (C / 6.0) ** (b / (a + b))
    return N, C / (6.0 * N)


# Starts: Chinchilla's range for the scales and exponents, thinned, crossed with kappa in (0.2, 1.2)
# (LAWS.md §2b: fitted kappa 0.22-0.77 on public sweeps).  Effective exponents are kappa*alpha, kappa*beta,
# so the exponent axes reach beyond Hoffmann's.
SKALING_GRID = {
    "log_E": (-0.5, 0.0, 0.5, 1.0),
    "log_A": (0.0, 5.0, 10.0, 20.0),
    "log_B": (0.0, 5.0, 10.0, 20.0),
    "alpha": (0.2, 0.5, 1.0),
    "beta": (0.2, 0.5, 1.0),
    "log_kappa": tuple(np.log([0.3, 0.6, 1.0])),
}

SKALING = Law(
    name="skaling",
    aliases=("videau2026", "kappa_chinchilla"),
    inputs=("N", "D"),
    params=("E", "A", "B", "alpha", "beta", "kappa"),
    predict=_skaling_predict,
    log_predict=_skaling_log_predict,
    transforms={"E": positive, "A": positive, "B": positive, "kappa": positive},
    start_grid=SKALING_GRID,
    start_ranges={
        "log_E": (-1.0, 1.0),
        "log_A": (0.0, 25.0),
        "log_B": (0.0, 25.0),
        "alpha": (0.05, 2.0),
        "beta": (0.05, 2.0),
        "log_kappa": (float(np.log(0.2)), float(np.log(1.2))),
    },
    reference={},
    citation="Videau et al. 2026, arXiv 2608.07222 (kappa-coupled Chinchilla); LAWS.md §2b",
    conventions=("N: total parameters (embeddings included, as chinchilla); D: training tokens; loss in nats/token. "
                 "kappa = 1 is chinchilla. Compute-optimal split under C = 6ND: skaling_allocation (closed form). "
                 "No published coefficients carried (LAWS.md: abstract and a third-party summary only)."),
    description="Kappa-coupled Chinchilla E + (A/N^alpha + B/D^beta)^kappa.",
)

# -- farseer ------------------------------------------------------------------------------------

FARSEER_N_UNIT = 1e9  # N enters as n = N / 1e9 (exact reparameterisation of the raw-N form)

# b < 0 (the coefficient's N-dependence decays), as the authors constrain it.
negative = Transform("negative", "log_neg_", lambda u: -jnp.exp(u), lambda v: jnp.log(-v))


def _farseer_predict(p, x):
    n = x["N"] / FARSEER_N_UNIT
    return (jnp.exp(p["s"] * n ** p["q"] + p["S"])
            + jnp.exp(p["B"] * n ** p["b"] + p["Q"]) * x["D"] ** (-jnp.exp(p["A"] * n ** p["a"] + p["E"])))


def _farseer_log_predict(u, x):
    ln = jnp.log(x["N"] / FARSEER_N_UNIT)
    irreducible = u["s"] * jnp.exp(jnp.exp(u["log_q"]) * ln) + u["S"]
    exponent = jnp.exp(u["A"] * jnp.exp(jnp.exp(u["log_a"]) * ln) + u["E"])
    data_term = u["B"] * jnp.exp(-jnp.exp(u["log_neg_b"]) * ln) + u["Q"] - exponent * jnp.log(x["D"])
    t1, t2 = jnp.broadcast_arrays(irreducible, data_term)
    return jnp.logaddexp(t1, t2)


def farseer_from_raw_n(raw):
    """Convert farseer parameters stated on raw ``N`` (parameters) to this law's ``n = N/1e9`` form."""
    p = dict(raw)
    p["s"] = raw["s"] * FARSEER_N_UNIT ** raw["q"]
    p["B"] = raw["B"] * FARSEER_N_UNIT ** raw["b"]
    p["A"] = raw["A"] * FARSEER_N_UNIT ** raw["a"]
    return p


# Random starts only: 9 parameters make any useful Cartesian grid too large.  Ranges in the n = N/1e9 form,
# wide enough to hold fits to Epoch, the Hitchhiker (Gadre) families and Porian's configurations.
FARSEER = Law(
    name="farseer",
    aliases=("li2025_farseer",),
    inputs=("N", "D"),
    params=("E", "s", "q", "S", "B", "b", "Q", "A", "a"),
    predict=_farseer_predict,
    log_predict=_farseer_log_predict,
    transforms={"q": positive, "b": negative, "a": positive},
    start_grid=None,
    start_ranges={
        "E": (-3.0, 1.0),
        "s": (-1.5, 0.5),
        "log_q": (float(np.log(0.02)), float(np.log(0.8))),
        "S": (-0.5, 2.0),
        "B": (-3.0, 3.0),
        "log_neg_b": (float(np.log(0.02)), float(np.log(0.8))),
        "Q": (0.0, 15.0),
        "A": (-3.0, 1.0),
        "log_a": (float(np.log(0.01)), float(np.log(0.5))),
    },
    reference={},
    citation="Li et al. 2025, 'Farseer: a refined scaling law in large language models', arXiv 2506.10972, Eq. 3",
    conventions=("N: total parameters, entering as n = N/1e9 (s, B, A are on that scale; farseer_from_raw_n "
                 "converts raw-N coefficients); D: training tokens, raw; loss in nats/token. Compute-optimal "
                 "split: numeric (scalelab.frontier). No published coefficients carried."),
    description="Farseer exp(s n^q + S) + exp(B n^b + Q) D^-exp(A n^a + E), n = N/1e9.",
)
