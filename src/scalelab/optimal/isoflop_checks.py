"""What `scalelab.isoflop` says of its inputs besides the runs' own checks: resample counts too few for an interval
and the table's notes in isoflop's terms.
"""

from __future__ import annotations

from scalelab.levels import count_problem
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


# isoflop's reading of a file's repeated rows, in place of a fit's (`scalelab.runs.rows.repeated_rows`)
REPEATS_AVERAGED = ("isoflop averages the runs of one model size in a budget, so a copy moves a profile only where "
                    "its size has other runs too (an Approach 3 law fit counts each copy as a run)")


def isoflop_notes(notes) -> tuple[str, ...]:
    """The run table's notes as they hold for `isoflop`: a repeated row is averaged with its copy, not fitted twice."""
    return tuple(n.replace(REPEATS_FITTED, REPEATS_AVERAGED) for n in notes)
