"""Shared helpers for benchmarks: device names and the SciPy anchor objective."""

import platform

import numpy as np
from scipy import special


def device_name() -> str:
    import jax

    d = jax.devices()[0]
    kind = getattr(d, "device_kind", d.platform)
    cpu = platform.processor() or platform.machine()
    return f"{d.platform}:{kind} x{jax.device_count()} (host {cpu}, {__import__('os').cpu_count()} cores)"


def epoch_objective(theta, logN, logD, logL, delta=1e-3):
    """Epoch/Hoffmann objective in float64: sum Huber(LSE(a - alpha logN, b - beta logD, e) - log L)."""
    a, b, e, alpha, beta = theta
    pred = special.logsumexp([a - alpha * logN, b - beta * logD, np.full_like(logN, e)], axis=0)
    return np.sum(special.huber(delta, pred - logL))


def epoch_objective_and_grad(theta, logN, logD, logL, delta=1e-3):
    """`epoch_objective` and its analytic gradient (a fair SciPy anchor: no finite differences)."""
    a, b, e, alpha, beta = theta
    t = np.stack([a - alpha * logN, b - beta * logD, np.full_like(logN, e)])
    pred = special.logsumexp(t, axis=0)
    r = pred - logL
    s = np.exp(t - pred)  # softmax weights of the three terms
    psi = np.clip(r, -delta, delta)
    grad = np.array([np.sum(psi * s[0]), np.sum(psi * s[1]), np.sum(psi * s[2]),
                     -np.sum(psi * s[0] * logN), -np.sum(psi * s[1] * logD)])
    return np.sum(special.huber(delta, r)), grad
