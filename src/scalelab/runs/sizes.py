"""A ladder's model sizes read as rungs: sizes within a tolerance of each other are one nominal size.

Real tables write one nominal size several ways (digitised from a figure, rounded, counted with or without
embeddings: 1.0581184e8 and 1.0581199e8), so distinct float values are not distinct sizes. `size_groups` is the one
reading: the rolling origins of `scalelab.forecast` hold out its groups, and `scalelab.fit.variants.rollouts` fits
below them. Values in any positive unit; tolerances in decades (log10).
"""

from __future__ import annotations

import numpy as np

# The widest group of model sizes held out together (decades): `size_groups`
GROUP_SPAN = 0.2


def size_groups(N: np.ndarray, tol: float = 0.05, max_span: float = GROUP_SPAN) -> np.ndarray:
    """Group index per run, 0 = smallest: runs of one nominal model size share a group.

    Sorted distinct log10 N are read from the smallest up; a size joins the current group when it lies within
    ``tol`` decades of the previous size and within ``max_span`` decades of the group's smallest, else it starts
    a new group. The span bound keeps a ladder of many sizes closer than ``tol`` (101 sizes 0.017 decades apart)
    from chaining into one group, which would leave no size to hold out; Epoch's and kyo_takano's scattered
    sizes form groups up to 0.17 decades wide, unchanged by it.
    """
    logn = np.log10(np.asarray(N, float))
    order = np.unique(logn)
    ids = np.zeros(len(order), int)
    start = order[0] if len(order) else 0.0
    for i in range(1, len(order)):  # distinct sizes (tens to hundreds), each compared with its group's first
        if order[i] - order[i - 1] > tol or order[i] - start > max_span:
            start = order[i]
            ids[i] = ids[i - 1] + 1
        else:
            ids[i] = ids[i - 1]
    return ids[np.searchsorted(order, logn)]


__all__ = ["GROUP_SPAN", "size_groups"]
