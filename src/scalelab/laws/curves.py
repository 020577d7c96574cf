"""Learning-curve laws: loss at every step of a run as a function of its learning-rate schedule.

Both laws read a curve table (``run_id, step, lr`` and ``loss`` per row; see
`scalelab.laws.schedule` for the schedule convention: piecewise linear between rows, linear
warm-up from 0 at step 0 up to a first row above step 0). Their ``prepare`` turns a table into
per-row arrays: the row's step ``t`` [n] and its run's schedule knots ``knot_step``,
``knot_lr`` [n, K]; ``predict`` integrates the schedule up to ``t`` in JAX, vectorised over rows,
differentiable in the parameters and in the learning rates.

Integrals (per-step sums as in the multi-power law's code, learning rate x steps):

* ``S(t) = sum_{tau=0..t} eta_tau``: the summed learning rate, warm-up included (the paper's
  ``S1(t) + S_W``);
* per segment ``j`` between knots (cut at ``t``), decrement ``d_j = eta(start) - eta(end)``
  (negative during warm-up), spread evenly over its steps;
* the multi-power loss-drop sum over the updates ``k`` of a segment is taken by two-point
  Gauss-Legendre quadrature (a segment is at most ``1/256`` of its run by default):
  within 1e-5 of the exact per-step sum on the loss in tests/test_curves.py, and within 2.2e-4
  (mean 3e-6) on the authors' 400M curves, the worst row being the first after a step change;
  the annealing momentum's geometric sums are exact per segment.

Parameters are natural; losses in nats per token.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from scalelab.programs import float64
from scalelab.laws.base import Law, is_curve_law, positive, unit

CURVE_INPUTS = ("run_id", "step", "lr")


@dataclasses.dataclass(frozen=True)
class CurveLaw(Law):
    """A `Law` over whole learning curves.

    Attributes (beyond `Law`'s):
      prepare: ``prepare(df, dtype) -> x``: a curve table's rows (a DataFrame with ``run_id``,
        ``step``, ``lr``) -> the arrays ``predict`` reads, one leading entry per row. The fitter
        calls it instead of reading ``inputs`` as columns.
    """

    prepare: Callable | None = None

    @float64
    def __call__(self, params, **inputs):
        """Predicted loss per row for ``run_id``, ``step``, ``lr`` arrays (one entry per row)."""
        import pandas as pd

        missing = [n for n in self.inputs if n not in inputs]
        if missing:
            raise TypeError(f"law {self.name!r} needs inputs {missing} (one entry per row)")
        df = pd.DataFrame({k: np.atleast_1d(np.asarray(inputs[k])) for k in CURVE_INPUTS})
        x = self.prepare(df, np.float64)
        return self.predict({k: jnp.asarray(v) for k, v in params.items()},
                            {k: jnp.asarray(v) for k, v in x.items()})


def refuse_curve_laws(names, what: str) -> None:
    """A ``ValueError`` when every law in ``names`` (names or Laws) is a learning-curve law, which ``what`` (scored on
    the final losses of runs of several sizes: `scalelab.compare`, `scalelab.report`) cannot use; it names the
    commands that can."""
    from scalelab import laws

    known = [n if not isinstance(n, str) else laws.get(n) for n in names if not isinstance(n, str) or n in laws.names()]
    curve = [lw.name for lw in known if is_curve_law(lw)]  # (an unknown name is no curve law)
    if curve and len(curve) == len(names):
        raise ValueError(f"{what}: {', '.join(curve)} {'is a learning-curve law' if len(curve) == 1 else 'are learning-curve laws'} "
                         f"(the loss along a run's lr schedule, not across model sizes), which {what} cannot use; "
                         f"`scalelab forecast CURVES.csv --law auto --at SCHEDULES.csv` scores and weights the curve "
                         f"laws on held-out schedules, and `scalelab fit CURVES.csv --law NAME` fits one")


def prepare_curves(df, dtype=np.float64) -> dict:
    """Curve table rows -> ``{"t", "knot_step", "knot_lr"}`` (see `scalelab.laws.schedule.encode`)."""
    from scalelab.laws import schedule

    return schedule.encode(df, dtype=dtype)


class Segments(NamedTuple):
    """Schedule integrals of each row (leading shape ``[...]``) and of its knot segments ``[..., K-1]``."""

    S_t: jax.Array     # summed lr over steps 0..t (per-step sum; warm-up included)
    eta_t: jax.Array   # lr at t
    a_t: jax.Array     # trapezoid area from step 0 to t
    s0: jax.Array      # segment start step
    n: jax.Array       # steps of the segment before t (0 for segments after t)
    l0: jax.Array      # lr at the segment start
    slope: jax.Array   # lr change per step inside the segment
    a0: jax.Array      # trapezoid area from step 0 to the segment start
    d: jax.Array       # lr decrement over the segment's steps before t (negative in warm-up)


def segments(x) -> Segments:
    """Schedule integrals up to each row's step ``t`` (pure JAX, any leading shape).

    Args:
      x: ``t`` [...] row steps; ``knot_step``, ``knot_lr`` [..., K] the run's schedule knots.
    """
    t = x["t"][..., None]
    ks, kl = x["knot_step"], x["knot_lr"]
    s0, s1, l0, l1 = ks[..., :-1], ks[..., 1:], kl[..., :-1], kl[..., 1:]
    length = s1 - s0
    n = jnp.clip(t, s0, s1) - s0
    slope = jnp.where(length > 0, (l1 - l0) / jnp.where(length > 0, length, 1.0), 0.0)
    le = l0 + slope * n                              # lr where the segment stops (at t or its end)
    area = 0.5 * n * (l0 + le)
    a_end = jnp.cumsum(area, axis=-1)
    a_t = a_end[..., -1]
    eta0 = kl[..., 0]
    eta_t = eta0 + jnp.sum(le - l0, axis=-1)         # telescoping: lr at t
    S_t = a_t + 0.5 * (eta0 + eta_t)                 # per-step sum 0..t of a piecewise-linear lr
    return Segments(S_t, eta_t, a_t, s0, n, l0, slope, a_end - area, l0 - le)


# Two-point Gauss-Legendre nodes (fractions of a segment's covered steps); weights 1/2 each.
_GL_NODES = (0.5 - 0.5 / np.sqrt(3.0), 0.5 + 0.5 / np.sqrt(3.0))


def _multipower(p, x):
    g = segments(x)
    LD = 0.0
    for node in _GL_NODES:  # a segment's updates k = s0+1..s0+n, as an integral over k - s0 in [1/2, n + 1/2]
        u = 0.5 + node * g.n
        eta_k = jnp.maximum(g.l0 + g.slope * u, 1e-30)  # segments after t have d = 0; keep their terms finite
        h = u - 0.5                                      # S_k(t) = A(t) - A(k - 1/2) + eta_t / 2
        S_k = g.a_t[..., None] - (g.a0 + h * (g.l0 + 0.5 * g.slope * h)) + 0.5 * g.eta_t[..., None]
        G = 1.0 - (p["C"] * eta_k ** (-p["gamma"]) * S_k + 1.0) ** (-p["beta"])
        LD = LD + 0.5 * jnp.sum(g.d * G, axis=-1)
    return p["L0"] + p["A"] * g.S_t ** (-p["alpha"]) - p["B"] * LD


def _lr_annealing(p, x):
    g = segments(x)
    S_t, d, n, s0 = g.S_t, g.d, g.n, g.s0
    log_lam = jnp.log(p["lam"])
    one_minus = 1.0 - p["lam"]
    # S2 = sum_k (eta_{k-1} - eta_k) (1 - lam^(t-k+1)) / (1 - lam); inside a segment the per-step
    # decrement d/n is constant, so its geometric sum is exact:
    # sum_{k=s0+1..s0+n} lam^(t-k+1) = lam^(t-s0-n+1) (1 - lam^n) / (1 - lam)
    t = x["t"][..., None]
    n_safe = jnp.where(n > 0, n, 1.0)
    geo = jnp.exp((t - s0 - n + 1.0) * log_lam) * -jnp.expm1(n_safe * log_lam) / (one_minus * n_safe)
    S2 = jnp.sum(jnp.where(n > 0, d * (1.0 - geo), 0.0), axis=-1) / one_minus
    return p["L0"] + p["A"] * S_t ** (-p["alpha"]) - p["C"] * S2


_MULTIPOWER_REF = {  # authors' README / src/config.py (commit 8da9f19), order L0, A, alpha, B, C, beta, gamma
    "luo2025_25M": (3.04045406, 0.52468604, 0.50786857, 363.78751622, 2.06560812, 0.58279013, 0.64142257),
    "luo2025_100M": (2.6514477, 0.60115152, 0.45295811, 437.9464276, 2.13245612, 0.59785199, 0.65523644),
    "luo2025_400M": (2.37474466, 0.65421216, 0.42878731, 523.42464371, 2.02462735, 0.59350493, 0.63472457),
}
_MP_PARAMS = ("L0", "A", "alpha", "B", "C", "beta", "gamma")

# Solver settings of the curve laws: every row of a curve sums over the run's schedule knots (hundreds), so a
# sweep costs ~0.5 s on a 2-core CPU, and without pruning all 9 grid starts ran until the slowest converged
# (58 sweeps on the authors' 25M curves: 45 s). The best 3 after 8 sweeps go on: 8 s, the same optimum to
# 1e-13 there and on the authors' 100M and 400M curves (benchmarks/multipower.py).
CURVE_FIT = {"keep": 3, "screen_iter": 8}

MULTIPOWER = CurveLaw(
    name="multipower",
    aliases=("luo2025", "multi_power"),
    inputs=CURVE_INPUTS,
    params=_MP_PARAMS,
    predict=_multipower,
    prepare=prepare_curves,
    transforms={k: positive for k in _MP_PARAMS},
    start_grid={
        "log_L0": (np.log(1.5), np.log(2.2), np.log(3.0)),
        "log_A": (np.log(0.5),),
        "log_alpha": (np.log(0.5),),
        "log_B": (np.log(30.0), np.log(300.0), np.log(3000.0)),
        "log_C": (np.log(2.0),),
        "log_beta": (np.log(0.6),),
        "log_gamma": (np.log(0.6),),
    },
    start_ranges={
        "log_L0": (np.log(0.5), np.log(5.0)),
        "log_A": (np.log(0.05), np.log(5.0)),
        "log_alpha": (np.log(0.1), np.log(1.5)),
        "log_B": (np.log(3.0), np.log(3e4)),
        "log_C": (np.log(0.2), np.log(20.0)),
        "log_beta": (np.log(0.1), np.log(2.0)),
        "log_gamma": (np.log(0.1), np.log(1.0)),
    },
    reference={k: dict(zip(_MP_PARAMS, v)) for k, v in _MULTIPOWER_REF.items()},
    citation="Luo et al. 2025, 'A Multi-Power Law for Loss Curve Prediction Across Learning Rate Schedules', "
             "ICLR 2025, arXiv 2503.12811, Eq. 4-5; authors' code github.com/thu-yao-01-luo/MultiPowerLaw",
    conventions="Curve table: run_id, step (optimizer steps), lr (per-step learning rate at that step, piecewise "
                "linear between rows, linear warm-up from 0 at step 0), loss (nats/token at that step). "
                "L(t) = L0 + A S(t)^-alpha - B sum_k (eta_{k-1} - eta_k) (1 - (C eta_k^-gamma S_k(t) + 1)^-beta) "
                "with S(t) the summed lr over steps 0..t (warm-up included, = S1 + S_W) and the loss-drop sum "
                "over every step, warm-up included, as the authors' code does.",
    fit_options=CURVE_FIT,
    description="Multi-power law: whole loss curve over an LR schedule (Luo et al. 2025).",
)

LR_ANNEALING = CurveLaw(
    name="lr_annealing",
    aliases=("tissue2024",),
    inputs=CURVE_INPUTS,
    params=("L0", "A", "alpha", "C", "lam"),
    predict=_lr_annealing,
    prepare=prepare_curves,
    transforms={"L0": positive, "A": positive, "alpha": positive, "C": positive, "lam": unit},
    start_grid={
        "log_L0": (np.log(1.5), np.log(2.2), np.log(3.0)),
        "log_A": (np.log(0.5),),
        "log_alpha": (np.log(0.5),),
        "log_C": (np.log(0.03), np.log(0.3), np.log(3.0)),
        "logit_lam": (np.log(0.999 / 0.001),),
    },
    start_ranges={
        "log_L0": (np.log(0.5), np.log(5.0)),
        "log_A": (np.log(0.05), np.log(5.0)),
        "log_alpha": (np.log(0.1), np.log(1.5)),
        "log_C": (np.log(1e-3), np.log(30.0)),
        "logit_lam": (np.log(0.99 / 0.01), np.log(0.9999 / 0.0001)),
    },
    citation="Tissue et al. 2024, 'Scaling Law with Learning Rate Annealing', arXiv 2408.11029, Eq. 1",
    conventions="Curve table as for multipower. L(t) = L0 + A S(t)^-alpha - C S2(t), S(t) the summed lr over steps "
                "0..t (warm-up included), S2(t) = sum_{i<=t} m_i, m_i = lam m_{i-1} + (eta_{i-1} - eta_i) "
                "(annealing momentum, per step; warm-up decrements included, negative). lam per step, ~0.999.",
    fit_options=CURVE_FIT,
    description="LR-annealing law: loss curve from forward and annealing areas (Tissue et al. 2024).",
)
