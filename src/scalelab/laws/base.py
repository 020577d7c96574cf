"""The `Law` declaration: a loss law as data plus one pure JAX function.

A law is declared once, as a frozen dataclass. Everything else in scalelab (the
optax/Levenberg-Marquardt fitter, the bootstrap, the numpyro model, the CLI and
the docs) reads that declaration; nothing else needs editing to add a law.

Conventions
-----------
* ``predict(p, x)`` takes ``p``, a dict of *natural* parameters (e.g. ``E``,
  ``A``, ``alpha`` for Chinchilla), and ``x``, a dict of input arrays keyed by
  RunTable column names (``N``, ``D``, ...), and returns the predicted loss in
  nats per token (natural-log cross-entropy), broadcasting over the inputs.
* Fitting happens in an *unconstrained* space: each natural parameter has a
  `Transform` (identity, ``positive`` via exp, ``unit`` via sigmoid). The
  unconstrained name of a positive parameter ``A`` is ``log_A``; the Hoffmann
  grid for Chinchilla is stated in those names (``log_A`` is Hoffmann's ``a``).
* Residuals are always on log loss: ``log predict - log loss``. A law may give
  ``log_predict(u, x)`` in the unconstrained space when a numerically stabler
  form exists (Chinchilla's log-sum-exp); it must equal ``log(predict(...))``.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from scalelab.programs import float64

Params = dict  # name -> array (natural or unconstrained space)
Inputs = dict  # RunTable column name -> array


@dataclasses.dataclass(frozen=True)
class Transform:
    """A bijection from an unconstrained real to a natural parameter.

    Attributes:
      name: short name used in docs and in ``scalelab laws``.
      prefix: prefix of the unconstrained parameter's name (``"log_"`` for exp).
      forward: unconstrained -> natural.
      inverse: natural -> unconstrained.
    """

    name: str
    prefix: str
    forward: Callable
    inverse: Callable


identity = Transform("identity", "", lambda u: u, lambda v: v)
positive = Transform("positive", "log_", jnp.exp, jnp.log)
unit = Transform("unit", "logit_", jax.nn.sigmoid, lambda v: jnp.log(v) - jnp.log1p(-v))


def _default_log_predict(law: "Law") -> Callable:
    def log_predict(u: Params, x: Inputs):
        return jnp.log(law.predict(law.to_natural(u), x))

    return log_predict


@dataclasses.dataclass(frozen=True)
class Law:
    """A scaling law declared once.

    Attributes:
      name: registry name (``scalelab laws`` lists it).
      inputs: RunTable columns the law reads, e.g. ``("N", "D")``.
      params: natural parameter names, in a fixed order.
      predict: ``predict(p, x) -> loss`` (nats/token), pure JAX, in the precision of its arguments (JAX's default,
        float32, for Python floats outside scalelab's functions): to evaluate a law, call it, ``law(p, N=..., D=...)``
        (float64), or a fit's ``predict``.
      transforms: natural name -> `Transform`; missing names are `identity`.
      start_grid: unconstrained name -> values; the Cartesian product is the
        default multi-start grid (``None``: random starts from ``start_ranges``).
      start_ranges: unconstrained name -> (low, high) for random starts and,
        by default, for weakly informative priors.
      reference: source -> {natural name: value}: published coefficients.
      citation: where the form comes from (paper, equation).
      conventions: what the inputs mean (total vs active N, FLOP counting).
      log_predict: optional stabler ``log_predict(u, x)`` in unconstrained space.
      aliases: other names the registry accepts.
      description: one line for listings.
      target: the RunTable column the law predicts (``"loss"`` for loss laws;
        hyper-parameter laws predict e.g. ``"batch_size"`` or ``"lr"``).
      linear: parameters that enter ``predict`` linearly once the others are
        fixed, with no term free of them (chinchilla: ``E, A, B`` given
        ``alpha, beta``): ``predict = sum_k c_k basis_k(x)``. Each must be
        `positive` (solved by non-negative least squares) or `identity`
        (unconstrained). The fitter then screens by variable projection
        (`scalelab.fit.screen`): a grid over the other parameters only.
      fit_options: the law's own multistart settings (``keep``, ``screen_iter``, ``max_iter``),
        used by `fit` and `fit_many` when the caller gives none (farseer's long valleys need
        more iterations than the package default of 64 kept starts, 4 screening and 200 LM steps).
      allocation: optional closed-form compute-optimal split under ``C = 6 N D`` FLOPs,
        ``allocation(p, C) -> {"N_opt", "D_opt", "tokens_per_param", "loss"}`` for natural
        parameters ``p`` and compute ``C`` (arrays that broadcast, e.g. draws ``[S, 1]`` against
        budgets ``[1, K]``). `scalelab.optimal` uses it; laws without one are minimised numerically.
      active_n: the law's ``N`` is the parameters active per token (a routed or sparse model's), not its total: a fit
        on runs whose N came from their total count (``N_total``) beside a smaller ``N_active`` is warned about.
    """

    name: str
    inputs: tuple[str, ...]
    params: tuple[str, ...]
    predict: Callable
    transforms: Mapping[str, Transform] = dataclasses.field(default_factory=dict)
    start_grid: Mapping[str, tuple] | None = None
    start_ranges: Mapping[str, tuple[float, float]] = dataclasses.field(default_factory=dict)
    reference: Mapping[str, Mapping[str, float]] = dataclasses.field(default_factory=dict)
    citation: str = ""
    conventions: str = ""
    log_predict: Callable | None = None
    aliases: tuple[str, ...] = ()
    description: str = ""
    target: str = "loss"
    linear: tuple[str, ...] = ()
    fit_options: Mapping[str, int] = dataclasses.field(default_factory=dict)
    allocation: Callable | None = None
    active_n: bool = False

    def solver_settings(self, keep=None, screen_iter=None, max_iter=None) -> tuple[int, int, int]:
        """(keep, screen_iter, max_iter): the caller's, else the law's `fit_options`, else 64, 4, 200."""
        o = self.fit_options
        return (int(keep if keep is not None else o.get("keep", 64)),
                int(screen_iter if screen_iter is not None else o.get("screen_iter", 4)),
                int(max_iter if max_iter is not None else o.get("max_iter", 200)))

    def __post_init__(self):
        unknown_opts = set(self.fit_options) - {"keep", "screen_iter", "max_iter"}
        if unknown_opts:
            raise ValueError(f"law {self.name!r}: fit_options {sorted(unknown_opts)} are not keep, screen_iter, max_iter")
        bad = [n for n in self.linear if n not in self.params or self.transform(n) not in (positive, identity)]
        if bad:
            raise ValueError(f"law {self.name!r}: linear parameters {bad} must be parameters of the law with a "
                             f"positive or identity transform")
        unknown = set(self.transforms) - set(self.params)
        if unknown:
            raise ValueError(f"law {self.name!r}: transforms for unknown parameters {sorted(unknown)}")
        names = set(self.unconstrained_names)
        for field in ("start_grid", "start_ranges"):
            given = getattr(self, field) or {}
            bad = set(given) - names
            if bad:
                raise ValueError(
                    f"law {self.name!r}: {field} names {sorted(bad)} are not unconstrained "
                    f"parameter names {self.unconstrained_names}"
                )
        missing = names - set(self.start_ranges)
        if missing:
            raise ValueError(f"law {self.name!r}: start_ranges lacks {sorted(missing)}")

    def __str__(self) -> str:  # results print their law by name
        return self.name

    def __repr__(self) -> str:  # the name, inputs and parameters: not its functions, transforms and start grid
        return f"Law({self.name!r}, inputs={self.inputs!r}, params={self.params!r})"

    # -- parameter spaces -------------------------------------------------
    def transform(self, name: str) -> Transform:
        return self.transforms.get(name, identity)

    @property
    def unconstrained_names(self) -> tuple[str, ...]:
        return tuple(self.transform(n).prefix + n for n in self.params)

    @property
    def n_params(self) -> int:
        return len(self.params)

    def to_natural(self, u: Params) -> Params:
        """Unconstrained dict -> natural dict (works on batched arrays)."""
        return {n: self.transform(n).forward(u[un]) for n, un in zip(self.params, self.unconstrained_names)}

    def to_unconstrained(self, p: Params) -> Params:
        return {un: self.transform(n).inverse(p[n]) for n, un in zip(self.params, self.unconstrained_names)}

    def unflatten(self, theta) -> Params:
        """Vector ``theta[..., P]`` in `unconstrained_names` order -> dict."""
        return {un: theta[..., i] for i, un in enumerate(self.unconstrained_names)}

    def flatten(self, u: Params):
        return jnp.stack([jnp.asarray(u[un]) for un in self.unconstrained_names], axis=-1)

    @property
    def nonlinear(self) -> tuple[str, ...]:
        """Parameters not declared `linear` (all of them when none is)."""
        return tuple(n for n in self.params if n not in self.linear)

    def linear_basis(self, p_nonlinear: Params, x: Inputs):
        """``[..., n, k]`` columns with ``predict = basis @ c`` for ``c`` the `linear` parameters (in order).

        Derived from ``predict`` itself, so the declaration stays one function: ``predict`` is
        linear in ``c`` with no term free of it, so its Jacobian in ``c`` (at ``c = 0``) is the basis,
        column ``k`` the prediction with ``c_k = 1`` and the other linear parameters 0. Forward mode
        evaluates the law's terms once for all columns (a column per one-hot ``c`` evaluated them
        once per column).
        """
        if not self.linear:
            raise ValueError(f"law {self.name!r} declares no linear parameters")
        dtype = jnp.result_type(*[jnp.asarray(v).dtype for v in [*p_nonlinear.values(), *jax.tree.leaves(x)]])

        def predict_c(c):
            p = dict(p_nonlinear)
            p.update({n: c[i] for i, n in enumerate(self.linear)})
            return self.predict(p, x)

        return jax.jacfwd(predict_c)(jnp.zeros(len(self.linear), dtype))

    # -- prediction --------------------------------------------------------
    def log_predict_theta(self, theta, x: Inputs):
        """Log predicted loss from a flat unconstrained vector ``theta``."""
        fn = self.log_predict or _default_log_predict(self)
        return fn(self.unflatten(theta), x)

    @float64
    def __call__(self, params: Mapping[str, float], **inputs):
        """Predicted loss at natural ``params`` for inputs given by name (float64 unless the
        inputs are float32 arrays, which keep their dtype)."""
        missing = [n for n in self.inputs if n not in inputs]
        if missing:
            raise TypeError(f"law {self.name!r} needs inputs {missing}")
        return self.predict({k: jnp.asarray(v) for k, v in params.items()},
                            {k: jnp.asarray(v) for k, v in inputs.items()})

    # -- pickling ----------------------------------------------------------
    def __reduce__(self):
        """A law this package declares pickles as its name (its functions are JAX's, which pickle does not
        take), so results that hold it (`FitResult`, `Forecast`, ...) go through pickle, joblib and notebook
        caches. A user's own law pickles field by field, as far as its functions allow."""
        from scalelab.laws import get, stable_name

        if stable_name(self) is not None:
            return (get, (self.name,))
        return super().__reduce__()

    # -- starts ------------------------------------------------------------
    def grid_starts(self) -> np.ndarray:
        """The declared start grid as an array ``[n_starts, P]`` (unconstrained)."""
        if self.start_grid is None:
            raise ValueError(f"law {self.name!r} declares no start grid; use random starts "
                             f"(starts=N, or --starts N on the command line)")
        axes = [np.asarray(self.start_grid.get(un, [np.mean(self.start_ranges[un])]), float)
                for un in self.unconstrained_names]
        return np.array(list(itertools.product(*axes)), dtype=float)

    def random_starts(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` starts drawn uniformly from ``start_ranges`` (unconstrained)."""
        rng = np.random.default_rng(seed)
        lo = np.array([self.start_ranges[un][0] for un in self.unconstrained_names], float)
        hi = np.array([self.start_ranges[un][1] for un in self.unconstrained_names], float)
        return lo + (hi - lo) * rng.random((n, len(lo)))

    def describe(self) -> dict:
        """Plain-dict description (what ``scalelab laws --json`` prints)."""
        return {
            "name": self.name,
            "aliases": list(self.aliases),
            "inputs": list(self.inputs),
            "params": list(self.params),
            "unconstrained": {n: self.transform(n).name for n in self.params},
            "start_grid_size": None if self.start_grid is None else int(len(self.grid_starts())),
            "reference": {k: dict(v) for k, v in self.reference.items()},
            "citation": self.citation,
            "conventions": self.conventions,
            "description": self.description,
            "target": self.target,
            "linear": list(self.linear),
        }


def is_curve_law(law) -> bool:
    """True for a learning-curve law (`scalelab.laws.curves.CurveLaw`): one that reads whole schedules, its rows
    prepared by its own ``prepare`` (``run_id, step, lr`` per checkpoint), not one value per input per run."""
    return getattr(law, "prepare", None) is not None
