"""The natively batched LM (`lm_lanes`, `multistart_variants`) against the per-lane path and SciPy.

`lm_lanes` runs every variant x start as a lane of one loop; the reference is the former
program shape: the single-lane `lm_run` (a while loop) vmapped over starts, one variant at a
time. Lanes are independent and frozen alike when done, so the two agree to round-off
(float64; tolerance 1e-12 relative for a fused-arithmetic difference, though they are
bit-identical in practice).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import optimize, special

import scalelab
from scalelab.fit import solver
from scalelab.fit.api import fixed_vectors, residual_fn_for
from scalelab.fit.multistart import multistart, multistart_variants
from scalelab.fit.problem import prepare

LAW = "chinchilla"
V, S = 3, 6


@pytest.fixture(scope="module")
def problem(simulated_runs):
    law = scalelab.laws.get(LAW)
    _, data = prepare(simulated_runs, law, None, dtype=np.float64)
    n = len(data["y"])
    rng = np.random.default_rng(3)
    w = (rng.random((V, n)) > 0.25).astype(float)
    w[0] = 1.0
    delta = np.array([1e-3, 1e-2, 1e-3])
    with jax.enable_x64(True):
        free, fixed = map(np.stack, zip(*[fixed_vectors(law, f) for f in ({}, {}, {"alpha": 0.35})]))
    starts = law.random_starts(S, seed=4)
    return law, data, w, delta, free, fixed, starts


def _lanes_and_reference(problem, max_iter, fixed_iter):
    law, data, w, delta, free, fixed, starts = problem
    residual = residual_fn_for(law)
    x, y = data["x"], data["y"]
    theta0 = np.where(free[:, None, :] > 0, starts[None], fixed[:, None, :])  # [V, S, P]

    def lane_map(g):
        inner = jax.vmap(g, in_axes=(0, None, None, None))
        return jax.vmap(inner, in_axes=(0, {"x": None, "y": None, "w": 0}, 0, 0))

    lanes = jax.jit(lambda t, w, d, f: solver.lm_lanes(
        residual, t, {"x": x, "y": y, "w": w}, delta=d, free=f, max_iter=max_iter, fixed_iter=fixed_iter,
        lane_map=lane_map))(theta0, w, delta, free)
    one = jax.jit(jax.vmap(lambda t, w, d, f: solver.lm_run(residual, t, {"x": x, "y": y, "w": w}, delta=d, free=f,
                                                            max_iter=max_iter), in_axes=(0, None, None, None)))
    refs = [one(theta0[v], w[v], delta[v], free[v]) for v in range(V)]  # the reference: one variant at a time
    ref = jax.tree.map(lambda *a: np.stack(a), *refs)
    return jax.device_get(lanes), jax.device_get(ref)


@pytest.fixture(scope="module")
def converged(problem):
    with jax.enable_x64(True):
        return _lanes_and_reference(problem, 200, False)


@pytest.mark.parametrize("fixed_iter", [True, False])
def test_lanes_equal_per_lane_while_loops(problem, converged, x64, fixed_iter):
    """4 screening sweeps (a fori_loop) or a while loop to convergence: the same lanes as `lm_run`'s."""
    lanes, ref = _lanes_and_reference(problem, 4, True) if fixed_iter else converged
    np.testing.assert_array_equal(lanes.it, ref.it)
    np.testing.assert_array_equal(lanes.converged, ref.converged)
    np.testing.assert_allclose(lanes.f, ref.f, rtol=1e-12)
    np.testing.assert_allclose(lanes.theta, ref.theta, rtol=1e-12, atol=1e-12)
    if not fixed_iter:
        assert lanes.converged.mean() > 0.5  # the comparison covers converged lanes


