"""Sampling coordinates for power-law terms: each term's value and slope at the design's centre.

A power-law term ``c / x**e`` (chinchilla: ``A / N**alpha`` and ``B / D**beta``) enters the law's
unconstrained space as ``log_c - e log x``. On small tables the posterior runs down a curved ridge:
the runs pin down each term's slope at the centre of the design, ``g = e T`` with
``T = c / x0**e`` the term's value there, and the loss at the centre, ``E + T + ...``; a smaller
exponent then needs a larger ``T = g / e`` and a smaller ``E``. In ``(log_E, log_c, e)`` that path
bends twice (``T`` goes as ``1/e``, and ``log E`` falls off a cliff as ``E -> 0``), and NUTS chains
adapted on one part of it strand in another (R-hat up to 1.6 on 12-run tables, RESULTS.md). In
``(E, T, g)`` it is nearly straight: ``E + T`` constant, ``g`` constant.

Charts (``phi``, NUTS's coordinates before the Laplace preconditioner):

* ``"ridge"`` (the default of `scalelab.bayes.sample`): per term, ``log_c -> softplus^-1(T / s_T)``
  (``T`` on a natural scale above ``s_T``, the fit's ``T``, on a log scale below) and
  ``e -> log g = log(e T)``; each free positive `linear` parameter (chinchilla's ``E``)
  ``log_E -> softplus^-1(E / s_E)``, ``s_E`` a twentieth of the fit's ``E``. The chart covers
  exponents > 0 only (a term that falls with its input; the sampler uses the law's own
  coordinates when a fitted exponent is <= 0).
* ``"centre"``: per term ``log_c -> log T = log_c - e log x0``, ``log x0`` the runs' mean of
  ``log x``. Affine: the Laplace preconditioner and the dense mass matrix already absorb it (it was
  measured to change nothing), kept for comparison.

The density in ``phi`` carries ``log |det d theta / d phi|`` (`to_theta`), so the posterior is the law's
own: the priors stay on the law's parameters and the law's unconstrained names are recorded.

Terms are found from the law's function, not its name: unconstrained coordinates ``(i, j)``,
``i`` the log of a positive parameter and ``j`` an identity-transformed one, form a term in
input ``x`` when ``d log L / d theta_j = -(log x - k) d log L / d theta_i`` at every run (for
some constant ``k``: an input used as ``x / x_ref``), i.e. ``L`` depends on the two only through
``log_c - e log x``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from scalelab.laws.base import identity, positive

CHARTS = ("ridge", "centre", None)
# Softplus scales, as fractions of the fit's value: below the scale a coordinate is on a log scale,
# above it on the natural scale. A term's value at the centre: 1 (log where the exponent is larger than
# at the fit, the term smaller; natural where the term grows as E shrinks). A free positive parameter
# (E): 0.05 (natural down to a twentieth of the fit, where E + T = const is a straight line).
SOFT_TERM = 1.0
SOFT_FREE = 0.05  # softplus scale of a natural-scale coordinate, as a fraction of its value at the fit


def _softplus_inv(y):
    return y + jnp.log(-jnp.expm1(-y))


def power_terms(law, x: dict, theta) -> tuple[tuple[int, int, str], ...]:
    """``((i, j, input), ...)``: the law's power-law terms, found from its gradient at ``theta`` on inputs ``x``.

    ``i`` indexes a log-coefficient (``positive`` transform), ``j`` an exponent (``identity``), in
    `Law.unconstrained_names` order. Each coefficient and each exponent belongs to one term at most.
    """
    params = law.params
    theta = np.asarray(theta, np.float64)
    x = {k: np.asarray(v, np.float64) for k, v in x.items()}
    # one compiled call (evaluated op by op, the Jacobian compiled ~25 small programs)
    g = np.asarray(jax.jit(jax.jacfwd(law.log_predict_theta))(theta, x))  # [n, P]
    if not np.all(np.isfinite(g)):
        return ()
    logs = {k: np.log(np.asarray(v)) for k, v in x.items() if k in law.inputs and np.all(np.asarray(v) > 0)}
    coef = [i for i, n in enumerate(params) if law.transform(n) is positive]
    expo = [j for j, n in enumerate(params) if law.transform(n) is identity]
    out, used = [], set()
    for i in coef:
        gi = g[:, i]
        if np.min(np.abs(gi)) < 1e-12:
            continue
        r = g[:, expo] / gi[:, None]  # [n, J]: -(log x - k) for a term
        for jj, j in enumerate(expo):
            for name, lx in logs.items():
                if j in used or np.ptp(lx) < 1e-6:
                    continue
                k = np.mean(r[:, jj] + lx)
                if np.max(np.abs(r[:, jj] + lx - k)) <= 1e-8 * (1.0 + np.max(np.abs(lx))):
                    out.append((i, j, name))
                    used.add(j)
                    break
            if out and out[-1][0] == i:
                break
    return tuple(out)


def free_positives(law, terms) -> tuple[int, ...]:
    """Indices of the law's `linear` positive parameters outside every term (chinchilla: ``E``)."""
    inside = {i for i, _, _ in terms} | {j for _, j, _ in terms}
    return tuple(k for k, n in enumerate(law.params)
                 if n in law.linear and law.transform(n) is positive and k not in inside)


