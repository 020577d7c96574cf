"""The level of an interval (``ci``), one check for every function that takes it.

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


__all__ = ["check_ci"]
