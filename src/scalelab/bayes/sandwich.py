"""Sandwich-adjusted posteriors: intervals that stay honest when the law is misspecified.

A posterior with i.i.d. residuals is the uncertainty *given the law and its noise model*.
When the law misses structure in the data (on the Epoch/Chinchilla table: a U-shape in
tokens per parameter, and twice the noise at both ends; RESULTS.md, "Bayesian"), its
curvature understates how much the estimate would move under new data: the case bootstrap
gave 2.0x the posterior's sd for beta there, 1.2x on exchangeable residuals.

The adjustment (Müller 2013, "Risk of Bayesian inference in misspecified models, and the
sandwich covariance matrix", Econometrica 81(5); the "curvature adjustment" of Ribatet,
Cooley & Davison 2012) keeps the posterior's centre and shape and replaces its covariance
``Sigma`` by the sandwich ``Sigma J Sigma``, where

    J = n / (n - q) * sum_i g_i g_i^T,    g_i = d log p(r_i | phi) / d phi  at the posterior mean,

``phi`` the ``q`` sampled parameters (the law's unconstrained parameters, ``log_s``, and
``log_nu`` for Student-t; those held fixed, as the Laplace mode's noise scale, are left
alone), ``r_i`` run ``i``'s log-loss residual, and ``n / (n - q)`` the usual small-sample
factor (HC1). Draws are mapped affinely, ``phi' = m + A (phi - m)`` with
``A Sigma A^T = Sigma J Sigma`` (``A = L M^1/2 L^-1``, ``Sigma = L L^T``, ``M = L^T J L``). When the law
and noise model are right, ``J ~ Sigma^-1`` and ``A ~ I``: nothing changes (checked by
simulation, `benchmarks/calibration.py`). The argument is asymptotic (``Sigma ~ H^-1``): on
small tables it can over-widen, e.g. 40 runs with the Huber likelihood on Gaussian noise,
where the unadjusted posterior is already calibrated and the asymptotic form covers 95-99% at
90% nominal. Use it on large tables where the law's misfit is the bigger risk (RESULTS.md). For the Normal likelihood this is White's
heteroscedasticity-consistent covariance; for the Huber density (delta -> 0, a Laplace
density) it is the least-absolute-deviations covariance ``(X^T X)^-1 / (4 f(0)^2)``
with the posterior standing in for ``2 f(0)``.

Small tables. On 12-75 runs the asymptotic form failed badly (issue 13: widths of 1e5-1e16 %,
NaN on 12 runs): the posterior is curved, its mean lies off the ridge where every run's score
points the same way, and ``Sigma`` (the posterior covariance, far wider than the inverse
curvature at the mode) enters twice. The default small-sample correction (`sandwich_map`,
``small_sample=True``) takes the scores at the draw of highest likelihood, centres them, and
shrinks the variance inflation toward the identity (toward the model's own information) with
weight ``n / min_runs`` below `min_runs` = 20 runs per sampled parameter (120 for chinchilla).
Whatever the table, no direction's standard deviation changes by more than ``MAX_SD_FACTOR``
(10x), so a sampled (unconstrained) parameter's interval widens 10x at most; a positive
parameter's natural-scale interval (``A = exp(log_A)``) can stretch more. ``adjust="auto"`` (the
default of `sample`, `laplace` and ``scalelab bayes``) applies the adjustment only from
`min_runs` runs, where it was calibrated (RESULTS.md, "Small tables").

Only for i.i.d. models (``groups=None``): with group offsets the scores of the global
parameters are not independent across runs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from scalelab import laws as _laws
from scalelab.bayes.likelihoods import noise_distribution
from scalelab.programs import float64, per_law

ADJUSTMENTS = ("sandwich",)


def _run_loglik(law, likelihood, delta):
    """``(phi, x, y) -> [n]``: each run's log-likelihood at ``phi = (theta, log_s[, log_nu])``."""
    P = law.n_params

    def loglik(phi, x, y):
        mu = law.log_predict_theta(phi[:P], x)
        nu = jnp.exp(phi[P + 1]) if likelihood == "student_t" else None
        return noise_distribution(likelihood, jnp.exp(phi[P]), nu, delta).log_prob(y - mu)

    return loglik


