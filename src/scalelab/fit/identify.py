"""Identifiability warnings: designs and fits whose parameters the data cannot pin down.

Each check returns plain strings (empty list: nothing to say). They are shared by `fit`,
`forecast` and the Bayesian posteriors, and printed on stderr / put in ``--json`` ``warnings``.

* D proportional to N across runs (log D an affine function of log N): the N and D exponents of
  a Chinchilla-type law trade off exactly, so only their combination is identified.
* every run shares one N or one D: that input's exponent and coefficient are not identified.
* less than a decade spanned in N or D: exponents rest on a short lever arm.
* a fitted parameter at the edge of its range (unconstrained value far outside the law's start
  range, a sigmoid-bounded value at 0 or 1, an exponent at zero).
"""

from __future__ import annotations

import numpy as np

# |corr(log N, log D)| above this, with a residual scatter below DEPENDENCE_SCATTER decades, is
# "D proportional to N" (a fixed tokens-per-parameter ratio, or any power of N).
DEPENDENCE_CORR = 0.999
DEPENDENCE_SCATTER = 0.02
MIN_DECADES = 1.0


def table_warnings(table, columns=("N", "D")) -> list[str]:
    """Warnings about the design of the run table (which inputs vary, and how much)."""
    out = []
    cols = [c for c in columns if c in table.columns]
    logs = {c: np.log10(table.column(c)) for c in cols}
    for c in cols:
        span = float(np.ptp(logs[c]))
        if span == 0.0:
            out.append(f"every run shares one {c} ({10 ** logs[c][0]:.4g}): parameters tied to {c} are not identified")
        elif span < MIN_DECADES:
            out.append(f"the runs span only {span:.2f} decades in {c} (less than {MIN_DECADES:g}): its exponent "
                       f"rests on a short lever arm")
    if len(cols) == 2 and all(np.ptp(logs[c]) > 0 for c in cols) and len(table) >= 3:
        a, b = logs[cols[0]], logs[cols[1]]
        corr = float(np.corrcoef(a, b)[0, 1])
        slope, icpt = np.polyfit(a, b, 1)
        scatter = float(np.std(b - (slope * a + icpt)))
        if abs(corr) > DEPENDENCE_CORR and scatter < DEPENDENCE_SCATTER:
            out.append(f"D is a function of N across the runs (log D = {slope:.3g} log N + {icpt:.3g}, scatter "
                       f"{scatter:.3g} decades): the N and D terms are not separately identified; vary D at fixed N")
    return out


def parameter_warnings(law, unconstrained: dict, margin: float = 1.0) -> list[str]:
    """Warnings for fitted parameters at the edge of their range.

    A parameter is at the edge when its unconstrained value lies more than ``margin`` range-widths
    outside the law's ``start_ranges`` (a scale or exponent running off to 0 or infinity), or when a
    sigmoid-bounded value is within 1e-6 of 0 or 1.
    """
    out = []
    for name, uname in zip(law.params, law.unconstrained_names):
        if uname not in unconstrained:
            continue
        u = float(unconstrained[uname])
        lo, hi = law.start_ranges[uname]
        width = hi - lo
        if not np.isfinite(u):
            out.append(f"parameter {name!r} of {law.name!r} is not finite")
            continue
        if u < lo - margin * width or u > hi + margin * width:
            out.append(f"parameter {name!r} of {law.name!r} is at the edge of its range ({uname} = {u:.3g}, "
                       f"range {lo:g}..{hi:g}): the data do not determine it")
            continue
        tr = law.transform(name).name
        if tr == "unit":
            v = 1.0 / (1.0 + np.exp(-u))
            if v < 1e-6 or v > 1 - 1e-6:
                out.append(f"parameter {name!r} of {law.name!r} is at the edge of (0, 1): {v:.3g}")
    return out


__all__ = ["table_warnings", "parameter_warnings"]
