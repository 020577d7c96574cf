"""The numpyro model built from any declared `Law`.

``log loss_i = log L(theta; x_i) + b_g(i) + r_i``

* ``theta``: the law's unconstrained parameters (``log_A``, ``alpha``, ...),
  each with its own prior (`scalelab.bayes.priors`).
* ``b_g``: optional per-group offsets (``groups=None`` leaves them out). On the
  Epoch/Chinchilla data the residuals cluster by model size (DESIGN.md,
  "Measured"): runs of one model size share an offset. Non-centred:
  ``b_g = tau z_g``, ``z_g ~ Normal(0, 1)``.
* ``r_i``: i.i.d. noise from the chosen likelihood (`scalelab.bayes.likelihoods`).

Sites: the law's unconstrained names (deterministic under ``precondition``, with ``w``), ``log_s``, ``log_nu`` (Student-t only),
``tau`` and ``z`` (grouped only), and the observed ``r``.
"""

from __future__ import annotations

from typing import Mapping

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd

from scalelab import runs as _runs
from scalelab.bayes import reparam as _reparam
from scalelab.bayes.likelihoods import LIKELIHOODS, noise_distribution
from scalelab.bayes.priors import resolve_priors
from scalelab.fit.problem import prepare
from scalelab.labels import as_text


def group_index(table: _runs.RunTable, groups) -> tuple[np.ndarray | None, tuple]:
    """Integer group of each run, and the group labels.

    ``groups``: None (no offsets); ``"N"`` (model size: ``log10 N`` rounded to
    0.1, as DESIGN.md measured); another column name (e.g. ``"family"``); or one
    label per run (a `pandas.Series` matched to the table's index by label). A run
    without a label (empty, NaN) is refused: which group it belongs to is unknown.
    """
    if groups is None:
        return None, ()
    if isinstance(groups, str):
        if groups == "N":
            labels = np.round(np.log10(table.column("N")), 1)
        elif groups in table.df.columns:
            labels = table.df[groups].to_numpy()
        else:
            raise ValueError(f"groups={groups!r}: give 'N' (model size), a column name "
                             f"({table.columns}) or one label per run")
    else:
        labels = table.per_run(groups, "groups")
    missing = pd.isna(labels)
    if missing.any():
        raise ValueError(f"groups: {table.rows(table.df.index[missing])} have no group label; give every run one "
                         f"(or leave those runs out)")
    if labels.dtype == object:  # mixed types (text and numbers) sort as text
        labels = as_text(labels)
    uniq, idx = np.unique(labels, return_inverse=True)
    return idx.astype(np.int32), tuple(u.item() if hasattr(u, "item") else u for u in uniq)


def prepare_data(runs, law, groups):
    """``(table, x, y, group index, group labels)``: `scalelab.fit.problem.prepare`'s inputs and log
    target (``law.target``: the loss, or a hyper-parameter law's column) as JAX arrays."""
    table, data = prepare(runs, law)
    idx, labels = group_index(table, groups)
    return table, {k: jnp.asarray(v) for k, v in data["x"].items()}, jnp.asarray(data["y"]), idx, labels


def make_model(law, likelihood: str = "huber", priors: Mapping | None = None, n_groups: int = 0,
               delta: float = 1e-3, preconditioned: bool = False, terms: tuple = ((), ()), chart: str | None = None):
    """A numpyro model ``model(x, y, group=None)`` for ``law``.

    Args:
      law: a `Law`.
      likelihood: ``"huber"``, ``"normal"`` or ``"student_t"``.
      priors: overrides of the default priors (see `scalelab.bayes.priors`).
      n_groups: number of groups with an offset each (0: none).
      delta: the Huber density's threshold (standardised units; Epoch: 1e-3).
      preconditioned: if True the model takes ``precondition=(theta0 [P], L [P, P])``
        and samples ``w`` with ``theta = theta0 + L w`` (``L`` a Cholesky factor of the
        Laplace covariance) instead of ``theta``. Same posterior (an affine change of
        variables has a constant Jacobian), but NUTS sees a near-isotropic target:
        chinchilla's ``log_A``/``alpha`` correlate at ~0.999 (log N spans 18-23), which
        otherwise costs ~128 leapfrog steps per draw even with a dense mass matrix.
        The law's unconstrained names stay in the trace as deterministic sites. Passed
        as a model argument (not baked in) so one compiled sampler serves many data sets.
        With ``terms`` (`scalelab.bayes.reparam.power_terms`) and a ``chart``, ``precondition`` is
        ``(phi0, L, centres)`` and ``phi = phi0 + L w`` are the chart's coordinates (each power-law
        term's value or slope at the design's centre, `scalelab.bayes.reparam`), mapped back to
        ``theta`` with unit Jacobian: the same posterior again.

    ``x`` is a dict of input arrays, ``y`` the natural log of the observed loss.
    """
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"unknown likelihood {likelihood!r}; choose one of {LIKELIHOODS}")
    pri = resolve_priors(law, priors)
    names = law.unconstrained_names

    def model(x, y, group=None, precondition=None):
        if not preconditioned:
            theta = jnp.stack([numpyro.sample(un, pri[un]) for un in names], axis=-1)
        else:
            theta0, chol = precondition[:2]
            w = numpyro.sample("w", dist.ImproperUniform(dist.constraints.real_vector, (), (len(names),)))
            theta = theta0 + chol @ w
            if chart:
                theta, logj = _reparam.to_theta(theta, terms, precondition[2], chart)
                numpyro.factor("chart_jacobian", logj)
            for i, un in enumerate(names):
                numpyro.factor(f"prior_{un}", pri[un].log_prob(numpyro.deterministic(un, theta[i])))
        mu = law.log_predict_theta(theta, x)
        s = jnp.exp(numpyro.sample("log_s", pri["log_s"]))
        nu = jnp.exp(numpyro.sample("log_nu", pri["log_nu"])) if likelihood == "student_t" else None
        if n_groups:
            tau = numpyro.sample("tau", pri["tau"])
            with numpyro.plate("groups", n_groups):
                z = numpyro.sample("z", dist.Normal(0.0, 1.0))
            mu = mu + tau * z[group]
        with numpyro.plate("runs", y.shape[0]):
            numpyro.sample("r", noise_distribution(likelihood, s, nu, delta), obs=y - mu)

    return model