@per_law
def _score_program(law, likelihood, delta):
    """jit of the per-run scores ``[n, q]`` of ``(theta, log_s[, log_nu])`` (data traced)."""
    return jax.jit(jax.jacfwd(_run_loglik(law, likelihood, delta)))


# Below this many runs per sampled parameter the scores' outer product is too noisy an estimate
# of J (benchmarks/calibration.py, RESULTS.md "Sandwich adjustment": 40 runs / 6 parameters
# over-cover, 0.95-0.99 at 90% nominal; 240 runs / 6 parameters are within 1-7 points).
MIN_RUNS_PER_PARAM = 20
# The adjustment never changes a standard deviation by more than this factor (either way).
MAX_SD_FACTOR = 10.0


def min_runs(law, likelihood: str = "huber") -> int:
    """Smallest table for which the sandwich holds unshrunk: ``MIN_RUNS_PER_PARAM`` runs per sampled parameter."""
    law = _laws.get(law)
    return MIN_RUNS_PER_PARAM * (law.n_params + (2 if likelihood == "student_t" else 1))


@float64
def sandwich_map(law, likelihood: str, phi, x, y, delta: float = 1e-3, small_sample: bool = True):
    """The affine map of the sandwich adjustment.

    Args:
      law: a `Law` (or its name).
      likelihood: ``"huber"``, ``"normal"`` or ``"student_t"``.
      phi: ``[S, q]`` posterior draws of ``(law's unconstrained parameters, log_s[, log_nu])``.
      x: the law's inputs (``{name: [n]}``); y: ``[n]`` natural log of the observed loss.
      delta: the Huber density's threshold.
      small_sample: the small-sample correction (default). Scores are taken at the draw of
        highest log-likelihood and centred (J is then their covariance: on a small table the
        posterior is curved and its mean lies off the ridge, where every run's score points the
        same way and J explodes: widths of 1e5-1e16 % on 20-75 run tables before this), and
        the variance inflation ``M = L^T J L`` (``Sigma = L L^T``) is shrunk toward the
        identity (toward the model's own information ``Sigma^-1``) with weight
        ``w = min(1, n / min_runs)``. False: the asymptotic form, scores at the posterior mean,
        uncentred, no shrinkage (Müller 2013 as published, for reference checks).

    Either way the eigenvalues of ``M`` are clipped to ``[1 / MAX_SD_FACTOR^2, MAX_SD_FACTOR^2]``:
    no direction's standard deviation is changed more than 10x.

    Returns:
      ``(m [q], A [q, q], free [q] bool)``: adjusted draws are ``m + (phi - m) @ A.T``.
      Coordinates with zero posterior variance (held fixed) get ``A``'s identity rows.
    """
    law = _laws.get(law)
    phi = np.asarray(phi, float)
    q = law.n_params + (2 if likelihood == "student_t" else 1)
    if phi.ndim != 2 or phi.shape[1] != q:
        raise ValueError(f"phi must be [draws, {q}] (theta, log_s{', log_nu' if q > law.n_params + 1 else ''}), "
                         f"got shape {phi.shape}")
    if not np.all(np.isfinite(phi)):
        raise ValueError("phi holds NaN or infinite draws; the posterior failed, nothing to adjust")
    m = phi.mean(axis=0)
    sd = phi.std(axis=0, ddof=1)
    free = sd > 1e-9 * np.maximum(1.0, np.abs(m))  # constant columns (rounding aside) are held fixed
    n = int(np.shape(y)[0])
    k = int(free.sum())
    if n <= k:
        raise ValueError(f"the sandwich needs more runs ({n}) than sampled parameters ({k})")
    score = _score_program(law, likelihood, float(delta))
    if small_sample:
        ll = np.asarray(_loglik_program(law, likelihood, float(delta))(jnp.asarray(phi), x, jnp.asarray(y)))
        at = phi[int(np.nanargmax(ll))]
        g = np.asarray(score(jnp.asarray(at), x, jnp.asarray(y)))[:, free]
        g = g - g.mean(axis=0)
    else:
        g = np.asarray(score(jnp.asarray(m), x, jnp.asarray(y)))[:, free]
    # Whitened coordinates of the posterior (chinchilla's log_A/alpha correlate at ~0.999):
    # Sigma = D R D = L L^T with L = D V e^1/2 from the correlation's eigendecomposition.
    d = sd[free]
    R = np.atleast_2d(np.corrcoef(phi[:, free].T))
    e, V = np.linalg.eigh(0.5 * (R + R.T))
    e = np.maximum(e, 1e-12 * e.max())
    L = d[:, None] * V * np.sqrt(e)[None, :]
    Linv = (V / np.sqrt(e)[None, :]).T / d[None, :]
    gw = g @ L  # scores in whitened coordinates
    M = (gw.T @ gw) * n / (n - k)  # the variance inflation: Sigma J Sigma = L M L^T
    if small_sample:
        w = min(1.0, n / (MIN_RUNS_PER_PARAM * k))
        M = w * M + (1.0 - w) * np.eye(k)
    lam, U = np.linalg.eigh(0.5 * (M + M.T))
    if not np.all(np.isfinite(lam)):
        raise ValueError("the sandwich's score matrix is not finite (a run's score overflowed); "
                         "use the unadjusted posterior (adjust=None)")
    lam = np.clip(lam, MAX_SD_FACTOR**-2, MAX_SD_FACTOR**2)
    A = np.eye(q)
    A[np.ix_(free, free)] = L @ (U * np.sqrt(lam)[None, :]) @ U.T @ Linv
    return m, A, free


