"""Fast approximate posterior: a Gaussian around the fit (Laplace / Gauss-Newton).

``theta ~ Normal(theta_hat, H^-1)``, ``H = J^T Sigma^-1 J + P0``, where ``J`` is the
Jacobian of the log prediction at the fit, ``P0`` the prior precision, and
``Sigma = diag(1 / I) + tau^2 G G^T`` the covariance of the log-loss residuals:
``I`` the Fisher information of the likelihood for a location (`fisher_information`;
for the Huber density with delta = 1e-3, which has almost no pointwise curvature,
the curvature of the summed absolute residuals, ``2 f(0) / s`` with ``f(0)`` the
residuals' density at 0 from a box kernel; with ``local_density``, each run's own
Gaussian-kernel weight ``2 K_h(r_i) / s`` instead, below), and
``G`` the run-to-group incidence when runs share a per-group offset of sd ``tau``.
The noise scale (and Student-t nu) are profiled on a grid at the fit; ``tau`` by
moments of the group means of the residuals.

Local density (``local_density=True``, what `scalelab.bayes.laplace` uses). The exact posterior of
the summed absolute residuals takes its curvature, in each direction, from the runs whose residual
sits near 0: runs the law misses (on Epoch's table, the ends of tokens per parameter, which pin
down beta) carry little. One pooled ``f(0)`` gives every run the same weight, so the covariance is
the i.i.d. least-absolute-deviations one ``s (X^T X)^-1 / (2 f(0))``, and the sandwich of such
a posterior is ``(X^T X)^-1 / (4 f(0)^2)`` whatever the misfit (the score of a run is
``sign(r_i) x_i / s``, so ``J`` is ``X^T X / s^2`` on any data): Laplace + sandwich gave beta
an interval 0.41x Epoch's bootstrap where NUTS + sandwich gives 0.82x. With each run's own kernel
weight (Powell 1991's local-density estimate of the least-absolute-deviations curvature,
``H = 2 sum_i K_h(r_i) x_i x_i^T / s``, Gaussian ``K_h`` at the same Silverman width) the Laplace
covariance follows NUTS's and its sandwich is Powell's robust covariance ``H^-1 J H^-1``
(RESULTS.md, "Laplace + sandwich"). The kernel's mean over runs is a smooth version of the
pooled ``f(0)``, which still serves the group offsets' moment estimate. NUTS's preconditioner keeps
the pooled form (its small-table mixing was measured with it; it only shapes the sampler's chart).

`laplace_core` is pure JAX and vmaps over variants (different weights = masks
or bootstrap counts, different fits): thousands of variants in one program.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from scalelab.bayes.likelihoods import fisher_information, noise_distribution
from scalelab.fit.objectives import silverman_width

# NumPy, not jnp: a module-level jnp array is a compiled program run at import
_S_GRID = np.exp(np.linspace(np.log(1e-4), np.log(1.0), 241))
_NU_GRID = np.exp(np.linspace(np.log(1.0), np.log(200.0), 48))


def laplace_core(law, theta_hat, x, y, w, onehot, likelihood: str, prior_prec, delta: float = 1e-3, *,
                 scale=None, free=None, local_density: bool = False):
    """Gaussian approximation at ``theta_hat`` (pure, jit/vmap-able).

    Args:
      law: a `Law` (static).
      theta_hat: ``[P]`` unconstrained fit.
      x, y, w: inputs, log loss ``[n]``, run weights ``[n]`` (0 masks a run out).
      onehot: ``[n, G]`` group incidence, or None for i.i.d. noise.
      likelihood: ``"huber"``, ``"normal"``, ``"student_t"`` (static).
      prior_prec: ``[P]`` prior precisions (0 for flat).
      scale: a given noise scale ``s`` of the log-loss residuals instead of its profile estimate
        (`scalelab.design` passes a robust 1.4826 x MAD); with ``"normal"`` the information is
        then the Gauss-Newton ``J^T W J / s^2``.
      free: ``[P]`` mask, 0 for parameters held fixed: their Jacobian columns are zeroed, so the
        free parameters' covariance is conditional on them (give them prior precision > 0).
      local_density: with the Huber likelihood and no given ``scale``, weight each run's curvature
        by its own Gaussian-kernel density at its residual (module docstring) instead of the
        pooled box-kernel ``f(0)`` (static; False is NUTS's preconditioner).

    Returns:
      dict with ``theta`` ``[P]``, ``cov`` ``[P, P]``, ``s``, ``nu``, ``tau``.
    """
    f = lambda t: law.log_predict_theta(t, x)  # noqa: E731
    r = y - f(theta_hat)
    J = jax.jacfwd(f)(theta_hat)
    if free is not None:
        J = J * free
    if scale is not None:
        s, nu = jnp.asarray(scale), jnp.asarray(5.0)
    else:
        if likelihood == "student_t":
            ss, nn = jnp.meshgrid(_S_GRID, _NU_GRID, indexing="ij")
        else:
            ss, nn = jnp.asarray(_S_GRID)[:, None], jnp.full((_S_GRID.shape[0], 1), 5.0)
        ll = jax.vmap(jax.vmap(lambda s, nu: jnp.sum(w * noise_distribution(likelihood, s, nu, delta).log_prob(r))))(ss, nn)
        best = jnp.unravel_index(jnp.argmax(ll), ll.shape)
        s, nu = ss[best], nn[best]
    info = fisher_information(likelihood, s, nu)
    if likelihood == "huber" and scale is None:
        # The Huber/Laplace log-likelihood sum |r|/s has curvature 2 n f(0) / s, with f(0) the density of
        # the residuals at 0; the Laplace-model value f(0) = 1/(2s) overstates it when residuals are
        # flatter than Laplace near 0 (they are on the Epoch data). Estimate f(0) with a box kernel of
        # Silverman's width.
        sw = jnp.sum(w)
        h = silverman_width(r, w)
        if local_density:  # each run's own curvature: Powell's local density, Gaussian kernel
            k = jnp.exp(-0.5 * (r / h) ** 2) / (jnp.sqrt(2 * jnp.pi) * h)
            d = w * 2.0 * k / s
            info = jnp.sum(d) / sw  # the pooled value, for the group offsets' moments
        else:
            f0 = jnp.sum(w * (jnp.abs(r) < h)) / (2 * h * sw)
            info = 2.0 * f0 / s
            d = info * w
    else:
        d = info * w  # diagonal precision of the i.i.d. part
    if onehot is None:
        tau = jnp.asarray(0.0)
        prec_J = d[:, None] * J
    else:
        n_g = onehot.T @ w
        m_g = (onehot.T @ (w * r)) / jnp.maximum(n_g, 1e-12)
        present = n_g > 0
        tau2 = jnp.maximum(0.0, jnp.sum(jnp.where(present, m_g**2 - 1.0 / (info * jnp.maximum(n_g, 1e-12)), 0.0))
                           / jnp.maximum(present.sum(), 1))
        tau = jnp.sqrt(tau2)
        # Woodbury: Sigma^-1 = D - D G (I + tau^2 G^T D G)^-1 tau^2 G^T D
        DG = d[:, None] * onehot
        K = jnp.eye(onehot.shape[1]) + tau2 * (onehot.T @ DG)
        prec_J = d[:, None] * J - DG @ jnp.linalg.solve(K, tau2 * (DG.T @ J))
    H = J.T @ prec_J + jnp.diag(prior_prec)
    cov = jnp.linalg.inv(0.5 * (H + H.T))
    return {"theta": theta_hat, "cov": 0.5 * (cov + cov.T), "s": s, "nu": nu, "tau": tau}


def onehot_groups(idx, n_groups):
    return None if idx is None else np.eye(n_groups)[idx]  # host array: no per-shape program
