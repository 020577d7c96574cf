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
    post = bayes.sample(table, "chinchilla", likelihood="huber", chains=2, draws=500, warmup=500, seed=0, init=fit,
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
