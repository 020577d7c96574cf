"""Shape buckets: pad run tables, start sets and variant batches to a few sizes.

XLA compiles one program per input shape, so a table of 31 runs and one of 32
would each cost a compilation (seconds on a CPU), as would 200 and 240 runs. Padding
every axis that varies with the data (runs, starts, variants) up to the next
*bucket* makes those share one program (in memory, and in the persistent cache
of `scalelab.cache`).

Buckets are ``2^k`` and ``3 * 2^(k-1)`` from `MIN_BUCKET` up (8, 12, 16, 24, 32,
48, 64, 96, 128, 192, 256, ...): at most a third of any padded axis is padding.

Padding never changes a result:

* runs: padded rows copy a real row's inputs and target (so every residual stays
  finite) and get weight 0 (so they add nothing to the objective, gradient or
  curvature: see `scalelab.fit.objectives`, whose sums are weighted);
* starts: padded rows repeat the last start after the real ones, so the best start
  and its index are unchanged (``argmin`` returns the first of equal values);
* variants: padded variants repeat the last variant and are cut from the output
  (`variant_bucket`: 1-6 variants run as 6, then 8, 12, ...).
"""

from __future__ import annotations

import numpy as np

MIN_BUCKET = 8


def bucket_size(n: int) -> int:
    """The smallest bucket ``>= n`` (``2^k`` or ``3 * 2^(k-1)``, at least `MIN_BUCKET`)."""
    n = int(n)
    if n <= MIN_BUCKET:
        return MIN_BUCKET
    k = (n - 1).bit_length()  # 2^(k-1) < n <= 2^k
    three = 3 << (k - 2)       # 1.5 * 2^(k-1)
    return three if n <= three else 1 << k


def variant_bucket(n: int) -> int:
    """The bucket of a variant axis of ``n``: 6 up to 6 variants, then `bucket_size` (8, 12, 16, ...).

    A handful of variants (a forecast's full table and its 1-4 rolling origins) is common, and each
    padded variant costs a whole fit: 5 variants run as 6, not 8, while every count up to 6 still
    shares one program.
    """
    n = int(n)
    return 6 if n <= 6 else bucket_size(n)


def pad_rows(data: dict, size: int | None = None) -> dict:
    """``{"x": {name: [n]}, "y": [n], "w": [n]}`` padded to ``size`` rows (default its bucket).

    Padded rows copy row 0's inputs and target and have weight 0.
    """
    n = len(data["y"])
    size = bucket_size(n) if size is None else int(size)
    if size < n:
        raise ValueError(f"cannot pad {n} rows to {size}")
    if size == n:
        return data
    extra = size - n
    rep = lambda a: np.concatenate([np.asarray(a), np.repeat(np.asarray(a)[:1], extra, axis=0)])
    w = np.asarray(data["w"])
    return {**data, "x": {k: rep(v) for k, v in data["x"].items()}, "y": rep(data["y"]),
            "w": np.concatenate([w, np.zeros(extra, w.dtype)])}


def pad_weights(w: np.ndarray, size: int) -> np.ndarray:
    """Per-variant weights ``[V, n]`` padded with zero columns to ``[V, size]``."""
    w = np.asarray(w)
    return np.concatenate([w, np.zeros((w.shape[0], size - w.shape[1]), w.dtype)], axis=1)


def pad_starts(starts: np.ndarray, size: int | None = None) -> np.ndarray:
    """Starts ``[S, P]`` padded to ``[size, P]`` (default its bucket) by repeating the last start."""
    starts = np.asarray(starts)
    S = starts.shape[0]
    size = bucket_size(S) if size is None else int(size)
    if size <= S:
        return starts
    return np.concatenate([starts, np.repeat(starts[-1:], size - S, axis=0)])


def pad_leading(arrays, size: int):
    """Each array's leading axis padded to ``size`` by repeating its last entry (variant batches)."""
    out = []
    for a in arrays:
        a = np.asarray(a)
        pad = size - a.shape[0]
        out.append(a if pad <= 0 else np.concatenate([a, np.repeat(a[-1:], pad, axis=0)]))
    return out


__all__ = ["bucket_size", "variant_bucket", "pad_rows", "pad_weights", "pad_starts", "pad_leading", "MIN_BUCKET"]
