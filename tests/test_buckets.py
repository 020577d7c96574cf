"""Shape buckets: tables in one bucket share one compiled program, and padding changes no result."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scalelab
from scalelab.fit import api, buckets, screen

# padding is checked against float64 objectives to 1e-12: the module runs in JAX's 64-bit mode (scalelab scopes its own)
pytestmark = pytest.mark.usefixtures("x64")

TRUTH = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}


def test_bucket_sizes():
    sizes = [buckets.bucket_size(n) for n in range(1, 5000)]
    assert all(s >= n for n, s in zip(range(1, 5000), sizes))
    assert all(s <= max(8, 1.5 * n) for n, s in zip(range(1, 5000), sizes))  # at most a third is padding
    assert len(set(sizes)) < 25  # a small set of programs
    assert buckets.bucket_size(31) == buckets.bucket_size(32) == 32
    assert buckets.bucket_size(200) == buckets.bucket_size(240) == 256
    assert buckets.bucket_size(4000) == 4096


def table(n, seed=0):
    design = scalelab.isoflop_design(budgets=np.geomspace(1e18, 1e21, 4), n_per_budget=8)
    df = scalelab.simulate("chinchilla", TRUTH, design, sigma=0.01, seed=seed)
    return df.iloc[:n].reset_index(drop=True)


class Compiles:
    """Counts XLA backend compilations (JAX's own monitoring event) while active."""

    def __init__(self):
        self.n, self.on = 0, False
        jax.monitoring.register_event_duration_secs_listener(self._event)

    def _event(self, name, seconds, **kw):
        if self.on and name == "/jax/core/compile/backend_compile_duration":
            self.n += 1

    def __enter__(self):
        self.n, self.on = 0, True
        return self

    def __exit__(self, *exc):
        self.on = False


def test_two_tables_in_one_bucket_compile_once():
    counter = Compiles()
    with counter:
        a = scalelab.fit(table(31), "chinchilla")
    with counter:
        b = scalelab.fit(table(32, seed=1), "chinchilla")
    # the first may compile (unless an earlier test in this process already did); the second never does
    assert counter.n == 0 and b.compile_seconds == 0.0
    assert a.n_runs == 31 and b.n_runs == 32 and a.converged and b.converged


def test_padding_changes_no_result():
    """The same fit unpadded (30 rows) and padded (fit's bucket of 32, and 48 rows).

    What the solver computes from the data (objective, gradient, Gauss-Newton matrix) agrees to
    1e-12 relative, and so does the optimum's objective. The optimum's parameters agree to 1e-6:
    LM stops once the predicted decrease is below 1e-12 of the objective, which fixes parameters
    only to about its square root, so last-bit differences in the sums move the stopping point.
    """
    from scalelab.fit import solver

    t = scalelab.read(table(30))
    law = scalelab.laws.get("chinchilla")
    padded = scalelab.fit(t, law)
    data = api.prepare_data(t, law)
    theta = jnp.array([padded.unconstrained[k] for k in law.unconstrained_names])
    residual = api.residual_fn_for(law)
    ref = solver._normal_equations(residual, theta + 0.1, jax.tree.map(jnp.asarray, data), "huber", 1e-3)
    for size in (32, 48):
        got = solver._normal_equations(residual, theta + 0.1, jax.tree.map(jnp.asarray, buckets.pad_rows(data, size)),
                                       "huber", 1e-3)
        for a, b in zip(got, ref):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=0)
    grid = jnp.asarray(screen.nonlinear_grid(law))
    run = api.compiled_projection(law, "huber", screen.DEFAULT_KEEP, 200)
    raw = run(grid, jax.tree.map(jnp.asarray, data), jnp.asarray(1e-3), jnp.ones(5), jnp.zeros(5))[0]
    assert float(raw.f) == pytest.approx(padded.objective, rel=1e-12, abs=0)
    np.testing.assert_allclose(np.asarray(raw.theta), np.asarray(theta), rtol=1e-6)


def test_pad_starts_keeps_best_index():
    s = np.arange(10.0).reshape(5, 2)
    p = buckets.pad_starts(s)
    assert p.shape == (8, 2) and (p[:5] == s).all() and (p[5:] == s[-1]).all()
    w = buckets.pad_weights(np.ones((3, 5)), 8)
    assert w.shape == (3, 8) and w[:, 5:].sum() == 0
