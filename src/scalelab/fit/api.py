"""`fit`: one law, one run table, many starts, one compiled program."""

from __future__ import annotations

import dataclasses
import time
from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from scalelab import laws as _laws
from scalelab import cache as _cache
from scalelab.fit import buckets as _buckets
from scalelab.fit import objectives
from scalelab.fit import screen as _screen
from scalelab.fit.multistart import CHUNKED_SCREEN, multistart
from scalelab.fit.outliers import outlier_warnings
from scalelab.fit import identify as _identify
from scalelab.labels import as_text
from scalelab.laws.base import is_curve_law
from scalelab.fit.problem import fitted_runs, prepare, prepare_data, table_for  # noqa: F401  (prepare_data, table_for: kept importable here)
from scalelab.programs import call_timed, float64, per_law
from scalelab.runs.amounts import law_inputs


@dataclasses.dataclass(frozen=True)
class FitResult:
    """What `fit` returns. Plain values only.

    Attributes:
      law: the `Law` that was fitted (``str(law)`` is its name; an unregistered Law works too).
      params: natural parameters (e.g. chinchilla ``E, A, B, alpha, beta``).
      unconstrained: the same in the fitting space (``log_A`` etc.).
      objective: summed objective at ``params`` (Huber: sum of Huber(delta) of
        log-loss residuals; mse: sum of r^2/2).
      converged: the winning start met the convergence test (see `scalelab.fit.solver`).
      best_start: index of the winning start in the start array.
      n_starts: number of starts.
      n_iter: LM iterations of the winning start.
      n_runs: runs with non-zero weight (for a curve law, the runs whose checkpoints were fitted).
      n_rows: rows fitted (non-zero weight): ``n_runs`` for a table of one row per run (the default), the
        checkpoints for a curve law.
      objective_kind, delta: the objective used.
      fixed: parameters held fixed (natural values).
      conventions: the law's input conventions (total vs active N, ...).
      notes: notes from reading the data (derived columns, dropped rows).
      seconds: wall time of the fit including compilation.
      compile_seconds: of ``seconds``, the time spent tracing and compiling (or
        loading from the persistent cache, `scalelab.cache`); 0 when this process
        had already compiled the program.
      method: ``"projection"`` (variable-projection screen + LM, `scalelab.fit.screen`)
        or ``"multistart"`` (every start screened by LM, `scalelab.fit.multistart`).
      warnings: what the fit could not settle, in sentences: no convergence; identifiability
        (`scalelab.fit.identify`: the design, parameters at the edge of their range); runs far
        from the fit (`scalelab.fit.outliers`). ``scalelab fit --json`` prints the same list.
      log_residuals: ``log L_pred - log L`` of each run at ``params``, in the table's row order
        (runs of weight 0 included).
      span: a curve law's reach in its runs: ``{"steps": [shortest, longest] final step of a fitted run,
        "peak_lr": largest learning rate, "lowest_lr": lowest learning rate a run reaches after its peak}``
        (`scalelab.curves.optimize_schedule` notes a schedule beyond it, and warns below ``lowest_lr``); None for
        other laws.
    """

    law: _laws.Law
    params: dict
    unconstrained: dict
    objective: float
    converged: bool
    best_start: int
    n_starts: int
    n_iter: int
    n_runs: int
    objective_kind: str
    delta: float
    fixed: dict
    conventions: str
    notes: tuple
    seconds: float = dataclasses.field(compare=False)  # wall-clock: two fits alike are equal whatever their timing
    compile_seconds: float = dataclasses.field(default=0.0, compare=False)
    method: str = "multistart"
    warnings: tuple = ()
    log_residuals: np.ndarray | None = dataclasses.field(default=None, compare=False, repr=False)
    n_rows: int | None = None
    span: dict | None = None

    def __post_init__(self):
        if self.n_rows is None:  # a result built without it: one row per run
            object.__setattr__(self, "n_rows", self.n_runs)

    def predict(self, **inputs) -> np.ndarray:
        """Predicted loss at the given inputs (e.g. ``N=1e9, D=2e10``; arrays broadcast), nats per token.

        Checked as ``scalelab predict`` checks its options (`scalelab.runs.amounts.law_inputs`): ``D``
        may come as ``C`` (``D = C / (6N)``); an input the law does not read, or an ``N`` or ``D`` outside
        a language-model run's range (``N=7`` for 7B), is refused with a ValueError."""
        if not is_curve_law(self.law):  # curve laws take their schedule arrays as given
            inputs = law_inputs(self.law.name, self.law.inputs, inputs)
        return np.asarray(self.law(self.params, **{k: np.asarray(v, float) for k, v in inputs.items()}))

    def to_json(self) -> dict:
        """The stable JSON object of ``scalelab fit --json``: the law, its natural parameters (and ``unconstrained``
        ones), the objective (its value, kind and Huber ``delta``), the parameters held ``fixed`` (natural values;
        ``{}`` when all were fitted), the runs and rows fitted, convergence, how the optimum was found (``method``,
        ``n_starts``, ``best_start``, ``n_iter``), timings, the table's ``notes``, warnings and (curve laws) the runs'
        ``span``: every field but ``log_residuals``, so that `from_json` rebuilds an equal result."""
        return {
            "law": self.law.name,
            "params": {k: float(v) for k, v in self.params.items()},
            "unconstrained": {k: float(v) for k, v in self.unconstrained.items()},
            "objective": float(self.objective),
            "objective_kind": self.objective_kind, "delta": float(self.delta),
            "fixed": {k: float(v) for k, v in self.fixed.items()},  # held, not fitted: a saved fit says which
            "n_runs": int(self.n_runs),
            "n_rows": int(self.n_rows),
            "converged": bool(self.converged),
            "method": self.method, "n_starts": int(self.n_starts), "best_start": int(self.best_start),
            "n_iter": int(self.n_iter),
            "seconds": float(self.seconds),
            "compile_seconds": float(self.compile_seconds),
            "notes": list(self.notes),
            "warnings": list(self.warnings),
            **({"span": self.span} if self.span is not None else {}),
        }

    @classmethod
    def from_json(cls, source, law=None) -> "FitResult":
        """The result a saved fit holds: ``source`` is the object of `to_json` (``scalelab fit --json``) or the path
        of a file holding it. It predicts, allocates and compares equal as the original did (``log_residuals``, not
        saved, is None). A fit of an unregistered `Law` needs it given as ``law``; a registered one is looked up by
        the saved name (``law``, when given, must be that law). A file saved before ``unconstrained``, ``n_starts``,
        ``best_start``, ``n_iter``, ``method`` or ``notes`` were written reads with the unconstrained values computed
        from ``params`` and the others 0, ``"multistart"`` and none.

        Raises:
          FileNotFoundError: no such file.
          ValueError: not the JSON of a fit (keys missing, a posterior's summary), an unknown law, parameters that
            are not the law's; the message names the file and the keys.
        """
        from scalelab.fit.saved import fit_fields

        return cls(**fit_fields(source, law))


