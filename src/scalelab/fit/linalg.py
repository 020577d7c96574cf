"""Small dense linear algebra written in jnp, for many tiny systems at once.

The fitter solves one ``P x P`` symmetric positive-definite system per lane
(``P`` = number of law parameters, 2-20) for thousands of lanes. An unrolled
Cholesky in plain jnp ops vectorises over lanes on every backend and avoids
per-matrix LAPACK custom calls (on the 2-core CPU those batched calls were the
slowest part of an iteration, and with non-finite lanes they stalled).
The Python loops here run over the matrix dimension ``P`` at trace time, never
over starts, variants or resamples.
"""

from __future__ import annotations

import jax.numpy as jnp


def cholesky(A):
    """Lower Cholesky factor of SPD ``A[..., P, P]`` (NaN where not SPD)."""
    P = A.shape[-1]
    L = [[None] * P for _ in range(P)]
    for j in range(P):
        s = A[..., j, j]
        for k in range(j):
            s = s - L[j][k] * L[j][k]
        d = jnp.sqrt(s)
        L[j][j] = d
        for i in range(j + 1, P):
            s = A[..., i, j]
            for k in range(j):
                s = s - L[i][k] * L[j][k]
            L[i][j] = s / d
    zero = jnp.zeros_like(A[..., 0, 0])
    rows = [jnp.stack([L[i][j] if j <= i else zero for j in range(P)], axis=-1) for i in range(P)]
    return jnp.stack(rows, axis=-2)


def cho_solve(L, b):
    """Solve ``L L^T x = b`` for lower ``L[..., P, P]`` and ``b[..., P]``."""
    P = L.shape[-1]
    y = []
    for i in range(P):
        s = b[..., i]
        for k in range(i):
            s = s - L[..., i, k] * y[k]
        y.append(s / L[..., i, i])
    x = [None] * P
    for i in reversed(range(P)):
        s = y[i]
        for k in range(i + 1, P):
            s = s - L[..., k, i] * x[k]
        x[i] = s / L[..., i, i]
    return jnp.stack(x, axis=-1)


def spd_solve(A, b):
    """Solve SPD ``A x = b`` (batched over leading axes)."""
    return cho_solve(cholesky(A), b)
