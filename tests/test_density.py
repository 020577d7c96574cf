"""Data density (hashed n-gram embedding + JAX k-means) and alpha_C per OTR bucket."""

import numpy as np
import pandas as pd
import pytest

import scalelab
from scalelab.runs import density

SMALL = dict(n_samples=512, k=32)  # ~16 samples per cluster, as the default 2048/128


def corpus(n, L=48, V=4000, topics=8, seed=0):
    r = np.random.default_rng(seed)
    t = r.integers(0, topics, n)
    return (r.zipf(1.3, (n, L)) % V + t[:, None] * 613) % V


@pytest.fixture(scope="module")
def docs():
    return corpus(1200)


def test_duplicated_corpus_is_denser_than_deduplicated(docs):
    dedup = docs[:600]
    half_dup = np.concatenate([docs[:300], docs[:300]])   # 300 unique documents, each twice
    dup4 = np.concatenate([docs[:150]] * 4)               # 150 unique documents, each four times
    rho = [density.data_density(c, **SMALL).rho for c in (dedup, half_dup, dup4)]
    assert rho[0] < rho[1] < rho[2]
    assert rho[2] - rho[0] > 0.1
    assert all(0 <= r < 1 for r in rho)


def test_density_is_comparable_across_corpus_sizes(docs):
    # the same source at 600 and 1200 documents: a fixed-size sample makes the number size-free
    a = density.data_density(docs[:600], **SMALL).rho
    b = density.data_density(docs, **SMALL).rho
    assert abs(a - b) < 0.03


def test_kmeans_is_a_lloyd_fixed_point():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(m, 0.1, (50, 3)) for m in (0.0, 3.0, -3.0)])
    cents, lab = density.kmeans(X, 3, seed=0)
    cents, lab = np.asarray(cents), np.asarray(lab)
    # NumPy check: each point's nearest centroid is its label; each centroid is its members' mean
    d2 = ((X[:, None] - cents[None]) ** 2).sum(-1)
    assert np.array_equal(d2.argmin(1), lab)
    for c in range(3):
        np.testing.assert_allclose(cents[c], X[lab == c].mean(0), atol=1e-12)
    assert sorted(np.bincount(lab)) == [50, 50, 50]  # the three blobs are found


def test_embedding_properties():
    seqs = np.array([[1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1]])
    e = np.asarray(density.embed(seqs))
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(e[0], e[1])
    assert not np.allclose(e[0], e[2])           # bigrams see order
    u = np.asarray(density.embed(seqs, ngrams=(1,)))
    np.testing.assert_allclose(u[0], u[2], rtol=1e-12)  # unigrams alone do not


def test_alpha_c_per_otr_bucket():
    rows = []
    # buckets with known exponents: L = lambda / C^alpha, alpha falling with OTR
    for otr, alpha in ((5.0, 0.06), (20.0, 0.05), (80.0, 0.03)):
        for C in np.geomspace(1e18, 1e21, 6):
            N = np.sqrt(C / (6 * otr))
            rows.append({"N": N, "D": otr * N, "C": C, "loss": 40.0 * C ** -alpha})
    out = density.alpha_c_by_otr(pd.DataFrame(rows), edges=(0, 10, 50, 300))
    np.testing.assert_allclose(out["alpha_C"], [0.06, 0.05, 0.03], rtol=1e-9)
    np.testing.assert_allclose(out["lambda_C"], 40.0, rtol=1e-6)
    # Chen-law runs at one fixed OTR r per bucket, with E = 0, alpha = beta = a and k_D = k_N = 0: both
    # factors are 1.5, N = sqrt(C / (6 r)), so L = 1.5 (A + B r^-a) (6 r)^(a/2) C^(-a/2) exactly: a closed
    # form for alpha_C (a/2) and lambda_C, independent of the fitting code (the default bucket edges).
    law = scalelab.laws.get("chen2025_suboptimal")
    p = {"E": 0.0, "A": 61.9, "B": 455.3, "alpha": 0.28, "beta": 0.28, "k_D": 0.0, "k_N": 0.0}
    C = np.repeat(np.geomspace(1e18, 1e22, 5), 3)
    r = np.tile([5.0, 20.0, 150.0], 5)
    N = np.sqrt(C / (6 * r))
    runs = pd.DataFrame({"N": N, "D": r * N, "C": C, "loss": np.asarray(law(p, N=N, D=r * N))})
    out = density.alpha_c_by_otr(runs)
    assert list(out["otr_low"]) == [0, 10, 100] and list(out["n_runs"]) == [5, 5, 5]
    np.testing.assert_allclose(out["alpha_C"], 0.14, rtol=1e-9)
    rr = np.array([5.0, 20.0, 150.0])
    np.testing.assert_allclose(out["lambda_C"], 1.5 * (p["A"] + p["B"] * rr ** -0.28) * (6 * rr) ** 0.14, rtol=1e-8)
    np.testing.assert_allclose(out["rmse_log"], 0.0, atol=1e-9)
