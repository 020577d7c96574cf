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
from jax import lax


def _entries(A):
    """``A[..., i, j]`` for every ``i, j`` as nested lists, by plain slices.

    Here and below ``lax`` primitives, not ``jnp`` expressions: the loops make ``O(P^3)`` scalar
    operations, and a ``jnp`` index or operator costs far more to trace (it was ~0.4 s per vmapped
    9 x 9 solve, most of a fresh process's time for a 9-parameter law)."""
    n = A.ndim
    rows = [lax.index_in_dim(A, i, n - 2, keepdims=False) for i in range(A.shape[-2])]
    return [[lax.index_in_dim(r, j, n - 2, keepdims=False) for j in range(A.shape[-1])] for r in rows]


def _parts(b):
    return [lax.index_in_dim(b, i, b.ndim - 1, keepdims=False) for i in range(b.shape[-1])]


def cholesky(A):
    """Lower Cholesky factor of SPD ``A[..., P, P]`` (NaN where not SPD)."""
    P = A.shape[-1]
    L = _cholesky_entries(_entries(A))
    zero = jnp.zeros_like(L[0][0])
    rows = [jnp.stack([L[i][j] if j <= i else zero for j in range(P)], axis=-1) for i in range(P)]
    return jnp.stack(rows, axis=-2)


def _cholesky_entries(a):
    """`cholesky` on nested lists of entries (lower triangle filled, the rest None)."""
    P = len(a)
    L = [[None] * P for _ in range(P)]
    for j in range(P):
        s = a[j][j]
        for k in range(j):
            s = lax.sub(s, lax.mul(L[j][k], L[j][k]))
        d = lax.sqrt(s)
        L[j][j] = d
        for i in range(j + 1, P):
            s = a[i][j]
            for k in range(j):
                s = lax.sub(s, lax.mul(L[i][k], L[j][k]))
            L[i][j] = lax.div(s, d)
    return L


def cho_solve(L, b):
    """Solve ``L L^T x = b`` for lower ``L[..., P, P]`` and ``b[..., P]``."""
    return _cho_solve_entries(_entries(L), _parts(b))


def _cho_solve_entries(l, bb):
    """`cho_solve` on nested lists of entries of ``L`` and a list of entries of ``b``."""
    P = len(bb)
    y = []
    for i in range(P):
        s = bb[i]
        for k in range(i):
            s = lax.sub(s, lax.mul(l[i][k], y[k]))
        y.append(lax.div(s, l[i][i]))
    x = [None] * P
    for i in reversed(range(P)):
        s = y[i]
        for k in range(i + 1, P):
            s = lax.sub(s, lax.mul(l[k][i], x[k]))
        x[i] = lax.div(s, l[i][i])
    return jnp.stack(x, axis=-1)


def spd_solve(A, b):
    """Solve SPD ``A x = b`` (batched over leading axes)."""
    return _cho_solve_entries(_cholesky_entries(_entries(A)), _parts(b))
