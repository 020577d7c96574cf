"""Likelihoods of log-loss residuals ``r = log observed - log predicted``.

* ``normal``: ``r ~ Normal(0, s)``.
* ``student_t``: ``r ~ StudentT(nu, 0, s)``, ``nu`` learned.
* ``huber``: Epoch's Huber density (Besiroglu et al. 2024), with learned scale:
  ``p(r) = exp(-huber_delta(r / sigma)) / (sigma Z(delta))``,
  ``Z(delta) = sqrt(2 pi) (1 - 2 Phi(-delta)) + 2 exp(-delta^2 / 2) / delta``
  (LAWS.md). With Epoch's ``delta = 1e-3`` almost all the mass lies in the
  linear part, so the density is a Laplace density with scale
  ``sigma / delta``. We sample ``s = sigma / delta`` (the tail scale, in
  log-loss units like the other likelihoods' ``s``) so one noise prior suits all.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpyro.distributions as dist
from jax.scipy.special import ndtr
from numpyro.distributions import constraints

LIKELIHOODS = ("huber", "normal", "student_t")


def huber_log_normaliser(delta):
    """log Z(delta) of the unit-scale Huber density (LAWS.md, Epoch)."""
    delta = jnp.asarray(delta, float)
    z = jnp.sqrt(2 * jnp.pi) * (1 - 2 * ndtr(-delta)) + 2 * jnp.exp(-0.5 * delta**2) / delta
    return jnp.log(z)


class HuberDensity(dist.Distribution):
    """Epoch's Huber density with location ``loc``, scale ``scale`` and threshold ``delta``."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    reparametrized_params = ["loc", "scale"]

    def __init__(self, loc=0.0, scale=1.0, delta=1e-3, *, validate_args=None):
        self.loc, self.scale = jnp.broadcast_arrays(jnp.asarray(loc, float), jnp.asarray(scale, float))
        self.delta = float(delta)
        super().__init__(batch_shape=jnp.shape(self.loc), validate_args=validate_args)

    def log_prob(self, value):
        z = (value - self.loc) / self.scale
        a = jnp.abs(z)
        d = self.delta
        rho = jnp.where(a <= d, 0.5 * z * z, d * (a - 0.5 * d))
        return -rho - huber_log_normaliser(d) - jnp.log(self.scale)

    def sample(self, key, sample_shape=()):
        # A mixture: a normal truncated to [-delta, delta] (mass sqrt(2 pi)(1 - 2 Phi(-delta)) / Z)
        # and two exponential tails, |z| - delta ~ Exponential(rate=delta).
        shape = sample_shape + self.batch_shape
        d = self.delta
        k1, k2, k3, k4 = jax.random.split(key, 4)
        p_centre = jnp.sqrt(2 * jnp.pi) * (1 - 2 * ndtr(-d)) / jnp.exp(huber_log_normaliser(d))
        centre = jax.random.truncated_normal(k1, -d, d, shape)
        tail = (d + jax.random.exponential(k2, shape) / d) * jnp.where(jax.random.bernoulli(k3, 0.5, shape), 1.0, -1.0)
        z = jnp.where(jax.random.uniform(k4, shape) < p_centre, centre, tail)
        return self.loc + self.scale * z


def noise_distribution(likelihood: str, s, nu=None, delta=1e-3):
    """The residual distribution centred at 0 for scale ``s`` (and ``nu`` for Student-t)."""
    if likelihood == "normal":
        return dist.Normal(0.0, s)
    if likelihood == "student_t":
        return dist.StudentT(nu, 0.0, s)
    if likelihood == "huber":
        return HuberDensity(0.0, s * delta, delta)
    raise ValueError(f"unknown likelihood {likelihood!r}; choose one of {LIKELIHOODS}")


def fisher_information(likelihood: str, s, nu=None):
    """Fisher information for the location of one residual, per unit ``1/s^2``-scaled.

    Normal: ``1/s^2``; Student-t: ``(nu + 1) / ((nu + 3) s^2)``; Huber with
    delta -> 0 (the Laplace limit): ``1/s^2``.
    """
    if likelihood == "student_t":
        return (nu + 1.0) / ((nu + 3.0) * s**2)
    return 1.0 / s**2
