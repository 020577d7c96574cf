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
