"""`sample` (NUTS) and `laplace` (fast Gaussian approximation) for any law."""

from __future__ import annotations

import time
from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from numpyro.infer import MCMC, NUTS

from scalelab import laws as _laws
from scalelab import runs as _runs
from scalelab.bayes.laplace import laplace_core, onehot_groups
from scalelab.bayes.model import group_index, make_model
from scalelab.bayes.posterior import Posterior, from_draws
from scalelab.bayes.priors import resolve_priors


def _prepare(runs, law, groups):
    table = _runs.read(runs)
    table.require(law.inputs, n_params=law.n_params, law=law.name)
    x = {k: jnp.asarray(v) for k, v in table.inputs(law.inputs).items()}
    y = jnp.asarray(np.log(table.column("loss")))
    idx, labels = group_index(table, groups)
    return table, x, y, idx, labels


def _init_theta(table, law, init, likelihood):
    """Unconstrained start ``[P]``: a FitResult, a dict (natural or unconstrained), or None (run `fit`)."""
    if init is None:
        from scalelab.fit import fit

        starts = "grid" if law.start_grid is not None else 256
        init = fit(table, law, objective="mse" if likelihood == "normal" else "huber", starts=starts)
    if hasattr(init, "unconstrained"):
        init = init.unconstrained
    init = dict(init)
    if set(law.unconstrained_names) <= set(init):
        return np.array([float(init[u]) for u in law.unconstrained_names])
    if set(law.params) <= set(init):
        u = law.to_unconstrained({k: jnp.asarray(float(init[k])) for k in law.params})
        return np.array([float(u[n]) for n in law.unconstrained_names])
    raise ValueError(f"init must give all of {law.unconstrained_names} or {law.params}")


def _prior_precision(law, priors):
    pri = resolve_priors(law, priors)
    return jnp.array([1.0 / float(pri[u].scale) ** 2 if isinstance(pri[u], dist.Normal) else 0.0
                      for u in law.unconstrained_names])


_LAPLACE_CACHE: dict = {}


def _approx(law, theta0, x, y, idx, labels, likelihood, priors, delta):
    onehot = onehot_groups(idx, len(labels))
    key = (id(law), likelihood, float(delta), onehot is None)
    hit = _LAPLACE_CACHE.get(key)
    if hit is None or hit[0] is not law:
        hit = (law, jax.jit(lambda t, x, y, w, oh, pp: laplace_core(law, t, x, y, w, oh, likelihood, pp, delta)))
        _LAPLACE_CACHE[key] = hit
    return hit[1](jnp.asarray(theta0), x, y, jnp.ones_like(y), onehot, _prior_precision(law, priors))


