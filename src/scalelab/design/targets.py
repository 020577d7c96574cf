"""Forecast targets: a quantity a decision rests on, written ``QUANTITY@INPUTS``.

* ``loss@N=1e9,D=2e10``: predicted loss (nats/token) at given N and D;
* ``loss@C=1e24``: predicted loss at the compute-optimal point of budget C (``C = 6ND``);
* ``N_opt@C=1e24``, ``D_opt@C=1e24``, ``tokens_per_param@C=1e24``: the compute-optimal
  split (`scalelab.optimal.frontier`).

Other law inputs are given the same way and held fixed (``loss@C=1e24,E=8``).
`target_fn` turns a target into a differentiable function of a law's unconstrained parameters.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Mapping

import jax.numpy as jnp
import numpy as np

from scalelab import laws as _laws
from scalelab.optimal.frontier import check_law, optimal_log_n
from scalelab.runs.columns import NUMERIC, alias, numbers

QUANTITIES = ("loss", "N_opt", "D_opt", "tokens_per_param")


@dataclasses.dataclass(frozen=True)
class Target:
    """A forecast quantity: ``quantity`` at ``at`` (``C``, or ``N`` and ``D``, plus held inputs)."""

    quantity: str
    at: Mapping[str, float]
    text: str

    @property
    def at_compute(self) -> bool:
        return "C" in self.at


_TARGET_RE = re.compile(r"^\s*([A-Za-z_]+)\s*@\s*(.+?)\s*$")


def parse_target(text: str) -> Target:
    """Parse ``loss@C=1e24``, ``loss@N=1e9,D=2e10``, ``N_opt@C=1e24`` ... (see module doc)."""
    m = _TARGET_RE.match(str(text))
    if not m:
        raise ValueError(f"target {text!r} must look like 'loss@C=1e24' or 'loss@N=1e9,D=2e10'")
    quantity, rest = m.group(1), m.group(2)
    if quantity not in QUANTITIES:
        raise ValueError(f"target quantity {quantity!r} unknown; choose one of {QUANTITIES}")
    at = {}
    for part in rest.split(","):
        if "=" not in part:
            raise ValueError(f"target {text!r}: {part!r} is not NAME=VALUE")
        k, v = (s.strip() for s in part.split("=", 1))
        k = k if k in NUMERIC else (alias(k) or k)  # c=1e24 is C, as a run table's column c is
        at[k] = float(numbers([v], k).iloc[0])  # a count may carry a suffix (N=7B, D=1.4T), as --N 7B may
        if np.isnan(at[k]):
            raise ValueError(f"target {text!r}: {v!r} is not a number (7e9, or 7B)")
        if not (np.isfinite(at[k]) and at[k] > 0):
            raise ValueError(f"target {text!r}: {k} must be positive and finite")
    if "C" in at:
        if "N" in at or "D" in at:
            raise ValueError(f"target {text!r}: give either C (compute-optimal point) or N and D, not both")
    else:
        if quantity != "loss":
            raise ValueError(f"target {text!r}: {quantity} is defined at a compute budget; write {quantity}@C=...")
        if not at:  # which inputs: the law's (checked against the law in `target_fn`)
            raise ValueError(f"target {text!r}: give C=... or the law's inputs (e.g. N=...,D=...)")
    return Target(quantity, at, str(text).strip())


def target_fn(law, target: Target | str):
    """``T(theta)``: the target as a differentiable function of unconstrained parameters."""
    law = _laws.get(law)
    target = parse_target(target) if isinstance(target, str) else target
    at = dict(target.at)
    missing = sorted(set(law.inputs) - set(at) - ({"N", "D"} if target.at_compute else set()))
    if missing:
        raise ValueError(f"target {target.text!r}: law {law.name!r} also needs inputs {missing} (e.g. "
                         f"'{target.text},{missing[0]}=...')")
    unread = sorted(set(at) - set(law.inputs) - {"C"})
    if unread:  # e.g. E=8 for a dense law: the forecast would silently be the dense one
        raise ValueError(f"target {target.text!r}: law {law.name!r} does not read {unread} (its inputs: "
                         f"{', '.join(law.inputs)}); drop them, or pick a law that reads them")
    if target.at_compute:
        C = at.pop("C")
        check_law(law, at)
        extra = {k: jnp.asarray(v) for k, v in at.items() if k in law.inputs}

        def T(theta):
            u = optimal_log_n(law, theta, jnp.asarray(C), extra)
            N = jnp.exp(u)
            D = C / (6.0 * N)
            if target.quantity == "N_opt":
                return N
            if target.quantity == "D_opt":
                return D
            if target.quantity == "tokens_per_param":
                return D / N
            return jnp.exp(law.log_predict_theta(theta, {"N": N, "D": D, **extra}))
    else:
        x = {k: jnp.asarray(v) for k, v in at.items() if k in law.inputs}

        def T(theta):
            return jnp.exp(law.log_predict_theta(theta, x))
    return T


def reach_warnings(target: Target | str, table) -> list[str]:
    """A warning when ``target`` lies far beyond the runs of ``table`` (a `RunTable`): a budget ``C`` more than two
    decades above the runs' largest compute (about one decade of N and D along a compute-optimal frontier, where N and
    D grow as about the square root of C), or an ``N`` or ``D`` more than a decade above the runs' largest. That far,
    the forecast rests on the law's form alone, which no run checks (`scalelab forecast` says the same of its
    targets)."""
    target = parse_target(target) if isinstance(target, str) else target
    limits = {"C": 2.0, "N": 1.0, "D": 1.0}
    out = []
    for col, limit in limits.items():
        if col not in target.at or col not in table.columns or col in table.invalid:
            continue
        top = float(np.max(table.column(col)))
        beyond = float(np.log10(target.at[col] / top))
        if beyond > limit:
            out.append(f"the target {target.text} lies {beyond:.1f} decades beyond the runs' largest {col} ({top:.3g}; "
                       f"more than {limit:g}): a forecast that far rests on the law's form alone, which no run checks")
    return out


__all__ = ["QUANTITIES", "Target", "parse_target", "target_fn", "reach_warnings"]