def residual_fn_for(law):
    """``(theta, data) -> log predicted - log observed`` for ``law``."""

    def residual(theta, data):
        return law.log_predict_theta(theta, data["x"]) - data["y"]

    return residual


def fit_compiler_options() -> dict | None:
    """XLA options of `fit`'s programs: on a CPU, backend optimisation level 1 (measured on Epoch's 240
    runs, 2-core CPU: compiles in 3.9-4.2 s instead of 4.5 s and runs as fast, 0.091-0.094 s warm against
    0.098 s); other backends their default."""
    return {"xla_backend_optimization_level": 1} if jax.default_backend() == "cpu" else None


@per_law
def compiled_multistart(law, kind: str, screen_iter: int, keep: int, max_iter: int, chunked: bool = False):
    """A cached ``jit`` of `multistart` for one law and solver setting (``chunked``: `multistart`'s).

    Signature of the result: ``(starts[S,P], data, delta, free[P], fixed[P]) -> MultiStartResult``.
    """
    residual = residual_fn_for(law)

    def run(starts, data, delta, free, fixed):
        res = multistart(residual, starts, data, kind=kind, delta=delta, free=free, fixed=fixed,
                         screen_iter=screen_iter, keep=keep, max_iter=max_iter, chunked=chunked)
        return _with_natural(law, residual, res, data)

    return jax.jit(run, compiler_options=fit_compiler_options())