def laplace(runs, law="chinchilla", *, likelihood: str = "huber", groups=None, priors: Mapping | None = None,
            init=None, draws: int = 4000, seed: int = 0, delta: float = 1e-3) -> Posterior:
    """Gaussian approximation of the posterior around the fit (see `scalelab.bayes.laplace`).

    Same arguments as `sample`; ``draws`` independent draws are stored as 4
    pseudo-chains so diagnostics and summaries read the same. Noise parameters
    are fixed at their profile estimates.
    """
    t0 = time.perf_counter()
    law = _laws.get(law)
    table, x, y, idx, labels = _prepare(runs, law, groups)
    theta0 = _init_theta(table, law, init, likelihood)
    a = _approx(law, theta0, x, y, idx, labels, likelihood, priors, delta)
    chains = 4
    per = max(1, draws // chains)
    L = np.linalg.cholesky(np.asarray(a["cov"]) + 1e-12 * np.eye(law.n_params))
    z = np.random.default_rng(seed).standard_normal((chains, per, law.n_params))
    th = np.asarray(a["theta"]) + z @ L.T
    out = {un: th[..., i] for i, un in enumerate(law.unconstrained_names)}
    out["log_s"] = np.full((chains, per), float(np.log(a["s"])))
    if likelihood == "student_t":
        out["log_nu"] = np.full((chains, per), float(np.log(a["nu"])))
    if labels:
        out["tau"] = np.full((chains, per), float(a["tau"]))
    return from_draws(law, likelihood, "laplace", out, delta=delta, groups=labels, n_runs=len(table),
                      seconds=time.perf_counter() - t0)


_MCMC_CACHE: dict = {}


def _mcmc(law, likelihood, priors, n_groups, delta, target_accept, warmup, draws, chains, progress):
    """One `MCMC` per setting, kept so repeated calls with same-shaped data reuse the compiled sampler
    (``jit_model_args``: data and preconditioner are traced arguments)."""
    key = (id(law), likelihood, n_groups, float(delta), float(target_accept), warmup, draws, chains, progress)
    hit = _MCMC_CACHE.get(key) if priors is None else None
    if hit is not None and hit[0] is law:
        return hit[1]
    model = make_model(law, likelihood, priors, n_groups, delta, preconditioned=True)
    mcmc = MCMC(NUTS(model, target_accept_prob=target_accept, dense_mass=True), num_warmup=warmup,
                num_samples=draws, num_chains=chains, chain_method="vectorized", progress_bar=progress,
                jit_model_args=True)
    if priors is None:
        _MCMC_CACHE[key] = (law, mcmc)
    return mcmc


def sample(runs, law="chinchilla", *, likelihood: str = "huber", groups=None, priors: Mapping | None = None,
           chains: int = 4, draws: int = 1000, warmup: int = 1000, seed: int = 0, init=None,
           delta: float = 1e-3, target_accept: float = 0.9, progress: bool = False) -> Posterior:
    """NUTS posterior of ``law`` given ``runs`` (numpyro; chains vectorised in one program).

    Args:
      runs: path, DataFrame or `RunTable` (columns the law needs, and ``loss``).
      law: registered name or `Law`.
      likelihood: ``"huber"`` (Epoch's Huber density, learned scale), ``"normal"``
        or ``"student_t"`` (learned degrees of freedom), on log-loss residuals.
      groups: None (i.i.d. residuals), ``"N"`` (a random offset per model size,
        ``log10 N`` rounded to 0.1), a column name, or one label per run.
      priors: overrides of the default priors (`scalelab.bayes.priors`).
      chains, draws, warmup: NUTS settings (``chain_method="vectorized"``).
      seed: PRNG seed; same inputs and seed give the same draws.
      init: the fit to start from (`FitResult`, natural or unconstrained dict);
        None runs `scalelab.fit`. Chains start at draws from the Laplace
        approximation around it, so they are dispersed for R-hat to mean something.
      delta: Huber threshold (standardised units; Epoch: 1e-3).
      target_accept: NUTS target acceptance probability.

    Returns:
      `Posterior`. Call ``.check()`` for R-hat/ESS warnings.
    """
    t0 = time.perf_counter()
    law = _laws.get(law)
    table, x, y, idx, labels = _prepare(runs, law, groups)
    theta0 = _init_theta(table, law, init, likelihood)
    a = _approx(law, theta0, x, y, idx, labels, likelihood, priors, delta)
    rng = np.random.default_rng(seed)
    L = np.linalg.cholesky(np.asarray(a["cov"]) + 1e-12 * np.eye(law.n_params))
    th = np.asarray(a["theta"]) + rng.standard_normal((chains, law.n_params)) @ L.T
    # Preconditioned by the Laplace covariance (see `make_model`); chains start at w ~ Normal(0, I).
    chol = jnp.asarray(L)
    init_params = {"w": jnp.asarray(np.linalg.solve(L, (th - np.asarray(a["theta"])).T).T)}
    init_params["log_s"] = jnp.full((chains,), jnp.log(a["s"]))
    if likelihood == "student_t":
        init_params["log_nu"] = jnp.full((chains,), jnp.log(a["nu"]))
    if labels:
        # numpyro's unconstrained space: tau (positive) is stored as log tau.
        init_params["tau"] = jnp.full((chains,), jnp.log(jnp.maximum(a["tau"], 1e-3)))
        init_params["z"] = jnp.zeros((chains, len(labels)))
    mcmc = _mcmc(law, likelihood, priors, len(labels), delta, target_accept, warmup, draws, chains, progress)
    group = None if idx is None else jnp.asarray(idx)
    mcmc.run(jax.random.PRNGKey(seed), x, y, group, (jnp.asarray(a["theta"]), chol), init_params=init_params,
             extra_fields=("diverging",))
    samples = {k: np.asarray(v) for k, v in mcmc.get_samples(group_by_chain=True).items() if k != "w"}
    stats = {"diverging": np.asarray(mcmc.get_extra_fields(group_by_chain=True)["diverging"])}
    return from_draws(law, likelihood, "nuts", samples, sample_stats=stats, delta=delta, groups=labels,
                      n_runs=len(table), seconds=time.perf_counter() - t0)
