"""Coupled loss laws: the N and D terms do not simply add.

* ``skaling`` (Videau et al. 2026, arXiv 2608.07222; LAWS.md §2b): kappa-coupled Chinchilla
  ``L = E + (A / N**alpha + B / D**beta)**kappa``. kappa = 1 is Chinchilla exactly. Fitted in the
  log-sum-exp form ``log L = LSE(log E, kappa * LSE(a - alpha log N, b - beta log D))`` with
  ``a, b = log A, log B``. Because ``t -> t**kappa`` is increasing for kappa > 0, the compute-optimal
  split at ``C = 6 N D`` is Chinchilla's closed form (`skaling_allocation`).
* ``farseer`` (Li et al. 2025, "Farseer: a refined scaling law", arXiv 2506.10972, Eq. 3), as
  coded in the active-sl benchmark (PlanarG/active-sl, farseer_scaling_law): 9 parameters,
  ``L = exp(s N**q + S) + exp(B N**b + Q) * D**(-exp(A N**a + E))``; the irreducible part, the
  coefficient and the D-exponent all depend on model size. Fitted raw (with the code's bounds
  ``q, a > 0 > b``), that form is degenerate: on Epoch, a Gadre and a Porian table the fits ran to
  ``q ~ 0.001`` with ``s, S ~ -100, +100`` (the irreducible part tending to a power of N) and did
  not converge. So the law is declared in a centred
  Box-Cox form, ``n = N / 1e9``, each ``c N**k + C`` written ``C' + c' (n**k - 1) / k``:
  the same function for ``k != 0`` (`farseer_from_paper`, `farseer_to_paper` convert), whose
  ``k -> 0`` limit ``C' + c' log n`` lies at finite parameters. ``C'`` is the term's value at
  N = 1e9 and ``c'`` its slope in log N. The data term's offset is further shifted by
  ``exp(E) log 1e10`` so that ``Q`` is the log data term at N = 1e9, D = 1e10 (also exact; it
  decouples ``Q`` from ``E``). ``D`` itself is not rescaled: that would change the family (the
  D-exponent depends on N). Log form: ``log L = LSE(S + s bc_q(n), Q + B bc_b(n) + e^E log 1e10
  - exp(E + A bc_a(n)) log D)``. The compute-optimal split is numeric (`scalelab.optimal.frontier`).
"""

import jax.numpy as jnp
import numpy as np

from scalelab.laws.base import Law, positive
from scalelab.laws.chinchilla import hoffmann_split

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
    p = {k: np.asarray(params[k], float) for k in ("A", "B", "alpha", "beta")}
    out = hoffmann_split({**p, "E": 0.0}, np.asarray(C, float))  # an exponent <= 0: no minimum, NaN
    return out["N_opt"], out["D_opt"]


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
    citation="Videau et al. 2026, arXiv 2608.07222 (kappa-coupled Chinchilla)",
    conventions=("N: total parameters (embeddings included, as chinchilla); D: training tokens; loss in nats/token. "
                 "kappa = 1 is chinchilla. Compute-optimal split under C = 6ND: skaling_allocation (closed form). "
                 "No published coefficients carried (the source is the abstract and a third-party summary only)."),
    description="Kappa-coupled Chinchilla E + (A/N^alpha + B/D^beta)^kappa.",
)

# -- farseer ------------------------------------------------------------------------------------

FARSEER_N_UNIT = 1e9  # N enters as n = N / 1e9
FARSEER_D_REF = 1e10  # Q is the log of the data term at N = 1e9, D = 1e10 tokens


def _box_cox(q, ln):
    """``(n**q - 1) / q`` from ``ln = log n``, exact at ``q = 0`` (``log n``) and smooth through it."""
    z = q * ln
    small = jnp.abs(z) < 1e-8
    z_safe = jnp.where(small, 1.0, z)
    return ln * jnp.where(small, 1.0 + 0.5 * z, jnp.expm1(z_safe) / z_safe)


def _farseer_log_terms(p, x):
    """(log irreducible part, log data term) at ``x`` for natural ``p`` (every farseer parameter is real)."""
    ln = jnp.log(x["N"] / FARSEER_N_UNIT)
    log_irreducible = p["S"] + p["s"] * _box_cox(p["q"], ln)
    exponent = jnp.exp(p["E"] + p["A"] * _box_cox(p["a"], ln))
    log_data = (p["Q"] + p["B"] * _box_cox(p["b"], ln) + jnp.exp(p["E"]) * np.log(FARSEER_D_REF)
                - exponent * jnp.log(x["D"]))
    return jnp.broadcast_arrays(log_irreducible, log_data)


def _farseer_predict(p, x):
    log_irr, log_data = _farseer_log_terms(p, x)
    return jnp.exp(log_irr) + jnp.exp(log_data)


