"""Synthetic run tables drawn from a known law (for recovery and calibration tests).

Noise is multiplicative on the loss: ``loss = L(N, D) * exp(sigma * eps)``, so
``sigma`` is the standard deviation of the log-loss residual (``sigma=0.01`` is
"1% noise"). ``eps`` is standard normal, or Student-t with ``df`` degrees of
freedom scaled to unit variance when ``df`` is given.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from scalelab.laws.base import is_curve_law
from scalelab.laws.given import held_fit, law_and_params
from scalelab.runs.amounts import AMOUNT_COLUMNS, law_inputs


def isoflop_design(budgets=(1e18, 3e18, 1e19, 3e19, 1e20), n_per_budget: int = 8,
                   tokens_per_param=(2.0, 200.0)) -> dict:
    """(N, D) pairs on isoFLOP curves ``C = 6 N D``, log-spaced in tokens per parameter."""
    budgets = np.atleast_1d(np.asarray(budgets, float))
    lo, hi = (float(v) for v in tokens_per_param)
    if budgets.ndim != 1 or not (np.all(np.isfinite(budgets)) and np.all(budgets > 0)):
        raise ValueError(f"budgets must be compute budgets in FLOPs, finite and > 0; got {budgets}")
    if not (0 < lo <= hi < np.inf) or int(n_per_budget) < 1:
        raise ValueError(f"tokens_per_param must be (low, high) with 0 < low <= high, and n_per_budget >= 1; "
                         f"got {tokens_per_param}, {n_per_budget}")
    ratios = np.geomspace(lo, hi, int(n_per_budget))
    C = np.repeat(budgets, n_per_budget)
    r = np.tile(ratios, len(budgets))
    N = np.sqrt(C / (6.0 * r))
    return {"N": N, "D": C / (6.0 * N), "C": C}


def simulate(law, params: Mapping[str, float] | None = None, inputs: Mapping[str, np.ndarray] | None = None, *,
             sigma: float = 0.01, df: float | None = None, seed: int = 0) -> pd.DataFrame:
    """A run table with losses from ``law`` at ``params`` plus noise.

    Args:
      law: law name or `Law`, or a `FitResult` (its law, and its parameters unless ``params`` is given).
      params: natural parameters (a dict, or a `FitResult` of ``law``).
      inputs: input columns (default: `isoflop_design()`: N, D and C, for laws of ``N`` and ``D``); a scalar is one
        run, and a scalar beside arrays is held at that value for every run. Read as ``predict`` reads its inputs
        (`scalelab.runs.amounts.law_inputs`): ``D`` may come as ``C`` (``D = C / 6N``) or ``tokens_per_param``
        (``D = r N``), and ``N`` or ``D`` outside a language-model run's range (``N=7`` for 7B) is refused. Columns
        the law does not read are kept in the table. A learning-curve law needs its per-checkpoint ``run_id``,
        ``step`` and ``lr``.
      sigma: std of log-loss noise.
      df: Student-t degrees of freedom (None: Gaussian).
      seed: NumPy seed (same seed, same table).

    Raises:
      ValueError: a parameter or input missing, or an input out of range, naming it and the fix.
    """
    hint = " (simulate(fit) takes the fit's own parameters: give inputs by keyword, inputs=...)" * held_fit(law)
    law, params = law_and_params(law, params)
    missing = [p for p in law.params if p not in params]
    if missing:
        raise ValueError(f"law {law.name!r} needs parameters {missing} (its parameters: {list(law.params)}){hint}")
    if not (np.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"sigma (the sd of the log-loss noise) must be finite and >= 0, got {sigma}")
    if inputs is None and not set(law.inputs) <= {"N", "D", "C"}:
        raise ValueError(f"law {law.name!r} reads inputs {list(law.inputs)}; the default design gives only N, D and "
                         f"C: pass inputs={{{', '.join(repr(k) + ': ...' for k in law.inputs)}}}"
                         + (" (one entry per checkpoint)" if is_curve_law(law) else ""))
    if inputs is None:
        inputs = isoflop_design()
    # a scalar is one run; inputs of different lengths broadcast (one N against several D) or are refused
    inputs = {k: np.atleast_1d(np.asarray(v, float)) for k, v in inputs.items()}
    try:
        inputs = dict(zip(inputs, np.broadcast_arrays(*inputs.values())))
    except ValueError:
        raise ValueError(f"inputs must be scalars or arrays of one length (one entry per run); got lengths "
                         f"{ {k: len(v) for k, v in inputs.items()} }") from None
    if is_curve_law(law):  # read per checkpoint by the law itself, as FitResult.predict leaves them
        absent = [k for k in law.inputs if k not in inputs]
        if absent:
            raise ValueError(f"law {law.name!r} needs inputs {absent} (one entry per checkpoint)")
    else:  # predict's rules: D from C or tokens_per_param, values in range; given columns it does not read are kept
        short = not set(law.inputs) <= set(inputs)
        read = {k: v for k, v in inputs.items() if k in law.inputs or (short and k in AMOUNT_COLUMNS)}
        inputs = {**inputs, **law_inputs(law.name, law.inputs, read)}
    clean = np.asarray(law(params, **{k: inputs[k] for k in law.inputs}), float)
    rng = np.random.default_rng(seed)
    if df is None:
        eps = rng.standard_normal(clean.shape)
    else:
        eps = rng.standard_t(df, clean.shape) * np.sqrt((df - 2.0) / df) if df > 2 else rng.standard_t(df, clean.shape)
    df_out = pd.DataFrame(inputs)
    if "C" not in df_out and {"N", "D"} <= set(df_out):
        df_out["C"] = 6.0 * df_out["N"] * df_out["D"]
    df_out["loss"] = clean * np.exp(sigma * eps)
    return df_out
