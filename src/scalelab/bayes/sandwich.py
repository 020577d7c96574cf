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
``A Sigma A^T = Sigma J Sigma`` (``A = chol(Sigma J Sigma) chol(Sigma)^-1``). When the law
and noise model are right, ``J ~ Sigma^-1`` and ``A ~ I``: nothing changes (checked by
simulation, `benchmarks/calibration.py`). The argument is asymptotic (``Sigma ~ H^-1``): on
small tables it can over-widen, e.g. 40 runs with the Huber likelihood on Gaussian noise,
where the unadjusted posterior is already calibrated and the adjusted one covers 95-99% at
90% nominal. Use it on large tables where the law's misfit is the bigger risk (RESULTS.md). For the Normal likelihood this is White's
heteroscedasticity-consistent covariance; for the Huber density (delta -> 0, a Laplace
density) it is the least-absolute-deviations covariance ``(X^T X)^-1 / (4 f(0)^2)``
with the posterior standing in for ``2 f(0)``.

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


@per_law
def _score_program(law, likelihood, delta):
    """jit of the per-run scores ``[n, q]`` of ``(theta, log_s[, log_nu])`` (data traced)."""
    P = law.n_params

    def loglik(phi, x, y):
        mu = law.log_predict_theta(phi[:P], x)
        nu = jnp.exp(phi[P + 1]) if likelihood == "student_t" else None
        return noise_distribution(likelihood, jnp.exp(phi[P]), nu, delta).log_prob(y - mu)

    return jax.jit(jax.jacfwd(loglik))


@float64
def sandwich_map(law, likelihood: str, phi, x, y, delta: float = 1e-3):
    """The affine map of the sandwich adjustment.

    Args:
      law: a `Law` (or its name).
      likelihood: ``"huber"``, ``"normal"`` or ``"student_t"``.
      phi: ``[S, q]`` posterior draws of ``(law's unconstrained parameters, log_s[, log_nu])``.
      x: the law's inputs (``{name: [n]}``); y: ``[n]`` natural log of the observed loss.
      delta: the Huber density's threshold.

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
    m = phi.mean(axis=0)
    sd = phi.std(axis=0, ddof=1)
    free = sd > 1e-9 * np.maximum(1.0, np.abs(m))  # constant columns (rounding aside) are held fixed
    g = np.asarray(_score_program(law, likelihood, float(delta))(jnp.asarray(m), x, jnp.asarray(y)))
    g = g[:, free]
    n, k = g.shape
    if n <= k:
        raise ValueError(f"the sandwich needs more runs ({n}) than sampled parameters ({k})")
    # In standardised coordinates (correlations; chinchilla's log_A/alpha correlate at ~0.999).
    d = sd[free]
    J = (g.T @ g) * np.outer(d, d) * n / (n - k)
    R = np.atleast_2d(np.corrcoef(phi[:, free].T))
    target = R @ J @ R
    Lr = np.linalg.cholesky(R)
    La = np.linalg.cholesky(0.5 * (target + target.T))
    A = np.eye(q)
    A[np.ix_(free, free)] = (d[:, None] * (La @ np.linalg.inv(Lr))) / d[None, :]
    return m, A, free


@float64
def sandwich(posterior, runs):
    """The `Posterior` with its draws sandwich-adjusted for misspecification (module docstring).

    Args:
      posterior: an i.i.d. `Posterior` (NUTS or Laplace) of ``runs``.
      runs: the run table it conditions on (path, DataFrame or `RunTable`).

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
    m, A, _ = sandwich_map(law, posterior.likelihood, phi, x, y, posterior.delta)
    adj = m + (phi - m) @ A.T
    out = {s: adj[:, i].reshape(chains, draws) for i, s in enumerate(sites)}
    stats = None
    if hasattr(posterior.idata, "sample_stats"):
        stats = {k: np.asarray(v.values) for k, v in posterior.idata.sample_stats.items()}
    return from_draws(law, posterior.likelihood, posterior.method, out, sample_stats=stats, delta=posterior.delta,
                      n_runs=posterior.n_runs, seconds=posterior.seconds, adjustment="sandwich")