@per_law
def _loglik_program(law, likelihood, delta):
    """jit of the summed log-likelihood of each draw ``[S, q] -> [S]`` (data traced)."""
    run = _run_loglik(law, likelihood, delta)
    return jax.jit(jax.vmap(lambda phi, x, y: jnp.sum(run(phi, x, y)), in_axes=(0, None, None)))


@float64
def sandwich(posterior, runs, *, small_sample: bool = True):
    """The `Posterior` with its draws sandwich-adjusted for misspecification (module docstring).

    Args:
      posterior: an i.i.d. `Posterior` (NUTS or Laplace) of ``runs``.
      runs: the run table it conditions on (path, DataFrame or `RunTable`).
      small_sample: the small-sample correction of `sandwich_map` (default; it is the identity
        map's neighbour below `min_runs` runs and changes little above). False: the asymptotic form.

    Returns:
      A new `Posterior` (``adjustment="sandwich"``), same chains and draws mapped affinely,
      sampler statistics kept. Its intervals account for the law's misfit the way a case
      bootstrap does; `Posterior.params` and friends read it as usual.
    """
    from scalelab.bayes.model import prepare_data
    from scalelab.bayes.posterior import from_draws

    if posterior.groups:
        raise ValueError("the sandwich adjustment is for i.i.d. models (groups=None): with group offsets the "
                         "global parameters' per-run scores are not independent")
    if posterior.adjustment:
        raise ValueError(f"posterior is already {posterior.adjustment}-adjusted")
    law = posterior.law
    table, x, y, _, _ = prepare_data(runs, law, None)
    if len(table) != posterior.n_runs:
        raise ValueError(f"runs has {len(table)} rows but the posterior conditions on {posterior.n_runs}")
    sites = [*law.unconstrained_names, "log_s", *(["log_nu"] if posterior.likelihood == "student_t" else [])]
    post = posterior.idata.posterior
    chains, draws = post.sizes["chain"], post.sizes["draw"]
    phi = np.stack([np.asarray(post[s].values, float).reshape(-1) for s in sites], axis=-1)
    m, A, _ = sandwich_map(law, posterior.likelihood, phi, x, y, posterior.delta, small_sample=small_sample)
    adj = m + (phi - m) @ A.T
    out = {s: adj[:, i].reshape(chains, draws) for i, s in enumerate(sites)}
    stats = None
    if hasattr(posterior.idata, "sample_stats"):
        stats = {k: np.asarray(v.values) for k, v in posterior.idata.sample_stats.items()}
    return from_draws(law, posterior.likelihood, posterior.method, out, sample_stats=stats, delta=posterior.delta,
                      n_runs=posterior.n_runs, seconds=posterior.seconds, adjustment="sandwich",
                      warnings=posterior.warnings, sampler=posterior.sampler)
