"""The report's bands: bootstrap refits of the law, and the compute-optimal frontier of every draw.

Conventions as `scalelab.report`: ``C = 6ND`` FLOPs, losses in nats per token.
"""

from __future__ import annotations

import dataclasses

import numpy as np


def bootstrap_draws(table, law, n_boot, seed, fixed, fit):
    """Bootstrap refits (runs resampled), warm-started from ``fit`` and one perturbed copy of it."""
    import jax.numpy as jnp

    from scalelab.fit import variants
    from scalelab.fit.many import fit_many

    n_free = law.n_params - len(fixed or {})
    vs = variants.bootstrap(table, n_boot, seed=seed, min_runs=n_free + 1)  # each resample identifies the law
    if fixed:
        vs = dataclasses.replace(vs, fixed=tuple(dict(fixed) for _ in range(len(vs))))
    theta0 = np.asarray(law.flatten({k: jnp.asarray(v) for k, v in fit.unconstrained.items()}), float)
    jitter = theta0 + 0.02 * np.random.default_rng(seed).standard_normal(theta0.size)
    boot = fit_many(table, law, vs, seed=seed, starts=np.vstack([theta0, jitter]), keep=2)
    return {k: boot[k].to_numpy(float) for k in law.params}, int((~boot["converged"]).sum())


def frontier_draws(law, draws, C, extra) -> dict:
    """N_opt, D_opt, tokens/param and loss at budgets ``C`` for every draw: arrays ``[B, K]``.

    Chinchilla: the closed form (Hoffmann et al. 2022, Eq. 4) over the draws in NumPy; any other
    law: the numeric frontier (`scalelab.optimal.frontier.optimum`) under one jitted double vmap.
    """
    C = np.asarray(C, float)
    if law.name == "chinchilla" and not extra:
        E, A, B, a, b = (np.asarray(draws[k], float)[:, None] for k in ("E", "A", "B", "alpha", "beta"))
        G = (a * A / (b * B)) ** (1.0 / (a + b))
        N = G * (C / 6.0) ** (b / (a + b))
        D = (C / 6.0) ** (a / (a + b)) / G
        return {"N_opt": N, "D_opt": D, "tokens_per_param": D / N, "loss": E + A / N**a + B / D**b}
    import jax
    import jax.numpy as jnp

    from scalelab import optimal as _frontier

    theta = law.flatten(law.to_unconstrained({k: jnp.asarray(v) for k, v in draws.items()}))
    ex = {k: jnp.asarray(float(v)) for k, v in extra.items()}
    f = jax.jit(jax.vmap(lambda th: jax.vmap(lambda c: _frontier.optimum(law, th, c, ex))(jnp.asarray(C))))
    out = f(theta)
    return {k: np.asarray(out[k], float) for k in ("N_opt", "D_opt", "tokens_per_param", "loss")}


__all__ = ["bootstrap_draws", "frontier_draws"]