@pytest.mark.slow  # make test-all; CI's time budget (in CI, fit_many's 50 variants against 50 separate fits
# exercise multistart_variants: tests/test_fit_many.py)
def test_multistart_variants_equal_multistart_per_variant(problem, x64):
    law, data, w, delta, free, fixed, starts = problem
    residual = residual_fn_for(law)
    settings = dict(screen_iter=4, keep=3, max_iter=200)  # keep < S: screen, prune, polish
    many = jax.jit(lambda w, d, fr, fx: multistart_variants(
        residual, jnp.asarray(starts), {**data, "w": w}, {"x": None, "y": None, "w": 0},
        delta=d, free=fr, fixed=fx, **settings))(w, delta, free, fixed)
    one = jax.jit(lambda w, d, fr, fx: multistart(residual, jnp.asarray(starts), {**data, "w": w}, delta=d,
                                                  free=fr, fixed=fx, **settings))
    for v in range(V):  # the reference: one variant at a time
        ref = one(w[v], delta[v], free[v], fixed[v])
        assert int(many.best_start[v]) == int(ref.best_start) and int(many.n_iter[v]) == int(ref.n_iter)
        np.testing.assert_allclose(many.f[v], ref.f, rtol=1e-12)
        np.testing.assert_allclose(many.theta[v], ref.theta, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(many.screen_f[v], ref.screen_f, rtol=1e-12)


def test_lanes_reach_scipy_least_squares_optimum(problem, converged, x64):
    """All runs, Huber(1e-3): the best lane's objective and parameters match SciPy's trust-region
    least squares (``loss="huber"``, ``f_scale=delta``: the same summed Huber of log residuals) started
    from the simulation's truth. Tolerances: objectives to 1e-9 relative (both converged to ~1e-12),
    parameters to 1e-5 (the optimum's flat directions)."""
    law, data, w, delta, free, fixed, starts = problem
    lanes, _ = converged
    b = int(np.argmin(lanes.f[0]))
    ours_f, ours = lanes.f[0, b], lanes.theta[0, b]
    N, D, logL = data["x"]["N"], data["x"]["D"], data["y"]

    def resid(u):  # log_E, log_A, log_B, alpha, beta (the law's unconstrained order)
        p = {k: float(v) for k, v in zip(law.unconstrained_names, u)}
        pred = special.logsumexp([np.full_like(N, p["log_E"]), p["log_A"] - p["alpha"] * np.log(N),
                                  p["log_B"] - p["beta"] * np.log(D)], axis=0)
        return pred - logL

    assert law.unconstrained_names == ("log_E", "log_A", "log_B", "alpha", "beta")
    truth = [np.log(1.8), np.log(480.0), np.log(2100.0), 0.35, 0.37]
    ref = optimize.least_squares(resid, truth, loss="huber", f_scale=1e-3, method="trf",
                                 ftol=1e-15, xtol=1e-15, gtol=1e-15, max_nfev=20000)
    ref_f = np.sum(special.huber(1e-3, resid(ref.x)))
    assert ours_f <= ref_f * (1 + 1e-9)
    np.testing.assert_allclose(ours_f, ref_f, rtol=1e-9)
    np.testing.assert_allclose(ours, ref.x, rtol=1e-5, atol=1e-6)


def test_the_first_sweep_from_a_blank_state_is_the_state_at_the_start(problem, x64):
    """`lm_blank` lanes (objective inf, no system): one `lm_step` stays at the start, counts it as
    iteration 0 with the initial damping, and holds the objective and gradient of the start:
    the summed Huber of the law's log residuals computed in NumPy (SciPy's ``huber``) and its
    gradient by central differences. A start outside the law's domain (a non-finite objective) is
    done after that sweep, unconverged, where it stands."""
    law, data, w, delta, free, fixed, starts = problem
    residual = residual_fn_for(law)
    d0 = {**data, "w": jnp.asarray(w[0])}
    theta = np.vstack([starts[:2], np.full((1, starts.shape[1]), np.nan)])  # two starts and a lane off the domain
    step = jax.jit(lambda t: solver.lm_step(residual, solver.lm_blank(t), d0, "huber", delta[0], jnp.ones(t.shape[1]),
                                            1e-12, lane_map=solver.lane_vmap))
    s = jax.device_get(step(jnp.asarray(theta)))
    np.testing.assert_array_equal(s.it, [0, 0, 0])
    np.testing.assert_array_equal(s.theta[:2], theta[:2])
    np.testing.assert_array_equal(s.lam, [1e-3, 1e-3, 8e-3])  # the rejected lane's damping grows
    np.testing.assert_array_equal(s.done, [False, False, True])
    assert not s.converged.any() and np.isinf(s.f[2])
    init = jax.device_get(solver.lm_init(residual, jnp.asarray(theta[:2]), d0, "huber", delta[0],
                                         jnp.ones(theta.shape[1]), lane_map=solver.lane_vmap))
    for got, want in zip(jax.tree.map(lambda a: a[:2], s), init):  # `lm_init`'s state, field by field
        np.testing.assert_allclose(got, want, rtol=1e-12)

    def objective(u):
        r = np.asarray(residual(jnp.asarray(u), d0))
        return float(np.sum(w[0] * special.huber(delta[0], r)))

    for lane in range(2):
        np.testing.assert_allclose(s.f[lane], objective(theta[lane]), rtol=1e-12)
        h = 1e-6
        fd = [(objective(theta[lane] + h * e) - objective(theta[lane] - h * e)) / (2 * h) for e in np.eye(theta.shape[1])]
        np.testing.assert_allclose(s.g[lane], fd, rtol=1e-5, atol=1e-8 * np.max(np.abs(fd)))


@pytest.mark.parametrize("keep", [4, 2])
def test_the_screen_in_chunks_of_kept_lanes_is_the_two_loop_search(problem, x64, keep):
    """`multistart_variants(chunked=True)` (a CPU's fit_many): 6 starts screened ``keep`` at a time in the
    polish's loop (4: a padded last chunk; 2: three chunks) pick, polish and report what the two-loop
    search does: the same kept starts, iterations, objectives and parameters, and every start's
    screened objective."""
    law, data, w, delta, free, fixed, starts = problem
    residual = residual_fn_for(law)
    run = lambda chunked: jax.device_get(jax.jit(lambda w, d, fr, fx: multistart_variants(  # noqa: E731
        residual, jnp.asarray(starts), {**data, "w": w}, {"x": None, "y": None, "w": 0}, delta=d, free=fr,
        fixed=fx, screen_iter=4, keep=keep, max_iter=200, chunked=chunked))(w, delta, free, fixed))
    one, two = run(True), run(False)
    _same_search(one, two)
    assert one.screen_f.shape == (V, S) and np.isfinite(one.screen_f).all()


def _same_search(one, two):
    """Two `MultiStartResult`s alike: the kept start, iterations and convergence exactly; objectives, parameters
    and every start's screened objective to round-off."""
    np.testing.assert_array_equal(one.best_start, two.best_start)
    np.testing.assert_array_equal(one.n_iter, two.n_iter)
    np.testing.assert_array_equal(one.converged, two.converged)
    np.testing.assert_allclose(one.f, two.f, rtol=1e-12)
    np.testing.assert_allclose(one.theta, two.theta, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(one.screen_f, two.screen_f, rtol=1e-12)


def test_one_fits_chunked_screen_is_its_two_loop_search(problem, x64):
    """`multistart(chunked=True)` (a CPU's `scalelab.fit` from a start grid): the one-variant chunked search
    (6 starts, 4 at a time) returns the two-loop search's start, iterations, objective and parameters."""
    law, data, w, delta, free, fixed, starts = problem
    residual = residual_fn_for(law)
    run = lambda chunked: jax.device_get(jax.jit(lambda: multistart(  # noqa: E731
        residual, jnp.asarray(starts), {**data, "w": jnp.asarray(w[1])}, delta=delta[1], screen_iter=4, keep=4,
        max_iter=200, chunked=chunked))())
    _same_search(run(True), run(False))
