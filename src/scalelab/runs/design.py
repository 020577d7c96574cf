"""What a run table's design can determine: whether D follows N across runs, and when a curve table's last
checkpoints are too few or too alike for a final-loss law, so that its checkpoints must serve as runs.

Pure functions of arrays and DataFrames; `scalelab.fit.identify` words the warnings, `RunTable.final_points`
applies `checkpoints_needed`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scalelab.labels import as_text

# |corr(log N, log D)| above this, with a residual scatter below DEPENDENCE_SCATTER decades, is
# "D proportional to N" (a fixed tokens-per-parameter ratio, or any power of N).
DEPENDENCE_CORR = 0.999
DEPENDENCE_SCATTER = 0.02
MIN_FINAL_RUNS = 6         # a Chinchilla-type law (5 parameters) needs at least this many last checkpoints ...
MIN_FINAL_D_DECADES = 0.1  # ... spanning at least this much D, and D not a function of N among them


def d_follows_n(N, D) -> tuple[float, float, float] | None:
    """``(slope, intercept, scatter)`` of ``log10 D = slope log10 N + intercept`` when D is a function of N across
    the runs (|correlation| > `DEPENDENCE_CORR`, residual scatter < `DEPENDENCE_SCATTER` decades), else None.
    Needs 3 runs and both N and D varying; otherwise None."""
    a, b = np.log10(np.asarray(N, float)), np.log10(np.asarray(D, float))
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    corr = float(np.corrcoef(a, b)[0, 1])
    slope, icpt = np.polyfit(a, b, 1)
    scatter = float(np.std(b - (slope * a + icpt)))
    return (float(slope), float(icpt), scatter) if abs(corr) > DEPENDENCE_CORR and scatter < DEPENDENCE_SCATTER else None


def checkpoints_needed(df: pd.DataFrame, last: pd.DataFrame) -> str | None:
    """Why a final-loss law must read every checkpoint of this curve table (``run_id``, ``step``; N and D valid
    numbers) as a run at its own N and D, or None. ``last``: each run's last checkpoint (`RunTable.final`).

    Each run's last checkpoint is what a final-loss law is fitted on. When the table records D at every
    checkpoint (D varies within a run, as tokens seen) and the last checkpoints cannot separate the law's N and D
    terms (fewer than `MIN_FINAL_RUNS` runs; less than `MIN_FINAL_D_DECADES` of D among them, a ladder whose
    runs all stop at one token count; or D a function of N among them, every run stopped at one tokens per
    parameter), the checkpoints are the only independent D variation there is (the Hitchhiker protocol, Choshen
    et al. 2025). A checkpoint of a decaying schedule sits above the loss of a run trained to that D, which the
    returned reason says."""
    if not (df["D"].groupby(as_text(df["run_id"])).nunique() > 1).any():
        return None  # D written once per run (its final D on every row): the checkpoints hold no other D
    if len(last) < MIN_FINAL_RUNS:
        short = f"only {len(last)} runs"
    elif (span := float(np.ptp(np.log10(last["D"].to_numpy(float))))) < MIN_FINAL_D_DECADES:
        short = f"their D spans {span:.2g} decades"
    elif (follows := d_follows_n(last["N"], last["D"])) is not None:
        short = f"their D is a function of N, log D = {follows[0]:.3g} log N + {follows[1]:.3g}"
    else:
        return None
    return (f"each run's last checkpoint cannot determine a final-loss law ({short}), so every checkpoint is read as "
            f"a run at its own D (tokens seen); a checkpoint of a decaying schedule sits above the loss of a run "
            f"trained to that D, and checkpoints of one run are not independent runs")
