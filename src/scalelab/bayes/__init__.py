"""Bayesian uncertainty for any declared law (issue 5).

``post = scalelab.bayes.sample(runs, "chinchilla", likelihood="huber", groups="N")``
runs NUTS (numpyro, all chains in one compiled program, started from the fit) and returns a
`Posterior` backed by ArviZ InferenceData: ``post.params(0.95)``,
``post.check()`` (R-hat / ESS warnings), ``post.predict(N=..., D=...)``,
``post.allocate(C)``, ``post.save(path)`` / ``scalelab.bayes.load(path)``.
``scalelab.bayes.laplace(...)`` is the fast Gaussian approximation for many
variants (`laplace_core` vmaps); ``scalelab.bayes.sample_many(tables, ...)`` runs
NUTS for many equal-shape run tables in one compiled program. ``adjust="sandwich"`` (or
``scalelab.bayes.sandwich(post, runs)``) widens an i.i.d. posterior to the sandwich covariance
when the law is misspecified; the default ``adjust="auto"`` does so from 120 runs (chinchilla).
Every posterior carries ``warnings`` (identifiability, adjustment, longer chains) and
``converged``; a failed one warns again when loaded.
"""

from scalelab.bayes.inference import laplace, sample, sample_many
from scalelab.bayes.laplace import laplace_core
from scalelab.bayes.likelihoods import LIKELIHOODS, HuberDensity
from scalelab.bayes.model import group_index, make_model
from scalelab.bayes.posterior import Posterior, load
from scalelab.bayes.priors import default_priors, resolve_priors
from scalelab.bayes.sandwich import ADJUSTMENTS, sandwich, sandwich_map

__all__ = ["sample", "sample_many", "laplace", "laplace_core", "Posterior", "load", "make_model", "group_index",
           "default_priors", "resolve_priors", "LIKELIHOODS", "HuberDensity", "sandwich", "sandwich_map", "ADJUSTMENTS"]
