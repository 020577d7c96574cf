"""Sub-scaling analyses (Chen et al. 2025, arXiv 2507.10613): data density and alpha_C per OTR bucket.

Data density of a token corpus
------------------------------
The paper embeds samples, clusters them and takes samples per cluster volume; the embedding, the
clustering and the aggregation are not specified ([gap] in LAWS.md). Our convention, in NumPy/JAX:

1. **Sample**: a fixed number of sequences (``n_samples``, default 2,048, drawn with ``seed``; all
   of them when the corpus is smaller), so corpora of different sizes are measured on equal footing.
2. **Embed**: hashed n-gram counts (n = 1, 2, 3) into ``dim`` = 512 buckets with a random sign per
   bucket (the hashing trick), L2-normalised per sequence, then a fixed Gaussian random projection
   to ``d`` = 16 dimensions (Johnson-Lindenstrauss), where ball volumes are well behaved.
3. **Cluster**: k-means (``k`` = 128, about 16 samples per cluster; k-means++ seeding, Lloyd
   iterations, all in JAX). The clusters must be *local*: duplicating a corpus leaves its
   distribution unchanged, so a coarse clustering (k = 16) cannot see duplication (measured: rho
   moved by 0.007 for a 4x duplicated corpus), while local clusters collapse onto near-duplicates.
4. **Density per cluster**: ``D_c = (n_c / n) / (r_c / R)^d`` - the cluster's share of the samples
   over the volume of the d-ball of its radius, relative to the ball of radius ``R`` that holds all
   samples (so the n-ball constant cancels). ``r_c`` is the RMS distance of the cluster's members to
   its centroid, ``R`` the RMS distance of all samples to their mean; radii are floored at
   ``1e-6 R`` (exact duplicates).
5. **Aggregate and normalise**: ``l = sum_c (n_c/n) log(D_c) / d`` (mass-weighted log density per
   dimension, i.e. the log of how much tighter the clusters are than the whole cloud), and
   ``rho = 1 - exp(-max(l, 0))`` in [0, 1): 0 when clustering explains nothing, towards 1 when
   samples pile onto near-duplicates. Duplicating part of a corpus shrinks its clusters' radii and
   raises ``rho``; deduplicating lowers it. For samples spread uniformly, equal-mass clusters have
   ``r_c ~ R k^(-1/d)`` so ``D_c ~ 1`` and ``l ~ 0``: rho measures clumping beyond uniform.

Over-training analysis
----------------------
`alpha_c_by_otr`: group runs by tokens per parameter (OTR = D/N) and fit ``L = lambda_C / C^alpha_C``
in each bucket by least squares in log-log space (the paper's per-OTR compute law).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from scalelab.programs import float64

_PRIMES = (1_000_003, 999_983, 998_981)


@float64
def embed(tokens, dim: int = 512, ngrams: Sequence[int] = (1, 2, 3), seed: int = 0) -> jax.Array:
    """Hashed n-gram embedding ``[n, dim]`` of integer token sequences ``[n, L]`` (L2-normalised)."""
    tok = jnp.asarray(tokens, jnp.int64) + 1
    n, L = tok.shape
    key = jax.random.PRNGKey(seed)
    salt = jax.random.randint(key, (len(ngrams),), 1, 2 ** 30, dtype=jnp.int64)
    rows = []
    for j, g in enumerate(ngrams):
        if g > L:
            continue
        h = jnp.zeros((n, L - g + 1), jnp.int64) + salt[j]
        for i in range(g):
            h = (h * _PRIMES[i % 3] + tok[:, i:L - g + 1 + i]) % (2 ** 31 - 1)
        rows.append(h)
    h = jnp.concatenate(rows, axis=1)
    # multiply-shift style mixing, then bucket and sign from different bits
    h = (h * 2_654_435_761) % (2 ** 32)
    bucket = h % dim
    sign = jnp.where((h // dim) % 2 == 0, 1.0, -1.0)
    emb = jax.vmap(lambda b, s: jnp.zeros(dim).at[b].add(s))(bucket, sign)
    return emb / jnp.maximum(jnp.linalg.norm(emb, axis=1, keepdims=True), 1e-12)


@float64
def kmeans(X, k: int, n_iter: int = 50, seed: int = 0):
    """k-means in JAX: k-means++ seeding, ``n_iter`` Lloyd steps. Returns (centroids [k, d], labels [n])."""
    X = jnp.asarray(X)
    n = X.shape[0]
    key = jax.random.PRNGKey(seed)
    keys = jax.random.split(key, k)
    first = X[jax.random.randint(keys[0], (), 0, n)]
    cents = jnp.zeros((k, X.shape[1]), X.dtype).at[0].set(first)
    d2 = jnp.sum((X - first) ** 2, axis=1)

    def seed_step(i, carry):
        cents, d2 = carry
        p = d2 / jnp.maximum(d2.sum(), 1e-30)
        idx = jax.random.choice(keys[i], n, p=jnp.where(d2.sum() > 0, p, jnp.full(n, 1.0 / n)))
        c = X[idx]
        return cents.at[i].set(c), jnp.minimum(d2, jnp.sum((X - c) ** 2, axis=1))

    cents, _ = jax.lax.fori_loop(1, k, seed_step, (cents, d2))

    def assign(cents):
        return jnp.argmin(jnp.sum((X[:, None, :] - cents[None]) ** 2, axis=-1), axis=1)

    def lloyd(_, cents):
        lab = assign(cents)
        onehot = jax.nn.one_hot(lab, k, dtype=X.dtype)
        cnt = onehot.sum(0)
        new = (onehot.T @ X) / jnp.maximum(cnt, 1.0)[:, None]
        return jnp.where(cnt[:, None] > 0, new, cents)

    cents = jax.lax.fori_loop(0, n_iter, lloyd, cents)
    return cents, assign(cents)


@dataclasses.dataclass(frozen=True)
class Density:
    """Result of `data_density`: ``rho`` in [0, 1) and its parts (see the module docstring)."""

    rho: float
    log_density: float
    n_samples: int
    cluster_sizes: tuple
    cluster_radii: tuple  # r_c / R


@float64
def data_density(tokens, *, n_samples: int = 2048, k: int = 128, d: int = 16, dim: int = 512,
                 seed: int = 0) -> Density:
    """Normalised data density of a corpus given as token sequences ``[n, L]`` (see module docstring)."""
    tokens = np.asarray(tokens)
    if tokens.ndim != 2 or len(tokens) < 2 * k:
        raise ValueError(f"tokens must be [n_sequences, length] with at least {2 * k} sequences; got {tokens.shape}")
    rng = np.random.default_rng(seed)
    if len(tokens) > n_samples:
        tokens = tokens[rng.choice(len(tokens), n_samples, replace=False)]
    emb = embed(tokens, dim=dim, seed=seed)
    proj = jax.random.normal(jax.random.PRNGKey(seed + 1), (dim, d)) / np.sqrt(d)
    Z = emb @ proj
    cents, lab = kmeans(Z, k, seed=seed)
    Z, cents, lab = np.asarray(Z), np.asarray(cents), np.asarray(lab)
    n = len(Z)
    R = np.sqrt(np.mean(np.sum((Z - Z.mean(0)) ** 2, axis=1)))
    sizes, radii, ell = [], [], 0.0
    for c in range(k):
        m = lab == c
        if not m.any():
            continue
        r = np.sqrt(np.mean(np.sum((Z[m] - cents[c]) ** 2, axis=1))) / R
        r = max(r, 1e-6)
        w = m.sum() / n
        ell += w * (np.log(w) - d * np.log(r)) / d
        sizes.append(int(m.sum()))
        radii.append(float(r))
    rho = 1.0 - np.exp(-max(ell, 0.0))
    return Density(float(rho), float(ell), n, tuple(sizes), tuple(radii))


def alpha_c_by_otr(runs, edges: Sequence[float] = (0, 10, 30, 50, 100, 300, np.inf)) -> pd.DataFrame:
    """Per OTR bucket, ``L = lambda_C / C^alpha_C`` fitted by log-log least squares.

    Args:
      runs: a run table (path, DataFrame or RunTable) with N, D, C and loss.
      edges: OTR (= D/N) bucket edges; a bucket needs >= 3 runs with >= 2 distinct C.

    Returns a DataFrame: otr_low, otr_high, n_runs, alpha_C, lambda_C, rmse_log.
    """
    from scalelab import runs as _runs

    df = _runs.read(runs).df
    otr = df["D"] / df["N"]
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        g = df[(otr >= lo) & (otr < hi)]
        if len(g) < 3 or g["C"].nunique() < 2:
            continue
        x, y = np.log(g["C"].to_numpy()), np.log(g["loss"].to_numpy())
        slope, icpt = np.polyfit(x, y, 1)
        res = y - (icpt + slope * x)
        rows.append({"otr_low": lo, "otr_high": hi, "n_runs": len(g), "alpha_C": -slope,
                     "lambda_C": float(np.exp(icpt)), "rmse_log": float(np.sqrt(np.mean(res ** 2)))})
    return pd.DataFrame(rows)


__all__ = ["embed", "kmeans", "data_density", "Density", "alpha_c_by_otr"]
