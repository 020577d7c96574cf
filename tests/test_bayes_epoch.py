"""Posterior on the 240-run Epoch data against Epoch's published bootstrap intervals.

Epoch (Besiroglu et al. 2024; LAWS.md) report 95% bootstrap intervals E 1.769-1.871,
alpha 0.317-0.373, beta 0.331-0.415. Short chains here (2 x 300); the 4 x 1,000 numbers
are in benchmarks/RESULTS.md. Tolerances: every 95% interval overlaps Epoch's; for
E and alpha, the grouped Huber model's widths lie within a factor 1.5 of Epoch's. Beta's
posterior interval is about half as wide as the bootstrap's under every likelihood we
tried (RESULTS.md: the law misses structure in tokens per parameter); the test pins that
honestly (between 0.3x and 1.5x) rather than hiding it. The sandwich-adjusted i.i.d. Huber
posterior (`bayes.sandwich`, built for exactly this misspecification) brings all three
within a factor 1.5 of Epoch's widths.
"""

import warnings

import pytest

import scalelab
from scalelab import bayes
from scalelab.data import data_dir

warnings.filterwarnings("ignore", category=FutureWarning)

EPOCH = {"E": (1.769, 1.871), "alpha": (0.317, 0.373), "beta": (0.331, 0.415)}

pytestmark = pytest.mark.skipif(not (data_dir() / "epoch_chinchilla" / "runs.csv").exists(),
                                reason=f"Epoch data not found under {data_dir()} (set SCALELAB_DATA_DIR)")


@pytest.fixture(scope="module")
def epoch():
    from scalelab.data import epoch_chinchilla

    table = epoch_chinchilla(drop_highest=5)
    return table, scalelab.fit(table, "chinchilla", starts=64)


def test_grouped_huber_matches_epoch_intervals(epoch):
    table, fit = epoch
    post = bayes.sample(table, "chinchilla", likelihood="huber", groups="N", chains=2, draws=300, warmup=300,
                        seed=0, init=fit, extend=0, retry=False)  # short chains on purpose: no run-on rounds
    assert post.diagnostics()["rhat_max"] < 1.05  # 2 x 300 draws: 1.030 measured (seed 0); 4 x 1,000 reach <= 1.01 (RESULTS.md)
    q = post.params(0.95)
    for k, (lo, hi) in EPOCH.items():
        assert q[k]["lo"] < hi and q[k]["hi"] > lo, (k, q[k])
        ratio = (q[k]["hi"] - q[k]["lo"]) / (hi - lo)
        bounds = (0.3, 1.5) if k == "beta" else (1 / 1.5, 1.5)
        assert bounds[0] < ratio < bounds[1], (k, ratio)


def test_laplace_grouped_overlaps_epoch(epoch):
    table, fit = epoch
    q = bayes.laplace(table, "chinchilla", likelihood="huber", groups="N", init=fit).params(0.95)
    for k, (lo, hi) in EPOCH.items():
        assert q[k]["lo"] < hi and q[k]["hi"] > lo, (k, q[k])


def test_sandwich_huber_matches_epoch_widths(epoch):
    # The target, with the Huber likelihood: the i.i.d. posterior is too narrow for beta
    # (~0.5x the bootstrap); its sandwich adjustment (same draws, mapped) is within 1.5x for E,
    # alpha and beta, and overlaps Epoch's intervals. It is what the defaults answer on this table
    # (adjust="auto": 240 runs >= 120), checked on the same draws.
    table, fit = epoch
    # the defaults' 4 chains x 1,000 draws: with 2 x 500 the Monte Carlo error of a 95% width ratio is about
    # +-0.1 (alpha 1.30-1.51 over seeds and compilers), the size of the margin this test checks
    post = bayes.sample(table, "chinchilla", likelihood="huber", chains=4, draws=1000, warmup=1000, seed=0, init=fit,
                        adjust=None, retry=False)
    assert post.diagnostics()["rhat_max"] < 1.02
    assert bayes.inference.resolve_adjust("auto", "chinchilla", "huber", len(table))[0] == "sandwich"
    plain, adj = post.params(0.95), bayes.sandwich(post, table).params(0.95)
    width = lambda q, k: (q[k]["hi"] - q[k]["lo"]) / (EPOCH[k][1] - EPOCH[k][0])  # noqa: E731
    assert width(plain, "beta") < 1 / 1.5, width(plain, "beta")
    for k, (lo, hi) in EPOCH.items():
        assert adj[k]["lo"] < hi and adj[k]["hi"] > lo, (k, adj[k])
        assert 1 / 1.5 < width(adj, k) < 1.5, (k, width(adj, k))
        assert width(adj, k) > width(plain, k)


def test_laplace_sandwich_is_powells_robust_covariance(epoch):
    # The Laplace posterior's sandwich (the default on 240 runs) against the textbook robust covariance of
    # least-absolute-deviations, computed here in float64 NumPy: H^-1 J H^-1 with Powell's local-density
    # curvature H = 2 sum_i K_h(r_i) x_i x_i^T / s (Gaussian K_h at Silverman's width), J = n/(n-q) X^T X / s^2,
    # x_i the gradient of run i's log prediction (finite differences of the closed form). With one pooled
    # density instead, Laplace + sandwich gave beta 0.41x Epoch's bootstrap width (NUTS + sandwich 0.82x).
    import numpy as np

    table, fit = epoch
    df = table.df
    logN, logD, y = (np.log(df[c].to_numpy(float)) for c in ("N", "D", "loss"))
    names = ("log_E", "log_A", "log_B", "alpha", "beta")
    u0 = np.array([fit.unconstrained[k] for k in names])

    def log_pred(u):
        e, a, b, al, be = u
        return np.logaddexp(np.logaddexp(a - al * logN, b - be * logD), e)

    eps = 1e-6
    X = np.stack([(log_pred(u0 + eps * np.eye(5)[j]) - log_pred(u0 - eps * np.eye(5)[j])) / (2 * eps)
                  for j in range(5)], axis=1)
    r = y - log_pred(u0)
    n, q = X.shape
    s = np.mean(np.abs(r))  # the Laplace density's scale (the profiled s, to its grid's spacing)
    h = 1.06 * np.sqrt(np.mean(r**2)) * n ** -0.2
    k = np.exp(-0.5 * (r / h) ** 2) / (np.sqrt(2 * np.pi) * h)
    H = (2 * k / s)[:, None] * X
    H = X.T @ H
    J = n / (n - q) * (X.T @ X) / s**2
    Hi = np.linalg.inv(H)
    ref = np.sqrt(np.diag(Hi @ J @ Hi))

    post = bayes.laplace(table, "chinchilla", init=fit, draws=8000, seed=0)
    assert post.adjustment == "sandwich"
    p = post.idata.posterior
    got = np.array([float(np.std(p[k].values)) for k in names])
    assert np.allclose(got, ref, rtol=0.15), dict(zip(names, zip(got, ref)))
    qs = post.params(0.95)
    for k, (lo, hi) in EPOCH.items():  # and so within 1.5x of Epoch's bootstrap widths
        assert qs[k]["lo"] < hi and qs[k]["hi"] > lo, (k, qs[k])
        assert 1 / 1.5 < (qs[k]["hi"] - qs[k]["lo"]) / (hi - lo) < 1.5, (k, qs[k])