def _with_natural(law, residual, res, data):
    """``(res, natural params, log residuals)``: what `fit` reports, computed inside its program (done
    eagerly after it, each of those few operations compiled a program of its own: ~0.2 s a process)."""
    return res, law.to_natural(law.unflatten(res.theta)), residual(res.theta, data)


def default_starts(law):
    """The law's own start strategy: its grid when it declares one of <= 5,000 starts, else 128
    random starts from its ranges (what ``scalelab fit``/``compare`` use when ``--starts`` is not given)."""
    if law.start_grid is not None and len(law.grid_starts()) <= 5000:
        return "grid"
    return 128


@per_law
def compiled_projection(law, kind: str, keep: int, max_iter: int, irls_iter: int = _screen.DEFAULT_IRLS):
    """A cached ``jit`` of `scalelab.fit.screen.vp_multistart` (same signature as `compiled_multistart`,
    with the nonlinear grid ``[G, q]`` in place of the starts)."""
    residual = residual_fn_for(law)

    def run(grid, data, delta, free, fixed):
        res = _screen.vp_multistart(law, residual, grid, data, kind=kind, delta=delta, free=free, fixed=fixed,
                                    keep=keep, irls_iter=irls_iter, max_iter=max_iter)
        return _with_natural(law, residual, res, data)

    return jax.jit(run, compiler_options=fit_compiler_options())


def dict_starts(law, values: Mapping) -> np.ndarray:
    """``[S, P]`` unconstrained starts from a dict of the law's natural parameters (``{"E": 1.8, "A": 400, ...}``) or
    of its unconstrained ones (``law.unconstrained_names``, taken as they are): numbers, or arrays of S values for S
    starts. Other keys are ignored. The one reading of a start given by name (`fit`'s ``starts``, bayes' ``init``).

    Raises:
      ValueError: a parameter missing, a value that is no number, or one outside the parameter's domain.
    """
    if set(law.unconstrained_names) <= set(values):
        names, natural = law.unconstrained_names, False
    else:
        names, natural = law.params, True
        missing = [k for k in law.params if k not in values]
        if missing:
            raise ValueError(f"starts as a dict gives every natural parameter of {law.name!r} "
                             f"({', '.join(law.params)}), or every unconstrained one "
                             f"({', '.join(law.unconstrained_names)}); missing {missing}")
    try:
        given = dict(zip(names, np.broadcast_arrays(*(np.atleast_1d(np.asarray(values[k], float)) for k in names))))
    except (TypeError, ValueError) as err:
        raise ValueError(f"starts as a dict holds a number (or one array of numbers) per parameter: {err}") from None
    arr = np.asarray(law.flatten(law.to_unconstrained(given) if natural else given), float).reshape(-1, law.n_params)
    if not np.isfinite(arr).all():
        raise ValueError(f"starts {dict(values)!r} lie outside the domain of {law.name!r}'s parameters "
                         f"(e.g. a negative value of a positive one)")
    return arr


def resolve_starts(law, starts="grid", seed: int = 0) -> np.ndarray:
    """``"grid"`` (the law's declared grid), an int (random starts), an array ``[S, P]`` in the unconstrained space
    (columns in ``law.unconstrained_names`` order, e.g. ``log_E, log_A, log_B, alpha, beta``), a dict of natural
    parameter values (``{"E": 1.8, "A": 400, ...}``: one start, or S starts of arrays of S values), or
    None / ``"auto"`` (`default_starts`: the grid when the law declares one of <= 5,000 starts, else
    128 random starts)."""
    if isinstance(starts, Mapping):  # natural (or unconstrained) values, as bayes' init= takes them
        return dict_starts(law, starts)
    if starts is None or (isinstance(starts, str) and starts == "auto"):
        starts = default_starts(law)
    if isinstance(starts, str):
        if starts == "grid":
            return law.grid_starts()
        if starts.isdigit():
            return law.random_starts(int(starts), seed)
        raise ValueError(f"starts must be 'grid', a number of random starts, or an array; got {starts!r}")
    if isinstance(starts, (int, np.integer)):
        if starts < 1:
            raise ValueError(f"starts must be >= 1, got {starts}")
        return law.random_starts(int(starts), seed)
    arr = np.asarray(starts, float)
    if arr.ndim != 2 or arr.shape[1] != law.n_params:
        raise ValueError(f"starts array must have shape [S, {law.n_params}] "
                         f"({', '.join(law.unconstrained_names)}); got {arr.shape}")
    return arr