def _farseer_log_predict(u, x):
    return jnp.logaddexp(*_farseer_log_terms(u, x))  # identity transforms: u is p


_PAIRS = (("s", "q", "S"), ("B", "b", "Q"), ("A", "a", "E"))  # (coefficient, exponent, offset) of each c N^k + C


def farseer_from_paper(paper):
    """This law's parameters from the paper's (Li et al. 2025, Eq. 3) on raw ``N``, ``q, b, a != 0``.

    Paper form: ``exp(s N**q + S) + exp(B N**b + Q) * D**(-exp(A N**a + E))``. Ours writes each
    ``c N**k + C`` as ``C' + c' (n**k - 1)/k`` with ``n = N/1e9``, ``c' = c 1e9**k k``,
    ``C' = C + c 1e9**k`` (value and log-slope at N = 1e9), then ``Q'' = Q' - exp(E') log 1e10``.
    """
    out = {}
    for c, k, C in _PAIRS:
        scaled = float(paper[c]) * FARSEER_N_UNIT ** float(paper[k])
        out[c], out[k], out[C] = scaled * float(paper[k]), float(paper[k]), float(paper[C]) + scaled
    out["Q"] -= np.exp(out["E"]) * np.log(FARSEER_D_REF)
    return out


def farseer_to_paper(params):
    """Inverse of `farseer_from_paper` (needs ``q, b, a != 0``)."""
    params = {**params, "Q": float(params["Q"]) + np.exp(float(params["E"])) * np.log(FARSEER_D_REF)}
    out = {}
    for c, k, C in _PAIRS:
        scaled = float(params[c]) / float(params[k])
        out[c], out[k], out[C] = scaled * FARSEER_N_UNIT ** -float(params[k]), float(params[k]), float(params[C]) - scaled
    return out


# In the centred form each parameter means something, so starts are easy to state: S, Q the log irreducible
# loss and log data term at N = 1e9 (Q at D = 1e10), E the log D-exponent there; s, B, A their slopes in
# log N; q, b, a curvatures.  The grid is two values per axis (512 starts).
FARSEER_GRID = {"S": (0.35, 0.95), "s": (-0.2, 0.0), "q": (-0.5, 0.5), "Q": (-2.0, -0.4), "B": (-0.75, 0.75),
                "b": (-0.5, 0.5), "E": (-2.2, -0.4), "A": (-0.25, 0.25), "a": (-0.5, 0.5)}

# Solver settings for `scalelab.fit(runs, FARSEER, **FARSEER_FIT)`: on small tables (34 runs) the optimum lies
# in a long valley that takes 300-1,000 LM iterations, and 4 screening iterations rank the starts badly; with
# these settings the grid reaches the optimum of a 20,000-start search (benchmarks/coupled_laws.py --global).
FARSEER_FIT = {"keep": 64, "screen_iter": 16, "max_iter": 500}
FARSEER = Law(
    name="farseer",
    aliases=("li2025_farseer",),
    inputs=("N", "D"),
    params=("S", "s", "q", "Q", "B", "b", "E", "A", "a"),
    predict=_farseer_predict,
    log_predict=_farseer_log_predict,
    transforms={},
    start_grid=FARSEER_GRID,
    start_ranges={
        "S": (0.0, 1.3),
        "s": (-0.3, 0.1),
        "q": (-1.0, 1.0),
        "Q": (-3.0, 0.7),
        "B": (-1.5, 1.5),
        "b": (-1.0, 1.0),
        "E": (-3.0, 0.4),
        "A": (-0.5, 0.5),
        "a": (-1.0, 1.0),
    },
    reference={},
    citation="Li et al. 2025, 'Farseer: a refined scaling law in large language models', arXiv 2506.10972, Eq. 3",
    conventions=("N: total parameters, entering as n = N/1e9; D: training tokens; loss in nats/token. Centred "
                 "Box-Cox form of the paper's Eq. 3, bc_k(n) = (n^k - 1)/k (log n at k = 0): "
                 "L = exp(S + s bc_q(n)) + exp(Q + B bc_b(n) + e^E log 1e10) D^-exp(E + A bc_a(n)), the same "
                 "function as the paper's for q, b, a != 0 (farseer_from_paper / farseer_to_paper convert) plus its "
                 "limits at 0, where the paper's coefficients go to infinity. Exponents q, b, a are free reals (the "
                 "paper's code bounds q, a > 0 > b). Its fit_options (FARSEER_FIT) give more iterations than the default. "
                 "Compute-optimal split: numeric (scalelab.optimal.frontier). No published coefficients carried."),
    fit_options=FARSEER_FIT,
    description="Farseer exp(S + s bc_q(n)) + exp(Q' + B bc_b(n)) D^-exp(E + A bc_a(n)), n = N/1e9.",
)