def constants(terms, free, x: dict, theta_hat) -> np.ndarray:
    """``[2 T + F]``: each term's centre ``log x0`` (mean of ``log x`` over the runs), then the
    softplus scales (`SOFT_TERM`, `SOFT_FREE` times the fit's value) of each term's value at the centre and of each
    free positive parameter."""
    th = np.asarray(theta_hat, float)
    c = [float(np.mean(np.log(np.asarray(x[name])))) for _, _, name in terms]
    sc = [SOFT_TERM * float(np.exp(th[i] - th[j] * ct)) for (i, j, _), ct in zip(terms, c)]
    sc += [SOFT_FREE * float(np.exp(th[k])) for k in free]
    return np.array(c + sc, float)


def usable(theta_hat, terms, chart) -> bool:
    """The ridge chart needs every fitted exponent > 0 (it samples the log of each term's slope)."""
    return chart != "ridge" or all(float(theta_hat[j]) > 1e-3 for _, j, _ in terms)


def to_phi(theta, spec, const, chart):
    """Law's unconstrained ``theta [..., P]`` -> sampling coordinates ``phi`` (``spec = (terms, free)``).

    ``"centre"``: per term ``log_c -> log T`` with ``log T = log_c - e log x0`` (the term's value at
    the centre). ``"ridge"``: per term ``log_c -> softplus^-1(T / s)`` (natural scale, log below
    ``s``) and ``e -> log(e T)`` (the log of the term's slope in ``log x`` at the centre); each free
    positive parameter (``E``) ``log_E -> softplus^-1(E / s)``.
    """
    terms, free = spec
    nt = len(terms)
    phi = theta
    for t, (i, j, _) in enumerate(terms):
        log_t = theta[..., i] - theta[..., j] * const[t]
        if chart == "ridge":
            phi = phi.at[..., i].set(_softplus_inv(jnp.exp(log_t) / const[nt + t]))
            phi = phi.at[..., j].set(jnp.log(theta[..., j]) + log_t)
        else:
            phi = phi.at[..., i].set(log_t)
    if chart == "ridge":
        for f, k in enumerate(free):
            phi = phi.at[..., k].set(_softplus_inv(jnp.exp(theta[..., k]) / const[2 * nt + f]))
    return phi


def to_theta(phi, spec, const, chart):
    """Inverse of `to_phi`: ``(theta, log |det d theta / d phi|)``."""
    terms, free = spec
    nt = len(terms)
    theta, logj = phi, jnp.zeros(phi.shape[:-1], phi.dtype)
    for t, (i, j, _) in enumerate(terms):
        if chart == "ridge":
            sp = jax.nn.softplus(phi[..., i])
            log_t = jnp.log(const[nt + t] * sp)
            e = jnp.exp(phi[..., j] - log_t)
            theta = theta.at[..., j].set(e)
            theta = theta.at[..., i].set(log_t + e * const[t])
            # d(log_c, e)/d(p1, p2) has determinant e * dlogT/dp1, dlogT/dp1 = sigmoid(p1) / softplus(p1)
            logj = logj + jnp.log(e) + jax.nn.log_sigmoid(phi[..., i]) - jnp.log(sp)
        else:
            theta = theta.at[..., i].set(phi[..., i] + phi[..., j] * const[t])
    if chart == "ridge":
        for f, k in enumerate(free):
            sp = jax.nn.softplus(phi[..., k])
            theta = theta.at[..., k].set(jnp.log(const[2 * nt + f] * sp))
            logj = logj + jax.nn.log_sigmoid(phi[..., k]) - jnp.log(sp)
    return theta, logj


def precondition(theta_hat, cov, spec, const, chart):
    """``(phi_hat, chol)``: the fit and a Cholesky factor of its Laplace covariance in the sampling chart.

    The covariance is carried by the chart's Jacobian at the fit (delta method): it only conditions
    the sampler, the posterior does not depend on it.
    """
    theta_hat = np.asarray(theta_hat, np.float64)
    c = np.asarray(const, np.float64)
    f = lambda t: to_phi(t, spec, c, chart)  # noqa: E731
    J, phi = jax.jit(lambda t: (jax.jacfwd(f)(t), f(t)))(theta_hat)  # one compiled call, not op by op
    J = np.asarray(J)
    cov_phi = J @ np.asarray(cov) @ J.T
    L = np.linalg.cholesky(0.5 * (cov_phi + cov_phi.T) + 1e-12 * np.eye(len(theta_hat)))
    return np.asarray(phi), L