def fixed_vectors(law, fixed: Mapping[str, float] | None, dtype=np.float64):
    """(free mask, fixed values) in unconstrained order from natural ``fixed`` values."""
    fixed = dict(fixed or {})
    unknown = set(fixed) - set(law.params)
    if unknown:
        raise ValueError(f"cannot fix {sorted(unknown)}: law {law.name!r} has parameters {law.params}")
    free = np.array([0.0 if n in fixed else 1.0 for n in law.params], dtype)
    values = np.array([float(law.transform(n).inverse(jnp.asarray(fixed[n], jnp.float64))) if n in fixed else 0.0
                       for n in law.params], dtype)
    bad = [n for n, v in zip(law.params, values) if n in fixed and not np.isfinite(v)]
    if bad:  # e.g. a positive parameter fixed at 0, or a NaN: the fit would run on non-numbers
        raise ValueError(f"cannot fix {', '.join(f'{n}={fixed[n]!r}' for n in bad)}: outside the parameter's range "
                         f"in law {law.name!r} (a finite number, > 0 for E, A, B and other positive parameters)")
    return free, values


@float64
def fit(runs, law="chinchilla", *, objective: str = "huber", delta: float = 1e-3, starts="auto",
        seed: int = 0, fixed: Mapping[str, float] | None = None, weights=None, keep: int | None = None,
        screen_iter: int | None = None, max_iter: int | None = None, dtype=jnp.float64) -> FitResult:
    """Fit ``law`` to ``runs`` from many starts at once.

    Args:
      runs: a path (CSV/parquet), DataFrame or `RunTable`.
      law: registered name or a `Law`.
      objective: ``"huber"`` (sum of Huber(delta) of log-loss residuals, Hoffmann/Epoch)
        or ``"mse"``.
      delta: Huber threshold on log-loss residuals.
      starts: ``"auto"`` (default: variable-projection screening for laws that
        declare `Law.linear` parameters, `scalelab.fit.screen`; else the law's grid,
        else 256 random starts), ``"grid"`` (the law's declared grid; chinchilla:
        Hoffmann's 4,500), an int (that many random starts from the law's ranges,
        seeded by ``seed``), an array ``[S, P]`` in the unconstrained space (columns in
        ``law.unconstrained_names`` order), or a dict of natural values (one start, as bayes' ``init``).
      fixed: natural parameter values to hold fixed (e.g. ``{"alpha": 0.34}``).
      weights: per-run weights (0 drops a run, integers repeat it).
      keep, screen_iter, max_iter: every start runs ``screen_iter`` LM iterations,
        the best ``keep`` continue for up to ``max_iter`` (see `multistart`); None: the law's
        `fit_options`, else 64, 4, 200.
      dtype: float64 (default; reproduces the published optimum to 1e-9) or float32.

    Returns:
      `FitResult`. Deterministic for given inputs and ``seed``.
    """
    t0 = time.perf_counter()
    law = _laws.get(law)
    keep, screen_iter, max_iter = law.solver_settings(keep, screen_iter, max_iter)
    if objective not in objectives.OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; choose one of {objectives.OBJECTIVES}")
    if not (np.isfinite(delta) and delta > 0):
        raise ValueError(f"delta must be a positive number, got {delta}")
    free, fixed_values = fixed_vectors(law, fixed)
    table, data = prepare(runs, law, weights, n_free=int(free.sum()), dtype=np.dtype(dtype))
    _cache.enable()
    starts = "auto" if starts is None else starts  # as documented (and as `resolve_starts` reads None)
    projection = isinstance(starts, str) and starts == "auto" and bool(law.linear)
    if projection:
        start_arr = _screen.nonlinear_grid(law, _screen.DEFAULT_POINTS)
        run = compiled_projection(law, objective, _screen.DEFAULT_KEEP, max_iter, _screen.DEFAULT_IRLS)
        name = _laws.program_name("fit.projection", law, objective, _screen.DEFAULT_KEEP, max_iter, _screen.DEFAULT_IRLS)
    else:
        start_arr = resolve_starts(law, starts, seed)
        # on a CPU the starts are screened keep at a time in the polish's loop: one LM step to compile
        chunked = jax.devices()[0].platform in CHUNKED_SCREEN
        run = compiled_multistart(law, objective, screen_iter, keep, max_iter, chunked)
        name = _laws.program_name("fit.multistart", law, objective, screen_iter, keep, max_iter, chunked)
    # shape buckets: tables of 200 and 240 runs (or 100 and 128 random starts) share one program
    padded = _buckets.pad_rows(data)
    fixed_set = isinstance(starts, str) and starts in ("auto", "grid")  # the same starts for every table
    padded_starts = start_arr if fixed_set else _buckets.pad_starts(start_arr)
    # device_put, not jnp.asarray: on a NumPy array the latter compiles a small program per shape
    put = lambda a: jax.device_put(np.asarray(a, np.dtype(dtype)), jax.devices()[0])  # noqa: E731
    with jax.default_device(jax.devices()[0]):
        res, compile_seconds = call_timed(
            run, put(padded_starts), jax.tree.map(put, padded), put(delta), put(free), put(fixed_values),
            name=name, compiler_options=fit_compiler_options())
        res, natural, log_residuals = jax.device_get(res)
    theta = np.asarray(res.theta, float)
    u = {k: float(v) for k, v in law.unflatten(theta).items()}
    params = {k: float(v) for k, v in natural.items()}
    log_residuals = np.asarray(log_residuals, float)[:len(table)]
    converged = bool(res.converged) and bool(np.isfinite(res.f))
    more = max(2 * max_iter, 2 * law.solver_settings()[2])  # twice the cap, and never below twice the law's default
    unconverged = [] if converged else [
        f"the best start did not meet the convergence test after {int(res.n_iter)} iterations; give more "
        f"iterations (max_iter={more}, --max-iter {more}) or more starts (starts=N, --starts N)"]
    return FitResult(
        law=law, params=params, unconstrained=u, objective=float(res.f),
        converged=converged, best_start=int(res.best_start),
        n_starts=int(start_arr.shape[0]), n_iter=int(res.n_iter),
        n_runs=int(fitted_runs(table, law, data["w"])[0]), n_rows=int(np.count_nonzero(data["w"])), objective_kind=objective, delta=float(delta),
        fixed={k: float(v) for k, v in (fixed or {}).items()}, conventions=law.conventions,
        notes=table.notes, seconds=time.perf_counter() - t0, compile_seconds=compile_seconds,
        method="projection" if projection else "multistart",
        warnings=tuple(unconverged + _identify.design_warnings(table, law.inputs, (law,)) + _identify.parameter_warnings(law, u)
                       + outlier_warnings(table, log_residuals, data["w"], n_free=int(free.sum()))),
        log_residuals=log_residuals, span=curve_span(table) if is_curve_law(law) else None,
    )


def curve_span(table) -> dict | None:
    """The fitted runs' reach (`FitResult.span`): the shortest and longest run (its last step), the largest
    learning rate and the lowest any run reaches after its peak (`scalelab.laws.schedule.decayed_to`); None without
    ``run_id``, ``step`` and ``lr``."""
    from scalelab.laws.schedule import decayed_to

    if not {"run_id", "step", "lr"} <= set(table.df.columns):
        return None
    last = table.df.groupby(as_text(table.df["run_id"]), sort=False)["step"].max().astype(float)
    return {"steps": [float(last.min()), float(last.max())], "peak_lr": float(table.df["lr"].astype(float).max()),
            "lowest_lr": decayed_to(table.df)}
