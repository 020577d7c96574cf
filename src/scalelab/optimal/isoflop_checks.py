"""What `scalelab.isoflop` says of its inputs besides the runs' own checks: resample counts too few for an interval,
a tolerance that merges separate isoFLOP profiles into one budget, and the table's notes in isoflop's terms.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scalelab.levels import count_problem
from scalelab.optimal.profiles import DEFAULT_TOLERANCE
from scalelab.runs.rows import REPEATS_FITTED

# Fewest resamples that give a percentile interval: a 90% interval's ends are the 5% tails, which under 20 resamples
# hold no draw (one resample gives an interval of zero width, which need not hold the point estimate)
MIN_RESAMPLES = 20


def resamples(n, name: str, flag: str, what: str, ci: float) -> tuple[int, list[str]]:
    """``(n used, warnings)`` for ``n`` resamples of ``what`` (argument ``name``, CLI option ``flag``): a ValueError in
    the CLI's words (`count_problem`) when ``n`` is no count >= 0; 0 (no interval, and so no verdict that rests on
    one), with a warning, when ``0 < n <`` `MIN_RESAMPLES`."""
    problem = count_problem(n, 0)
    if problem:
        raise ValueError(f"{name}: {problem} ({what}; 0 for none)")
    if 0 < n < MIN_RESAMPLES:
        return 0, [f"{n} {what} ({name}, {flag}) are too few for a {100 * ci:g}% interval (its ends would be single "
                   f"resamples): no interval is given for them, nor a verdict that rests on it; give {flag} "
                   f"{MIN_RESAMPLES} or more (0 for none)"]
    return int(n), []


# Runs of one budget whose C lie more than this factor apart (sorted, next to each other) belong to separate budgets: no
# rounding or digitising of one budget's C leaves such a gap (twice the default tolerance)
BUDGET_GAP = 1.0 + 2 * DEFAULT_TOLERANCE


def merged_budgets(points: pd.DataFrame, budgets: np.ndarray, tolerance: float, min_sizes: int) -> list[str]:
    """A warning when ``tolerance`` puts into one budget runs that form two or more isoFLOP profiles of their own:
    groups of runs whose sorted C jump by more than `BUDGET_GAP` between them, each with ``min_sizes`` model sizes.
    One profile's minimum then mixes budgets (``--tolerance 5``, meant as 5%, merges 1e19 and 3e19 FLOPs); C spread
    evenly over a wide tolerance (jittered, digitised) has no such gap and says nothing. ``points`` as `isoflop`'s
    (``budget``, ``C``, ``size``); the warning names the merged budgets and a tolerance that keeps them apart."""
    merged, gaps = [], []
    for k in range(len(budgets)):  # ragged groups of data
        p = points[points["budget"] == k].sort_values("C", kind="stable")
        lc, size = np.log(p["C"].to_numpy(float)), p["size"].to_numpy()
        group = np.concatenate([[0], np.cumsum(np.diff(lc) > np.log(BUDGET_GAP))])
        subs = np.exp(np.bincount(group, lc) / np.bincount(group))  # geometric means, ascending
        sizes = np.array([np.unique(size[group == j]).size for j in range(len(subs))])
        full = subs[sizes >= min_sizes]
        if full.size > 1:
            merged.append(f"C={budgets[k]:.3g} holds " + ", ".join(f"C={c:.3g} ({s} sizes)" for c, s in
                                                                   zip(subs, sizes) if s >= min_sizes))
            gaps.append(float(np.min(full[1:] / full[:-1])) - 1.0)
    if not merged:
        return []
    return [f"tolerance {tolerance:g} merges runs that form separate isoFLOP profiles into one budget "
            f"({'; '.join(merged[:6])}{'; ...' if len(merged) > 6 else ''}): a profile's minimum is only meaningful "
            f"at one compute budget; give a tolerance below {min(gaps):.3g} (it is a fraction: 0.05 for 5%)"]


# isoflop's reading of a file's repeated rows, in place of a fit's (`scalelab.runs.rows.repeated_rows`)
REPEATS_AVERAGED = ("isoflop averages the runs of one model size in a budget, so a copy moves a profile only where "
                    "its size has other runs too (an Approach 3 law fit counts each copy as a run)")


def isoflop_notes(notes) -> tuple[str, ...]:
    """The run table's notes as they hold for `isoflop`: a repeated row is averaged with its copy, not fitted twice."""
    return tuple(n.replace(REPEATS_FITTED, REPEATS_AVERAGED) for n in notes)
