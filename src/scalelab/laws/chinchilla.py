"""Chinchilla law (Hoffmann et al. 2022, arXiv 2203.15556, Eq. 2 / Approach 3).

``L(N, D) = E + A / N**alpha + B / D**beta``

N is the total parameter count (Hoffmann count non-embedding and embedding
parameters alike), D training tokens; loss in nats/token. Fitted, as Hoffmann
and Epoch do, in the log-sum-exp form
``log L = LSE(a - alpha log N, b - beta log D, e)`` with ``A, B, E = exp(a, b, e)``
on the Hoffmann grid of 4,500 starts.
"""

import jax.numpy as jnp
import numpy as np

from scalelab.laws.base import Law, positive


def _predict(p, x):
    # A N^-alpha as A exp(-alpha log N): the same number, and log N is then an operation on the data
    # alone, computed once by the variable-projection screen rather than at each of its grid points
    return p["E"] + p["A"] * jnp.exp(-p["alpha"] * jnp.log(x["N"])) + p["B"] * jnp.exp(-p["beta"] * jnp.log(x["D"]))


def _log_predict(u, x):
    # Hoffmann/Epoch parameterisation: a = log A, b = log B, e = log E.
    terms = jnp.stack(
        jnp.broadcast_arrays(
            u["log_A"] - u["alpha"] * jnp.log(x["N"]),
            u["log_B"] - u["beta"] * jnp.log(x["D"]),
            u["log_E"],
        ),
        axis=0,
    )
    return jnp.logaddexp(jnp.logaddexp(terms[0], terms[1]), terms[2])


def hoffmann_split(p, C):
    """Hoffmann et al. 2022, Eq. 4, the compute-optimal split of ``E + A/N^alpha + B/D^beta`` under ``C = 6ND``:
    ``G = (alpha A / (beta B))^(1/(alpha+beta))``, ``N_opt = G (C/6)^(beta/(alpha+beta))``,
    ``D_opt = (C/6)^(alpha/(alpha+beta)) / G`` (natural ``p``, NumPy scalars or arrays that broadcast with ``C``).
    Also the split of every law whose loss at fixed C is an increasing function of that one (`skaling`)."""
    # No minimum unless the loss falls with both N and D: an exponent <= 0 gives NaN (a negative one alone gave a
    # finite, negative N_opt), which the callers refuse (`optimal.closed_form.split_error`)
    E, A, B, a, b = (np.asarray(p[k], float) for k in ("E", "A", "B", "alpha", "beta"))  # a float's ** may go complex
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # that NaN, quietly
        G = np.where((a > 0) & (b > 0), (a * A / (b * B)) ** (1.0 / (a + b)), np.nan)
        N = G * (C / 6.0) ** (b / (a + b))
        D = (C / 6.0) ** (a / (a + b)) / G
        return {"N_opt": N, "D_opt": D, "tokens_per_param": D / N, "loss": E + A / N**a + B / D**b}


HOFFMANN_GRID = {
    "log_E": tuple(np.arange(-1.0, 1.01, 0.5)),
    "log_A": tuple(np.arange(0.0, 25.1, 5.0)),
    "log_B": tuple(np.arange(0.0, 25.1, 5.0)),
    "alpha": tuple(np.arange(0.0, 2.01, 0.5)),
    "beta": tuple(np.arange(0.0, 2.01, 0.5)),
}

CHINCHILLA = Law(
    name="chinchilla",
    aliases=("hoffmann2022", "hoffmann"),
    inputs=("N", "D"),
    params=("E", "A", "B", "alpha", "beta"),
    predict=_predict,
    log_predict=_log_predict,
    allocation=hoffmann_split,
    transforms={"E": positive, "A": positive, "B": positive},
    start_grid=HOFFMANN_GRID,
    start_ranges={
        "log_E": (-1.0, 1.0),
        "log_A": (0.0, 25.0),
        "log_B": (0.0, 25.0),
        "alpha": (0.0, 2.0),
        "beta": (0.0, 2.0),
    },
    reference={
        # Hoffmann et al. 2022, Eq. 10 (unrounded values from their fit; LAWS.md).
        "hoffmann2022": {"E": 1.6934, "A": float(np.exp(6.0073404)), "B": float(np.exp(6.0179186)),
                         "alpha": 0.33917084, "beta": 0.2849083},
        # Besiroglu et al. 2024 (Epoch replication), Table 1 / final estimates.
        "epoch2024": {"E": 1.8169, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658},
    },
    citation="Hoffmann et al. 2022, arXiv 2203.15556, Eq. 2; Besiroglu et al. 2024, arXiv 2404.10102",
    conventions="N: total parameters (embeddings included); D: training tokens; loss in nats/token.",
    description="Dense compute-optimal law E + A/N^alpha + B/D^beta.",
    linear=("E", "A", "B"),
)
