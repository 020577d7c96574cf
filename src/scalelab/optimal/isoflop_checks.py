"""What `scalelab.isoflop` says of its inputs besides the runs' own checks: resample counts too few for an
interval.
"""

from __future__ import annotations

from scalelab.levels import count_problem

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

