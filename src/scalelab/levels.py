"""The level of an interval (``ci``), one check for every function that takes it; and what a count is (`is_count`,
`count_problem`).

``ci`` is the probability an interval holds (0.9 for a 90% interval), strictly between 0 and 1:
not a percentage (90) and not a string. Every interval in scalelab (posterior, bootstrap,
forecast, isoFLOP) goes through `check_ci`.
"""

from __future__ import annotations

import numbers


def check_ci(ci) -> float:
    """``ci`` as a float, or a ValueError saying what it must be."""
    if isinstance(ci, bool) or not isinstance(ci, numbers.Real):
        raise ValueError(f"ci must be a number in (0, 1), e.g. 0.9 for a 90% interval; got {ci!r}")
    if not 0.0 < float(ci) < 1.0:
        hint = f" (for {ci:g}% give ci={ci / 100:g})" if 1 < ci < 100 else ""
        raise ValueError(f"ci must lie in (0, 1), e.g. 0.9 for a 90% interval; got {ci!r}{hint}")
    return float(ci)


def is_count(value, least: int = 0) -> bool:
    """Whether ``value`` is a whole number (a Python or NumPy integer, not a bool or a float) >= ``least``: a count of
    draws, runs, resamples, rungs. The caller's error says what the count is."""
    return count_problem(value, least) is None


def count_problem(value, least: int = 0) -> str | None:
    """What is wrong with ``value`` as a count of at least ``least`` (`is_count`), in the words the CLI's count options
    use (``"must be at least 0, got -3"``), or None: the Python API's check of a count the CLI takes as an option."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        return f"must be a whole number, got {value!r}"
    return None if value >= least else f"must be at least {least}, got {value}"


__all__ = ["check_ci", "is_count", "count_problem"]
