"""Robust outliers of a fit: runs whose log-loss residual lies far from the others'.

A run is named when ``|r - median(r)| > k * MAD`` with ``r = log L_pred - log L`` and
``MAD = median(|r - median(r)|)`` (k = 6 by default: about 4 standard deviations of a normal
sample, so a clean table of a few hundred runs names none), and the miss exceeds ``floor``
(1% of the loss). The floor matters: a Huber fit with a small delta behaves like a median
(L1) fit and passes exactly through several runs, which shrinks the MAD below the noise, and
a near-perfect fit has a MAD of round-off; neither should name runs that miss by 0.5%. The Huber fit already limits such a
run's pull; the warning says which runs to check (a unit mistake, a diverged run, a typo).
"""

from __future__ import annotations

import numpy as np


def robust_outliers(table, log_residuals, k: float = 6.0, floor: float = 1e-2) -> dict:
    """``{"index": labels, "residual": log residuals, "mad": MAD}`` of the runs beyond ``k`` MADs.

    ``log_residuals``: the fit's own, ``log L_pred - log L`` in the table's row order
    (`FitResult.log_residuals`: computed inside the fit's program, not again here).
    """
    r = np.asarray(log_residuals, float)
    med = np.median(r)
    mad = float(np.median(np.abs(r - med)))
    far = (np.abs(r - med) > max(k * mad, floor)) & np.isfinite(r)
    return {"index": list(table.df.index[far]), "residual": r[far].tolist(), "mad": mad}


__all__ = ["robust_outliers"]
